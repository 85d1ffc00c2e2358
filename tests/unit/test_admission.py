"""Admission on READY and on every interaction, and a retention purge that never deletes a guild
in use (issue 13, items 5 and 9). The real bot class and a real SQLite database; the guilds the
gateway delivers are stand-ins with the attributes the bot reads."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import discord
import pytest

from bot.app import GuildBot
from bot.config import load_settings
from bot.policy import Decision

A, B, C = 111111111111111111, 222222222222222222, 333333333333333333
DAY = 86400.0
NOW = datetime(2026, 6, 1, tzinfo=UTC).timestamp()


class Clock:
    def __init__(self, t: float = NOW) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def gateway_guild(guild_id: int, name: str, joined: float,
                  locale: discord.Locale = discord.Locale.american_english) -> SimpleNamespace:
    """A guild as discord.py hands it to the bot: READY, a join or a late GUILD_CREATE."""
    guild = SimpleNamespace(id=guild_id, name=name, unavailable=False, system_channel=None,
                            text_channels=[], left=False, preferred_locale=locale,
                            me=SimpleNamespace(joined_at=datetime.fromtimestamp(joined, UTC)))

    async def leave() -> None:
        guild.left = True
    guild.leave = leave
    return guild


@pytest.fixture
def make_bot(storage, tmp_path, make_client):
    async def make(*guilds: SimpleNamespace, clock: Clock | None = None, **env: str) -> GuildBot:
        settings = load_settings({"GUILDBOT_DATABASE": str(tmp_path / "guildbot.db"),
                                  **{f"GUILDBOT_{k.upper()}": v for k, v in env.items()}})
        client = make_client(GuildBot, settings, storage, clock or Clock())
        client._connection._guilds = {g.id: g for g in guilds}  # what READY delivered
        return client
    return make


async def test_a_guild_back_in_ready_has_left_at_cleared_and_survives_the_purge(storage, make_bot):
    """Regression (issue 13, item 5): a guild that removed the bot while it ran and re-added it
    while it was offline comes back in READY; the purge 30 days after it left must keep its data.
    Fails on the old code because on_ready never cleared ``left_at`` and the purge deleted the
    guild's members."""
    repo = storage.guild(A)
    await repo.ensure("Alpha", NOW - 100 * DAY)
    await repo.register(1, "ann", NOW - 100 * DAY)
    await repo.mark_left(NOW - 40 * DAY)
    client = await make_bot(gateway_guild(A, "Alpha", NOW - 100 * DAY))
    await client.on_ready()
    assert (await storage.known_guilds())[A] is None
    assert await client.purge_departed_guilds() == 0
    assert await repo.member(1) is not None


async def test_the_purge_rechecks_the_cutoff_inside_its_transaction(storage, make_bot):
    """Regression (issue 13, item 5): between listing the departed guilds and deleting one, the
    guild came back and left again (the clock moved on). The purge must re-check ``left_at``
    against its cutoff in the deleting transaction. Fails on the old code because it deleted
    every listed guild unconditionally."""
    clock = Clock()
    client = await make_bot(clock=clock)
    repo, other = storage.guild(A), storage.guild(B)
    for guild in (repo, other):
        await guild.ensure("g", NOW - 100 * DAY)
        await guild.register(1, "ann", NOW - 100 * DAY)
        await guild.mark_left(NOW - 40 * DAY)
    listed = storage.guilds_left_before

    async def racing_list(cutoff: float) -> list[int]:
        ids = await listed(cutoff)
        clock.t += 60  # the guild rejoins and leaves again right after the listing
        await repo.ensure("Alpha", clock.t)
        await repo.mark_left(clock.t)
        return ids

    storage.guilds_left_before = racing_list
    try:
        assert await client.purge_departed_guilds() == 1
    finally:
        del storage.guilds_left_before
    assert await repo.member(1) is not None  # left a minute ago: kept
    assert await other.member(1) is None  # left 40 days ago: purged
    assert await storage.known_guilds() == {A: NOW + 60}


async def test_the_purge_skips_a_guild_admitted_now(storage, make_bot):
    """Regression (issue 13, item 5): a guild admitted (delivered by the gateway) whose row still
    says it left — the moment between the decision and its write — is in use: never purged.
    Fails on the old code because the purge looked only at ``left_at``."""
    repo = storage.guild(A)
    await repo.ensure("Alpha", NOW - 100 * DAY)
    await repo.register(1, "ann", NOW - 100 * DAY)
    await repo.mark_left(NOW - 40 * DAY)
    client = await make_bot()
    client.admission = {A: Decision(True)}
    assert await client.purge_departed_guilds() == 0
    assert await repo.member(1) is not None


async def test_ready_applies_the_cap_in_a_fixed_order(storage, make_bot):
    """Regression (issue 13, item 9): READY delivers more guilds than the cap. Known guilds come
    first, then by the time the bot joined them, whatever order Discord sends them in; the rest
    are turned away and get no row. Fails on the old code because on_ready treated every guild
    in READY as known and admitted them all."""
    await storage.guild(C).ensure("Gamma", NOW - DAY)  # known, though joined last
    guilds = [gateway_guild(B, "Beta", NOW - 3 * DAY), gateway_guild(A, "Alpha", NOW - 2 * DAY),
              gateway_guild(C, "Gamma", NOW - DAY)]
    for order in (guilds, guilds[::-1]):
        for guild in order:
            guild.left = False
        client = await make_bot(*order, max_guilds="2")
        await client.on_ready()
        assert [g.id for g in guilds if g.left] == [A]
        assert {g for g, d in client.admission.items() if d.admitted} == {B, C}
        assert client.admission[A].reason == "guild limit 2 reached"
        assert set(await storage.known_guilds()) == {B, C}


async def test_ready_applies_the_closed_switch_to_guilds_first_seen_there(storage, make_bot):
    """Regression (issue 13, item 9): a guild added while the bot was offline is new to it; the
    closed switch turns it away, while a guild it served before (even one that left) stays.
    Fails on the old code because on_ready called every guild in READY known."""
    await storage.guild(A).ensure("Alpha", NOW - DAY)
    await storage.guild(A).mark_left(NOW - 1)
    alpha, beta = gateway_guild(A, "Alpha", NOW), gateway_guild(B, "Beta", NOW)
    client = await make_bot(alpha, beta, closed_to_new_guilds="true")
    await client.on_ready()
    assert (alpha.left, beta.left) == (False, True)
    assert await storage.known_guilds() == {A: None}


async def test_a_guild_arriving_after_ready_is_decided_on_its_own(storage, make_bot):
    """Regression (issue 13, item 9): a guild whose GUILD_CREATE comes after READY was decided
    (``guild_available``, e.g. after READY's timeout or on a shard's new session) goes through
    the policy too. Fails on the old code because only on_guild_join applied the policy."""
    late = gateway_guild(B, "Beta", NOW)
    client = await make_bot(late, closed_to_new_guilds="true")
    await client.on_guild_available(late)
    assert late.left
    assert not client.admission[B].admitted
    assert await storage.known_guilds() == {}


async def test_the_cap_counts_admitted_guilds_not_the_ones_that_failed_to_leave(storage,
                                                                                make_bot):
    """Regression (issue 13, item 9): a refused guild whose leave() failed is still in the
    client's cache; it must not take a place under the cap. Fails on the old code because the
    cap counted every cached guild."""
    alpha, stuck, gamma = (gateway_guild(A, "Alpha", NOW - 2 * DAY),
                           gateway_guild(B, "Beta", NOW - DAY), gateway_guild(C, "Gamma", NOW))
    client = await make_bot(alpha, stuck, gamma, max_guilds="2")
    client.admission = {A: Decision(True), B: Decision(False, "guild limit 2 reached")}
    await client.on_guild_join(gamma)
    assert not gamma.left
    assert client.admission[C].admitted


@pytest.mark.parametrize(("locale", "farewell"), [
    (discord.Locale.german, "Danke für die Einladung von guildbot! Wir führen den Bot "
     "schrittweise ein und können diesem Server noch nicht beitreten (closed to new guilds)"),
    (discord.Locale.latin_american_spanish, "¡Gracias por invitar a guildbot!"),
    (discord.Locale.japanese, "Thanks for inviting guildbot! We are rolling out gradually"),
])
async def test_the_farewell_is_in_the_guilds_preferred_locale(make_bot, locale, farewell):
    """Regression (issue 14, item 3): a guild the policy turns away has no settings of ours
    yet, so its farewell follows the guild's preferred locale (English for a language we do
    not ship). Fails on the old code because the farewell was English only."""
    sent: list[str] = []

    async def send(text: str) -> None:
        sent.append(text)
    guild = gateway_guild(B, "Beta", NOW, locale)
    guild.system_channel = SimpleNamespace(send=send)
    client = await make_bot(guild, closed_to_new_guilds="true")
    await client.on_guild_join(guild)
    assert guild.left
    (message,) = sent
    assert message.startswith(farewell)


def interaction(guild_id: int | None, name: str = "register",
                kind: discord.InteractionType = discord.InteractionType.application_command,
                **data: object) -> SimpleNamespace:
    return SimpleNamespace(guild_id=guild_id, extras={}, command=None, type=kind,
                           command_failed=False, data={"name": name, **data},
                           user=SimpleNamespace(id=1), locale=discord.Locale.american_english)


async def test_every_interaction_passes_the_policy(storage, make_bot, answers):
    """Regression (issue 13, item 9): during the beta, a guild that installed only the commands
    scope (never delivered by the gateway) and one refused at READY whose leave() failed must be
    refused on every interaction, with a clear ephemeral answer, and nothing written for them.
    Fails on the old code because the interaction check never looked at the guild."""
    alpha, beta = gateway_guild(A, "Alpha", NOW - DAY), gateway_guild(B, "Beta", NOW)
    client = await make_bot(alpha, beta, stage="beta", guild_allowlist=f"{A},{B}",
                            max_guilds="1")

    async def no_leave() -> None:
        return None
    beta.leave = no_leave
    await client.on_ready()
    tree = client.tree
    assert await tree.interaction_check(interaction(A))
    refused = interaction(B)
    assert not await tree.interaction_check(refused)
    assert refused.extras["outcome"] == "refused"
    commands_only = interaction(C, "admin")
    assert not await tree.interaction_check(commands_only)
    assert answers == [
        "guildbot is not enabled for this server (guild limit 1 reached). We are rolling out "
        "gradually; please try again later.",
        "guildbot is not enabled for this server (not on the beta allowlist). We are rolling "
        "out gradually; please try again later.",
    ]
    assert set(await storage.known_guilds()) == {A}
