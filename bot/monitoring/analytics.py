"""Command usage analytics: buffer rows in memory, write them in batches, prune old rows daily.

``add`` is on the hot path: it appends a tuple (the UsageRow objects are built at flush time).
A batch is written every ``flush_interval`` seconds or as soon as ``batch_rows`` rows wait, and
on stop. When the sink fails the rows are kept for the next try, up to ``max_rows``; beyond that
the oldest are dropped and counted, so a dead database can not eat the memory.

Readers see through the batch: ``with_pending`` adds the rows still waiting here to what the
database holds, so /stats counts the commands just run without forcing a write; ``purge_guild``
deletes a guild's rows in both places.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from bot.storage.base import UsageRow, UsageSummary

if TYPE_CHECKING:
    from bot.monitoring.metrics import Metrics

log = logging.getLogger("guildbot.monitoring.analytics")

DAY = 86400.0


class AnalyticsSink(Protocol):
    async def write_usage(self, rows: Sequence[UsageRow]) -> None: ...
    async def prune_usage(self, before: float) -> int: ...


Row = tuple[float, int | None, str, str, float]


def merge_usage(stored: Sequence[UsageSummary], rows: Sequence[Row]) -> list[UsageSummary]:
    """Stored per-command summaries plus buffered rows, most called first (ties by name)."""
    totals: dict[str, list[float]] = {
        s.command: [s.calls, s.failures, s.user_errors, s.avg_latency_ms * s.calls]
        for s in stored}
    for _ts, _guild_id, command, outcome, latency_ms in rows:
        total = totals.setdefault(command, [0, 0, 0, 0.0])
        total[0] += 1
        total[1] += outcome == "failure"
        total[2] += outcome == "user_error"
        total[3] += latency_ms
    merged = [UsageSummary(command, int(calls), int(failures), int(user_errors),
                           round(latency / calls, 2))
              for command, (calls, failures, user_errors, latency) in totals.items()]
    return sorted(merged, key=lambda s: (-s.calls, s.command))


class UsageBuffer:
    def __init__(self, sink: AnalyticsSink, *, retention_days: int, metrics: Metrics | None = None,
                 clock: Callable[[], float] = time.time, flush_interval: float = 10.0,
                 batch_rows: int = 1000, max_rows: int = 50_000,
                 prune_interval: float = DAY, prune_delay: float = 60.0) -> None:
        self.sink = sink
        self.retention_days = retention_days
        self.metrics = metrics
        self.clock = clock
        self.flush_interval = flush_interval
        self.batch_rows = batch_rows
        self.max_rows = max_rows
        self.prune_interval = prune_interval
        self.prune_delay = prune_delay
        self.rows: list[Row] = []
        self.written = 0
        self.dropped = 0
        self.pruned = 0
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []

    # --- hot path -----------------------------------------------------------------------------
    def add(self, ts: float, guild_id: int | None, command: str, outcome: str,
            latency_ms: float) -> None:
        rows = self.rows
        rows.append((ts, guild_id, command, outcome, latency_ms))
        if len(rows) == self.batch_rows:
            self._wake.set()

    # --- reads and purges through the batch ------------------------------------------------
    async def with_pending(self, guild_id: int, since: float,
                           stored: Callable[[], Awaitable[Sequence[UsageSummary]]]
                           ) -> list[UsageSummary]:
        """What ``stored()`` (the guild's summaries in the database since ``since``) returns,
        plus the guild's rows still waiting here. Read under the flush lock, so no batch is on
        its way between the buffer and the database meanwhile: every row is counted once."""
        async with self._lock:
            summaries = await stored()
            pending = [row for row in self.rows if row[1] == guild_id and row[0] >= since]
        return merge_usage(summaries, pending)

    async def purge_guild(self, guild_id: int, purge: Callable[[], Awaitable[object]]) -> None:
        """Run ``purge()`` (delete the guild's stored data) and drop the guild's waiting rows,
        under the flush lock: no batch on its way writes the guild's rows back after the delete."""
        async with self._lock:
            await purge()
            self.rows = [row for row in self.rows if row[1] != guild_id]

    # --- batches ----------------------------------------------------------------------------------
    async def flush(self) -> int:
        """Write everything buffered now; return the number of rows written."""
        async with self._lock:
            rows, self.rows = self.rows, []
            self._wake.clear()
            if not rows:
                return 0
            try:
                await self.sink.write_usage([UsageRow(*row) for row in rows])
            except asyncio.CancelledError:
                self.rows = rows + self.rows  # cancelled mid-write: keep them for the final flush
                raise
            except Exception as exc:
                log.warning("usage batch of %d rows not written (kept for retry): %s: %s",
                            len(rows), type(exc).__name__, exc)
                if self.metrics is not None:
                    self.metrics.usage_flush_failures.inc()
                merged = rows + self.rows
                overflow = len(merged) - self.max_rows
                if overflow > 0:
                    merged = merged[overflow:]
                    self.dropped += overflow
                    if self.metrics is not None:
                        self.metrics.usage_dropped.inc(overflow)
                self.rows = merged
                return 0
            self.written += len(rows)
            return len(rows)

    async def prune(self) -> int:
        before = self.clock() - self.retention_days * DAY
        try:
            removed = await self.sink.prune_usage(before)
        except Exception as exc:
            log.warning("pruning usage rows failed: %s: %s", type(exc).__name__, exc)
            return 0
        self.pruned += removed
        if removed:
            log.info("pruned %d usage rows older than %d days", removed, self.retention_days)
        return removed

    async def _flush_loop(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self.flush_interval)
            except TimeoutError:
                pass
            await self.flush()

    async def _prune_loop(self) -> None:
        await asyncio.sleep(self.prune_delay)
        while True:
            await self.prune()
            await asyncio.sleep(self.prune_interval)

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._flush_loop(), name="guildbot-usage-flush"),
                       loop.create_task(self._prune_loop(), name="guildbot-usage-prune")]

    async def stop(self, flush_timeout: float = 10.0) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._tasks = []
        try:
            await asyncio.wait_for(self.flush(), flush_timeout)
        except TimeoutError:
            log.warning("final usage flush timed out; %d rows lost", len(self.rows))
        if self.rows:
            log.warning("%d usage rows could not be written at stop", len(self.rows))
