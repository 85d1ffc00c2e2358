"""The small JSON state files of ``$STATE_DIR`` and the locks beside them: one reader, one writer,
one lock, and the two files the monitoring keeps across restarts (process starts, watchdog
give-ups).

- :func:`read`: the JSON object in a file; ``{}`` when it is missing (silently) or unreadable,
  not JSON or not an object (one warning line naming the file). A state file never stops a
  process: the worst a bad one costs is the history it held.
- :func:`write`: atomic and durable: a temporary file in the same directory, fsynced, renamed over
  the file, then the directory fsynced. A reader sees the old file or the new one, never a part.
- :func:`exclusive`: an flock on a lock file (created with its directory), yielding whether it is
  held: ``wait=False`` yields False at once when another process holds it.

Every state file of the project goes through these (the backup and off-host status files, the
alert states, the webhook limiter's budget, the starts and give-ups files).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger("guildbot.statefiles")

BACKUP_STATUS_FILE = "backup-status.json"
STARTS_FILE = "starts.json"
GATEWAY_RESTARTS_FILE = "gateway-restarts.json"


def read(path: Path, what: str = "state file") -> dict[str, Any]:
    """The JSON object in ``path``; {} when it is missing or unreadable (logged, not raised)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable %s %s: %s", what, path, exc)
        return {}
    if not isinstance(data, dict):
        log.warning("ignoring unreadable %s %s: not a JSON object", what, path)
        return {}
    return data


def write(path: Path, data: object) -> None:
    """Write ``data`` as JSON over ``path`` atomically: temporary file, fsync, rename, and the
    directory fsynced. Raises OSError (the file is then unchanged) and ValueError (not JSON)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, allow_nan=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def exclusive(path: Path, *, wait: bool = False) -> Iterator[bool]:
    """Hold an exclusive flock on ``path`` (created, with its directory) for the block; yields
    True. ``wait=False``: yields False at once when another process holds it. Raises OSError
    when the lock file cannot be opened."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True


class StartsFile:
    """Process starts of the last 24 h in a small JSON file: restarts = starts - 1.

    A process that stops cleanly (SIGTERM, drained) marks the file; a start that finds the
    previous start unmarked follows a crash (killed, aborted by the watchdog, out of memory).
    ``crash_restarts`` counts only those, so a deploy's or an operator's restart is not held
    against a release. A file from before the mark existed counts no crash."""

    DAY = 86400.0

    def __init__(self, path: Path) -> None:
        self.path = path
        self.starts: list[float] = []
        self.crashes: list[float] = []

    def read(self) -> dict[str, Any]:
        """``starts``, ``crashes``, ``marked`` (the file knows clean stops) and ``stopped``."""
        data = read(self.path, "starts file")
        try:
            return {
                "starts": [float(x) for x in data.get("starts", [])],
                "crashes": [float(x) for x in data.get("crashes", [])],
                "marked": "stopped" in data,
                "stopped": None if data.get("stopped") is None else float(data["stopped"]),
            }
        except (ValueError, TypeError) as exc:
            log.warning("ignoring unreadable starts file %s: %s", self.path, exc)
            return {"starts": [], "crashes": [], "marked": False, "stopped": None}

    def record(self, now: float) -> int:
        """Add this start, prune entries older than a day, save; return the restarts count."""
        data = self.read()
        previous = max(data["starts"], default=None)
        crashed = (previous is not None and data["marked"]
                   and (data["stopped"] is None or data["stopped"] < previous))
        recent = now - self.DAY
        self.starts = [t for t in data["starts"] if recent < t <= now][-10_000:] + [now]
        self.crashes = [t for t in data["crashes"] if recent < t <= now][-10_000:]
        if crashed:
            self.crashes.append(now)
            log.warning("the previous process did not stop cleanly (crash restart %d within "
                        "24 h)", len(self.crashes))
        self._save(None)
        return self.restarts(now)

    def stopped_cleanly(self, now: float) -> None:
        """Mark the file: this process is stopping on purpose."""
        self._save(now)

    def _save(self, stopped: float | None) -> None:
        try:
            write(self.path, {"starts": self.starts, "crashes": self.crashes,
                              "stopped": stopped})
        except OSError as exc:
            log.warning("cannot write starts file %s: %s", self.path, exc)

    def restarts(self, now: float) -> int:
        return max(0, sum(1 for t in self.starts if t > now - self.DAY) - 1)

    def crash_restarts(self, now: float) -> int:
        return sum(1 for t in self.crashes if t > now - self.DAY)


class GatewayRestarts:
    """When the watchdog gave up on the gateway (and systemd restarted the bot), in a JSON file.

    Each give-up in the last ``MEMORY`` seconds doubles the next process's gateway grace, up to
    ``CAP``. With WatchdogSec=60s and RestartSec=15s a long Discord outage then restarts the bot
    about 6, 17, 38 and 80 minutes in (worked out from those settings, not measured) instead of
    every ~6 minutes, and never reaches the unit's StartLimitBurst (5 in 30 minutes), which would
    leave it failed. `run` keeps its give-ups on an unreachable database the same way
    (``bot.cli.DB_GIVE_UPS_FILE``, factor 3)."""

    MEMORY = 2 * 3600.0
    CAP = 3600.0

    def __init__(self, path: Path, what: str = "gateway restarts file",
                 factor: float = 2.0) -> None:
        self.path = path
        self.what = what
        self.factor = factor  # each recent give-up multiplies the next grace by this

    def load(self) -> list[float]:
        try:
            return [float(x) for x in read(self.path, self.what).get("gave_up", [])]
        except (ValueError, TypeError) as exc:
            log.warning("ignoring unreadable %s %s: %s", self.what, self.path, exc)
            return []

    def recent(self, now: float) -> list[float]:
        return [t for t in self.load() if now - self.MEMORY < t <= now]

    def grace(self, base: float, now: float) -> float:
        """The gateway grace for a process starting now."""
        if base <= 0:
            return base
        return min(base * self.factor ** len(self.recent(now)), max(base, self.CAP))

    def record(self, now: float) -> None:
        try:
            write(self.path, {"gave_up": self.recent(now)[-50:] + [now]})
        except OSError as exc:
            log.warning("cannot write %s %s: %s", self.what, self.path, exc)
