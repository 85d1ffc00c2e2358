"""Migrations: fresh database, upgrade from every earlier version, idempotence, refusals."""

from __future__ import annotations

import sqlite3

import pytest

from bot.storage.sqlite import schema


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


def _newer_release(monkeypatch, *extra: tuple[str, str]) -> None:
    """Make `migrations()` return this release's migrations plus ``extra`` (name, sql) ones."""
    real = [m for m in schema.migrations() if m.version <= schema.LATEST_VERSION]
    added = [schema.Migration(len(real) + i, name, sql) for i, (name, sql) in enumerate(extra, 1)]
    monkeypatch.setattr(schema, "migrations", lambda: real + added)
    monkeypatch.setattr(schema, "LATEST_VERSION", len(real) + len(added))


def test_an_expand_only_migration_leaves_a_database_this_release_can_run_on(tmp_path,
                                                                             monkeypatch):
    """Regression (issue 13, item 8): the release before an expand-only migration runs on it.

    Fails on the old code because any database newer than the release was refused, so a rescue
    that restarts the previous release after a migration always failed ("ROLLBACK ... FAILED").
    """
    conn = schema.connect(tmp_path / "db")
    schema.apply_pending(conn)
    with monkeypatch.context() as newer:
        _newer_release(newer, ("extra", "-- expand-only\nCREATE TABLE extra (a INTEGER);\n"))
        assert [m.expand_only for m in schema.migrations()][-1]
        schema.apply_pending(conn)
    assert schema.current_version(conn) == schema.LATEST_VERSION + 1
    assert schema.pending(conn) == []
    schema.require_current(conn, "db")


def test_a_migration_not_declared_expand_only_is_refused_by_the_previous_release(tmp_path,
                                                                                 monkeypatch):
    """The compatibility floor: expand-only steps keep it, any other step raises it to its own
    version, and a release that knows less than the floor refuses the database in one line."""
    known = schema.LATEST_VERSION
    conn = schema.connect(tmp_path / "db")
    schema.apply_pending(conn)
    floor = schema.compatible_from(conn)  # the shipped migrations' own floor
    assert floor <= known
    with monkeypatch.context() as newer:
        _newer_release(newer, ("add_a", "-- expand-only\nCREATE TABLE a (x INTEGER);\n"),
                       ("add_b", "-- expand-only\nCREATE INDEX a_x ON a (x);\n"))
        schema.apply_pending(conn)
        assert schema.compatible_from(conn) == floor
    with monkeypatch.context() as newer:
        _newer_release(newer, ("add_a", ""), ("add_b", ""),
                       ("drop_a", "DROP INDEX a_x;\nDROP TABLE a;\n"))
        schema.apply_pending(conn)
        assert schema.compatible_from(conn) == known + 3
    with pytest.raises(schema.SchemaError, match="not compatible with it") as refused:
        schema.pending(conn)
    assert "\n" not in str(refused.value)
    assert "restore the pre-deploy backup" in str(refused.value)


def test_a_database_behind_the_release_is_not_current(tmp_path):
    """`run` and the storage open refuse a database that still needs migrations, naming the fix."""
    conn = schema.connect(tmp_path / "db")
    schema.apply_pending(conn, upto=1)
    with pytest.raises(schema.SchemaError, match="run `guildbot-cli migrate`"):
        schema.require_current(conn, tmp_path / "db")
