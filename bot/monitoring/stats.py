"""In-process statistics kept cheaply on the hot path: latency buckets, the SLO window, readiness.

Everything here is plain Python numbers in pre-sized lists, updated from the event loop thread only
(no locks, no I/O). Percentiles come from fixed latency buckets, and the SLO window is a ring of
fixed time slots (10 s each), so memory does not grow with traffic.
"""

from __future__ import annotations

import heapq
import json
import logging
import os
import tempfile
from bisect import bisect_left
from collections import deque
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger("guildbot.monitoring")

# Upper bounds (seconds) of the latency buckets; one more bucket holds everything above.
LATENCY_BOUNDS: tuple[float, ...] = (
    0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0,
    10.0,
)
NBUCKETS = len(LATENCY_BOUNDS) + 1

OUTCOMES = ("success", "user_error", "failure", "busy", "maintenance", "cooldown", "refused")
# Outcomes that count against the error-rate SLO: the user got no (useful) answer. Not
# "cooldown": the member was told when to come back, as they asked too often. Not "refused":
# the guild is not admitted (bot/policy.py) and was told so; it is the policy, not a failure.
BAD_OUTCOMES = frozenset({"failure", "busy"})


def bucket_index(seconds: float) -> int:
    return bisect_left(LATENCY_BOUNDS, seconds)


def quantile(counts: list[int], q: float) -> float | None:
    """The q-quantile (0..1) of bucketed latencies, linearly interpolated inside a bucket."""
    total = sum(counts)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for i, count in enumerate(counts):
        if count and seen + count >= rank:
            if i >= len(LATENCY_BOUNDS):
                return LATENCY_BOUNDS[-1]
            lower = LATENCY_BOUNDS[i - 1] if i > 0 else 0.0
            upper = LATENCY_BOUNDS[i]
            return lower + (upper - lower) * max(0.0, rank - seen) / count
        seen += count
    return LATENCY_BOUNDS[-1]


class CommandStats:
    """Latency buckets, latency sum and outcome counts of one command since the process started."""

    __slots__ = ("buckets", "sum", "outcomes")

    def __init__(self) -> None:
        self.buckets = [0] * NBUCKETS
        self.sum = 0.0
        self.outcomes: dict[str, int] = {}

    @property
    def count(self) -> int:
        return sum(self.buckets)


class _Slot:
    __slots__ = ("epoch", "count", "errors", "lat_sum", "hist")

    def __init__(self) -> None:
        self.epoch = -1
        self.count = 0
        self.errors = 0
        self.lat_sum = 0.0
        self.hist = [0] * NBUCKETS

    def reset(self, epoch: int) -> None:
        self.epoch = epoch
        self.count = 0
        self.errors = 0
        self.lat_sum = 0.0
        self.hist = [0] * NBUCKETS


class Totals:
    """Aggregated numbers of a window (or of the lifetime)."""

    __slots__ = ("count", "errors", "lat_sum", "hist")

    def __init__(self, count: int = 0, errors: int = 0, lat_sum: float = 0.0,
                 hist: list[int] | None = None) -> None:
        self.count = count
        self.errors = errors
        self.lat_sum = lat_sum
        self.hist = hist if hist is not None else [0] * NBUCKETS

    @property
    def error_rate(self) -> float:
        return self.errors / self.count if self.count else 0.0

    @property
    def avg_latency(self) -> float:
        return self.lat_sum / self.count if self.count else 0.0

    def quantile(self, q: float) -> float | None:
        return quantile(self.hist, q)

    def to_json(self) -> dict[str, float | int | None]:
        p50 = self.quantile(0.5)
        p95 = self.quantile(0.95)
        return {
            "commands": self.count,
            "errors": self.errors,
            "error_rate": round(self.error_rate, 6),
            "avg_latency_ms": round(self.avg_latency * 1000, 3),
            "p50_latency_ms": None if p50 is None else round(p50 * 1000, 3),
            "p95_latency_ms": None if p95 is None else round(p95 * 1000, 3),
        }


class SloWindow:
    """A ring of fixed time slots: O(1) per observation, the last ``window`` seconds on demand."""

    def __init__(self, window: float = 300.0, slot: float = 10.0) -> None:
        self.window = window
        self.slot = slot
        self.nslots = max(1, round(window / slot))
        self._slots = [_Slot() for _ in range(self.nslots)]
        self.lifetime = Totals()

    def add(self, now: float, index: int, seconds: float, bad: bool) -> None:
        epoch = int(now // self.slot)
        slot = self._slots[epoch % self.nslots]
        if slot.epoch != epoch:
            slot.reset(epoch)
        slot.count += 1
        slot.lat_sum += seconds
        slot.hist[index] += 1
        life = self.lifetime
        life.count += 1
        life.lat_sum += seconds
        life.hist[index] += 1
        if bad:
            slot.errors += 1
            life.errors += 1

    def totals(self, now: float) -> Totals:
        current = int(now // self.slot)
        out = Totals()
        for slot in self._slots:
            if current - self.nslots < slot.epoch <= current:
                out.count += slot.count
                out.errors += slot.errors
                out.lat_sum += slot.lat_sum
                hist = out.hist
                for i, c in enumerate(slot.hist):
                    if c:
                        hist[i] += c
        return out


class Readiness:
    """When the bot was READY: the uptime fraction of a window and of the lifetime."""

    def __init__(self, started_at: float) -> None:
        self.started_at = started_at
        self.ready = False
        self.since = started_at
        self.down_since = started_at
        self.ready_total = 0.0
        self.changes: deque[tuple[float, bool]] = deque([(started_at, False)], maxlen=4096)

    def set(self, now: float, ready: bool) -> None:
        if ready == self.ready:
            return
        if self.ready:
            self.ready_total += max(0.0, now - self.since)
        self.ready = ready
        self.since = now
        if not ready:
            self.down_since = now
        self.changes.append((now, ready))

    def down_seconds(self, now: float) -> float:
        return 0.0 if self.ready else max(0.0, now - self.down_since)

    def ready_seconds(self, start: float, now: float) -> float:
        """Seconds spent READY between ``start`` and ``now``."""
        total = 0.0
        changes = list(self.changes)
        for i, (ts, ready) in enumerate(changes):
            end = changes[i + 1][0] if i + 1 < len(changes) else now
            if ready:
                lo, hi = max(ts, start), min(end, now)
                if hi > lo:
                    total += hi - lo
        return total

    def fraction(self, now: float, window: float | None = None) -> float:
        start = self.started_at if window is None else max(self.started_at, now - window)
        span = now - start
        if span <= 0:
            return 1.0 if self.ready else 0.0
        if window is None:
            ready = self.ready_total + (now - self.since if self.ready else 0.0)
        else:
            ready = self.ready_seconds(start, now)
        return min(1.0, ready / span)


def top_counts(counts: dict[int | None, int], n: int) -> tuple[list[tuple[int | None, int]], int]:
    """The n largest entries and the sum of the rest."""
    top = heapq.nlargest(n, counts.items(), key=lambda item: item[1])
    rest = sum(counts.values()) - sum(c for _, c in top)
    return top, rest


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

    def read(self) -> dict:
        """``starts``, ``crashes``, ``marked`` (the file knows clean stops) and ``stopped``."""
        data = read_json_object(self.path, "starts file")
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
            atomic_write_json(self.path, {"starts": self.starts, "crashes": self.crashes,
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
            return [float(x) for x in read_json_object(self.path, self.what)
                    .get("gave_up", [])]
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
            atomic_write_json(self.path, {"gave_up": self.recent(now)[-50:] + [now]})
        except OSError as exc:
            log.warning("cannot write %s %s: %s", self.what, self.path, exc)


def read_json_object(path: Path, what: str) -> dict:
    """A small JSON object from ``path``; {} when it is missing or unreadable (logged)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable %s %s: %s", what, path, exc)
        return {}
    if not isinstance(data, dict):
        log.warning("ignoring %s %s: not a JSON object", what, path)
        return {}
    return data


def atomic_write_json(path: Path, data: object) -> None:
    """Write JSON to a temporary file in the same directory, fsync it, rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, separators=(",", ":"), allow_nan=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def merge_hists(hists: Iterable[list[int]]) -> list[int]:
    out = [0] * NBUCKETS
    for hist in hists:
        for i, c in enumerate(hist):
            out[i] += c
    return out
