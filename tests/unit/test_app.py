"""How the command tree answers errors: a member's mistake, or the database failing."""

from __future__ import annotations

import sqlite3

import pytest

from bot.domain import errors
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
