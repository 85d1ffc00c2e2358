"""In-process statistics kept cheaply on the hot path: latency buckets, the SLO window, readiness.

Everything here is plain Python numbers in pre-sized lists, updated from the event loop thread only
(no locks, no I/O). Percentiles come from fixed latency buckets, and the SLO window is a ring of
fixed time slots (10 s each), so memory does not grow with traffic.
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_left
from collections import deque
from collections.abc import Iterable

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
            "avg_latency_ms": ms(self.avg_latency),
            "p50_latency_ms": ms(p50),
            "p95_latency_ms": ms(p95),
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


def ms(seconds: float | None, digits: int = 3) -> float | None:
    """Seconds as milliseconds rounded to ``digits``; None stays None (no figure yet)."""
    return None if seconds is None else round(seconds * 1000, digits)


def latency_text(latencies: Iterable[float], none_yet: str = "n/a") -> str:
    """The worst heartbeat latency as "N ms" (what /status and the sd_notify STATUS show), or
    ``none_yet`` while no shard has a finite one (discord.py reports inf before the first
    heartbeat): "n/a" in the STATUS line, its translation in /status."""
    finite = [lat for lat in latencies if math.isfinite(lat)]
    return f"{max(finite) * 1000:.0f} ms" if finite else none_yet


def merge_hists(hists: Iterable[list[int]]) -> list[int]:
    out = [0] * NBUCKETS
    for hist in hists:
        for i, c in enumerate(hist):
            out[i] += c
    return out
