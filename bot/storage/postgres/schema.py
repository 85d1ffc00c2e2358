"""Numbered SQL migrations of the PostgreSQL backend, applied in order, with a recorded version.

The applied migrations are rows of ``schema_migrations(version, name, applied_at,
compatible_from)``; the schema version is the highest ``version`` (0: no schema yet). Each
migration runs in its own transaction together with its row, so a crash leaves the database at
the previous version, never half-migrated (PostgreSQL's DDL is transactional). Migrators in
several processes are serialized by a transaction-level advisory lock (:data:`MIGRATION_LOCK`),
and each re-reads the version under the lock, so running the migrator twice, or twice at once,
applies each migration once.

Compatibility (expand/contract) as in SQLite (docs/ARCHITECTURE.md, "Schema versions"): a
migration with the line ``-- expand-only`` keeps the floor it found; any other raises the floor to
its own version. The floor of the current version is its row's ``compatible_from``.
"""

from __future__ import annotations

from functools import partial

import asyncpg

from bot.storage.base import SchemaError
from bot.storage.migrations import Migration, check_compatible, load

# pg_advisory_xact_lock key of the migrator: "guildbot" in ASCII, fits a signed BIGINT.
MIGRATION_LOCK = 0x6775696C64626F74

# The guild-owned tables (bot.storage.postgres.queries re-exports them for the scope checks).
GUILD_TABLES = ("guilds", "members", "challenges", "command_usage", "audit_log",
                "announcement_deliveries")

_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    compatible_from INTEGER NOT NULL
)
"""

migrations = partial(load, "bot.storage.postgres.migrations")
LATEST_VERSION = len(migrations())


async def _has_version_table(conn: asyncpg.Connection) -> bool:
    return bool(await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL"))


async def current_version(conn: asyncpg.Connection) -> int:
    """The highest applied migration; 0 for a database without the schema."""
    if not await _has_version_table(conn):
        return 0
    return int(await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"))


async def compatible_from(conn: asyncpg.Connection) -> int:
    """The lowest schema version a release may know and still run on this database."""
    if not await _has_version_table(conn):
        return 0
    floor = await conn.fetchval(
        "SELECT compatible_from FROM schema_migrations ORDER BY version DESC LIMIT 1")
    return int(floor or 0)


async def pending(conn: asyncpg.Connection) -> list[Migration]:
    """The migrations this release still has to apply; refuses a newer, incompatible database."""
    version = await current_version(conn)
    if version > LATEST_VERSION:
        check_compatible(version, await compatible_from(conn), LATEST_VERSION)
        return []
    return [m for m in migrations() if m.version > version]


async def require_current(conn: asyncpg.Connection) -> None:
    """Refuse a database this release cannot run on as it is: newer and incompatible, or behind."""
    if await pending(conn):
        raise SchemaError(
            f"the PostgreSQL database is at schema version {await current_version(conn)}, "
            f"behind this release ({LATEST_VERSION}): run `guildbot-cli migrate` (it takes a "
            "verified backup first), then start the bot"
        )


async def apply_pending(conn: asyncpg.Connection) -> list[Migration]:
    """Apply every pending migration, each with its version row in one transaction; return
    what this call applied (nothing when another migrator got there first)."""
    applied = []
    for migration in await pending(conn):
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
            await conn.execute(_VERSION_TABLE)
            # Re-check under the lock: another migrator may have won the race.
            if await current_version(conn) >= migration.version:
                continue
            floor = (await compatible_from(conn) or migration.version
                     if migration.expand_only else migration.version)
            await conn.execute(migration.sql)
            await conn.execute(
                "INSERT INTO schema_migrations (version, name, compatible_from) "
                "VALUES ($1, $2, $3)", migration.version, migration.name, floor)
        applied.append(migration)
    return applied


async def table_counts(conn: asyncpg.Connection) -> dict[str, int]:
    """Rows per table of the database's schema, every table (as SQLite's verify counts them),
    by name."""
    tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = "
                              "current_schema() ORDER BY tablename")
    counts = {}
    for (table,) in tables:
        quoted = '"' + table.replace('"', '""') + '"'
        counts[table] = int(await conn.fetchval(f"SELECT COUNT(*) FROM {quoted}"))
    return counts
