from __future__ import annotations

from pathlib import Path

import pytest

from bot.storage import schema
from bot.storage.sqlite import SQLiteStorage


def make_database(path: Path) -> Path:
    conn = schema.connect(path)
    try:
        schema.apply_pending(conn)
    finally:
        conn.close()
    return path


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return make_database(tmp_path / "guildbot.db")


@pytest.fixture
async def storage(db_path: Path):
    store = await SQLiteStorage.open(db_path, readers=2)
    yield store
    await store.close()
