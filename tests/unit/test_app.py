"""The command tree (bot.app.GuildBotTree): what it admits, and how it answers errors (a
member's mistake, the database failing, a bug)."""

from __future__ import annotations

import itertools
import sqlite3

import discord
import pytest
from discord import app_commands

from bot.app import DRAINING_NOTICE, MAINTENANCE_NOTICE
from bot.domain import errors
from bot.policy import Decision
from tests.unit import test_admission as admission
from tests.unit.test_admission import NOW, A, gateway_guild, interaction

make_bot = admission.make_bot  # the same fixture


async def test_a_database_failure_is_answered_as_temporarily_unavailable(storage, make_bot,
                                                                         answers, monkeypatch):
    """Regression (domain-core, item 1): when SQLite fails (here a disk I/O error on the
    writer), the member is told the bot is temporarily unavailable, the outcome is a failure and
    the error is still recorded for the operators. Fails on the old code, where the raw
    sqlite3 error got "Something went wrong on our side (error id ...)"."""
    client = await make_bot(gateway_guild(A, "Alpha", NOW))
    recorded: list[BaseException] = []

    def record_error(exc: BaseException, **where: object) -> str:
        recorded.append(exc)
        return "e1"
    monkeypatch.setattr(client.monitoring, "record_error", record_error)

    async def broken(*args, **kwargs):
        raise sqlite3.OperationalError("disk I/O error")
    monkeypatch.setattr(storage, "write", broken)
    try:
        await storage.guild(A).register(1, "ann", NOW)
    except Exception as exc:  # whatever the storage raises is what the tree gets
        failure = exc
    else:
        pytest.fail("the write did not fail")
    failed = interaction(A)
    await client.tree.on_error(failed, failure)
    assert answers == ["guildbot is temporarily unavailable. Please try again in a minute."]
    assert failed.extras["outcome"] == "failure"
    assert recorded == [failure]


@pytest.mark.parametrize("error", [errors.InvalidInput("typed wrong"),
                                   errors.NotAllowed("not yours"),
                                   errors.NotRegistered("register first"),
                                   errors.UserError("plain")])
async def test_every_user_error_is_shown_to_the_member(storage, make_bot, answers, error):
    client = await make_bot(gateway_guild(A, "Alpha", NOW))
    failed = interaction(A)
    await client.tree.on_error(failed, error)
    assert answers == [str(error)]
    assert failed.extras["outcome"] == "user_error"


# --- one interaction after another through the real tree ----------------------------------------
_IDS = itertools.count(900_000_000_000_000_001)


def slash(client, guild_id: int, user_id: int, what: str | None = None, *,
          name: str = "probe") -> discord.Interaction:
    """A real discord.Interaction of ``/probe what:<what>`` (``/<name>``, without options when
    ``what`` is None), built from the gateway's payload on the client's state, as discord.py
    builds it from INTERACTION_CREATE (nothing is sent)."""
    options = [] if what is None else [{"name": "what", "type": 3, "value": what}]
    payload = {
        "id": str(next(_IDS)), "application_id": "1", "type": 2, "token": "interaction-token",
        "version": 1, "guild_id": str(guild_id), "channel_id": "5", "locale": "en-US",
        "app_permissions": "0", "entitlements": [], "attachment_size_limit": 8388608,
        "member": {"user": {"id": str(user_id), "username": f"member{user_id}",
                            "discriminator": "0", "avatar": None},
                   "roles": [], "joined_at": "2026-06-01T00:00:00+00:00", "deaf": False,
                   "mute": False, "permissions": "0", "flags": 0},
        "data": {"id": "77", "name": name, "type": 1, "options": options},
    }
    return discord.Interaction(data=payload, state=client._connection)  # type: ignore[arg-type]


async def test_the_tree_admits_and_maps_errors_in_process(storage, make_bot, answers, monkeypatch):
    """Issue 15 (one in-process test of GuildBotTree): the real bot's discord.py tree runs a real
    command for real discord.Interaction objects, no network, and every way through it is
    answered as the contract says: a run (success, nothing answered by the tree), a member's
    mistake (InvalidInput: its text, user_error), a bug (failure, the error id), the per-member
    cooldown, maintenance, a guild not admitted (refused, recorded under no guild), load
    shedding (busy, the shedder's answer) and draining. It covers what passed before; checked
    to fail when the mapping is broken (InvalidInput taken as a bug, or maintenance not
    checked)."""
    client = await make_bot(gateway_guild(A, "Alpha", NOW), cooldowns="probe=2/60")
    client.admission = {A: Decision(True)}  # what READY decided
    ran: list[str] = []

    @app_commands.command(name="probe", description="A command of the test")
    async def probe(interaction: discord.Interaction, what: str) -> None:
        ran.append(what)
        if what == "mistake":
            raise errors.InvalidInput("that is not a number")
        if what == "bug":
            raise RuntimeError("boom")
    client.tree.add_command(probe)
    outcomes: list[tuple[str, int | None, str]] = []
    monkeypatch.setattr(client.monitoring, "observe_command",
                        lambda name, guild_id, outcome, seconds:
                        outcomes.append((name, guild_id, outcome)))
    recorded: list[BaseException] = []

    def record_error(exc: BaseException, **where: object) -> str:
        recorded.append(exc)
        return "e42"
    monkeypatch.setattr(client.monitoring, "record_error", record_error)
    shed: list[int] = []
    monkeypatch.setattr(client.shedder, "answer_busy", lambda interaction_id, *rest:
                        shed.append(interaction_id))

    async def call(what: str, user_id: int = 1, guild_id: int = A) -> discord.Interaction:
        interaction = slash(client, guild_id, user_id, what)
        await client.tree._call(interaction)
        return interaction

    await call("fine")
    assert (ran, answers, outcomes[-1]) == (["fine"], [], ("probe", A, "success"))
    await call("mistake")
    assert answers == ["that is not a number"] and outcomes[-1] == ("probe", A, "user_error")
    await call("fine")  # the member's third call in the minute: over the cooldown, not run
    assert ran == ["fine", "mistake"] and outcomes[-1] == ("probe", A, "cooldown")
    assert answers[-1] == "You're doing that too often — try again in 30 s."

    await call("bug", user_id=2)
    assert outcomes[-1] == ("probe", A, "failure") and str(recorded[-1]) == "boom"
    assert answers[-1] == ("Something went wrong on our side (error id `e42`). It has been "
                           "logged; please try again later.")

    client.set_guild_maintenance(A, True)
    await call("fine", user_id=3)
    assert answers[-1] == MAINTENANCE_NOTICE and outcomes[-1] == ("probe", A, "maintenance")
    client.set_guild_maintenance(A, False)

    other = A + 1  # in the cache but not admitted (refused at READY, its leave failed)
    client._connection._guilds[other] = gateway_guild(other, "Other", NOW)
    await call("fine", user_id=3, guild_id=other)
    assert "not enabled for this server" in answers[-1]
    assert outcomes[-1] == ("probe", None, "refused")

    client.inflight = client.settings.max_inflight  # this call makes one more than allowed
    busy = await call("fine", user_id=3)
    assert shed == [busy.id] and outcomes[-1] == ("probe", A, "busy")
    client.inflight = 0

    client.draining = True
    await call("fine", user_id=3)
    assert answers[-1] == DRAINING_NOTICE and outcomes[-1] == ("probe", A, "busy")
    assert ran == ["fine", "mistake", "bug"] and len(answers) == 6
