"""Moving a deployment from SQLite to PostgreSQL (``python -m bot migrate-to-postgres``).

1. The target must be empty: no tables, or this release's schema with no rows (e.g. after
   ``migrate``); anything else is refused, nothing written. A target this command already filled
   (its ``meta`` row :data:`DONE_KEY`) is left alone: a rerun does nothing and says so.
2. A verified ``pre-migrate`` backup of the SQLite database is taken first; the SQLite database
   must be at this release's schema (run ``migrate`` first otherwise).
3. Every table is copied in one PostgreSQL transaction with COPY (asyncpg's
   ``copy_records_to_table``), streamed from one SQLite read transaction; each guild's challenge
   counter is set to its highest copied number (new challenges number after the copied ones) and
   the usage id sequence past the highest copied id. SQLite's own ``meta`` bookkeeping
   (:data:`SQLITE_ONLY_META`) stays behind.
4. The proof: every guild's export (bot/storage/export.py) read from both databases, hashed,
   must be identical, and every table's row count equal. A failed proof empties the target again
   (it was empty before) and names the first guild that differs.
5. The marker row records the source, the time and the counts.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg

from bot.storage.backups import BackupError
from bot.storage.postgres import schema as pg_schema
from bot.storage.sqlite import schema as sqlite_schema

DONE_KEY = "migrated_from_sqlite"
SQLITE_ONLY_META = (sqlite_schema.COMPATIBLE_FROM_KEY,)
# Copied in this order (foreign keys: guilds, then members, then challenges).
TABLES = ("guilds", "members", "challenges", "command_usage", "audit_log", "meta")
IDENTITY_TABLES = ("command_usage", "audit_log")  # their id identity is set past the copied ids
EXPORTED_AT = "1970-01-01T00:00:00+00:00"  # the same header on both sides of the proof


class MoveRefused(Exception):
    """The move cannot start or did not prove itself; the message says why and what to do."""


class _Digest:
    """A ``Writable`` that keeps only the SHA-256 of what was written (an export of any size)."""

    def __init__(self) -> None:
        self.hash = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        return len(data)


async def target_state(conn: asyncpg.Connection) -> dict | None:
    """The marker of a finished move (a dict), None for an empty target; MoveRefused for a
    target with anything else in it."""
    version = await pg_schema.current_version(conn)
    tables = await conn.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
    if version == 0 and tables == 0:
        return None
    if version > 0:
        done = await conn.fetchval("SELECT value FROM meta WHERE key = $1", DONE_KEY)
        if done is not None:
            return dict(json.loads(done))
        if version == pg_schema.LATEST_VERSION:
            rows = await data_counts(conn)
            if not any(rows.values()):
                return None
            filled = ", ".join(f"{n} {t}" for t, n in rows.items() if n)
            raise MoveRefused(f"the target database is not empty ({filled}): migrate-to-postgres "
                              "copies only into an empty database; give it a new one (or empty "
                              "this one if it holds an interrupted copy)")
    raise MoveRefused(f"the target database is not empty ({tables} tables, schema version "
                      f"{version}): migrate-to-postgres copies only into an empty database; "
                      "give it a new one")


def _sqlite_rows(conn: sqlite3.Connection, table: str, columns: list[str],
                 booleans: set[str]) -> Iterator[tuple]:
    """The table's rows in the target's column order, SQLite's 0/1 turned into booleans."""
    where = f" WHERE key NOT IN ({', '.join('?' * len(SQLITE_ONLY_META))})" \
        if table == "meta" else ""
    params = SQLITE_ONLY_META if table == "meta" else ()
    flags = [c in booleans for c in columns]
    cursor = conn.execute(f"SELECT {', '.join(columns)} FROM {table}{where}",  # noqa: S608
                          params)
    for row in cursor:
        yield tuple(bool(v) if flag and v is not None else v for v, flag in zip(row, flags,
                                                                                strict=True))


async def _columns(conn: asyncpg.Connection, table: str) -> tuple[list[str], set[str]]:
    rows = await conn.fetch(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position", table)
    return [r[0] for r in rows], {r[0] for r in rows if r[1] == "boolean"}


async def data_counts(conn: asyncpg.Connection) -> dict[str, int]:
    """The copied tables' rows (the schema's own bookkeeping left out)."""
    counts = await pg_schema.table_counts(conn)
    return {t: counts[t] for t in TABLES}


def sqlite_counts(conn: sqlite3.Connection) -> dict[str, int]:
    counts = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]  # noqa: S608
              for t in TABLES}
    counts["meta"] -= conn.execute(
        f"SELECT COUNT(*) FROM meta WHERE key IN ({', '.join('?' * len(SQLITE_ONLY_META))})",
        SQLITE_ONLY_META).fetchone()[0]
    return counts


async def copy(source: sqlite3.Connection, target: asyncpg.Connection) -> None:
    """Every table from SQLite into the (empty, migrated) PostgreSQL database, in one
    transaction on each side, and the counters set past what was copied."""
    source.execute("BEGIN")  # one read snapshot for every table
    try:
        async with target.transaction():
            for table in TABLES:
                columns, booleans = await _columns(target, table)
                await target.copy_records_to_table(
                    table, columns=columns,
                    records=_sqlite_rows(source, table, columns, booleans))
            await target.execute(
                "UPDATE guilds g SET last_challenge_number = "
                "GREATEST(g.last_challenge_number, c.top) FROM (SELECT guild_id, "
                "max(number) AS top FROM challenges GROUP BY guild_id) c "
                "WHERE c.guild_id = g.guild_id")
            for table in IDENTITY_TABLES:
                await target.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"coalesce(max(id), 0) + 1, false) FROM {table}")
    finally:
        source.execute("ROLLBACK")


async def prove(source_path: Path, target_url: str, password: str | None) -> int:
    """Every guild's export identical from both databases; returns the number of guilds."""
    from bot.storage.postgres import PostgresStorage
    from bot.storage.sqlite import SQLiteStorage

    sqlite = await SQLiteStorage.open(source_path, 1)
    postgres = await PostgresStorage.open(target_url, password, 2)
    try:
        guilds = sorted(await sqlite.known_guilds())
        if guilds != sorted(await postgres.known_guilds()):
            raise MoveRefused("the copy does not hold the same guilds as the source")
        for guild_id in guilds:
            digests = []
            for storage in (sqlite, postgres):
                out = _Digest()
                await storage.guild(guild_id).export_to(out, EXPORTED_AT)
                digests.append(out.hash.hexdigest())
            if digests[0] != digests[1]:
                raise MoveRefused(f"guild {guild_id}'s export differs between the SQLite "
                                  "database and the copy")
        return len(guilds)
    finally:
        await postgres.close()
        await sqlite.close()


async def move(source_path: Path, target_url: str, password: str | None,
               backup_dir: Path) -> dict:
    """The whole move (see the module); returns what the CLI prints. ``source_path`` must
    exist (the CLI checks)."""
    from bot.storage.postgres.database import connect
    from bot.storage.sqlite import backup as sqlite_backup

    target = await connect(target_url, password)
    try:
        done = await target_state(target)
        if done is not None:
            return {"already_done": True, **done,
                    "message": f"{target_url} already holds the copy of {done['source']} made "
                               f"at {done['copied_at']}; nothing to do"}
        source = sqlite_schema.connect(source_path)
        try:
            sqlite_schema.require_current(source, source_path)
            try:
                safety = sqlite_backup.create_backup(source_path, backup_dir, kind="pre-migrate")
            except (BackupError, OSError) as exc:
                raise MoveRefused(f"the SQLite backup before the move failed: {exc}") from None
            await pg_schema.apply_pending(target)
            started = time.monotonic()
            await copy(source, target)
            rows = {"sqlite": sqlite_counts(source), "postgres": await data_counts(target)}
        finally:
            source.close()
        try:
            if rows["sqlite"] != rows["postgres"]:
                raise MoveRefused(f"the copy's row counts {rows['postgres']} differ from the "
                                  f"source's {rows['sqlite']}")
            guilds = await prove(source_path, target_url, password)
        except BaseException:
            await target.execute(f"TRUNCATE {', '.join(TABLES)}")
            raise
        result: dict[str, Any] = {"source": str(source_path), "copied_at": time.time(),
                                  "rows": rows["postgres"], "guilds_proven": guilds}
        await target.execute("INSERT INTO meta (key, value) VALUES ($1, $2)", DONE_KEY,
                             json.dumps(result))
    finally:
        await target.close()
    return {"already_done": False, **result, "target": target_url, "backup": safety.path,
            "seconds": round(time.monotonic() - started, 3)}
