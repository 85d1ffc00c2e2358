"""Per-member cooldowns: how often one member may run one command in one guild.

Each (guild, member, command) has a token bucket: ``calls`` tokens, refilled continuously at
``calls / per`` tokens a second; running the command takes one. A token bucket rather than a
fixed window: a fixed window lets a member run ``2 * calls`` back to back across a window's edge,
and a sliding log keeps ``calls`` timestamps per member; the bucket is two floats and says
exactly when the next call is allowed. A refused call takes nothing, so asking again does not
push the wait further.

Commands are named by their qualified name (``challenge create``, ``admin export``), so a new
command gets a cooldown with one entry in :data:`DEFAULT_COOLDOWNS` or in GUILDBOT_COOLDOWNS.

Memory is bounded: the buckets live in one ordered map, least recently used first, capped at
``max_entries``. A bucket that has refilled is no different from no bucket, so the oldest ones
are dropped lazily as new ones arrive (no background task); past the cap the least recently used
bucket is evicted even if not full (that member starts afresh: limits fail open, never closed)
and counted. Every check is O(1) amortized. The state is this process's only: a guild's shard
lives in one process, so each member's buckets are in one place (a restart forgets them).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

# About 300 bytes a bucket in CPython (key tuple, two ints, list of two floats, map node):
# the cap keeps the whole map under about 20 MB (measured: 18.7 MB after 100,000 distinct
# members) however many members act.
MAX_ENTRIES = 50_000


@dataclass(frozen=True)
class Rate:
    """``calls`` per ``per`` seconds."""

    calls: int
    per: float

    def __str__(self) -> str:
        return f"{self.calls}/{self.per:g}"


# Per command (qualified name). GUILDBOT_COOLDOWNS overrides entries ("off" or "0" removes one).
DEFAULT_COOLDOWNS: Mapping[str, Rate] = {
    "challenge create": Rate(3, 60),
    "register": Rate(3, 60),
    "login": Rate(3, 60),
    "admin export": Rate(1, 300),
    "privacy export": Rate(1, 300),
}


class Cooldowns:
    """The buckets of one process. ``check`` is the hot path."""

    def __init__(self, rates: Mapping[str, Rate], *, max_entries: int = MAX_ENTRIES,
                 evicted: Callable[[], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rates = dict(rates)
        self.max_entries = max_entries
        self.evicted = evicted
        self.clock = clock
        self.evictions = 0
        # (guild id, member id, command) -> [tokens, when they were counted]; oldest use first.
        self._buckets: OrderedDict[tuple[int, int, str], list[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def check(self, command: str, guild_id: int, member_id: int) -> float:
        """0 when the member may run the command now (and a token is taken), else the seconds
        until they may."""
        rate = self.rates.get(command)
        if rate is None:
            return 0.0
        now = self.clock()
        key = (guild_id, member_id, command)
        buckets = self._buckets
        bucket = buckets.get(key)
        if bucket is None:
            tokens = float(rate.calls)
        else:
            tokens = self._tokens(rate, bucket, now)
            buckets.move_to_end(key)
        if tokens < 1.0:
            return (1.0 - tokens) * rate.per / rate.calls
        if bucket is None:
            buckets[key] = [tokens - 1.0, now]
            self._trim(now)
        else:
            bucket[0], bucket[1] = tokens - 1.0, now
        return 0.0

    @staticmethod
    def _tokens(rate: Rate, bucket: list[float], now: float) -> float:
        return min(float(rate.calls), bucket[0] + (now - bucket[1]) * rate.calls / rate.per)

    def _trim(self, now: float) -> None:
        """Drop the oldest buckets that have refilled, then evict past the cap."""
        buckets = self._buckets
        while buckets:
            (_, _, command), bucket = next(iter(buckets.items()))
            rate = self.rates[command]
            if self._tokens(rate, bucket, now) < rate.calls:
                break
            buckets.popitem(last=False)
        while len(buckets) > self.max_entries:
            buckets.popitem(last=False)
            self.evictions += 1
            if self.evicted is not None:
                self.evicted()
