"""Migrations on both backends (fresh database, idempotence, the recorded version, refusals,
the compatibility floor), then SQLite's own (upgrades from every earlier version, WAL, the
statement splitter).

The both-backend tests talk to a :class:`Migrator`: the backend's schema module and one
connection to an empty database, with the SQLite functions (synchronous) behind the same
async calls as PostgreSQL's.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from bot.storage.base import SchemaError
from bot.storage.postgres import schema as pg_schema
from bot.storage.sqlite import schema


class Migrator:
    """One backend's schema functions on one connection to a database without a schema."""

    def __init__(self, backend, location: str, module: ModuleType, conn: Any) -> None:
        self.backend, self.location, self.module, self.conn = backend, location, module, conn

    @property
    def sqlite(self) -> bool:
        return self.module is schema

    async def call(self, name: str, conn: Any = None) -> Any:
        conn = self.conn if conn is None else conn
        if self.sqlite:
            args = (conn, self.location) if name == "require_current" else (conn,)
            return getattr(schema, name)(*args)
        return await getattr(pg_schema, name)(conn)

    async def connect(self) -> Any:
        if self.sqlite:
            return schema.connect(self.location)
        return await self.backend.connect(self.location)

    async def close(self, conn: Any) -> None:
        result = conn.close()
        if not self.sqlite:
            await result

    async def tables(self) -> set[str]:
        if self.sqlite:
            return {r[0] for r in self.conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table'")}
        return {r[0] for r in await self.conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}

    async def set_version(self, version: int) -> None:
        """Record ``version`` as the schema's (a release newer than this one migrated it)."""
        if self.sqlite:
            self.conn.execute(f"PRAGMA user_version = {version}")
        else:
            await self.conn.execute("INSERT INTO schema_migrations (version, name, "
                                    "compatible_from) VALUES ($1, 'future', $1)", version)

    def newer_release(self, monkeypatch, *extra: tuple[str, str]) -> None:
        """Make ``migrations()`` return this release's migrations plus ``extra`` (name, sql)."""
        module = self.module
        real = [m for m in module.migrations() if m.version <= module.LATEST_VERSION]
        added = [module.Migration(len(real) + i, name, sql)
                 for i, (name, sql) in enumerate(extra, 1)]
        monkeypatch.setattr(module, "migrations", lambda: real + added)
        monkeypatch.setattr(module, "LATEST_VERSION", len(real) + len(added))


@pytest.fixture
async def migrator(backend):
    location = backend.empty_database()
    module = schema if backend.name == "sqlite" else pg_schema
    made = Migrator(backend, location, module, None)
    made.conn = await made.connect()
    yield made
    await made.close(made.conn)
    backend.drop_database(location)


async def test_fresh_database_reaches_latest_version(migrator):
    latest = migrator.module.LATEST_VERSION
    assert await migrator.call("current_version") == 0
    applied = await migrator.call("apply_pending")
    assert [m.version for m in applied] == list(range(1, latest + 1))
    assert await migrator.call("current_version") == latest
    assert {"guilds", "members", "challenges", "meta", "command_usage"} <= \
        await migrator.tables()
    await migrator.call("require_current")


async def test_running_twice_is_a_no_op(migrator):
    await migrator.call("apply_pending")
    assert await migrator.call("apply_pending") == []
    assert await migrator.call("current_version") == migrator.module.LATEST_VERSION


async def test_two_migrators_at_once_apply_each_migration_once(migrator):
    """Two processes running `migrate` at the same moment: one applies, the other finds it
    done (SQLite: its write lock; PostgreSQL: the advisory lock and the re-check under it)."""
    if migrator.sqlite:
        def migrate() -> list:
            conn = schema.connect(migrator.location)  # a connection of its own thread
            try:
                return schema.apply_pending(conn)
            finally:
                conn.close()
        results = await asyncio.gather(asyncio.to_thread(migrate), asyncio.to_thread(migrate))
    else:
        other = await migrator.connect()
        try:
            results = await asyncio.gather(migrator.call("apply_pending"),
                                           migrator.call("apply_pending", other))
        finally:
            await migrator.close(other)
    assert sorted(m.version for result in results for m in result) == \
        list(range(1, migrator.module.LATEST_VERSION + 1))
    assert await migrator.call("current_version") == migrator.module.LATEST_VERSION


async def test_a_newer_database_is_refused(migrator):
    await migrator.call("apply_pending")
    await migrator.set_version(migrator.module.LATEST_VERSION + 1)
    with pytest.raises(SchemaError, match="newer than this release"):
        await migrator.call("pending")


async def test_a_failing_migration_leaves_the_previous_version(migrator, monkeypatch):
    await migrator.call("apply_pending")
    latest = migrator.module.LATEST_VERSION
    migrator.newer_release(monkeypatch, ("broken", "CREATE TABLE x (a INTEGER);\n"
                                                   "THIS IS NOT SQL;\n"))
    with pytest.raises(Exception, match="syntax error"):
        await migrator.call("apply_pending")
    assert await migrator.call("current_version") == latest
    assert "x" not in await migrator.tables()


async def test_an_expand_only_migration_leaves_a_database_this_release_can_run_on(migrator,
                                                                                   monkeypatch):
    """Regression (issue 13, item 8): the release before an expand-only migration runs on it.

    Fails on the old code because any database newer than the release was refused, so a rescue
    that restarts the previous release after a migration always failed ("ROLLBACK ... FAILED").
    """
    latest = migrator.module.LATEST_VERSION
    await migrator.call("apply_pending")
    with monkeypatch.context() as newer:
        migrator.newer_release(newer, ("extra",
                                       "-- expand-only\nCREATE TABLE extra (a INTEGER);\n"))
        assert [m.expand_only for m in migrator.module.migrations()][-1]
        await migrator.call("apply_pending")
    assert await migrator.call("current_version") == latest + 1
    assert await migrator.call("pending") == []
    await migrator.call("require_current")


async def test_a_migration_not_declared_expand_only_is_refused_by_the_previous_release(
        migrator, monkeypatch):
    """The compatibility floor: expand-only steps keep it, any other step raises it to its own
    version, and a release that knows less than the floor refuses the database in one line."""
    known = migrator.module.LATEST_VERSION
    await migrator.call("apply_pending")
    floor = await migrator.call("compatible_from")  # the shipped migrations' own floor
    assert floor <= known
    with monkeypatch.context() as newer:
        migrator.newer_release(newer,
                               ("add_a", "-- expand-only\nCREATE TABLE a (x INTEGER);\n"),
                               ("add_b", "-- expand-only\nCREATE INDEX a_x ON a (x);\n"))
        await migrator.call("apply_pending")
        assert await migrator.call("compatible_from") == floor
    with monkeypatch.context() as newer:
        migrator.newer_release(newer, ("add_a", ""), ("add_b", ""),
                               ("drop_a", "DROP INDEX a_x;\nDROP TABLE a;\n"))
        await migrator.call("apply_pending")
        assert await migrator.call("compatible_from") == known + 3
    with pytest.raises(SchemaError, match="not compatible with it") as refused:
        await migrator.call("pending")
    assert "\n" not in str(refused.value)
    assert "restore the pre-deploy backup" in str(refused.value)


async def test_a_database_behind_the_release_is_not_current(migrator, monkeypatch):
    """`run` and the storage open refuse a database that still needs migrations, naming the fix."""
    await migrator.call("apply_pending")
    migrator.newer_release(monkeypatch, ("next", "CREATE TABLE next (a INTEGER);\n"))
    with pytest.raises(SchemaError, match="run `guildbot-cli migrate`"):
        await migrator.call("require_current")


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_postgres_records_each_migration_with_its_name_and_floor(backend, migrator):
    """SQLite records its version in user_version (the tests above); PostgreSQL a row each."""
    await migrator.call("apply_pending")
    rows = await migrator.conn.fetch("SELECT version, name, compatible_from, applied_at "
                                     "FROM schema_migrations ORDER BY version")
    # 0002, challenge_messages (issue 14), audit_log and announcements are expand-only: they
    # keep the floor 0001 set (the later migrations looked up by name: several branches add one
    # at once and the numbers change at merge).
    assert [(r[0], r[1], r[2]) for r in rows[:2]] == [(1, "initial", 1),
                                                      (2, "identify_buckets", 1)]
    names = {r[1]: r[2] for r in rows}
    assert names["challenge_messages"] == 1
    assert names["audit_log"] == 1
    assert names["announcements"] == 1
    assert [r[0] for r in rows] == list(range(1, pg_schema.LATEST_VERSION + 1))
    assert rows[0][3] is not None
    counts = await pg_schema.table_counts(migrator.conn)
    assert set(pg_schema.GUILD_TABLES) <= set(counts)
    assert {n for table, n in counts.items() if table != "schema_migrations"} == {0}


# -- SQLite's own --------------------------------------------------------------------------------
def _tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


@pytest.mark.parametrize("start", range(1, schema.LATEST_VERSION))
def test_upgrade_from_every_earlier_version_keeps_data(tmp_path, start):
    conn = schema.connect(tmp_path / "db")
    for migration in schema.migrations()[:start]:
        schema.apply(conn, migration)
    assert schema.current_version(conn) == start
    conn.execute("INSERT INTO guilds (guild_id, name, joined_at) VALUES (42, 'g', 1)")
    conn.execute("INSERT INTO members (guild_id, user_id, display_name, registered_at, points) "
                 "VALUES (42, 7, 'ann', 1, 250)")
    applied = schema.apply_pending(conn)
    assert [m.version for m in applied] == list(range(start + 1, schema.LATEST_VERSION + 1))
    assert conn.execute("SELECT points FROM members WHERE guild_id = 42 AND user_id = 7") \
        .fetchone() == (250,)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_statement_splitter_rejects_an_unterminated_statement():
    with pytest.raises(RuntimeError, match="incomplete"):
        schema._statements("CREATE TABLE a (x INTEGER);\nCREATE TABLE b (y")


def test_sqlite_runs_in_wal_mode(tmp_path: Path):
    conn = schema.connect(tmp_path / "new.db")
    schema.apply_pending(conn)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
