"""Import of the single-guild legacy database: every user preserved, idempotent, scoped."""

from __future__ import annotations

import sqlite3

import pytest

from bot.storage import legacy, schema
from bot.storage.sqlite import SQLiteStorage
from tests.fixtures.legacy import legacy_users, make_legacy_db

GUILD = 444444444444444444
OTHER = 555555555555555555


@pytest.fixture
def legacy_db(tmp_path):
    return make_legacy_db(tmp_path / "old.db")


def _import(db_path, legacy_db, guild=GUILD):
    conn = schema.connect(db_path)
    try:
        return legacy.import_legacy(conn, legacy_db, guild, now=1_700_000_000)
    finally:
        conn.close()


async def test_every_legacy_user_is_preserved(db_path, legacy_db):
    result = _import(db_path, legacy_db)
    assert result == {"users": 19, "challenges": 2, "already_imported": 0}
    storage = await SQLiteStorage.open(db_path)
    try:
        repo = storage.guild(GUILD)
        for uid, name, points, streak in legacy_users():
            member = await repo.member(uid)
            assert member is not None, name
            assert member.display_name == name
            if name == "sue":  # no profile row: defaults
                assert (member.points, member.streak) == (0, 0)
            else:
                assert (member.points, member.streak, member.last_login_day) == \
                    (points, streak, "2024-02-29")
        statuses = {c.challenge_id: c.status for c in await repo.challenges(active_only=False)}
        assert statuses == {1: "open", 2: "completed"}
        assert (await repo.stats("2024-02-29")).members == 19
        assert await storage.guild(OTHER).member(legacy_users()[0][0]) is None
    finally:
        await storage.close()


def test_importing_twice_imports_nothing_twice(db_path, legacy_db):
    _import(db_path, legacy_db)
    assert _import(db_path, legacy_db)["already_imported"] == 1
    conn = sqlite3.connect(db_path)
    assert conn.execute("SELECT COUNT(*) FROM members").fetchone() == (19,)


def test_the_same_users_can_be_imported_into_another_guild(db_path, legacy_db):
    _import(db_path, legacy_db)
    assert _import(db_path, legacy_db, guild=OTHER)["users"] == 19
    conn = sqlite3.connect(db_path)
    assert conn.execute("SELECT COUNT(*) FROM members").fetchone() == (38,)


def test_not_a_legacy_database_is_refused_and_changes_nothing(db_path, tmp_path):
    bogus = tmp_path / "bogus.db"
    sqlite3.connect(bogus).execute("CREATE TABLE something (x)").connection.commit()
    with pytest.raises(legacy.LegacyImportError, match="no users table"):
        _import(db_path, bogus)
    with pytest.raises(legacy.LegacyImportError, match="does not exist"):
        _import(db_path, tmp_path / "missing.db")
    assert sqlite3.connect(db_path).execute("SELECT COUNT(*) FROM members").fetchone() == (0,)
