"""What every backend's backups share: kinds, tiers and their retention, names, the overlap lock,
the time limit, the atomic publication and the status file.

A backend writes its verified backup to a partial file (:func:`partial_path`) and hands it to
:func:`publish`, which fsyncs it and renames it into place, so a file in the backup directory is
always complete and verified. Each backend's files have their own suffixes (SQLite ``.db.zst``
and the older ``.db.gz``, PostgreSQL ``.pgdump``); listing and retention look at one backend's
suffixes at a time, so the backups of a deployment that moved from one backend to the other stay
until someone removes them.

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
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bot import statefiles
from bot.statefiles import BACKUP_STATUS_FILE as STATUS_FILE
from bot.statefiles import fsync_dir

PREFIX = "guildbot-"
STAMP = "%Y%m%dT%H%M%SZ"
LOCK_FILE = ".backup.lock"
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
class BackupResult:
    path: str
    kind: str
    tiers: list[str]
    size: int
    seconds: float
    rows: dict[str, int]
    pruned: list[str]


@dataclass(frozen=True)
class Verification:
    path: str
    integrity: str
    schema_version: int
    rows: dict[str, int]

    @property
    def ok(self) -> bool:
        return self.integrity == "ok"


def stamp(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime(STAMP)


def backup_name(now: float, suffix: str) -> str:
    return PREFIX + stamp(now) + suffix


def taken_at(path: Path) -> datetime | None:
    """The UTC time in a backup's name (None for a name this module did not write)."""
    try:
        return datetime.strptime(path.name.removeprefix(PREFIX).partition(".")[0],
                                 STAMP).replace(tzinfo=UTC)
    except ValueError:
        return None


def tiers_for(kind: str) -> list[str]:
    """The directories a backup of ``kind`` is written into (the first holds the file)."""
    if kind not in KINDS:
        raise BackupError(f"unknown backup kind {kind!r}; one of {', '.join(KINDS)}")
    return list(TIERS) if kind == SCHEDULED else [kind]


Suffix = str | tuple[str, ...]  # one backend's: its current format first, then older ones


def list_backups(backup_dir: Path, tier: str | None = None, *, suffix: Suffix) -> list[Path]:
    """Backups ending in ``suffix`` (or any of them), newest first (by the timestamp in the
    name, which sorts as text; formats of one time do not matter)."""
    tiers = [tier] if tier else [*TIERS, *KEEP_NEWEST]
    found = [p for t in tiers for p in (backup_dir / t).glob(PREFIX + "*")
             if p.name.endswith(suffix)]
    return sorted(found, key=lambda p: p.name, reverse=True)


def newest(backup_dir: Path, suffix: Suffix) -> Path:
    candidates = list_backups(backup_dir, suffix=suffix)
    if not candidates:
        raise BackupError(f"no backups found under {backup_dir}")
    return candidates[0]


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


def prune(backup_dir: Path, kind: str, *, suffix: Suffix) -> list[Path]:
    """Apply the retention of ``kind``'s directories to the files ending in ``suffix`` (any
    of them, counted together); returns what was deleted."""
    rules = {tier: TIERS[tier] if kind == SCHEDULED else (KEEP_NEWEST[kind], None)
             for tier in tiers_for(kind)}
    removed = []
    for tier, (periods, period_of) in rules.items():
        backups = list_backups(backup_dir, tier, suffix=suffix)
        for old in set(backups) - set(retained(backups, periods, period_of)):
            old.unlink()
            removed.append(old)
    return sorted(removed)


def partial_path(backup_dir: Path, kind: str, name: str) -> Path:
    """Where a backup is written before :func:`publish` renames it into place: a hidden name
    in the directory of its kind (the same file system, so the rename is atomic)."""
    directory = backup_dir / tiers_for(kind)[0]
    directory.mkdir(parents=True, exist_ok=True)
    return directory / ("." + name + ".partial")


def publish(partial: Path, backup_dir: Path, kind: str, name: str) -> Path:
    """fsync the verified ``partial`` file, rename it to ``name`` in its kind's directory and
    hard-link it into the kind's other tiers; returns the first path."""
    tiers = tiers_for(kind)
    with open(partial, "rb") as handle:
        os.fsync(handle.fileno())
    first = backup_dir / tiers[0] / name
    os.replace(partial, first)
    fsync_dir(first.parent)
    for tier in tiers[1:]:
        target = backup_dir / tier / name
        target.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            os.link(first, target)
    return first


@contextlib.contextmanager
def exclusive_lock(path: Path, what: str) -> Iterator[None]:
    with statefiles.exclusive(path) as held:
        if not held:
            raise BackupError(f"{what} is already running (lock {path} is held)")
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


def write_status(state_dir: Path, *, result: BackupResult | None, error: str | None,
                 now: float | None = None) -> None:
    """Record the outcome for monitoring (backup age alert) atomically."""
    now = time.time() if now is None else now
    path = state_dir / STATUS_FILE
    status = statefiles.read(path, "backup status file")
    if result is not None:
        status.update(last_success=now, kind=result.kind, path=result.path, size=result.size,
                      seconds=result.seconds, last_error=None)
    else:
        status.update(last_failure=now, last_error=error)
    statefiles.write(path, status)
