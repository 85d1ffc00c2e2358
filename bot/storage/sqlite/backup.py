"""Online backups, verification, restore and the restore drill, for the CLI and cron.

A backup never copies the live file: it uses SQLite's online backup API in one step
(``pages=-1``: 0.13 s for 60 MB under 100 commits/s, where small steps restart forever under
writes), from its own process so the bot's connections never stall. The copy is checked with
``PRAGMA integrity_check`` before it is compressed, fsynced and renamed into place, so a file in
the backup directory is always complete and verified.

Each backup has a kind, which decides where it goes and how long it stays:

* ``scheduled`` (cron's, and only cron's) feeds the grandfather-father-son tiers. It is written to
  ``daily/`` and hard-linked into ``weekly/`` and ``monthly/``; each tier keeps the newest backup of
  each of its last N periods that have one (7 days, 4 ISO weeks, 12 months), read from the UTC time
  in the backup's name. Extra backups in a period replace each other and never evict history.
* ``pre-deploy``, ``on-demand``, ``pre-migrate`` and ``pre-restore`` each have a directory of
  that name and keep their newest N files, so a busy deploy day cannot touch the tiers.
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
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from bot.storage.sqlite import schema

SUFFIX = ".db.gz"
STAMP = "%Y%m%dT%H%M%SZ"
STATUS_FILE = "backup-status.json"
SCHEDULED = "scheduled"


def _iso_week(day: datetime) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


# GFS tier -> (periods kept, the period a backup's UTC time falls in)
TIERS = {
    "daily": (7, lambda day: day.strftime("%Y-%m-%d")),
    "weekly": (4, _iso_week),
    "monthly": (12, lambda day: day.strftime("%Y-%m")),
}
# The other kinds: their own directory, the newest N kept.
KEEP_NEWEST = {"pre-deploy": 10, "on-demand": 10, "pre-migrate": 5, "pre-restore": 5}
KINDS = (SCHEDULED, *KEEP_NEWEST)


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
    except sqlite3.DatabaseError as exc:  # e.g. "database disk image is malformed"
        raise BackupError(f"cannot copy {source}: {exc}") from None
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


def _stamp(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime(STAMP)


def backup_name(now: float) -> str:
    return "guildbot-" + _stamp(now) + SUFFIX


def taken_at(path: Path) -> datetime | None:
    """The UTC time in a backup's name (None for a name this module did not write)."""
    try:
        return datetime.strptime(path.name.removeprefix("guildbot-").removesuffix(SUFFIX),
                                 STAMP).replace(tzinfo=UTC)
    except ValueError:
        return None


def tiers_for(kind: str) -> list[str]:
    """The directories a backup of ``kind`` is written into (the first holds the file)."""
    if kind not in KINDS:
        raise BackupError(f"unknown backup kind {kind!r}; one of {', '.join(KINDS)}")
    return list(TIERS) if kind == SCHEDULED else [kind]


def list_backups(backup_dir: Path, tier: str | None = None) -> list[Path]:
    """Backups, newest first (by the timestamp in the name, which sorts as text)."""
    tiers = [tier] if tier else [*TIERS, *KEEP_NEWEST]
    found = [p for t in tiers for p in (backup_dir / t).glob("guildbot-*" + SUFFIX)]
    return sorted(found, key=lambda p: p.name, reverse=True)


def retained(backups: list[Path], periods: int,
             period_of: Callable[[datetime], str] | None = None) -> list[Path]:
    """The newest backup of each of the newest ``periods`` periods among ``backups`` (newest
    first); without ``period_of`` every backup is its own period, i.e. the newest N.

    A name without a timestamp is always kept: prune deletes only what it understands."""
    kept: list[Path] = []
    seen: set[str] = set()
    for path in backups:
        when = taken_at(path)
        if when is None:
            kept.append(path)
            continue
        key = period_of(when) if period_of else path.name
        if key in seen or len(seen) == periods:
            continue
        seen.add(key)
        kept.append(path)
    return kept


def prune(backup_dir: Path, kind: str) -> list[Path]:
    """Apply the retention of ``kind``'s directories; returns what was deleted."""
    rules = {tier: TIERS[tier] if kind == SCHEDULED else (KEEP_NEWEST[kind], None)
             for tier in tiers_for(kind)}
    removed = []
    for tier, (periods, period_of) in rules.items():
        backups = list_backups(backup_dir, tier)
        for old in set(backups) - set(retained(backups, periods, period_of)):
            old.unlink()
            removed.append(old)
    return sorted(removed)


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
    kind: str
    tiers: list[str]
    size: int
    seconds: float
    rows: dict[str, int]
    pruned: list[str]


def create_backup(database: Path, backup_dir: Path, *, kind: str = "on-demand",
                  now: float | None = None, timeout: float | None = None) -> BackupResult:
    """Take a verified, compressed backup of ``kind`` and apply that kind's retention."""
    started = time.monotonic()
    now = time.time() if now is None else now
    tiers = tiers_for(kind)
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
        pruned = prune(backup_dir, kind)
    return BackupResult(str(first), kind, tiers, first.stat().st_size,
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
        status.update(last_success=now, kind=result.kind, path=result.path, size=result.size,
                      seconds=result.seconds, last_error=None)
    else:
        status.update(last_failure=now, last_error=error)
    state_dir.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(status, indent=2))
    os.replace(partial, path)


def _database_files(database: Path) -> list[Path]:
    """The database and its WAL and shared-memory files (which belong to it)."""
    return [database, database.with_name(database.name + "-wal"),
            database.with_name(database.name + "-shm")]


def move_aside(database: Path, now: float) -> Path:
    """Move the database, -wal and -shm into ``<db>.damaged-<time>/`` beside it, names kept
    (so ``sqlite3`` still opens them together); a rename, so nothing is copied or lost."""
    keep = database.with_name(f"{database.name}.damaged-{_stamp(now)}")
    keep.mkdir()
    for path in _database_files(database):
        if path.exists():
            os.replace(path, keep / path.name)
    _fsync_dir(keep)
    _fsync_dir(database.parent)
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
    _fsync_dir(database.parent)
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
