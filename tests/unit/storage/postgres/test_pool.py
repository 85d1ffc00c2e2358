"""What a connection the PostgreSQL pool hands out guarantees, now that a release sends no reset
query (bot/storage/postgres/pool.py, issue 11): no transaction, row lock or transaction-level
advisory lock of an earlier caller survives (asyncpg rolls back a transaction left open, even by
a cancelled command), and the backend creates no session state a reset would have cleared."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from bot.cogs._common import Person
from bot.cogs.members import do_login, do_profile
from bot.cogs.stats import do_leaderboard
from bot.storage.postgres import PostgresStorage
from tests.pgserver import BOT_PASSWORD

G = 555555555555555555
NOW = 1_700_000_000.0
ON_POSTGRES = pytest.mark.parametrize("backend", ["postgres"], indirect=True)
BOT = Path(__file__).resolve().parents[4] / "bot"


async def _only_connection_state(store: PostgresStorage) -> tuple[bool, object, int]:
    """What the pool's (only) connection carries: in a transaction, its transaction id, and the
    locks it holds besides its own virtual transaction's."""
    async with store._pool.pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT txid_current_if_assigned(), (SELECT COUNT(*) FROM pg_locks "
            "WHERE pid = pg_backend_pid() AND locktype <> 'virtualxid' "
            "AND relation IS DISTINCT FROM 'pg_locks'::regclass)")
        return conn.is_in_transaction(), row[0], row[1]


@ON_POSTGRES
async def test_a_release_sends_no_reset_query(backend, database, postgres_server):
    """Regression (issue 11, item 1): a single-statement call is one round trip; fails on the
    old code because asyncpg's default reset sent ``SELECT pg_advisory_unlock_all(); CLOSE ALL;
    UNLISTEN *; RESET ALL;`` after it, which the server then shows as the session's last
    statement."""
    store = await PostgresStorage.open(database, BOT_PASSWORD, pool_size=1)
    try:
        await store.guild(G).member(1)
        last = postgres_server.psql(
            "SELECT query FROM pg_stat_activity WHERE application_name = 'guildbot'")
    finally:
        await store.close()
    assert "FROM members" in last
    assert "pg_advisory_unlock_all" not in last


@ON_POSTGRES
@pytest.mark.parametrize("where", ["between statements", "inside a blocked statement"])
async def test_a_command_cancelled_in_a_transaction_leaves_nothing_behind(
        backend, database, where):
    """A command task cancelled inside a write transaction (its interaction timed out, the bot
    shuts down) leaves the next caller of the same connection no open transaction, no row lock,
    no transaction-level advisory lock and none of its writes. Guards the no-op reset: asyncpg
    rolls the transaction back on release whatever the pool's reset does (it passed on the old
    code too, which sent ROLLBACK plus the reset query)."""
    store = await PostgresStorage.open(database, BOT_PASSWORD, pool_size=1)
    other = await backend.connect(database)
    try:
        repo = store.guild(G)
        await repo.register(1, "ann", NOW)
        await other.execute("BEGIN")
        if where == "inside a blocked statement":  # the task waits for this row lock
            await other.execute("SELECT 1 FROM guilds WHERE guild_id = $1 FOR UPDATE", G)
        entered = asyncio.Event()

        async def work(conn):
            await conn.execute("SELECT pg_advisory_xact_lock(42)")
            await conn.execute("UPDATE members SET points = 7 WHERE guild_id = $1", G)
            entered.set()
            await conn.execute("UPDATE guilds SET name = 'x' WHERE guild_id = $1", G)
            await asyncio.Event().wait()  # between statements: waits here

        task = asyncio.create_task(store._pool.transaction(work))
        await asyncio.wait_for(entered.wait(), 5)
        await asyncio.sleep(0.2)  # the blocked UPDATE reaches the server
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await other.execute("ROLLBACK")
        assert await _only_connection_state(store) == (False, None, 0)
        assert (await repo.member(1)).points == 0
        assert await other.fetchval("SELECT pg_try_advisory_xact_lock(42)") is True
        assert await other.fetchval(
            "SELECT name FROM guilds WHERE guild_id = $1 FOR UPDATE NOWAIT", G) == ""
    finally:
        await other.close()
        await store.close()


# SQL keywords are written in capitals (so "set it to" in a docstring is not a SET).
SESSION_STATE = re.compile(
    r"pg_(?:try_)?advisory_lock(?:_shared)?\s*\(|\bLISTEN\b|WITH\s+HOLD|"
    r"[\"']\s*SET\s+(?!LOCAL\b)\w+\s*(?:=|TO\b)|set_config\s*\([^)]*false")


def test_the_bot_creates_no_session_state_a_reset_would_have_cleared():
    """The pool releases connections without a reset query, so nothing in the bot may leave
    session state on a pooled connection: no session-level advisory lock (the migrator's and the
    cluster's locks are ``pg_advisory_xact_lock``, released by their transaction), no LISTEN, no
    session ``SET``, no cursor ``WITH HOLD``. Code that needs one undoes it itself or takes a
    connection of its own. Checked over the bot's whole source."""
    found = [f"{path.relative_to(BOT)}: {match[0]}" for path in sorted(BOT.rglob("*.py"))
             for match in SESSION_STATE.finditer(path.read_text())
             if path.name != "pool.py"]  # pool.py names them in its docstring
    assert found == []
    # The check sees what it looks for.
    for sample in ('"SELECT pg_advisory_lock($1)"', '"LISTEN events"', "'SET search_path = x'",
                   '"DECLARE c CURSOR WITH HOLD FOR SELECT 1"'):
        assert SESSION_STATE.search(sample), sample
    assert not SESSION_STATE.search('"SELECT pg_advisory_xact_lock($1)"')
    assert not SESSION_STATE.search('"UPDATE guilds SET name = :name"')


@ON_POSTGRES
async def test_profile_leaderboard_and_login_take_the_trips_their_rules_need(
        backend, storage, monkeypatch):
    """Regression (issue 11, item 2): the cogs' /profile and /leaderboard are one statement
    each, /login a read and a write; fails on the old code because /profile read the member,
    then again in ``rank`` before counting (3 calls), /leaderboard counted in a second call, and
    /login read the settings in the cog before the check-in's own read (3 calls)."""
    repo = storage.guild(G)
    for user in (1, 2):
        await repo.register(user, f"u{user}", NOW)
    calls: list[str] = []
    for name in ("fetch", "fetchrow", "execute", "executemany", "transaction", "snapshot"):
        method = getattr(storage._pool, name)
        monkeypatch.setattr(storage._pool, name,
                            lambda *a, _m=method, _n=name, **k: calls.append(_n) or _m(*a, **k))
    ann = Person(1, "u1")

    async def trips(command) -> int:
        calls.clear()
        await command
        return len(calls)

    assert await trips(do_profile(repo, ann, Person(2, "u2"))) == 1
    assert await trips(do_leaderboard(repo, 1)) == 1
    assert await trips(do_login(repo, ann, NOW)) == 2
    assert await trips(do_login(repo, ann, NOW)) == 1  # already checked in: the read alone
