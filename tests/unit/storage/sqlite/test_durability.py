"""Durability (issue 13, item 13): the synchronous level in effect on the bot's writer connection
(and on the CLI's, which migrations and imports write through) is the one docs/ARCHITECTURE.md
states in its "Durability" section, in WAL mode. It fails when either changes without the other:
the documented loss window would no longer be true."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from bot.storage.sqlite import schema

LEVELS = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
ARCHITECTURE = Path(__file__).resolve().parents[4] / "docs" / "ARCHITECTURE.md"


def documented_level() -> str:
    section = ARCHITECTURE.read_text().split("\n## Durability", 1)[1].split("\n## ", 1)[0]
    found = re.search(r"`PRAGMA synchronous = (\w+)`", section)
    assert found, "docs/ARCHITECTURE.md's Durability section names no synchronous level"
    return found.group(1)


async def test_the_writer_connection_runs_the_documented_level(sqlite_storage):
    storage = sqlite_storage

    def pragmas() -> tuple[int, str]:
        conn = storage._writer
        return (conn.execute("PRAGMA synchronous").fetchone()[0],
                conn.execute("PRAGMA journal_mode").fetchone()[0])

    level, journal = await asyncio.get_running_loop().run_in_executor(
        storage._writer_thread, pragmas)
    assert (LEVELS[level], journal) == (documented_level(), "wal")


def test_the_cli_connection_runs_the_documented_level(db_path):
    conn = schema.connect(db_path)
    try:
        assert LEVELS[conn.execute("PRAGMA synchronous").fetchone()[0]] == documented_level()
    finally:
        conn.close()
