"""Backups: online copy under writes, verification, kinds and GFS tiers, lock, restore, drill."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta

import pytest
import zstandard

from bot.storage.sqlite import backup, schema

SUNDAY_FIRST = datetime(2023, 10, 1, 3, 0, tzinfo=UTC).timestamp()  # a Sunday and the 1st


def _fill(db_path, n=50):
    conn = schema.connect(db_path)
    conn.execute("INSERT INTO guilds (guild_id, name, joined_at) VALUES (1, 'g', 0)")
    conn.executemany("INSERT INTO members (guild_id, user_id, display_name, registered_at) "
                     "VALUES (1, ?, 'm', 0)", [(i,) for i in range(n)])
    conn.close()


def _unzstd(path):
    with open(path, "rb") as src, zstandard.ZstdDecompressor().stream_reader(src) as reader:
        return reader.read()


def _zstd(path, data, **options):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(zstandard.ZstdCompressor(**options).compress(data))
    return path


def _gzip(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as handle:
        handle.write(data)
    return path


def test_backup_is_compressed_verified_and_counted(db_path, tmp_path):
    _fill(db_path)
    result = backup.create_backup(db_path, tmp_path / "b", now=SUNDAY_FIRST + 86400 * 2,
                                  kind="scheduled")
    assert result.tiers == ["daily", "weekly", "monthly"]
    assert result.rows["members"] == 50
    path = tmp_path / "b" / "daily" / "guildbot-20231003T030000Z.db.zst"
    assert result.path == str(path)
    assert _unzstd(path)[:16] == b"SQLite format 3\x00"
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


def _newest_per_period(times, period, count):
    """The test's own reading of the policy: the newest time of each of the last ``count``
    periods that have one."""
    newest = {}
    for t in times:
        newest[period(t)] = max(newest.get(period(t), t), t)
    return sorted(sorted(newest.values(), reverse=True)[:count])


def _times_in(backup_dir, tier):
    return sorted(backup.taken_at(p) for p in backup.list_backups(backup_dir, tier))


def test_tiers_keep_days_weeks_and_months_under_a_moving_clock(db_path, tmp_path):
    """Regression (issue 13, item 6): every backup counted as a daily (and on Sundays a weekly,
    on the 1st a monthly) and each tier kept its newest N files, so four deploys on a Sunday
    evicted four weeks of weekly history and twelve retries on the 1st a year of monthlies.
    Fails on the old code because create_backup has no kind (pre-deploy backups land in the
    tiers) and retention counts files, not days, ISO weeks and months."""
    _fill(db_path, 3)
    root = tmp_path / "b"
    clock = datetime(2023, 1, 1, 3, 17, tzinfo=UTC)  # a Sunday and the 1st
    scheduled = []
    for _ in range(430):  # fourteen months of nightly backups, the clock moving a day each time
        runs = [clock + timedelta(minutes=m) for m in range(12 if clock.day == 1 else 1)]
        for run in runs:  # twelve retries on the 1st: each one a scheduled run
            backup.create_backup(db_path, root, kind="scheduled", now=run.timestamp())
            scheduled.append(run)
        if clock.weekday() == 6:  # four deploys every Sunday evening
            for hour in (18, 19, 20, 21):
                backup.create_backup(db_path, root, kind="pre-deploy",
                                     now=clock.replace(hour=hour).timestamp())
        days = {t.date() for t in _times_in(root, "daily")}
        weeks = {t.isocalendar()[:2] for t in _times_in(root, "weekly")}
        months = {(t.year, t.month) for t in _times_in(root, "monthly")}
        assert len(days) == len(_times_in(root, "daily")) == min(7, len(set(
            t.date() for t in scheduled)))
        assert len(weeks) == len(_times_in(root, "weekly")) <= 4
        assert len(months) == len(_times_in(root, "monthly")) <= 12
        clock += timedelta(days=1)
    assert _times_in(root, "daily") == _newest_per_period(scheduled, lambda t: t.date(), 7)
    assert _times_in(root, "weekly") == _newest_per_period(
        scheduled, lambda t: t.isocalendar()[:2], 4)
    assert _times_in(root, "monthly") == _newest_per_period(
        scheduled, lambda t: (t.year, t.month), 12)
    months = [(t.year, t.month) for t in _times_in(root, "monthly")]
    assert months == [(2023, m) for m in range(4, 13)] + [(2024, 1), (2024, 2), (2024, 3)]
    # a month's backup is its last one, not one of the 1st's retries
    assert _times_in(root, "monthly")[0] == datetime(2023, 4, 30, 3, 17, tzinfo=UTC)
    deploys = backup.list_backups(root, "pre-deploy")
    assert len(deploys) == backup.KEEP_NEWEST["pre-deploy"]
    assert backup.taken_at(deploys[0]) == datetime(2024, 3, 3, 21, 17, tzinfo=UTC)


def test_each_kind_has_its_own_directory_and_an_unknown_kind_is_refused(db_path, tmp_path):
    _fill(db_path)
    root = tmp_path / "b"
    for kind in ("on-demand", "pre-deploy"):
        result = backup.create_backup(db_path, root, kind=kind, now=SUNDAY_FIRST)
        assert (result.kind, result.tiers) == (kind, [kind])
        assert result.path == str(root / kind / "guildbot-20231001T030000Z.db.zst")
    assert not any((root / tier).exists() for tier in backup.TIERS)
    for n in range(12):
        backup.create_backup(db_path, root, now=SUNDAY_FIRST + 60 * (n + 1))
    assert len(backup.list_backups(root, "on-demand")) == backup.KEEP_NEWEST["on-demand"]
    with pytest.raises(backup.BackupError, match="unknown backup kind 'hourly'"):
        backup.create_backup(db_path, root, kind="hourly")


def test_backups_in_the_old_layout_stay_readable_and_age_out(db_path, tmp_path):
    """Old releases put every backup in daily/ (Sunday's also in weekly/, the 1st's in
    monthly/): drill and list_backups still find them, and the new retention treats them as
    scheduled backups of their day."""
    _fill(db_path, 4)
    root = tmp_path / "b"
    old = backup.create_backup(db_path, root, kind="on-demand", now=SUNDAY_FIRST)
    for tier in ("daily", "weekly", "monthly"):
        (root / tier).mkdir()
        (root / tier / backup.Path(old.path).name).hardlink_to(old.path)
    backup.Path(old.path).unlink()
    assert backup.drill(root)["rows"]["members"] == 4
    for day in range(1, 9):
        backup.create_backup(db_path, root, kind="scheduled", now=SUNDAY_FIRST + day * 86400)
    names = {tier: [p.name for p in backup.list_backups(root, tier)] for tier in backup.TIERS}
    assert "guildbot-20231001T030000Z.db.zst" not in names["daily"]  # more than 7 days back
    assert names["weekly"][-1] == "guildbot-20231001T030000Z.db.zst"  # its week is kept
    assert names["monthly"] == ["guildbot-20231009T030000Z.db.zst"]  # October's newest


def test_a_corrupted_backup_fails_verification(db_path, tmp_path):
    _fill(db_path, 2000)
    path = backup.Path(backup.create_backup(db_path, tmp_path / "b").path)
    raw = bytearray(_unzstd(path))
    raw[4096 * 3: 4096 * 3 + 512] = b"\xff" * 512  # clobber a b-tree page
    broken = _zstd(tmp_path / "broken.db.zst", bytes(raw))
    assert not backup.verify(broken).ok
    truncated = tmp_path / "truncated.db.gz"
    truncated.write_bytes(gzip.compress(_unzstd(path))[:200])
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


def _crash_with_a_wal(db_path, rows):
    """Commit ``rows`` more members and die without closing: the -wal and -shm stay."""
    subprocess.run([sys.executable, "-c", (
        "import os, sqlite3, sys\n"
        "conn = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "conn.execute('PRAGMA wal_autocheckpoint = 0')\n"
        "for i in range(int(sys.argv[2])):\n"
        "    conn.execute(\"INSERT INTO members (guild_id, user_id, display_name, registered_at)"
        " VALUES (1, ?, 'late', 0)\", (100000 + i,))\n"
        "os._exit(0)\n"), str(db_path), str(rows)], check=True)


def _damage(db_path):
    """Overwrite three pages in the middle of the main database file."""
    with open(db_path, "r+b") as handle:
        pages = handle.seek(0, 2) // 4096
        handle.seek(4096 * (pages // 2))
        handle.write(b"\xa5" * 4096 * 3)


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_restore_of_a_corrupt_database_keeps_the_damaged_files_aside(db_path, tmp_path):
    """Regression (issue 13, item 4): restore first backed up the live database, and a corrupt
    one fails that backup's integrity check, so restore refused in exactly the case the runbook
    sends operators to it for. Fails on the old code because restore raises ("the backup copy
    failed its integrity check") instead of moving the damaged db, -wal and -shm aside."""
    _fill(db_path, 3000)
    saved = backup.Path(backup.create_backup(db_path, tmp_path / "b").path)
    _crash_with_a_wal(db_path, 5)
    _damage(db_path)
    wal, shm = (db_path.with_name(db_path.name + end) for end in ("-wal", "-shm"))
    assert wal.exists() and shm.exists()
    assert not backup.verify(db_path).ok
    before = {p.name: _digest(p) for p in (db_path, wal, shm)}

    result = backup.restore(saved, db_path, tmp_path / "b", now=SUNDAY_FIRST)

    kept = db_path.parent / "guildbot.db.damaged-20231001T030000Z"
    assert result["damaged_moved_to"] == str(kept)
    assert result["previous_integrity"] != "ok" and result["safety_backup"] is None
    assert {p.name: _digest(p) for p in kept.iterdir()} == before  # every file, byte for byte
    assert not wal.exists() or wal.stat().st_size == 0  # the damaged WAL never meets the new db
    assert backup.verify(db_path).ok
    assert result["rows"]["members"] == backup.verify(db_path).rows["members"] == 3000
    assert not backup.list_backups(tmp_path / "b", "pre-restore")


def test_restore_leaves_a_corrupt_database_in_place_when_the_backup_is_bad(db_path, tmp_path):
    _fill(db_path, 3000)
    _damage(db_path)
    damaged = _digest(db_path)
    junk = _zstd(tmp_path / "junk.db.zst", b"not a database at all" * 100)
    with pytest.raises(backup.BackupError, match="refusing to restore"):
        backup.restore(junk, db_path, tmp_path / "b")
    assert _digest(db_path) == damaged
    assert not list(db_path.parent.glob("*.damaged-*"))


def test_a_backup_of_a_database_sqlite_cannot_read_is_a_backup_error(db_path, tmp_path):
    """Regression (issue 13, item 4): fails on the old code because the online copy of a file
    whose header is overwritten raised sqlite3.DatabaseError, which the CLI does not catch: no
    status written, no alert, a traceback in cron.log."""
    _fill(db_path)
    with open(db_path, "r+b") as handle:
        handle.write(b"\x00" * 100)
    with pytest.raises(backup.BackupError):
        backup.create_backup(db_path, tmp_path / "b")


def test_restore_refuses_a_bad_backup_and_keeps_the_database(db_path, tmp_path):
    _fill(db_path, 10)
    junk = _zstd(tmp_path / "junk.db.zst", b"not a database at all" * 100)
    with pytest.raises(backup.BackupError, match="refusing to restore"):
        backup.restore(junk, db_path, tmp_path / "b")
    assert sqlite3.connect(db_path).execute("SELECT COUNT(*) FROM members").fetchone() == (10,)


def test_drill_restores_the_newest_backup(db_path, tmp_path):
    _fill(db_path, 7)
    backup.create_backup(db_path, tmp_path / "b", now=SUNDAY_FIRST)
    backup.create_backup(db_path, tmp_path / "b", now=SUNDAY_FIRST + 60)
    result = backup.drill(tmp_path / "b")
    assert result["rows"]["members"] == 7
    assert result["backup"].endswith("guildbot-20231001T030100Z.db.zst")
    with pytest.raises(backup.BackupError, match="no backups"):
        backup.drill(tmp_path / "empty")


def test_backups_are_one_zstd_frame_with_its_size_and_a_checksum(db_path, tmp_path):
    """Regression (issue 17, zstd): fails on the old code because it wrote gzip level 1
    (``.db.gz``), about 9.5 CPU-s of a 1 GB backup; zstd level 1 takes a third of that for a file
    as small. The frame carries the database's size (how a truncated file is recognised) and a
    content checksum (how a damaged one is)."""
    _fill(db_path, 500)
    path = backup.Path(backup.create_backup(db_path, tmp_path / "b").path)
    assert path.name.endswith(".db.zst")
    frame = zstandard.get_frame_parameters(path.read_bytes())
    assert frame.content_size == db_path.stat().st_size
    assert frame.has_checksum
    assert len(_unzstd(path)) == frame.content_size
    assert backup.verify(path).rows["members"] == 500


def _restore_refused(backup_file, db_path, tmp_path, match):
    """restore, verify and drill all refuse ``backup_file`` with ``match``; the database and
    the backup directory are as they were."""
    before, listing = _digest(db_path), sorted((tmp_path / "b").rglob("*"))
    for attempt in (lambda: backup.verify(backup_file),
                    lambda: backup.drill(tmp_path / "b", backup_file),
                    lambda: backup.restore(backup_file, db_path, tmp_path / "b")):
        with pytest.raises(backup.BackupError, match=match):
            attempt()
    assert _digest(db_path) == before
    assert sorted((tmp_path / "b").rglob("*")) == listing
    assert backup_file.exists(), "the refused backup itself is kept"


def test_a_truncated_or_damaged_zst_is_refused_with_a_clear_error_and_nothing_lost(
        db_path, tmp_path):
    """Regression (issue 17, zstd): zstd's stream reader stops quietly at the end of a cut
    file, so a truncated backup would restore as a shorter database; the frame's size says it
    is not whole. A flipped byte fails the frame's checksum. Fails on the old code because it
    has no ``.zst`` reader (verify opened the file as a plain database)."""
    _fill(db_path, 2000)
    whole = backup.Path(backup.create_backup(db_path, tmp_path / "b").path).read_bytes()
    cut = tmp_path / "cut.db.zst"
    cut.write_bytes(whole[:len(whole) // 2])
    _restore_refused(cut, db_path, tmp_path, r"cut\.db\.zst is not a readable zstd file: "
                                             r"truncated: \d+ of \d+ bytes")
    flipped = bytearray(whole)
    flipped[len(whole) // 2] ^= 0xFF
    damaged = tmp_path / "damaged.db.zst"
    damaged.write_bytes(bytes(flipped))
    _restore_refused(damaged, db_path, tmp_path, "damaged.db.zst is not a readable zstd file")
    no_size = _zstd(tmp_path / "nosize.db.zst", db_path.read_bytes(), write_content_size=False)
    _restore_refused(no_size, db_path, tmp_path, "does not give the size")
    junk = tmp_path / "junk.db.zst"
    junk.write_bytes(b"not zstd")
    _restore_refused(junk, db_path, tmp_path, "junk.db.zst is not a readable zstd file")


def test_the_newest_backup_of_either_format_is_the_one_drilled(db_path, tmp_path):
    """Regression (issue 17, zstd): hosts keep their ``.db.gz`` backups beside the new
    ``.db.zst``; the newest by its time is the newest, whatever its format. Fails on the old
    code because it looked at ``.db.gz`` only, so the drill took the older gzip backup."""
    _fill(db_path, 3)
    root = tmp_path / "b"
    _gzip(root / "daily" / "guildbot-20231001T030000Z.db.gz", db_path.read_bytes())
    three = db_path.read_bytes()
    with sqlite3.connect(db_path) as conn:
        conn.execute("INSERT INTO members (guild_id, user_id, display_name, registered_at) "
                     "VALUES (1, 3, 'm', 0), (1, 4, 'm', 0)")
    conn.close()
    newer = _zstd(root / "on-demand" / "guildbot-20231002T030000Z.db.zst", db_path.read_bytes())
    assert backup.drill(root)["backup"] == str(newer)
    assert backup.drill(root)["rows"]["members"] == 5
    newest_gz = _gzip(root / "pre-deploy" / "guildbot-20231003T030000Z.db.gz", three)
    assert backup.drill(root)["backup"] == str(newest_gz)
    assert [p.name for p in backup.list_backups(root)] == [
        "guildbot-20231003T030000Z.db.gz", "guildbot-20231002T030000Z.db.zst",
        "guildbot-20231001T030000Z.db.gz"]


def test_retention_counts_gzip_and_zstd_backups_together(db_path, tmp_path):
    """Regression (issue 17, zstd): a kind keeps its newest N backups of either format, so the
    old ``.db.gz`` age out as ``.db.zst`` arrive, and a tier keeps one backup per period. Fails
    on the old code because retention looked at ``.db.gz`` only: a directory would keep 10 of
    each format."""
    _fill(db_path, 3)
    root = tmp_path / "b"
    for day in range(1, 9):
        _gzip(root / "on-demand" / f"guildbot-202309{day:02d}T030000Z.db.gz", b"old")
    _gzip(root / "daily" / "guildbot-20231001T010000Z.db.gz", b"old")
    for n in range(4):
        backup.create_backup(db_path, root, now=SUNDAY_FIRST + 60 * n)
    kept = [p.name for p in backup.list_backups(root, "on-demand")]
    assert len(kept) == backup.KEEP_NEWEST["on-demand"]
    assert kept[-1] == "guildbot-20230903T030000Z.db.gz"  # the two oldest gzip files went
    assert sum(name.endswith(".db.zst") for name in kept) == 4
    backup.create_backup(db_path, root, kind="scheduled", now=SUNDAY_FIRST)
    assert [p.name for p in backup.list_backups(root, "daily")] == [
        "guildbot-20231001T030000Z.db.zst"]  # the same day's older gzip backup was replaced


def test_an_old_gzip_backup_still_verifies_restores_and_drills(db_path, tmp_path):
    """Backups operators already have (``.db.gz``, gzip level 6 or 1) read exactly as before."""
    _fill(db_path, 40)
    old = tmp_path / "b" / "daily" / "guildbot-20231001T030000Z.db.gz"
    old.parent.mkdir(parents=True)
    with open(db_path, "rb") as src, gzip.open(old, "wb", compresslevel=6) as dst:
        dst.write(src.read())
    assert old.read_bytes()[8] == 0
    assert backup.verify(old).rows["members"] == 40
    assert backup.drill(tmp_path / "b")["rows"]["members"] == 40
    db_path.unlink()
    assert backup.restore(old, db_path, tmp_path / "b")["rows"]["members"] == 40


def test_a_copy_failing_its_check_publishes_nothing_and_leaves_no_partial(db_path, tmp_path):
    """The check runs while the copy is compressed: a copy that fails it is refused with its
    reason, and neither a backup nor the compressed partial file remains."""
    _fill(db_path, 3000)
    _damage(db_path)
    with pytest.raises(backup.BackupError, match="failed its integrity check"):
        backup.create_backup(db_path, tmp_path / "b")
    assert not [p for p in (tmp_path / "b").rglob("*") if p.is_file()
                and p.name != ".backup.lock"]


def test_a_check_that_fails_stops_the_compression_early(tmp_path, monkeypatch):
    """The check runs beside the compression: when it fails (or the time limit fires in it) the
    compression stops after its current chunk instead of finishing the whole file, and the
    partial file goes. Fails on the first version of the overlap, which let the compression run
    to the end (no stop signal) before the error could propagate."""
    plain = tmp_path / "copy.db"
    plain.write_bytes(os.urandom(64 * backup.CHUNK))
    checks = []

    class CountingEvent(threading.Event):
        def is_set(self):
            checks.append(super().is_set())
            return checks[-1]

    def failing_check(path):
        raise backup.BackupError("timed out after 1 s")
    monkeypatch.setattr(backup.threading, "Event", CountingEvent)
    monkeypatch.setattr(backup, "verify_database", failing_check)
    partial_file = tmp_path / ".guildbot-x.db.zst.partial"
    with pytest.raises(backup.BackupError, match="timed out"):
        backup.checked_and_compressed(plain, partial_file)
    assert True in checks, "the compression never saw the stop"
    assert len(checks) < 64, "the compression ran to the end"
    assert not partial_file.exists()


def test_a_failed_compression_is_a_backup_error_and_publishes_nothing(db_path, tmp_path,
                                                                       monkeypatch):
    """zstd's own errors (e.g. it cannot allocate its workers' buffers) are a BackupError, so
    the CLI records and alerts them like any failed backup, and no partial file remains. Fails
    without the translation because zstandard.ZstdError is not one of the errors the CLI
    reports (a traceback in cron.log, no status)."""
    _fill(db_path)

    class Broken:
        def __init__(self, **options):
            pass

        def stream_writer(self, raw, **options):
            raise zstandard.ZstdError("cannot allocate")
    monkeypatch.setattr(backup.zstandard, "ZstdCompressor", Broken)
    with pytest.raises(backup.BackupError,
                       match="cannot compress the backup copy: cannot allocate"):
        backup.create_backup(db_path, tmp_path / "b")
    assert not [p for p in (tmp_path / "b").rglob("*") if p.is_file()
                and p.name != ".backup.lock"]
