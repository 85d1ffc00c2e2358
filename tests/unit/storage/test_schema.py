"""Migrations: fresh database, upgrade from every earlier version, idempotence, refusals."""

from __future__ import annotations

import sqlite3

import pytest

from bot.storage import schema


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def test_fresh_database_reaches_latest_version(tmp_path):
    conn = schema.connect(tmp_path / "new.db")
    applied = schema.apply_pending(conn)
    assert [m.version for m in applied] == list(range(1, schema.LATEST_VERSION + 1))
    assert schema.current_version(conn) == schema.LATEST_VERSION
    assert {"guilds", "members", "challenges", "meta", "command_usage"} <= _tables(conn)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_running_twice_is_a_no_op(tmp_path):
    conn = schema.connect(tmp_path / "db")
    schema.apply_pending(conn)
    assert schema.apply_pending(conn) == []
    assert schema.current_version(conn) == schema.LATEST_VERSION


@pytest.mark.parametrize("start", range(1, schema.LATEST_VERSION))
def test_upgrade_from_every_earlier_version_keeps_data(tmp_path, start):
    conn = schema.connect(tmp_path / "db")
    schema.apply_pending(conn, upto=start)
    assert schema.current_version(conn) == start
    conn.execute("INSERT INTO guilds (guild_id, name, joined_at) VALUES (42, 'g', 1)")
    conn.execute("INSERT INTO members (guild_id, user_id, display_name, registered_at, points) "
                 "VALUES (42, 7, 'ann', 1, 250)")
    applied = schema.apply_pending(conn)
    assert [m.version for m in applied] == list(range(start + 1, schema.LATEST_VERSION + 1))
    assert conn.execute("SELECT points FROM members WHERE guild_id = 42 AND user_id = 7") \
        .fetchone() == (250,)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_a_newer_database_is_refused(tmp_path):
    conn = schema.connect(tmp_path / "db")
    schema.apply_pending(conn)
    conn.execute(f"PRAGMA user_version = {schema.LATEST_VERSION + 1}")
    with pytest.raises(RuntimeError, match="newer than this release"):
        schema.pending(conn)


def test_a_failing_migration_leaves_the_previous_version(tmp_path, monkeypatch):
    conn = schema.connect(tmp_path / "db")
    schema.apply_pending(conn, upto=1)
    broken = schema.Migration(2, "broken", "CREATE TABLE x (a INTEGER);\nTHIS IS NOT SQL;\n")
    first = schema.migrations()[0]
    monkeypatch.setattr(schema, "migrations", lambda: [first, broken])
    with pytest.raises(sqlite3.OperationalError):
        schema.apply_pending(conn)
    assert schema.current_version(conn) == 1
    assert "x" not in _tables(conn)


def test_statement_splitter_rejects_an_unterminated_statement():
    with pytest.raises(RuntimeError, match="incomplete"):
        schema._statements("CREATE TABLE a (x INTEGER);\nCREATE TABLE b (y")
