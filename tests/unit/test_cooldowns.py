"""Per-member cooldowns (issue 14, part 2): the token-bucket math on an injected clock, the
memory bound, GUILDBOT_COOLDOWNS, and the check in the tree's admission path. Every test here
fails on the old code because there were no cooldowns: no bot.cooldowns module, no setting, and
the tree ran a member's fourth /challenge create in a second like the first."""

from __future__ import annotations

from types import SimpleNamespace

import discord
import pytest

import bot.app
from bot import cli
from bot.app import GuildBot
from bot.config import ConfigError, load_settings
from bot.cooldowns import DEFAULT_COOLDOWNS, Cooldowns, Rate
from bot.policy import Decision

GUILD, OTHER_GUILD = 111111111111111111, 222222222222222222
ANN, BOB = 1001, 1002


class Clock:
    def __init__(self) -> None:
        self.t = 5000.0

    def __call__(self) -> float:
        return self.t


# -- the bucket ----------------------------------------------------------------------------------
def test_a_member_gets_calls_per_period_then_the_exact_wait():
    """3/60: three calls at once, the fourth is told 20 s (one token refills every 20 s); a refused
    call takes nothing, so asking again does not push the wait further."""
    clock = Clock()
    cd = Cooldowns({"challenge create": Rate(3, 60)}, clock=clock)
    assert [cd.check("challenge create", GUILD, ANN) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert cd.check("challenge create", GUILD, ANN) == pytest.approx(20.0)
    clock.t += 5
    assert cd.check("challenge create", GUILD, ANN) == pytest.approx(15.0)
    assert cd.check("challenge create", GUILD, ANN) == pytest.approx(15.0)
    clock.t += 15
    assert cd.check("challenge create", GUILD, ANN) == 0.0
    assert cd.check("challenge create", GUILD, ANN) == pytest.approx(20.0)
    clock.t += 600  # long idle: the bucket is full again, not more than full
    assert [cd.check("challenge create", GUILD, ANN) for _ in range(4)][-1] == \
        pytest.approx(20.0)


def test_buckets_are_per_guild_member_and_command():
    clock = Clock()
    cd = Cooldowns({"admin export": Rate(1, 300), "login": Rate(1, 60)}, clock=clock)
    assert cd.check("admin export", GUILD, ANN) == 0.0
    assert cd.check("admin export", GUILD, ANN) == pytest.approx(300.0)
    assert cd.check("admin export", GUILD, BOB) == 0.0  # another member
    assert cd.check("admin export", OTHER_GUILD, ANN) == 0.0  # the same member elsewhere
    assert cd.check("login", GUILD, ANN) == 0.0  # another command
    assert all(cd.check("profile", GUILD, ANN) == 0.0 for _ in range(50))  # no cooldown
    assert len(cd) == 4  # nothing kept for a command without a cooldown


def test_memory_stays_capped_under_a_flood_of_members_and_evictions_are_counted():
    """However many members act, the map holds at most ``max_entries`` buckets; each bucket
    evicted before it refilled is counted (the metric's source), refilled ones are not."""
    clock = Clock()
    evicted: list[None] = []
    cd = Cooldowns({"register": Rate(2, 60)}, max_entries=100, clock=clock,
                   evicted=lambda: evicted.append(None))
    for member in range(1000):
        assert cd.check("register", GUILD, member) == 0.0
        assert len(cd) <= 100
    assert (len(cd), cd.evictions, len(evicted)) == (100, 900, 900)
    # The newest members kept their state: the last one has one call left, then waits.
    assert cd.check("register", GUILD, 999) == 0.0
    assert cd.check("register", GUILD, 999) == pytest.approx(30.0)
    # A minute later every bucket has refilled: new members drop them lazily, not as evictions.
    clock.t += 60
    for member in range(2000, 2100):
        cd.check("register", GUILD, member)
    assert (len(cd), cd.evictions) == (100, 900)
    cd.check("register", GUILD, 5000)  # the map is full of fresh buckets: one is evicted
    assert (len(cd), cd.evictions) == (100, 901)


def test_refilled_buckets_are_dropped_lazily_without_a_background_task():
    clock = Clock()
    cd = Cooldowns({"login": Rate(1, 10)}, clock=clock)
    for member in range(50):
        cd.check("login", GUILD, member)
    clock.t += 10
    cd.check("login", GUILD, 999)  # the next use clears what has refilled
    assert (len(cd), cd.evictions) == (1, 0)


# -- configuration --------------------------------------------------------------------------------
def test_defaults_cover_the_commands_of_the_issue():
    rates = dict(load_settings({}).cooldowns)
    assert rates == DEFAULT_COOLDOWNS
    assert {"challenge create", "register", "login", "admin export", "privacy export"} <= \
        set(rates)


def test_the_setting_overrides_adds_and_turns_off_entries():
    rates = dict(load_settings({"GUILDBOT_COOLDOWNS":
                           " Challenge  Create=5/30, login=off,register=0,privacy export=2/1.5,"
                           "admin purge=1/3600,"}).cooldowns)
    assert rates["challenge create"] == Rate(5, 30)
    assert "login" not in rates and "register" not in rates
    assert rates["privacy export"] == Rate(2, 1.5)
    assert rates["admin purge"] == Rate(1, 3600)
    assert rates["admin export"] == DEFAULT_COOLDOWNS["admin export"]
    assert load_settings({"GUILDBOT_COOLDOWNS": "OFF"}).cooldowns == ()
    hash(load_settings({}))  # Settings stays hashable


@pytest.mark.parametrize(("value", "problem"), [
    ("challenge create", "'challenge create' is not COMMAND=CALLS/SECONDS"),
    ("=3/60", "'=3/60' is not COMMAND=CALLS/SECONDS"),
    ("a/b=3/60", "'a/b=3/60' is not COMMAND=CALLS/SECONDS"),
    ("login=3", "login: '3' is not CALLS/SECONDS"),
    ("login=0/60", "login: '0/60' is not CALLS/SECONDS"),
    ("login=3/0", "login: '3/0' is not CALLS/SECONDS"),
    ("login=3/nan", "login: '3/nan' is not CALLS/SECONDS"),
    ("login=1.5/60", "login: '1.5/60' is not CALLS/SECONDS"),
    ("login=3/60/2", "login: '3/60/2' is not CALLS/SECONDS"),
    ("login=3/90000", "login: '3/90000' is not CALLS/SECONDS"),
])
def test_bad_cooldowns_name_the_setting_the_entry_and_the_fix(value, problem):
    with pytest.raises(ConfigError) as caught:
        load_settings({"GUILDBOT_COOLDOWNS": value})
    message = str(caught.value)
    assert message.startswith(f"GUILDBOT_COOLDOWNS: {problem}")
    assert "COMMAND=CALLS/SECONDS entries" in message  # the fix


def test_a_bad_cooldown_setting_stops_the_cli_with_exit_78(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("GUILDBOT_DATABASE", str(tmp_path / "guildbot.db"))
    monkeypatch.setenv("GUILDBOT_COOLDOWNS", "login=fast")
    assert cli.main(["verify"]) == 78
    assert "configuration error: GUILDBOT_COOLDOWNS: login: 'fast'" in capsys.readouterr().err


# -- the admission path ----------------------------------------------------------------------------
@pytest.fixture
def make_bot(storage, tmp_path, make_client):
    def make(**env: str) -> GuildBot:
        settings = load_settings({"GUILDBOT_DATABASE": str(tmp_path / "guildbot.db"),
                                  **{f"GUILDBOT_{k.upper()}": v for k, v in env.items()}})
        client = make_client(GuildBot, settings, storage, Clock())
        client.admission = {GUILD: Decision(True)}
        client.cooldowns.clock = Clock()
        return client
    return make


def interaction(member: int, name: str = "challenge create", *,
                kind: discord.InteractionType = discord.InteractionType.application_command
                ) -> SimpleNamespace:
    return SimpleNamespace(guild_id=GUILD, extras={}, type=kind,
                           user=SimpleNamespace(id=member),
                           command=SimpleNamespace(qualified_name=name), data={},
                           locale=discord.Locale.american_english)


async def test_a_member_over_the_limit_is_answered_and_another_member_is_not(make_bot, answers):
    client = make_bot(cooldowns="challenge create=2/60")
    tree = client.tree
    assert await tree.interaction_check(interaction(ANN))
    assert await tree.interaction_check(interaction(ANN))
    third = interaction(ANN)
    assert not await tree.interaction_check(third)
    assert third.extras["outcome"] == "cooldown"
    assert answers == ["You're doing that too often — try again in 30 s."]
    assert await tree.interaction_check(interaction(BOB))
    assert await tree.interaction_check(interaction(ANN, "profile"))  # no cooldown there
    client.cooldowns.clock.t += 29.2
    assert not await tree.interaction_check(interaction(ANN))
    assert answers[-1] == "You're doing that too often — try again in 1 s."  # rounded up


async def test_refusals_before_it_and_autocomplete_take_nothing(make_bot, answers):
    """Maintenance (and the other refusals above it) answered the member without running the
    command, and autocomplete is typing, not a use: none of them costs the member a call."""
    client = make_bot(cooldowns="challenge create=1/60")
    tree = client.tree
    client.global_maintenance = True
    assert not await tree.interaction_check(interaction(ANN))
    client.global_maintenance = False
    for _ in range(5):
        assert await tree.interaction_check(
            interaction(ANN, kind=discord.InteractionType.autocomplete))
    assert await tree.interaction_check(interaction(ANN))
    assert not await tree.interaction_check(interaction(ANN))
    assert len(answers) == 2 and "maintenance" in answers[0] and "too often" in answers[1]


async def test_refused_typing_gets_no_choices_direct(make_bot, answers, monkeypatch):
    """Regression (issue 17, direct2 item 1): autocomplete refused (maintenance here) is
    answered with no choices over the direct path (``send_choices``), not discord.py's client,
    and never with a message. Fails on the old code because it called
    ``interaction.response.autocomplete([])``, which went through discord.py."""
    sent: list[tuple[object, list]] = []

    async def send_choices(interaction, choices) -> None:
        sent.append((interaction, list(choices)))
    monkeypatch.setattr(bot.app, "send_choices", send_choices)
    client = make_bot()
    client.global_maintenance = True
    typing = interaction(ANN, kind=discord.InteractionType.autocomplete)
    assert not await client.tree.interaction_check(typing)
    assert sent == [(typing, [])] and answers == []
    assert typing.extras["outcome"] == "maintenance"


async def test_cooldown_names_the_release_does_not_have_are_reported(make_bot):
    """A typo in GUILDBOT_COOLDOWNS would silently limit nothing: the bot names it at start."""
    client = make_bot(cooldowns="chalenge create=1/60")
    for module in ("members", "challenges", "admin"):
        await client.load_extension(f"bot.cogs.{module}")
    assert "chalenge create" in client.unknown_cooldowns()
    assert "challenge create" not in client.unknown_cooldowns()
    assert "admin export" not in client.unknown_cooldowns()
