"""The SQLite writer's transactions (bot/storage/sqlite/connections.py): a transaction body is a
plain function of the writer's ``sqlite3.Connection``, run whole on the writer thread inside
``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back when it raises."""

from __future__ import annotations

import sqlite3
import threading

import pytest


def put(key: str, value: str):
    def work(conn: sqlite3.Connection) -> dict:
        conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (key, value))
        return {"thread": threading.current_thread().name,
                "connection": type(conn), "in_transaction": conn.in_transaction}
    return work


async def test_a_transaction_body_is_a_plain_function_run_on_the_writer_thread(sqlite_storage):
    """Regression (issue 11, plain transaction bodies): ``write`` calls ``work(conn)`` with the
    writer's own ``sqlite3.Connection``, inside a transaction, on the writer thread, and returns
    what it returns; the write is committed. Fails on the old code because ``write`` drove
    ``work`` as a coroutine (``coro.send``) against a shim connection: a plain function raised
    AttributeError and nothing was stored."""
    seen = await sqlite_storage.write(put("answer", "42"))
    assert seen["connection"] is sqlite3.Connection
    assert seen["in_transaction"] is True
    assert seen["thread"].startswith("guildbot-db-writer")
    assert threading.current_thread().name != seen["thread"]
    assert await sqlite_storage.get_meta("answer") == "42"


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
