"""The SQLite writer's transactions (bot/storage/sqlite/connections.py): a transaction body is a
plain function of a writing ``sqlite3.Connection``, run whole inside ``BEGIN IMMEDIATE`` ...
``COMMIT`` (rolled back when it raises): on the event loop when it is cheap and no lock is held
elsewhere, else on the writer thread."""

from __future__ import annotations

import asyncio
import sqlite3
import threading

import pytest

from bot.storage.sqlite import connections, schema


def put(key: str, value: str):
    def work(conn: sqlite3.Connection) -> dict:
        conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (key, value))
        return {"thread": threading.current_thread().name,
                "connection": type(conn), "in_transaction": conn.in_transaction}
    return work


async def test_a_transaction_body_is_a_plain_function_run_on_the_event_loop(sqlite_storage):
    """Regression (issue 11, plain transaction bodies; issue 17, writes on the loop): ``write``
    calls ``work(conn)`` with a real ``sqlite3.Connection``, inside a transaction, and returns
    what it returns; the write is committed. A cheap body runs right on the event loop's thread
    (no trip to the writer thread). Fails on the issue-11 code because ``write`` drove ``work``
    as a coroutine against a shim connection, and on the issue-17 code before this change
    because every body ran on the writer thread."""
    seen = await sqlite_storage.write(put("answer", "42"))
    assert seen["connection"] is sqlite3.Connection
    assert seen["in_transaction"] is True
    assert seen["thread"] == threading.current_thread().name
    assert await sqlite_storage.get_meta("answer") == "42"


async def test_a_body_over_the_loops_budget_runs_whole_once_on_the_writer_thread(sqlite_storage):
    """Issue 17 (writes on the loop): a transaction that needs more than the loop's budget of
    SQLite VM steps is interrupted, rolled back, and runs again, whole, on the writer thread:
    its rows are stored once, not once per attempt."""
    rows = connections.QUICK_WRITE_STEPS  # each INSERT takes several VM steps
    threads: list[str] = []

    def many(conn: sqlite3.Connection) -> int:
        threads.append(threading.current_thread().name)
        for i in range(rows):
            conn.execute("INSERT INTO meta (key, value) VALUES (?, 'x')", (f"row-{i}",))
        return conn.execute("SELECT COUNT(*) FROM meta WHERE key LIKE 'row-%'").fetchone()[0]

    assert await sqlite_storage.write(many) == rows
    assert threads[0] == threading.current_thread().name
    assert threads[-1].startswith("guildbot-db-writer") and len(threads) == 2
    assert sqlite_storage._quick_writer.handed_off == 1
    count = await sqlite_storage.fetchone("SELECT COUNT(*) FROM meta WHERE key LIKE 'row-%'", {})
    assert count == (rows,)


async def test_a_body_that_meets_a_lock_waits_on_the_writer_thread_not_on_the_loop(
        sqlite_storage, db_path):
    """Issue 17 (writes on the loop): while another connection (a CLI, a backup's restore, the
    writer thread's own transaction) holds the write lock, a write does not wait on the event
    loop: it goes to the writer thread (busy timeout 5 s), the loop keeps running, and the write
    lands once the lock is released."""
    other = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    running = asyncio.create_task(ticker())
    released = threading.Timer(0.3, lambda: other.execute("COMMIT"))
    released.start()
    try:
        seen = await sqlite_storage.write(put("after-lock", "ok"))
    finally:
        released.join()
        running.cancel()
        other.close()
    assert seen["thread"].startswith("guildbot-db-writer")
    assert ticks >= 5  # the loop ran while the write waited for the lock
    assert await sqlite_storage.get_meta("after-lock") == "ok"


async def test_the_loops_writer_has_the_writers_settings(sqlite_storage):
    """Issue 17 (writes on the loop): the loop's connection commits as durably as the writer's
    (``synchronous`` is per connection: SQLite's default FULL would fsync the WAL on every commit,
    on the loop), never checkpoints inside a commit, enforces foreign keys and never waits for a
    lock."""
    conn = sqlite_storage._quick_writer.conn
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == \
        {"OFF": 0, "NORMAL": 1, "FULL": 2, "EXTRA": 3}[schema.SYNCHRONOUS]
    assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 0
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_a_body_that_raises_is_rolled_back_and_the_writer_goes_on(sqlite_storage):
    """Regression (issue 11, plain transaction bodies): what the body wrote before raising is
    rolled back, its exception reaches the caller as is, and the next transaction runs. Fails
    on the old code because a plain function could not be run as a body at all (the first
    ``write`` raised AttributeError, not the body's error, and the last stored nothing)."""
    def half_then_fail(conn: sqlite3.Connection) -> None:
        put("half", "written")(conn)
        raise LookupError("the body's own error")

    with pytest.raises(LookupError, match="the body's own error"):
        await sqlite_storage.write(half_then_fail)
    assert await sqlite_storage.get_meta("half") is None
    await sqlite_storage.write(put("after", "ok"))
    assert await sqlite_storage.get_meta("after") == "ok"
