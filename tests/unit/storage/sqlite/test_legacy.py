"""Import of the single-guild legacy database: every user preserved, idempotent, scoped."""

from __future__ import annotations

import sqlite3

import pytest

from bot.storage.sqlite import SQLiteStorage, legacy, schema
from tests.fixtures.legacy import legacy_users, make_legacy_db
from tests.fixtures.pytest_plugin import noon

GUILD = 444444444444444444
OTHER = 555555555555555555


@pytest.fixture
def legacy_db(tmp_path):
    return make_legacy_db(tmp_path / "old.db")


def _import(db_path, legacy_db, guild=GUILD, merge=False):
    conn = schema.connect(db_path)
    try:
        return legacy.import_legacy(conn, legacy_db, guild, now=1_700_000_000, merge=merge)
    finally:
        conn.close()


async def test_every_legacy_user_is_preserved(db_path, legacy_db):
    result = _import(db_path, legacy_db)
    assert result == {"users": 19, "merged": 0, "challenges": 2, "already_imported": 0}
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


async def _guild_with_data(db_path):
    """GUILD already in use: dee (a legacy user) registered live with a 2-day streak and a
    win in challenge #1 against a member the legacy database does not know."""
    dee = legacy_users()[3][0]
    storage = await SQLiteStorage.open(db_path)
    try:
        repo = storage.guild(GUILD)
        await repo.register(dee, "Dee Live", 1_800_000_000)
        await repo.register(77, "newcomer", 1_800_000_000)
        await repo.update_settings(daily_reward=100)
        await repo.daily_login(dee, noon("2027-01-02"))
        await repo.daily_login(dee, noon("2027-01-03"))
        await repo.daily_login(77, noon("2027-01-03"))
        await repo.create_challenge(77, dee, 50, 1_800_000_000, 1_800_003_600)
        await repo.accept_challenge(1, dee, 1_800_000_001)
        await repo.complete_challenge(1, 77, dee, 1_800_000_002)  # 77 concedes
        return await repo.member(dee)
    finally:
        await storage.close()


def _snapshot(db_path):
    conn = sqlite3.connect(db_path)
    try:
        return (conn.execute("SELECT * FROM members ORDER BY guild_id, user_id").fetchall(),
                conn.execute("SELECT * FROM challenges ORDER BY guild_id, number").fetchall(),
                conn.execute("SELECT * FROM meta ORDER BY key").fetchall())
    finally:
        conn.close()


async def test_a_guild_with_data_is_refused_in_one_clear_error(db_path, legacy_db):
    """Regression (issue 13, item 11): importing into a guild that has data is refused with a
    LegacyImportError naming --merge, and writes nothing. Fails on the old code because it
    raised sqlite3.IntegrityError on challenge #1 (and, without challenges, silently kept the
    registered member's row, dropping the legacy balance)."""
    await _guild_with_data(db_path)
    before = _snapshot(db_path)
    with pytest.raises(legacy.LegacyImportError, match=r"already has data .*--merge"):
        _import(db_path, legacy_db)
    assert _snapshot(db_path) == before
    # Members alone (no challenge) are data too.
    conn = sqlite3.connect(db_path)
    conn.execute("DELETE FROM challenges")
    conn.commit()
    conn.close()
    with pytest.raises(legacy.LegacyImportError, match="2 members"):
        _import(db_path, legacy_db)


async def test_merge_adds_legacy_balances_and_renumbers_challenges(db_path, legacy_db):
    """Regression (issue 13, item 11): with merge=True a registered legacy user keeps their row
    and gains the legacy points, wins, losses and check-ins; legacy challenges follow the
    guild's own numbers. Fails on the old code because it had no merge option, raised
    IntegrityError on challenge #1, and ON CONFLICT DO NOTHING dropped the legacy balance."""
    live = await _guild_with_data(db_path)
    uid, name, points, streak = legacy_users()[3]
    result = _import(db_path, legacy_db, merge=True)
    assert result == {"users": 19, "merged": 1, "challenges": 2, "already_imported": 0}
    storage = await SQLiteStorage.open(db_path)
    try:
        repo = storage.guild(GUILD)
        dee = await repo.member(uid)
        assert dee.points == live.points + points
        assert (dee.wins, dee.losses) == (live.wins + streak, live.losses + 1)
        assert dee.total_logins == live.total_logins  # the legacy table had no check-in count
        assert (dee.display_name, dee.streak, dee.last_login_day) == \
            (live.display_name, live.streak, live.last_login_day)
        assert (live.best_streak, streak, dee.best_streak) == (2, 3, 3)  # the higher one
        assert dee.registered_at < live.registered_at  # the legacy registration is earlier
        assert (await repo.member(77)).points == 50  # 100 - 50 stake, not a legacy user
        statuses = {c.challenge_id: c.status for c in await repo.challenges(active_only=False)}
        assert statuses == {1: "completed", 2: "open", 3: "completed"}
        assert (await repo.stats("2027-01-03")).members == 20
    finally:
        await storage.close()
    assert _import(db_path, legacy_db, merge=True)["already_imported"] == 1
