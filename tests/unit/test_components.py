"""Components (issue 14) without Discord: the custom_id format, the checks every click passes
(guild, admission, maintenance), the challenge buttons' rules and the autocompletes."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import discord
import pytest

from bot import components as ui
from bot import posts
from bot.cogs import admin, challenges, privacy, stats
from bot.cogs._common import Person
from bot.domain import challenges as rules
from bot.domain.errors import InvalidInput
from bot.domain.members import parse_page
from bot.domain.settings import time_zones_like
from bot.responses import Reply
from bot.storage.base import Challenge
from tests.unit import test_admission as admission
from tests.unit.cogs.test_commands import registered
from tests.unit.test_admission import NOW, A, B, gateway_guild, interaction

make_bot = admission.make_bot  # the same fixture
ANN, BOB = Person(1, "ann"), Person(2, "bob")


def test_custom_ids_round_trip_and_forgeries_are_not_ours():
    made = ui.make_id("ch", "accept", A, 7)
    assert made == f"gb1:ch:accept:{A}:7" and len(made) <= 100
    assert ui.parse_id(made) == ui.ComponentId("ch", "accept", A, (7,))
    assert ui.parse_id(ui.make_id("lb", "next", A, 0, 3)).args == (0, 3)
    for forged in ("", "gb1", "gb2:ch:accept:1:7", "gb1:xx:accept:1:7", "gb1:ch:accept:-1:7",
                   "gb1:ch:accept:1:7e3", "gb1:ch:accept:" + "9" * 21, "panel:accept",
                   "gb1:ch:accept:1: 7"):
        assert ui.parse_id(forged) is None, forged
    with pytest.raises(ValueError):
        ui.make_id("zz", "accept", A)


def test_usage_names_say_what_was_used():
    def inter(kind, component_type=None):
        return SimpleNamespace(type=kind, data={"component_type": component_type})
    cid = ui.ComponentId("ch", "accept", A, (1,))
    button = inter(discord.InteractionType.component, 2)
    assert ui.usage_name(button, cid) == "button:challenge-accept"
    pick = inter(discord.InteractionType.component, 3)
    assert ui.usage_name(pick, ui.ComponentId("ch", "pick", A)) == "select:challenge-pick"
    modal = inter(discord.InteractionType.modal_submit)
    assert ui.usage_name(modal, ui.ComponentId("ad", "purge", A)) == "modal:admin-purge"


def test_a_custom_id_acts_only_in_its_own_guild():
    cid = ui.ComponentId("ch", "accept", A, (1,))
    ui.check_guild(SimpleNamespace(guild_id=A), cid)
    for elsewhere in (B, None):
        with pytest.raises(InvalidInput, match="another server"):
            ui.check_guild(SimpleNamespace(guild_id=elsewhere), cid)


def component(guild_id, custom_id, kind=discord.InteractionType.component):
    inter = interaction(guild_id, kind=kind, custom_id=custom_id, component_type=2)
    inter.user = SimpleNamespace(id=BOB.id)
    return inter


async def test_a_click_passes_the_tree_checks_and_the_guild_check(storage, make_bot, answers,
                                                                  monkeypatch):
    """Every click goes through admission, maintenance (admin components exempt, like /admin)
    and the guild check before its handler; each outcome is recorded under the component's
    name, and an id that is not ours is left alone (nothing answered, nothing recorded)."""
    client = await make_bot(gateway_guild(A, "Alpha", NOW), gateway_guild(B, "Beta", NOW))
    await client.on_ready()
    handled: list[str] = []
    recorded: list[tuple[str, int | None, str]] = []
    monkeypatch.setattr(client.monitoring, "observe_command",
                        lambda name, guild, outcome, seconds: recorded.append(
                            (name, guild, outcome)))

    async def handle(bot, inter, cid) -> None:
        handled.append(str(cid))
    monkeypatch.setitem(ui._HANDLERS, ("ch", "accept"), handle)
    monkeypatch.setitem(ui._HANDLERS, ("ad", "purge"), handle)
    tree = client.tree

    await tree.run_component(component(A, f"gb1:ch:accept:{A}:1"))
    assert handled == [f"gb1:ch:accept:{A}:1"]
    replay = component(B, f"gb1:ch:accept:{A}:1")
    await tree.run_component(replay)
    assert handled == [f"gb1:ch:accept:{A}:1"] and "another server" in answers[-1]
    await tree.run_component(component(A, "panel:accept"))
    await tree.run_component(component(A, f"gb1:ch:nothing:{A}:1"))
    assert recorded == [("button:challenge-accept", A, "success"),
                        ("button:challenge-accept", B, "user_error")]

    client.set_guild_maintenance(A, True)
    await tree.run_component(component(A, f"gb1:ch:accept:{A}:1"))
    assert "maintenance" in answers[-1] and recorded[-1][2] == "maintenance"
    await tree.run_component(component(A, f"gb1:ad:purge:{A}",
                                       kind=discord.InteractionType.modal_submit))
    assert handled[-1] == f"gb1:ad:purge:{A}"
    assert recorded[-1] == ("modal:admin-purge", A, "success")


def challenge(status="open", **changes) -> Challenge:
    c = Challenge(A, 3, ANN.id, BOB.id, 50, status, NOW, NOW + 3600, None, None)
    return Challenge(**{**{f: getattr(c, f) for f in c.__slots__}, **changes})


def ids(view) -> list[str]:
    return [item.custom_id for item in view.children] if view is not None else []


async def test_the_challenge_message_follows_its_phase():
    """Open: accept, decline, cancel; playing: I won / I lost; claimed: I lost / dispute;
    disputed or closed: no buttons, and the text says how it ended. The views are stopped, so
    discord.py keeps nothing of them in memory."""
    def actions(c):
        return [i.rsplit(":", 3)[1] for i in ids(posts.challenge_view(c))]
    assert actions(challenge()) == ["accept", "decline", "cancel"]
    assert posts.challenge_view(challenge()).is_finished()
    playing = challenge("accepted", accepted_at=NOW)
    assert actions(playing) == ["claim", "concede"]
    claimed = challenge("accepted", accepted_at=NOW, claimant_id=BOB.id, claimed_at=NOW)
    assert actions(claimed) == ["concede", "dispute"]
    assert actions(challenge("accepted", claimant_id=BOB.id, disputed_at=NOW)) == []
    for status, said in (("declined", "declined"), ("cancelled", "cancelled"),
                         ("expired", "expired"), ("completed", "settled")):
        closed = challenge(status, winner_id=BOB.id if status == "completed" else None)
        assert posts.challenge_view(closed) is None
        assert said in rules.post_message(closed)


def test_a_member_sees_only_the_buttons_of_their_role():
    assert challenges.my_actions(challenge(), BOB.id) == ("accept", "decline")
    assert challenges.my_actions(challenge(), ANN.id) == ("cancel",)
    assert challenges.my_actions(challenge(), 99) == ()
    claimed = challenge("accepted", claimant_id=BOB.id)
    assert challenges.my_actions(claimed, ANN.id) == ("dispute",)
    assert challenges.my_actions(claimed, BOB.id) == ()


def test_only_a_player_concedes():
    assert rules.conceded_to(challenge("accepted"), ANN.id) == BOB.id
    assert rules.conceded_to(challenge("accepted"), BOB.id) == ANN.id
    with pytest.raises(InvalidInput, match="not your challenge"):
        rules.conceded_to(challenge("accepted"), 99)


async def test_leaderboard_buttons_lead_somewhere():
    assert stats.leaderboard_view(A, 1, 1) is None
    first = ids(stats.leaderboard_view(A, 1, 4))
    assert first == [f"gb1:lb:{a}:{A}:0:{p}" for a, p in
                     (("first", 1), ("prev", 1), ("next", 2), ("last", 4))] + \
        [f"gb1:lb:goto:{A}:0"]
    view = stats.leaderboard_view(A, 4, 4)
    assert [b.disabled for b in view.children] == [False, False, True, True, False]


def test_go_to_page_needs_a_number():
    assert parse_page(" 12 ") == 12
    for bad in ("", "nine", "-1", "1.5", "9" * 10):
        with pytest.raises(InvalidInput, match="not a page number"):
            parse_page(bad)


def test_time_zone_choices_are_filtered_and_bounded():
    assert time_zones_like("berl") == ["Europe/Berlin"]
    assert time_zones_like("new york") == ["America/New_York"]
    assert "UTC" in time_zones_like("utc")
    assert len(time_zones_like("")) == 25
    assert time_zones_like("Mars/") == []


async def test_number_choices_are_the_members_own_active_challenges(storage):
    repo = storage.guild(A)
    await repo.ensure("Alpha", NOW)
    for person in (ANN, BOB, Person(3, "cid")):
        await repo.register(person.id, person.name, NOW)
    await repo.update_settings(daily_reward=500)
    for person in (ANN, BOB, Person(3, "cid")):
        await repo.daily_login(person.id, NOW)
    await repo.create_challenge(ANN.id, BOB.id, 5, NOW, NOW + 3600)
    await repo.create_challenge(3, BOB.id, 5, NOW, NOW + 3600)
    await repo.create_challenge(3, ANN.id, 5, NOW, NOW + 3600)
    await repo.decline_challenge(2, BOB.id, NOW)
    cog = challenges.Challenges(SimpleNamespace(storage=storage))  # type: ignore[arg-type]
    inter = SimpleNamespace(guild_id=A, user=SimpleNamespace(id=ANN.id))
    found = await cog.number_choices(inter, "")
    assert [c.value for c in found] == [3, 1]
    assert found[0].name == "#3 · challenges you · 5 points · open"
    assert [c.value for c in await cog.number_choices(inter, "#1")] == [1]
    other = SimpleNamespace(guild_id=B, user=SimpleNamespace(id=ANN.id))
    assert await cog.number_choices(other, "") == []


async def test_privacy_and_audit_buttons_are_components_with_their_checks(storage, make_bot,
                                                                          answers, monkeypatch):
    """Regression (merge of privacy-audit into components, issue 14): the privacy delete and
    audit page buttons are ``gb1:`` components routed through ``run_component``. A delete
    button replayed in another guild, or clicked by another member, deletes nothing; an audit
    page click is re-checked for the admin, and passes maintenance as /admin does. Fails on the
    old code because those buttons were discord.py DynamicItems (``privacy:delete:...``,
    ``admin:audit:...``) that ``run_component`` did not know: no handler ran for them."""
    client = await make_bot(gateway_guild(A, "Alpha", NOW), gateway_guild(B, "Beta", NOW))
    await client.on_ready()
    alpha = storage.guild(A)
    await alpha.ensure("Alpha", NOW)
    await storage.guild(B).ensure("Beta", NOW)
    await registered(alpha, ANN, BOB)
    edits: list[Reply] = []

    async def update_message(interaction, reply: Reply) -> None:  # the click's message becomes
        edits.append(reply)
    # The modules the bot loaded its cogs from: an earlier test's unload_extension drops a cog's
    # module from sys.modules, so the bot may run a fresh copy, not the one imported above.
    for name in ("bot.cogs.privacy", "bot.cogs.admin"):
        monkeypatch.setattr(sys.modules[name], "update_message", update_message)

    def click(guild_id, custom_id, who, admin=False):
        inter = component(guild_id, custom_id)
        inter.client, inter.message = client, None
        inter.user = SimpleNamespace(id=who.id, name=who.name, display_name=who.name, bot=False)
        inter.permissions = SimpleNamespace(manage_guild=admin)
        return client.tree.run_component(inter)

    delete = ui.make_id("pv", "delete", A, BOB.id)
    assert ids(privacy.confirm_view(A, BOB.id)) == [delete] == [f"gb1:pv:delete:{A}:{BOB.id}"]
    await click(B, delete, BOB)
    assert "another server" in answers[-1]
    await click(A, delete, ANN)
    assert "Only the member who asked" in answers[-1]
    assert await alpha.member(BOB.id) is not None and edits == []
    await click(A, delete, BOB)
    assert "is deleted" in (edits[-1].content or "") and await alpha.member(BOB.id) is None

    for i in range(12):
        await admin.do_settings(alpha, Person(ANN.id, ANN.name, admin=True), now=NOW + i,
                                daily_reward=i + 1)
    await click(A, ui.make_id("ad", "audit", A, 1), BOB)
    assert "Manage Server" in answers[-1] and len(edits) == 1
    client.set_guild_maintenance(A, True)
    await click(A, ui.make_id("ad", "audit", A, 1), ANN, admin=True)
    assert edits[-1].embed is not None
    assert edits[-1].embed.title == "Audit trail (page 2 of 2)"
