"""What several bot processes on one database coordinate through the storage (issue 12, the bot's
half): Discord's IDENTIFY turns per bucket, and an analytics prune that never runs twice at once.

On PostgreSQL each "process" is a storage of its own (its own pool), as in a cluster; SQLite is
one process by contract, so its turns are one storage's.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.storage.base import UsageRow
from bot.storage.postgres.database import PRUNE_LOCK_CLASS

ON_POSTGRES = pytest.mark.parametrize("backend", ["postgres"], indirect=True)
INTERVAL = 0.3  # the tests' IDENTIFY interval (Discord's is 5 s)
NOW = 1_750_000_000.0


async def _turns(storages, bucket: int) -> list[float]:
    """Every storage takes a turn in ``bucket`` at the same moment; when each turn was given."""
    given: list[float] = []

    async def turn(storage) -> None:
        await storage.take_identify_turn(bucket, INTERVAL)
        given.append(time.monotonic())
    await asyncio.gather(*(turn(s) for s in storages))
    return sorted(given)


async def test_identify_turns_of_one_bucket_are_an_interval_apart(backend, database, storage):
    """Regression (issue 12, item 3): three processes IDENTIFY shards of one bucket at once;
    each turn comes at least the interval after the one before, whichever process took it
    (PostgreSQL: three pools; SQLite: its one process). Fails on the old code because there
    was no shared turn: each process waited on its own, so they all went at once."""
    others = [await backend.open(database) for _ in range(2)] if backend.name == "postgres" \
        else []
    try:
        storages = [storage, *others] if others else [storage] * 3
        given = await _turns(storages, bucket=0)
    finally:
        for other in others:
            await other.close()
    gaps = [later - earlier for earlier, later in zip(given, given[1:], strict=False)]
    assert len(gaps) == 2
    assert all(gap >= INTERVAL * 0.9 for gap in gaps), gaps  # clocks: server vs monotonic


async def test_other_buckets_do_not_wait(backend, database, storage):
    """A turn in bucket 1 right after one in bucket 0 is given at once (with an interval of a
    minute, waiting for bucket 0's would time the test out)."""
    await storage.take_identify_turn(0, 60.0)
    await asyncio.wait_for(storage.take_identify_turn(1, 60.0), 10)


@ON_POSTGRES
async def test_a_turn_is_taken_even_after_the_previous_process_died(backend, database, storage):
    """The bucket's time is in a table, not in a process: a process that took a turn and went
    away (its pool closed, as kill -9 closes its connections) still makes the next one wait."""
    gone = await backend.open(database)
    await gone.take_identify_turn(0, INTERVAL)
    given = time.monotonic()
    await gone.close()
    await storage.take_identify_turn(0, INTERVAL)
    assert time.monotonic() - given >= INTERVAL * 0.9


@ON_POSTGRES
async def test_the_prune_runs_in_one_process_at_a_time(backend, database, storage):
    """Regression (issue 12, item 1): while another process prunes (it holds the prune lock),
    this one skips and deletes nothing; once the lock is free it prunes. Fails on the old code
    because every process pruned whatever the others were doing."""
    await storage.write_usage([UsageRow(NOW - 100, 1, "profile", "success", 1.0),
                               UsageRow(NOW + 100, 1, "profile", "success", 1.0)])
    other = await backend.connect(database)
    try:
        async with other.transaction():
            await other.execute("SELECT pg_advisory_xact_lock($1, 0)", PRUNE_LOCK_CLASS)
            assert await storage.prune_usage(NOW) == 0
        assert len(await storage.usage_summary(0)) == 1
        assert (await storage.usage_summary(0))[0].calls == 2
        assert await storage.prune_usage(NOW) == 1
        assert (await storage.usage_summary(0))[0].calls == 1
    finally:
        await other.close()
