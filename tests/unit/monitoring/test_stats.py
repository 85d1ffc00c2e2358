"""SLO window, latency quantiles, readiness timeline, starts file, error fingerprints, analytics."""

from __future__ import annotations

import asyncio
import json
import logging
import re

import pytest

from bot.monitoring.analytics import UsageBuffer
from bot.monitoring.errors import ErrorTracker, fingerprint
from bot.monitoring.stats import (
    LATENCY_BOUNDS,
    NBUCKETS,
    Readiness,
    SloWindow,
    bucket_index,
    quantile,
)
from bot.statefiles import StartsFile
from bot.storage.base import StorageUnavailable, UsageRow, UsageSummary


def test_bucket_index_uses_le_semantics():
    assert bucket_index(0.0) == 0
    assert bucket_index(LATENCY_BOUNDS[0]) == 0
    assert bucket_index(LATENCY_BOUNDS[0] * 1.01) == 1
    assert bucket_index(1e9) == NBUCKETS - 1


def test_quantile_interpolates_inside_buckets():
    counts = [0] * NBUCKETS
    assert quantile(counts, 0.5) is None
    i = bucket_index(0.0007)  # (0.0005, 0.001]
    counts[i] = 100
    assert 0.0005 <= quantile(counts, 0.5) <= 0.001
    assert quantile(counts, 0.5) == pytest.approx(0.00075)
    counts[NBUCKETS - 1] = 10_000
    assert quantile(counts, 0.95) == LATENCY_BOUNDS[-1]


def test_slo_window_is_fixed_buckets():
    w = SloWindow(window=300, slot=10)
    assert w.nslots == 30
    t = 1_000_000.0
    for k in range(60):  # one command every 10 s for 10 minutes, every 3rd one bad
        w.add(t + 10 * k, bucket_index(0.01), 0.01, bad=k % 3 == 0)
    now = t + 590
    tot = w.totals(now)
    assert tot.count == 30
    assert tot.errors == 10
    assert w.lifetime.count == 60
    assert w.lifetime.errors == 20
    assert tot.avg_latency == pytest.approx(0.01)
    # Memory is fixed: the ring never grows.
    assert len(w._slots) == 30
    assert w.totals(now + 1000).count == 0


def test_readiness_fraction_and_down_time():
    r = Readiness(started_at=0.0)
    assert r.down_seconds(30.0) == 30.0
    r.set(100.0, True)
    r.set(100.0, True)  # no-op
    assert r.down_seconds(150.0) == 0.0
    r.set(200.0, False)
    assert r.down_seconds(260.0) == 60.0
    assert r.fraction(300.0) == pytest.approx(100 / 300)
    assert r.fraction(300.0, window=150.0) == pytest.approx(50 / 150)
    r.set(300.0, True)
    assert r.fraction(400.0, window=100.0) == pytest.approx(1.0)


def test_starts_file_counts_restarts_in_the_last_day(tmp_path):
    path = tmp_path / "starts.json"
    t = 1_700_000_000.0
    assert StartsFile(path).record(t) == 0
    assert StartsFile(path).record(t + 10) == 1
    assert StartsFile(path).record(t + 20) == 2
    f = StartsFile(path)
    assert f.record(t + 86400 + 15) == 1  # the first two starts are older than a day
    assert json.loads(path.read_text())["starts"] == [t + 20, t + 86400 + 15]
    path.write_text("not json")
    assert StartsFile(path).record(t) == 0


def test_only_starts_after_an_unclean_end_count_as_crash_restarts(tmp_path):
    path = tmp_path / "starts.json"
    t = 1_700_000_000.0
    first = StartsFile(path)
    first.record(t)
    first.stopped_cleanly(t + 5)  # a deploy: SIGTERM, drained
    second = StartsFile(path)
    assert second.record(t + 10) == 1
    assert second.crash_restarts(t + 10) == 0
    # killed: no mark, so the next start follows a crash
    third = StartsFile(path)
    assert third.record(t + 20) == 2
    assert third.crash_restarts(t + 20) == 1
    assert json.loads(path.read_text())["crashes"] == [t + 20]
    third.stopped_cleanly(t + 30)
    fourth = StartsFile(path)
    fourth.record(t + 40)
    assert fourth.crash_restarts(t + 40) == 1  # still the one crash, not the clean stop
    assert fourth.crash_restarts(t + 20 + 86400 + 1) == 0  # older than a day


def test_a_starts_file_from_before_the_mark_counts_no_crash(tmp_path):
    path = tmp_path / "starts.json"
    t = 1_700_000_000.0
    path.write_text(json.dumps({"starts": [t]}))  # written by a release without the mark
    f = StartsFile(path)
    assert f.record(t + 10) == 1
    assert f.crash_restarts(t + 10) == 0


def _boom(n: int) -> None:
    raise ValueError(f"bad value {n} at 0x7f00deadbeef")


def _raise_and_capture(n: int) -> BaseException:
    try:
        _boom(n)
    except ValueError as exc:
        return exc
    raise AssertionError("not raised")


def test_fingerprint_is_stable_across_messages_and_distinct_across_places():
    a, b = _raise_and_capture(1), _raise_and_capture(2)
    assert fingerprint(a) == fingerprint(b)
    try:
        raise ValueError("bad value 1")
    except ValueError as exc:
        other = exc
    assert fingerprint(other) != fingerprint(a)
    assert re.fullmatch(r"[0-9a-f]{12}", fingerprint(a))
    # Never raised: falls back on the message with numbers and addresses normalized.
    assert fingerprint(KeyError("id 12")) == fingerprint(KeyError("id 345"))


def test_error_tracker_groups_repeats_and_logs_one_line_each(caplog):
    t = [1000.0]
    tracker = ErrorTracker(clock=lambda: t[0])
    caplog.set_level(logging.ERROR, logger="guildbot.errors")
    ids = []
    for n in range(3):
        ids.append(tracker.record(_raise_and_capture(n), command="daily", guild_id=9))
        t[0] += 1
    assert len(set(ids)) == 3
    assert all(re.fullmatch(r"[0-9a-f]{8}", i) for i in ids)
    assert len(caplog.records) == 3
    first, second, _ = caplog.records
    assert first.error_id == ids[0]
    assert first.fingerprint == second.fingerprint
    assert first.exc_info is not None  # the first occurrence has the traceback
    assert second.exc_info is None  # repeats within a minute: one line, no traceback
    assert "repeat 2" in second.getMessage()
    assert first.command == "daily"
    assert first.guild_id == 9
    [group] = tracker.top()
    assert group.count == 3
    assert group.last_error_id == ids[-1]
    assert tracker.by_type == {"ValueError": 3}
    t[0] += 120
    tracker.record(_raise_and_capture(9))
    assert caplog.records[-1].exc_info is not None  # a minute later: traceback again


def _unavailable_from(place: str) -> BaseException:
    def read() -> None:
        raise StorageUnavailable("PostgreSQL read failed: ConnectionRefusedError")

    def write() -> None:
        raise StorageUnavailable("PostgreSQL write failed: ConnectionDoesNotExistError")

    try:
        {"read": read, "write": write}[place]()
    except StorageUnavailable as exc:
        return exc
    raise AssertionError("not raised")


def test_a_database_outage_is_one_error_group(caplog):
    """Regression (issue 11, pg-run item 1): during a database outage every command fails with
    StorageUnavailable, raised through each command's own frames (reads, writes, transactions).
    They are one group, with one traceback a minute, not one group and traceback per call site.
    Fails on the old code because the fingerprint took the innermost frames: two groups here
    (three in the outage end-to-end test)."""
    tracker = ErrorTracker(clock=lambda: 1000.0)
    caplog.set_level(logging.ERROR, logger="guildbot.errors")
    for place in ("read", "write", "read", "write"):
        tracker.record(_unavailable_from(place), command="profile")
    [group] = tracker.top()
    assert group.count == 4 and group.type == "bot.storage.base.StorageUnavailable"
    assert [r.exc_info is not None for r in caplog.records] == [True, False, False, False]
    # Bugs stay apart by place.
    assert fingerprint(_unavailable_from("read")) != fingerprint(_raise_and_capture(1))


class Sink:
    def __init__(self) -> None:
        self.batches: list[list[UsageRow]] = []
        self.fail = False

    async def write_usage(self, rows):
        if self.fail:
            raise OSError("database is locked")
        self.batches.append(list(rows))

    async def prune_usage(self, before: float) -> int:
        self.before = before
        return 3


async def test_usage_buffer_batches_retries_and_bounds():
    sink = Sink()
    buf = UsageBuffer(sink, retention_days=90, clock=lambda: 1_000_000.0, batch_rows=3,
                      max_rows=5)
    buf.add(1.0, 5, "daily", "success", 1.5)
    buf.add(2.0, None, "ping", "failure", 2.5)
    assert not buf._wake.is_set()
    buf.add(3.0, 5, "daily", "success", 1.0)
    assert buf._wake.is_set()  # a full batch wakes the flusher at once
    assert await buf.flush() == 3
    assert sink.batches[0][1] == UsageRow(2.0, None, "ping", "failure", 2.5)

    sink.fail = True
    for i in range(4):
        buf.add(10.0 + i, 1, "x", "success", 1.0)
    assert await buf.flush() == 0
    assert len(buf.rows) == 4  # kept for the next try
    for i in range(4):
        buf.add(20.0 + i, 1, "x", "success", 1.0)
    await buf.flush()
    assert len(buf.rows) == 5  # bounded: the oldest were dropped
    assert buf.dropped == 3
    assert buf.rows[0][0] == 13.0
    sink.fail = False
    assert await buf.flush() == 5
    assert await buf.prune() == 3
    assert sink.before == 1_000_000.0 - 90 * 86400


async def test_usage_buffer_flushes_on_stop_and_on_timer():
    sink = Sink()
    buf = UsageBuffer(sink, retention_days=90, flush_interval=3600, batch_rows=2,
                      prune_delay=3600)
    buf.start()
    buf.add(1.0, 1, "a", "success", 1.0)
    buf.add(2.0, 1, "a", "success", 1.0)  # reaches batch_rows: the flusher wakes up
    async with asyncio.timeout(5):
        while not sink.batches:
            await asyncio.sleep(0.01)
    buf.add(3.0, 1, "a", "success", 1.0)
    await buf.stop()
    assert [len(b) for b in sink.batches] == [2, 1]


async def test_usage_read_waits_for_a_batch_on_its_way():
    """Issue 13, item 2: /stats reads the database plus the waiting rows. A batch being written
    is in neither place; the read waits for it under the flush lock, so its rows are counted
    once, not missed (read before the commit) or twice (buffer read before, database after)."""
    sink, release = Sink(), asyncio.Event()
    write_usage = sink.write_usage

    async def slow_write(rows):
        await release.wait()
        await write_usage(rows)

    sink.write_usage = slow_write
    buf = UsageBuffer(sink, retention_days=90)

    async def stored():
        rows = [r for batch in sink.batches for r in batch if r.guild_id == 5]
        return [UsageSummary("daily", len(rows), 0, 0, 2.0)] if rows else []

    buf.add(1.0, 5, "daily", "success", 2.0)
    flushing = asyncio.create_task(buf.flush())
    await asyncio.sleep(0)  # the flush holds the lock and has taken the row out of the buffer
    assert buf.rows == []
    reading = asyncio.create_task(buf.with_pending(5, 0.0, stored))
    buf.add(2.0, 5, "daily", "success", 4.0)  # arrives while the batch is being written
    await asyncio.sleep(0.01)
    assert not reading.done()
    release.set()
    assert await flushing == 1
    assert await reading == [UsageSummary("daily", 2, 0, 0, 3.0)]


async def test_monitoring_buffers_usage_rows(monitoring, clock):
    monitoring.observe_command("daily", 5, "success", 0.0125)
    await monitoring.usage.flush()
    [[row]] = monitoring.usage.sink.batches
    assert row == UsageRow(clock(), 5, "daily", "success", 12.5)
