"""Numbered SQL migrations, applied in order; the schema version is SQLite's ``user_version``.

Each migration runs in its own ``BEGIN IMMEDIATE`` transaction together with the version bump, so
a crash leaves the database at the previous version, never half-migrated, and running the
migrator twice is a no-op.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from importlib import resources
from pathlib import Path


class SchemaError(RuntimeError):
    """The database's schema cannot be used by this release; the message says what to do."""


_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    found = []
    for entry in resources.files("bot.storage.migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    expected = list(range(1, len(found) + 1))
    if [m.version for m in found] != expected:
        raise RuntimeError(f"migration numbers must run 1..n without gaps, found {found!r}")
    return found


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


def pending(conn: sqlite3.Connection) -> list[Migration]:
    version = current_version(conn)
    if version > LATEST_VERSION:
        raise SchemaError(
            f"the database is at schema version {version}, newer than this release knows "
            f"({LATEST_VERSION}); roll the code forward or restore a matching backup"
        )
    return [m for m in migrations() if m.version > version]


def apply_pending(conn: sqlite3.Connection, upto: int | None = None) -> list[Migration]:
    """Apply every pending migration (or those up to ``upto``); return what was applied."""
    applied = []
    for migration in pending(conn):
        if upto is not None and migration.version > upto:
            break
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Re-check inside the write lock: another migrator may have won the race.
            if current_version(conn) >= migration.version:
                conn.execute("ROLLBACK")
                continue
            for statement in _statements(migration.sql):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {migration.version}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        applied.append(migration)
    return applied


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
