"""Online backups, verification, restore and the restore drill, for the CLI and cron.

A backup never copies the live file: it uses SQLite's online backup API in one step
(``pages=-1``: 0.13 s for 60 MB under 100 commits/s, where small steps restart forever under
writes), from its own process so the bot's connections never stall. The copy is checked with
``PRAGMA integrity_check`` before it is compressed, fsynced and renamed into place, so a file in
the backup directory is always complete and verified.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import json
import os
import shutil
import signal
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from bot.storage import schema

TIERS = {"daily": 7, "weekly": 4, "monthly": 12}
SUFFIX = ".db.gz"
STATUS_FILE = "backup-status.json"


class BackupError(Exception):
    """A backup, verification or restore failed; the message says why."""


@dataclass(frozen=True)
class Verification:
    path: str
    integrity: str
    schema_version: int
    rows: dict[str, int]

    @property
    def ok(self) -> bool:
        return self.integrity == "ok"


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


@contextlib.contextmanager
def unpacked(path: Path) -> Iterator[Path]:
    """A plain database file for ``path`` (decompressed into a temporary file if gzipped)."""
    if path.suffix != ".gz":
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="guildbot-verify-") as scratch:
        target = Path(scratch) / path.name.removesuffix(".gz")
        try:
            with gzip.open(path, "rb") as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
        except (OSError, EOFError) as exc:
            raise BackupError(f"{path} is not a readable gzip file: {exc}") from None
        yield target


def verify(path: Path) -> Verification:
    if not path.exists():
        raise BackupError(f"{path} does not exist")
    with unpacked(path) as plain:
        result = verify_database(plain)
    return Verification(str(path), result.integrity, result.schema_version, result.rows)


def online_copy(source: Path, target: Path) -> None:
    """Copy a live database with the backup API, in one step, then check the copy."""
    if not source.exists():
        raise BackupError(f"the database {source} does not exist")
    src = sqlite3.connect(source, timeout=30)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst, pages=-1)
        finally:
            dst.close()
    finally:
        src.close()
    result = verify_database(target)
    if not result.ok:
        raise BackupError(f"the backup copy failed its integrity check: {result.integrity}")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _compress_into(plain: Path, final: Path) -> None:
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = final.with_name("." + final.name + ".partial")
    with open(plain, "rb") as src, open(partial, "wb") as raw:
        with gzip.GzipFile(filename=final.name.removesuffix(".gz"), mode="wb", fileobj=raw,
                           compresslevel=6, mtime=0) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        raw.flush()
        os.fsync(raw.fileno())
    os.replace(partial, final)
    _fsync_dir(final.parent)


def backup_name(now: float) -> str:
    return "guildbot-" + datetime.fromtimestamp(now, UTC).strftime("%Y%m%dT%H%M%SZ") + SUFFIX


def tiers_for(now: float) -> list[str]:
    """Grandfather-father-son: every backup is daily; Sunday's is weekly; the 1st's monthly."""
    day = datetime.fromtimestamp(now, UTC)
    tiers = ["daily"]
    if day.weekday() == 6:
        tiers.append("weekly")
    if day.day == 1:
        tiers.append("monthly")
    return tiers


def list_backups(backup_dir: Path, tier: str | None = None) -> list[Path]:
    """Backups, newest first (by the timestamp in the name, which sorts as text)."""
    tiers = [tier] if tier else list(TIERS) + ["pre-migrate", "pre-restore"]
    found = [p for t in tiers for p in (backup_dir / t).glob("guildbot-*" + SUFFIX)]
    return sorted(found, key=lambda p: p.name, reverse=True)


def prune(backup_dir: Path, keep: dict[str, int] = TIERS) -> list[Path]:
    removed = []
    for tier, count in keep.items():
        for old in list_backups(backup_dir, tier)[count:]:
            old.unlink()
            removed.append(old)
    return removed


@contextlib.contextmanager
def exclusive_lock(path: Path, what: str) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BackupError(f"{what} is already running (lock {path} is held)") from None
        yield


@contextlib.contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """Raise BackupError if the block runs longer than ``seconds`` (main thread only)."""
    if not seconds:
        yield
        return

    def expired(signum: int, frame: object) -> None:
        raise BackupError(f"timed out after {seconds:g} s")
    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass(frozen=True)
class BackupResult:
    path: str
    tiers: list[str]
    size: int
    seconds: float
    rows: dict[str, int]
    pruned: list[str]


def create_backup(database: Path, backup_dir: Path, *, now: float | None = None,
                  tiers: list[str] | None = None, timeout: float | None = None,
                  retention: dict[str, int] = TIERS) -> BackupResult:
    """Take a verified, compressed backup into each tier and prune old ones."""
    started = time.monotonic()
    now = time.time() if now is None else now
    tiers = tiers or tiers_for(now)
    backup_dir.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(backup_dir / ".backup.lock", "another backup"), deadline(timeout):
        with tempfile.TemporaryDirectory(prefix=".tmp-", dir=backup_dir) as scratch:
            plain = Path(scratch) / "copy.db"
            online_copy(database, plain)
            rows = verify_database(plain).rows
            name = backup_name(now)
            first = backup_dir / tiers[0] / name
            _compress_into(plain, first)
            for tier in tiers[1:]:
                target = backup_dir / tier / name
                target.parent.mkdir(parents=True, exist_ok=True)
                with contextlib.suppress(FileExistsError):
                    os.link(first, target)
        pruned = prune(backup_dir, {t: c for t, c in retention.items() if t in tiers})
    return BackupResult(str(first), tiers, first.stat().st_size,
                        round(time.monotonic() - started, 3), rows, [str(p) for p in pruned])


def write_status(state_dir: Path, *, result: BackupResult | None, error: str | None,
                 now: float | None = None) -> None:
    """Record the outcome for monitoring (backup age alert) atomically."""
    now = time.time() if now is None else now
    path = state_dir / STATUS_FILE
    try:
        status = json.loads(path.read_text())
    except (OSError, ValueError):
        status = {}
    if result is not None:
        status.update(last_success=now, path=result.path, size=result.size,
                      seconds=result.seconds, last_error=None)
    else:
        status.update(last_failure=now, last_error=error)
    state_dir.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(status, indent=2))
    os.replace(partial, path)


def restore(backup: Path, database: Path, backup_dir: Path, *, now: float | None = None) -> dict:
    """Replace the database with a verified backup, keeping a safety copy of the current one.

    The caller must make sure the bot is stopped (the CLI checks the bot's run lock).
    """
    check = verify(backup)
    if not check.ok:
        raise BackupError(f"refusing to restore {backup}: integrity check says {check.integrity}")
    if check.schema_version > schema.LATEST_VERSION:
        raise BackupError(f"{backup} has schema version {check.schema_version}, newer than this "
                          f"release ({schema.LATEST_VERSION}); deploy a matching release first")
    safety = None
    if database.exists():
        safety = create_backup(database, backup_dir, now=now, tiers=["pre-restore"],
                               retention={"pre-restore": 5}).path
    database.parent.mkdir(parents=True, exist_ok=True)
    partial = database.with_name("." + database.name + ".restoring")
    with unpacked(backup) as plain:
        shutil.copyfile(plain, partial)
    with open(partial, "rb") as handle:
        os.fsync(handle.fileno())
    for leftover in (database.with_name(database.name + "-wal"),
                     database.with_name(database.name + "-shm")):
        leftover.unlink(missing_ok=True)
    os.replace(partial, database)
    _fsync_dir(database.parent)
    after = verify_database(database)
    if not after.ok:
        raise BackupError(f"the restored database failed its integrity check: {after.integrity}")
    return {"restored": str(backup), "safety_backup": safety, "rows": after.rows,
            "schema_version": after.schema_version}


def drill(backup_dir: Path, backup: Path | None = None) -> dict:
    """Restore a backup into a scratch directory and verify it (integrity, schema, rows)."""
    if backup is None:
        candidates = list_backups(backup_dir)
        if not candidates:
            raise BackupError(f"no backups found under {backup_dir}")
        backup = candidates[0]
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
