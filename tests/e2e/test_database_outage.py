"""PostgreSQL taken away under the running bot, and brought back (issue 11, pg-run item 1)."""

from __future__ import annotations

import pytest

from tests.e2e.harness import BotProcess, answer, eventually, metric, text

pytestmark = pytest.mark.parametrize("backend", ["postgres"], indirect=True)

UNAVAILABLE = "guildbot is temporarily unavailable"
STORAGE_UNAVAILABLE = "bot.storage.base.StorageUnavailable"


async def _readyz_until(bot: BotProcess, status: int) -> dict:
    """Poll /readyz until it answers ``status``; every request must answer (urllib times out
    after 5 s: a probe that hangs fails here, at once)."""
    async def answers() -> dict:
        try:
            got, body = await bot.get("/readyz")
        except OSError as exc:
            raise RuntimeError("/readyz did not answer") from exc
        assert got == status, (got, body)
        assert isinstance(body, dict)
        return body
    return await eventually(answers, f"/readyz answering {status}", 30)


async def test_the_bot_answers_through_a_database_outage_and_resumes_by_itself(
        world, make_bot, postgres_server):
    """The server stops under the running bot: /readyz says so (bounded), every command family
    (read, write, challenge) is answered "temporarily unavailable", the failures are one error
    group, and the analytics rows are kept. The server comes back: the pool reconnects by itself,
    /readyz is ready again, commands succeed, and nothing a refused command asked for was
    stored; the usage rows of the outage reach the database. The size metric is the database's
    own (pg_database_size)."""
    w = world
    bot = await make_bot()
    for member in (w.ann, w.bob):
        assert "Welcome" in (await answer(w.fake, w.alpha, member, "register")).content
    assert "+100 points" in (await answer(w.fake, w.alpha, w.ann, "login")).content
    create = await answer(w.fake, w.alpha, w.ann, "challenge create",
                          {"opponent": w.bob, "stake": 10})
    assert "challenge:1" in create.content

    # The size metric is PostgreSQL's figure for this database (sampled at start), not a file.
    _, metrics = await bot.get("/metrics")
    measured = int(postgres_server.psql(f"SELECT pg_database_size('{bot.db.name}')"))
    assert abs(metric(metrics, "guildbot_database_size_bytes") - measured) < 1_000_000

    outage = [  # (member, command, options): reads, writes, challenges
        (w.ann, "profile", {}),
        (w.bob, "leaderboard", {}),
        (w.ann, "stats", {}),
        (w.bob, "challenge list", {}),
        (w.cid, "register", {}),
        (w.bob, "login", {}),
        (w.ann, "admin settings", {"daily_reward": 500}),
        (w.ann, "challenge create", {"opponent": w.bob, "stake": 5}),
        (w.ann, "challenge cancel", {"challenge": 1}),
    ]
    postgres_server.stop()
    try:
        body = await _readyz_until(bot, 503)
        assert any("database" in reason for reason in body["reasons"]), body
        for member, command, options in outage:
            reply = await answer(w.fake, w.alpha, member, command, options)
            assert reply.ephemeral and UNAVAILABLE in reply.content, (command, reply)
        _, errors = await bot.get("/errors")
        groups = [g for g in errors["groups"] if g["type"] == STORAGE_UNAVAILABLE]
        assert len(groups) == 1 and groups[0]["count"] >= len(outage), errors
        assert (await _readyz_until(bot, 503))["ready"] is False
    finally:
        postgres_server.start()

    # Back by itself: no restart of the bot.
    pid = bot.proc.pid
    await _readyz_until(bot, 200)
    assert "Welcome" in (await answer(w.fake, w.alpha, w.cid, "register")).content
    assert "+100 points" in (await answer(w.fake, w.alpha, w.bob, "login")).content
    assert "Points: 90" in text(await answer(w.fake, w.alpha, w.ann, "profile"))
    assert "Daily reward: 100 points" in \
        (await answer(w.fake, w.alpha, w.ann, "admin settings")).content
    listing = text(await answer(w.fake, w.alpha, w.bob, "challenge list"))
    assert "#1" in listing and "#2" not in listing, listing
    again = await answer(w.fake, w.alpha, w.ann, "challenge create",
                         {"opponent": w.bob, "stake": 5})
    assert "challenge:2" in again.content
    assert bot.proc.pid == pid and bot.proc.returncode is None

    # The outage's usage rows were kept and written once the database was back (at the
    # latest by the final flush at stop), none lost, none twice.
    assert await bot.stop() == 0
    failures = await bot.db.rows(
        "SELECT command FROM command_usage WHERE outcome = 'failure' ORDER BY id")
    assert [row[0] for row in failures] == [command for _, command, _ in outage]
    tracebacks = [r for r in bot.log_records()
                  if STORAGE_UNAVAILABLE in r.get("msg", "") and r.get("exc")]
    assert len(tracebacks) == 1, [r["msg"] for r in tracebacks]
