"""Numbered SQL migrations, applied in order; the schema version is SQLite's ``user_version``.

Each migration runs in its own ``BEGIN IMMEDIATE`` transaction together with the version bump, so
a crash leaves the database at the previous version, never half-migrated, and running the
migrator twice is a no-op.

Compatibility (expand/contract): a migration whose SQL has a line ``-- expand-only`` declares that
the release before it can still run on its schema (it only adds: tables, nullable or defaulted
columns, indexes). Each migration records, in the same transaction, the lowest schema version a
release may know and still run on the database (``meta`` key ``schema_compatible_from``, value
"<version> <floor>", ignored unless it names the current version): the previous floor after an
expand-only migration, its own version after any other. A release runs on a
newer database only when that floor is not above what it knows; otherwise it refuses (exit 78),
and the rollout's rescue restores the pre-deploy backup (docs/ARCHITECTURE.md, "Schema versions").
"""

from __future__ import annotations

import sqlite3
from functools import partial
from pathlib import Path

from bot.storage.base import SchemaError
from bot.storage.migrations import Migration, check_compatible, load

__all__ = ["SchemaError"]  # re-exported: the SQLite callers' name for the shared error

COMPATIBLE_FROM_KEY = "schema_compatible_from"

migrations = partial(load, "bot.storage.sqlite.migrations")

LATEST_VERSION = len(migrations())
# WAL + NORMAL: a commit is durable against a crash of the process, not of the machine; see
# "Durability" in docs/ARCHITECTURE.md for the window and docs/benchmark.md for what FULL costs.
SYNCHRONOUS = "NORMAL"


def connect(path: Path | str) -> sqlite3.Connection:
    """A synchronous connection with the project's pragmas (used by the CLI and migrations)."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {SYNCHRONOUS}")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 30000")
    return conn


def current_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def compatible_from(conn: sqlite3.Connection) -> int:
    """The lowest schema version a release may know and still run on this database.

    The database's own version when nothing is recorded for its version (databases migrated before
    the record, or a version changed by other means).
    """
    version = current_version(conn)
    if version == 0:
        return 0
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (COMPATIBLE_FROM_KEY,)).fetchone()
    recorded_at, floor = (int(part) for part in row[0].split()) if row else (version, version)
    return min(floor, version) if recorded_at == version else version


def pending(conn: sqlite3.Connection) -> list[Migration]:
    """The migrations this release still has to apply; refuses a newer, incompatible database."""
    version = current_version(conn)
    if version > LATEST_VERSION:
        check_compatible(version, compatible_from(conn), LATEST_VERSION)
        return []
    return [m for m in migrations() if m.version > version]


def require_current(conn: sqlite3.Connection, path: Path | str) -> None:
    """Refuse a database this release cannot run on as it is: newer and incompatible, or behind."""
    if pending(conn):
        raise SchemaError(
            f"{path} is at schema version {current_version(conn)}, behind this release "
            f"({LATEST_VERSION}): run `guildbot-cli migrate` (it takes a verified backup first), "
            "then start the bot"
        )


def apply_pending(conn: sqlite3.Connection) -> list[Migration]:
    """Apply every pending migration; return what was applied."""
    return [migration for migration in pending(conn) if apply(conn, migration)]


def apply(conn: sqlite3.Connection, migration: Migration) -> bool:
    """Apply one migration with its version bump in one transaction; False when another migrator
    applied it first (re-checked inside the write lock)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        if current_version(conn) >= migration.version:
            conn.execute("ROLLBACK")
            return False
        floor = compatible_from(conn) if migration.expand_only else migration.version
        for statement in _statements(migration.sql):
            conn.execute(statement)
        conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) "
                     "DO UPDATE SET value = excluded.value",
                     (COMPATIBLE_FROM_KEY, f"{migration.version} {floor or migration.version}"))
        conn.execute(f"PRAGMA user_version = {migration.version}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return True


def _statements(script: str) -> list[str]:
    """Split a migration into statements (executescript would commit behind our back)."""
    statements, buffer = [], ""
    for line in script.splitlines(keepends=True):
        if line.lstrip().startswith("--"):
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        raise RuntimeError(f"incomplete SQL statement at the end of a migration: {buffer!r}")
    return statements
