from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from bot.storage.sqlite import SQLiteStorage, schema


def make_database(path: Path) -> Path:
    conn = schema.connect(path)
    try:
        schema.apply_pending(conn)
    finally:
        conn.close()
    return path


async def export_of(repo) -> dict:
    """The guild's export document, parsed."""
    out = io.BytesIO()
    await repo.export_to(out, "2024-01-01T00:00:00+00:00")
    return json.loads(out.getvalue())


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return make_database(tmp_path / "guildbot.db")


@pytest.fixture
async def storage(db_path: Path):
    store = await SQLiteStorage.open(db_path, readers=2)
    yield store
    await store.close()


@pytest.fixture
async def sqlite_storage(db_path: Path):
    """A SQLite storage, for the suites that are SQLite's alone."""
    store = await SQLiteStorage.open(db_path, readers=2)
    yield store
    await store.close()
