"""Online backups, verification, restore and the restore drill, for the CLI and cron.

A backup never copies the live file: it uses SQLite's online backup API in one step
(``pages=-1``: 0.13 s for 60 MB under 100 commits/s, where small steps restart forever under
writes), from its own process so the bot's connections never stall. The copy is checked once with
``PRAGMA integrity_check`` while a second thread compresses it (zstd level 1, ``.db.zst``: a
third of gzip level 1's CPU for a file as small, where gzip was most of a backup's time;
docs/benchmark.md, "Backup at the speed of the copy"); only a copy that passed is fsynced and
renamed into place, so a file in the backup directory is always complete and verified. Memory
stays bounded: the copy, the check, the compression and the decompression all stream through the
file. Backups taken before (``.db.gz``) are still listed, pruned, verified and restored.

Kinds, tiers, retention, names, the lock and the status file are every backend's:
``bot.storage.backups`` (re-exported here for SQLite's callers).
"""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import BinaryIO

import zstandard

from bot.storage import backups
from bot.storage.backups import (
    KEEP_NEWEST,
    KINDS,
    SCHEDULED,
    STAMP,
    STATUS_FILE,
    TIERS,
    BackupError,
    BackupResult,
    Verification,
    deadline,
    exclusive_lock,
    fsync_dir,
    retained,
    stamp,
    taken_at,
    tiers_for,
    write_status,
)
from bot.storage.sqlite import schema

__all__ = ["KEEP_NEWEST", "KINDS", "SCHEDULED", "STAMP", "STATUS_FILE", "TIERS", "BackupError",
           "BackupResult", "create_backup", "drill", "exclusive_lock", "list_backups", "prune",
           "restore", "retained", "taken_at", "tiers_for", "verify", "write_status"]

SUFFIX = ".db.zst"
GZIP_SUFFIX = ".db.gz"  # what releases before zstd wrote: read, listed and pruned the same way
SUFFIXES = (SUFFIX, GZIP_SUFFIX)
backup_name = partial(backups.backup_name, suffix=SUFFIX)
list_backups = partial(backups.list_backups, suffix=SUFFIXES)
prune = partial(backups.prune, suffix=SUFFIXES)


def verify_database(path: Path) -> Verification:
    """PRAGMA integrity_check and per-table row counts of a plain database file."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise BackupError(f"cannot open {path}: {exc}") from None
    try:
        problems = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        tables = [row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY name")]
        rows = {t: conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        return Verification(str(path), f"unreadable: {exc}", -1, {})
    finally:
        conn.close()
    return Verification(str(path), "ok" if problems == ["ok"] else "; ".join(problems[:5]),
                        version, rows)


COMPRESSLEVEL = 1  # zstd; docs/benchmark.md "Backup at the speed of the copy"
ZSTD_HEADER_MAX = 18  # bytes (zstd.h ZSTD_FRAMEHEADERSIZE_MAX)
THREADS = -1  # zstd's own workers, one per CPU: the calling thread only feeds them
CHUNK = 1 << 20


def _gunzip(src: BinaryIO, dst: BinaryIO) -> None:
    with gzip.GzipFile(fileobj=src, mode="rb") as reader:
        shutil.copyfileobj(reader, dst, CHUNK)


def _unzstd(src: BinaryIO, dst: BinaryIO) -> None:
    """Decompress one zstd frame, a chunk at a time; its header must give the content size,
    which is how a truncated file is told from a whole one (zstd's reader just stops early)."""
    size = zstandard.get_frame_parameters(src.read(ZSTD_HEADER_MAX)).content_size
    if size == zstandard.CONTENTSIZE_UNKNOWN:
        raise BackupError("its zstd header does not give the size (not a guildbot backup)")
    src.seek(0)
    with zstandard.ZstdDecompressor().stream_reader(src) as reader:
        written = 0
        while chunk := reader.read(CHUNK):
            written += dst.write(chunk)
    if written != size:
        raise BackupError(f"truncated: {written} of {size} bytes")


# a backup's last suffix -> (its format, how to decompress it)
DECOMPRESSORS: dict[str, tuple[str, Callable[[BinaryIO, BinaryIO], None]]] = {
    ".zst": ("zstd", _unzstd), ".gz": ("gzip", _gunzip)}


@contextlib.contextmanager
def unpacked(path: Path) -> Iterator[Path]:
    """A plain database file for ``path`` (decompressed into a temporary file if it is a
    ``.zst`` or ``.gz`` backup); a damaged or truncated file is a BackupError."""
    if path.suffix not in DECOMPRESSORS:
        yield path
        return
    kind, decompress = DECOMPRESSORS[path.suffix]
    with tempfile.TemporaryDirectory(prefix="guildbot-verify-") as scratch:
        target = Path(scratch) / path.stem
        try:
            with open(path, "rb") as src, open(target, "wb") as dst:
                decompress(src, dst)
        except (OSError, EOFError, zstandard.ZstdError, BackupError) as exc:
            raise BackupError(f"{path} is not a readable {kind} file: {exc}") from None
        yield target


def verify(path: Path) -> Verification:
    if not path.exists():
        raise BackupError(f"{path} does not exist")
    with unpacked(path) as plain:
        result = verify_database(plain)
    return Verification(str(path), result.integrity, result.schema_version, result.rows)


def online_copy(source: Path, target: Path) -> None:
    """Copy a live database with the backup API, in one step (unchecked: see create_backup).

    The target is a scratch file nothing trusts before its check, so it is written without a
    rollback journal and without fsync (half the copy's time on 1 GB: docs/benchmark.md); the
    file that is kept, the compressed one, is fsynced before it is published."""
    if not source.exists():
        raise BackupError(f"the database {source} does not exist")
    src = sqlite3.connect(source, timeout=30)
    try:
        dst = sqlite3.connect(target)
        try:
            dst.execute("PRAGMA journal_mode = OFF")
            dst.execute("PRAGMA synchronous = OFF")
            src.backup(dst, pages=-1)
        finally:
            dst.close()
    except sqlite3.DatabaseError as exc:  # e.g. "database disk image is malformed"
        raise BackupError(f"cannot copy {source}: {exc}") from None
    finally:
        src.close()


def _compress_into(plain: Path, partial_file: Path, stop: threading.Event) -> None:
    """zstd ``plain`` into ``partial_file`` (one frame, with its size and a checksum) a chunk
    at a time, until the end or ``stop``."""
    compressor = zstandard.ZstdCompressor(level=COMPRESSLEVEL, threads=THREADS,
                                          write_checksum=True)
    try:
        with open(plain, "rb") as src, open(partial_file, "wb") as raw, \
                compressor.stream_writer(raw, size=os.fstat(src.fileno()).st_size,
                                         closefd=False) as dst:
            while not stop.is_set() and (chunk := src.read(CHUNK)):
                dst.write(chunk)
    except zstandard.ZstdError as exc:
        raise BackupError(f"cannot compress the backup copy: {exc}") from None


def checked_and_compressed(plain: Path, partial_file: Path) -> Verification:
    """Compress the copy ``plain`` into ``partial_file`` while its one integrity check runs
    (both release the GIL, so they overlap); returns the check. A failed check, a failed
    compression or the time limit stops the compression after its current chunk and leaves no
    partial file behind."""
    stop = threading.Event()
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="backup-zstd")
    try:
        compressing = pool.submit(_compress_into, plain, partial_file, stop)
        result = verify_database(plain)
        if not result.ok:
            raise BackupError(f"the backup copy failed its integrity check: {result.integrity}")
        compressing.result()
    except BaseException:
        stop.set()
        raise
    finally:
        pool.shutdown()
        if stop.is_set():
            partial_file.unlink(missing_ok=True)
    return result


def create_backup(database: Path, backup_dir: Path, *, kind: str = "on-demand",
                  now: float | None = None, timeout: float | None = None,
                  push: Callable[[Path, Path], None] | None = None) -> BackupResult:
    """Take a verified, compressed backup of ``kind`` and apply that kind's retention.

    ``push(plain, published)``, when given, is called once the backup is published and pruned,
    with the verified uncompressed copy (what off-host backups push: it deduplicates, a zstd
    stream does not) while that copy still exists, under the backup lock and time limit."""
    started = time.monotonic()
    now = time.time() if now is None else now
    tiers = tiers_for(kind)
    backup_dir.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(backup_dir / backups.LOCK_FILE, "another backup"), deadline(timeout), \
            tempfile.TemporaryDirectory(prefix=".tmp-", dir=backup_dir) as scratch:
        plain = Path(scratch) / "copy.db"
        online_copy(database, plain)
        name = backup_name(now)
        partial_file = backups.partial_path(backup_dir, kind, name)
        rows = checked_and_compressed(plain, partial_file).rows
        first = backups.publish(partial_file, backup_dir, kind, name)
        pruned = prune(backup_dir, kind)
        seconds = round(time.monotonic() - started, 3)  # the local backup's time, without the push
        if push is not None:
            push(plain, first)
    return BackupResult(str(first), kind, tiers, first.stat().st_size, seconds, rows,
                        [str(p) for p in pruned])


def _database_files(database: Path) -> list[Path]:
    """The database and its WAL and shared-memory files (which belong to it)."""
    return [database, database.with_name(database.name + "-wal"),
            database.with_name(database.name + "-shm")]


def move_aside(database: Path, now: float) -> Path:
    """Move the database, -wal and -shm into ``<db>.damaged-<time>/`` beside it, names kept
    (so ``sqlite3`` still opens them together); a rename, so nothing is copied or lost."""
    keep = database.with_name(f"{database.name}.damaged-{stamp(now)}")
    keep.mkdir()
    for path in _database_files(database):
        if path.exists():
            os.replace(path, keep / path.name)
    fsync_dir(keep)
    fsync_dir(database.parent)
    return keep


def restore(backup: Path, database: Path, backup_dir: Path, *, now: float | None = None) -> dict:
    """Replace the database with a verified backup and say what became of the one it replaces.

    A current database that passes its integrity check is saved first as a ``pre-restore``
    backup. One that fails it (the case restores are for) cannot be backed up: its files (db,
    -wal, -shm) are moved aside, untouched, by :func:`move_aside`. Nothing is moved before the
    backup has been verified and decompressed next to the database.
    The caller must make sure the bot is stopped (the CLI checks the bot's run lock).
    """
    now = time.time() if now is None else now
    check = verify(backup)
    if not check.ok:
        raise BackupError(f"refusing to restore {backup}: integrity check says {check.integrity}")
    if check.schema_version > schema.LATEST_VERSION:
        raise BackupError(f"{backup} has schema version {check.schema_version}, newer than this "
                          f"release ({schema.LATEST_VERSION}); deploy a matching release first")
    previous = verify_database(database).integrity if database.exists() else "missing"
    safety = None
    if previous == "ok":
        safety = create_backup(database, backup_dir, kind="pre-restore", now=now).path
    database.parent.mkdir(parents=True, exist_ok=True)
    partial = database.with_name("." + database.name + ".restoring")
    with unpacked(backup) as plain:
        shutil.copyfile(plain, partial)
    with open(partial, "rb") as handle:
        os.fsync(handle.fileno())
    damaged = None
    if previous not in ("ok", "missing"):
        damaged = str(move_aside(database, now))
    for leftover in _database_files(database)[1:]:
        leftover.unlink(missing_ok=True)
    os.replace(partial, database)
    fsync_dir(database.parent)
    kept = f"; the previous database is in {safety or damaged}" if safety or damaged else ""
    after = verify_database(database)
    if not after.ok:
        raise BackupError(f"the restored database failed its integrity check: "
                          f"{after.integrity}{kept}")
    return {"restored": str(backup), "previous_integrity": previous, "safety_backup": safety,
            "damaged_moved_to": damaged, "rows": after.rows,
            "schema_version": after.schema_version}


def drill(backup_dir: Path, backup: Path | None = None) -> dict:
    """Restore a backup into a scratch directory and verify it (integrity, schema, rows)."""
    if backup is None:
        backup = backups.newest(backup_dir, SUFFIXES)
    with tempfile.TemporaryDirectory(prefix="guildbot-drill-") as scratch:
        target = Path(scratch) / "restored.db"
        with unpacked(backup) as plain:
            shutil.copyfile(plain, target)
        result = verify_database(target)
    if not result.ok:
        raise BackupError(f"restore drill failed for {backup}: {result.integrity}")
    if result.schema_version < 1 or "members" not in result.rows:
        raise BackupError(f"restore drill failed for {backup}: not a guildbot database")
    return {"backup": str(backup), **asdict(result), "path": str(backup)}
