"""Backups: online copy under writes, verification, GFS retention, lock, restore, drill."""

from __future__ import annotations

import gzip
import json
import sqlite3
import threading
from datetime import UTC, datetime

import pytest

from bot.storage import backup, schema

SUNDAY_FIRST = datetime(2023, 10, 1, 3, 0, tzinfo=UTC).timestamp()  # a Sunday and the 1st


def _fill(db_path, n=50):
    conn = schema.connect(db_path)
    conn.execute("INSERT INTO guilds (guild_id, name, joined_at) VALUES (1, 'g', 0)")
    conn.executemany("INSERT INTO members (guild_id, user_id, display_name, registered_at) "
                     "VALUES (1, ?, 'm', 0)", [(i,) for i in range(n)])
    conn.close()


def test_backup_is_compressed_verified_and_counted(db_path, tmp_path):
    _fill(db_path)
    result = backup.create_backup(db_path, tmp_path / "b", now=SUNDAY_FIRST + 86400 * 2)
    assert result.tiers == ["daily"]
    assert result.rows["members"] == 50
    path = tmp_path / "b" / "daily" / "guildbot-20231003T030000Z.db.gz"
    assert result.path == str(path)
    with gzip.open(path) as handle:
        assert handle.read(16) == b"SQLite format 3\x00"
    check = backup.verify(path)
    assert check.ok
    assert check.rows["members"] == 50
    assert check.schema_version == schema.LATEST_VERSION
    assert not list((tmp_path / "b").glob(".tmp-*")), "scratch files left behind"


def test_backup_under_concurrent_writes_holds_every_committed_row(db_path, tmp_path):
    _fill(db_path, 0)
    stop, warmed_up = threading.Event(), threading.Event()
    committed = []

    def writer():
        conn = schema.connect(db_path)
        i = 0
        while not stop.is_set():
            conn.execute("INSERT INTO members (guild_id, user_id, display_name, registered_at) "
                         "VALUES (1, ?, 'w', 0)", (i,))
            committed.append(i)
            i += 1
            if i == 200:
                warmed_up.set()
        conn.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert warmed_up.wait(30)
        floor = len(committed)
        result = backup.create_backup(db_path, tmp_path / "b")
    finally:
        stop.set()
        thread.join()
    assert result.rows["members"] >= floor
    assert backup.verify(backup.Path(result.path)).ok


def test_gfs_tiers_and_retention(db_path, tmp_path):
    _fill(db_path)
    result = backup.create_backup(db_path, tmp_path / "b", now=SUNDAY_FIRST)
    assert result.tiers == ["daily", "weekly", "monthly"]
    for day in range(1, 12):
        backup.create_backup(db_path, tmp_path / "b", now=SUNDAY_FIRST + day * 86400)
    assert len(backup.list_backups(tmp_path / "b", "daily")) == 7
    assert len(backup.list_backups(tmp_path / "b", "weekly")) == 2  # Oct 1 and Oct 8
    assert len(backup.list_backups(tmp_path / "b", "monthly")) == 1
    newest = backup.list_backups(tmp_path / "b")[0]
    assert newest.name == "guildbot-20231012T030000Z.db.gz"


def test_a_corrupted_backup_fails_verification(db_path, tmp_path):
    _fill(db_path, 2000)
    path = backup.Path(backup.create_backup(db_path, tmp_path / "b").path)
    with gzip.open(path) as handle:
        raw = bytearray(handle.read())
    raw[4096 * 3: 4096 * 3 + 512] = b"\xff" * 512  # clobber a b-tree page
    broken = tmp_path / "broken.db.gz"
    with gzip.open(broken, "wb") as handle:
        handle.write(bytes(raw))
    assert not backup.verify(broken).ok
    truncated = tmp_path / "truncated.db.gz"
    truncated.write_bytes(path.read_bytes()[:200])
    with pytest.raises(backup.BackupError, match="not a readable gzip"):
        backup.verify(truncated)
    with pytest.raises(backup.BackupError, match="restore drill failed"):
        backup.drill(tmp_path / "b", broken)


def test_backup_never_overlaps_itself(db_path, tmp_path):
    _fill(db_path)
    with backup.exclusive_lock(tmp_path / "b" / ".backup.lock", "another backup"), \
            pytest.raises(backup.BackupError, match="already running"):
        backup.create_backup(db_path, tmp_path / "b")


def test_backup_times_out_instead_of_hanging(db_path, tmp_path, monkeypatch):
    _fill(db_path)

    def hang(source, target):
        threading.Event().wait(30)
    monkeypatch.setattr(backup, "online_copy", hang)
    with pytest.raises(backup.BackupError, match="timed out"):
        backup.create_backup(db_path, tmp_path / "b", timeout=0.5)


def test_missing_database_is_a_clear_error(tmp_path):
    with pytest.raises(backup.BackupError, match="does not exist"):
        backup.create_backup(tmp_path / "nope.db", tmp_path / "b")


def test_status_file_records_success_and_failure(db_path, tmp_path):
    _fill(db_path)
    result = backup.create_backup(db_path, tmp_path / "b")
    backup.write_status(tmp_path, result=result, error=None, now=100.0)
    backup.write_status(tmp_path, result=None, error="disk full", now=200.0)
    status = json.loads((tmp_path / backup.STATUS_FILE).read_text())
    assert (status["last_success"], status["last_failure"], status["last_error"]) == \
        (100.0, 200.0, "disk full")


def test_restore_keeps_a_safety_copy_and_brings_back_the_data(db_path, tmp_path):
    _fill(db_path, 10)
    saved = backup.Path(backup.create_backup(db_path, tmp_path / "b").path)
    conn = sqlite3.connect(db_path)
    conn.execute("DELETE FROM members")
    conn.commit()
    conn.close()
    result = backup.restore(saved, db_path, tmp_path / "b")
    assert result["rows"]["members"] == 10
    assert backup.verify(backup.Path(result["safety_backup"])).rows["members"] == 0
    assert sqlite3.connect(db_path).execute("SELECT COUNT(*) FROM members").fetchone() == (10,)


def test_restore_refuses_a_bad_backup_and_keeps_the_database(db_path, tmp_path):
    _fill(db_path, 10)
    junk = tmp_path / "junk.db.gz"
    with gzip.open(junk, "wb") as handle:
        handle.write(b"not a database at all" * 100)
    with pytest.raises(backup.BackupError, match="refusing to restore"):
        backup.restore(junk, db_path, tmp_path / "b")
    assert sqlite3.connect(db_path).execute("SELECT COUNT(*) FROM members").fetchone() == (10,)


def test_drill_restores_the_newest_backup(db_path, tmp_path):
    _fill(db_path, 7)
    backup.create_backup(db_path, tmp_path / "b", now=SUNDAY_FIRST)
    backup.create_backup(db_path, tmp_path / "b", now=SUNDAY_FIRST + 60)
    result = backup.drill(tmp_path / "b")
    assert result["rows"]["members"] == 7
    assert result["backup"].endswith("guildbot-20231001T030100Z.db.gz")
    with pytest.raises(backup.BackupError, match="no backups"):
        backup.drill(tmp_path / "empty")
