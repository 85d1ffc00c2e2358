"""Connections and transactions of the SQLite backend. It runs the statements it is given; the
statements themselves are the repository's and :mod:`bot.storage.sqlite.database`'s, which
import this module (never the other way round).

All writes go through one writer connection inside ``BEGIN IMMEDIATE`` transactions, run one at a
time on the writer's own thread, so a read-modify-write (spending points, accepting a challenge)
can never interleave with another. Reads go to a pool of reader connections, which WAL lets run
beside the writer. Each of those connections has its own thread, so a slow read never stalls a
write; the only statements run on the event loop are the quick reader's, bounded (below).

Every trip to a connection's thread costs a thread wake-up, a self-pipe write and a GIL hand-off
(up to the interpreter's switch interval when the loop is busy), so a write transaction is one
unit as a whole: the transaction's ``work`` is a plain function of a writing
``sqlite3.Connection``, called between ``BEGIN IMMEDIATE`` and ``COMMIT`` (``ROLLBACK`` when it
raises); nothing in it can suspend.
A read or a member's write costs SQLite tens of microseconds and a trip several times that (a
write's trip cost the writer thread about 200 us of CPU under the benchmark's load, against
30-35 us of SQLite work: each statement hands the GIL back and forth), so both first run right on
the event loop, within a budget of SQLite VM steps and without waiting for a lock: a read on
:class:`_QuickReader`, a write on :class:`_QuickWriter` (its own connection, with the writer's
settings). One that needs more (a big guild's statistics, an export, a batch of usage rows, a
purge) is interrupted at once, rolled back if it wrote, and runs whole on a reader thread or
the writer thread; so does one that meets a lock (the writer thread's transaction, a backup, a
CLI). A transaction holds SQLite's write lock for its whole ``BEGIN IMMEDIATE`` ... ``COMMIT``
wherever it runs, so two never interleave.

The writer never checkpoints the WAL itself: SQLite's automatic checkpoint runs inside the
commit that crosses 1,000 pages and, with its fsync, made every ~3 s one write wait 15-50 ms
(and the writes queued behind it). A background task checkpoints (PASSIVE, from its own
connection on a worker thread) once a second while there are writes, which neither blocks the
writer nor the readers. docs/benchmark.md has the figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Self, TypeVar

import aiosqlite

from bot.storage.sqlite import schema

T = TypeVar("T")

QUICK_READ_STEPS = 20_000  # SQLite VM steps a read may take on the event loop
QUICK_READ_TICK = 1_000    # progress-handler granularity
# Page cache per connection (SQLite's default is 2,000 KiB). Guild data is read at random, so
# a bigger cache barely raised the hit rate while four connections' caches added ~3 MB of RSS;
# B-tree interior pages still fit, and misses come from the OS page cache.
CACHE_KIB = 512
CHECKPOINT_INTERVAL = 1.0  # seconds between background WAL checkpoints while there are writes


async def _open_reader(path: Path) -> aiosqlite.Connection:
    """A pooled reader: read-only, on its own aiosqlite thread."""
    conn = await aiosqlite.connect(path, isolation_level=None)
    await conn.execute("PRAGMA busy_timeout = 5000")
    await conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    await conn.execute("PRAGMA foreign_keys = ON")
    await conn.execute("PRAGMA query_only = ON")
    return conn


class _QuickReader:
    """A read-only connection used on the event loop itself, for reads that are cheap.

    A progress handler interrupts any statement after ``QUICK_READ_STEPS`` virtual-machine steps
    (well under a millisecond), and ``busy_timeout`` is 0, so the loop never waits on SQLite:
    :meth:`fetchall` returns None and the caller runs the read on a reader thread instead."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA busy_timeout = 0")
        self.conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        self.conn.execute("PRAGMA query_only = ON")
        self._ticks = 0
        self.conn.set_progress_handler(self._tick, QUICK_READ_TICK)
        self.interrupted = 0

    def _tick(self) -> int:
        self._ticks += 1
        return self._ticks > QUICK_READ_STEPS // QUICK_READ_TICK

    def fetchall(self, sql: str, params: dict[str, Any] | Sequence[Any]) -> list | None:
        self._ticks = 0
        try:
            return self.conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            message = str(exc)
            if message == "interrupted" or "locked" in message or "busy" in message:
                self.interrupted += 1
                return None
            raise

    def close(self) -> None:
        self.conn.close()


def _open_writer(path: Path, *, busy_timeout_ms: int = 5000,
                 check_same_thread: bool = False) -> sqlite3.Connection:
    """A writing connection with the writer's settings: the writer thread's (opened, used and
    closed on that thread only) or, with ``busy_timeout_ms=0``, the event loop's
    (:class:`_QuickWriter`)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=check_same_thread)
    try:
        conn.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
        conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {schema.SYNCHRONOUS}")
        conn.execute("PRAGMA wal_autocheckpoint = 0")  # Connections checkpoints off this path
    except BaseException:
        conn.close()
        raise
    return conn


class _Handoff(Exception):  # noqa: N818 (not an error: the transaction goes to the writer thread)
    """The event loop's transaction was over its budget or met a lock: rolled back, it runs
    whole on the writer thread instead."""


QUICK_WRITE_STEPS = 20_000  # SQLite VM steps a write transaction may take on the event loop


class _QuickWriter:
    """A writing connection used on the event loop itself, for transactions that are cheap.

    Like :class:`_QuickReader`: ``busy_timeout`` 0 (a lock held elsewhere hands the transaction
    off at once, the loop never waits) and a progress handler that interrupts a transaction
    after ``QUICK_WRITE_STEPS`` VM steps (well under a millisecond). An interrupted or locked
    transaction is rolled back and :meth:`run` raises :class:`_Handoff`; ``work`` is a plain
    function of the connection with no effect outside it, so running it again on the writer
    thread is the same transaction. The budget is off while COMMIT runs: a commit is never
    interrupted half-way."""

    def __init__(self, path: Path) -> None:
        self.conn = _open_writer(path, busy_timeout_ms=0, check_same_thread=True)
        self._ticks = 0
        self._budget = True
        self.conn.set_progress_handler(self._tick, QUICK_READ_TICK)
        self.handed_off = 0

    def _tick(self) -> int:
        self._ticks += 1
        return self._budget and self._ticks > QUICK_WRITE_STEPS // QUICK_READ_TICK

    @staticmethod
    def _handoff_error(exc: sqlite3.OperationalError) -> bool:
        message = str(exc)
        return message == "interrupted" or "locked" in message or "busy" in message

    def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        self._ticks = 0
        self._budget = True
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if self._handoff_error(exc):
                self.handed_off += 1
                raise _Handoff from None
            raise
        try:
            result = work(self.conn)
            self._budget = False
            self.conn.execute("COMMIT")
        except BaseException as exc:
            if self.conn.in_transaction:
                self._budget = False
                self.conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.OperationalError) and self._handoff_error(exc):
                self.handed_off += 1
                raise _Handoff from None
            raise
        return result

    def close(self) -> None:
        self.conn.close()


def _run_transaction(conn: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
    """On the writer thread: BEGIN IMMEDIATE, ``work(conn)``, COMMIT, or ROLLBACK if it raised."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = work(conn)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result


class Connections:
    """The backend's connections: the writer (its thread, its transactions), the readers and
    the quick reader, and the background checkpoint. What a repository runs its statements
    through; :class:`bot.storage.sqlite.database.SQLiteStorage` adds the Storage contract."""

    def __init__(self, path: Path, writer: sqlite3.Connection, writer_thread: ThreadPoolExecutor,
                 readers: list[aiosqlite.Connection]) -> None:
        self.path = path
        self._writer = writer
        self._writer_thread = writer_thread
        self._readers: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        for reader in readers:
            self._readers.put_nowait(reader)
        self._reader_list = list(readers)
        self._quick = _QuickReader(path)
        self._quick_writer = _QuickWriter(path)
        self._closed = False
        self._writes = 0
        self._checkpointed = 0
        self._checkpointer: asyncio.Task | None = None
        self._checkpoint_running: asyncio.Future | None = None

    @classmethod
    async def open(cls, path: Path | str, readers: int = 2) -> Self:
        """Open a database this release can run on (current, or newer and compatible)."""
        path = Path(path)
        loop = asyncio.get_running_loop()
        thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="guildbot-db-writer")
        try:
            writer = await loop.run_in_executor(thread, _open_writer, path)
        except BaseException:
            thread.shutdown(wait=False)
            raise

        try:
            await loop.run_in_executor(thread, schema.require_current, writer, path)
        except schema.SchemaError:
            await loop.run_in_executor(thread, writer.close)
            thread.shutdown(wait=False)
            raise
        pool = [await _open_reader(path) for _ in range(readers)]
        return cls(path, writer, thread, pool)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._checkpointer is not None:
            self._checkpointer.cancel()
            await asyncio.gather(self._checkpointer, return_exceptions=True)
        if self._checkpoint_running is not None:
            await asyncio.gather(self._checkpoint_running, return_exceptions=True)
        self._quick.close()
        self._quick_writer.close()
        for conn in self._reader_list:
            await conn.close()
        # Queued behind any transaction still running, so those finish first.
        await asyncio.get_running_loop().run_in_executor(self._writer_thread, self._writer.close)
        self._writer_thread.shutdown(wait=True)
        # Checkpoint and drop the WAL so a stopped bot leaves a single self-contained file.
        await asyncio.to_thread(_checkpoint, self.path)

    # -- transactions ---------------------------------------------------------------------
    async def write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work(conn)`` in one ``BEGIN IMMEDIATE`` transaction.

        ``work`` is a plain function of the connection, with no effect outside it: it runs
        whole, committed when it returns and rolled back when it raises; its result or
        exception is the caller's. It must not keep ``conn`` or its cursors. It runs first on
        the event loop (:class:`_QuickWriter`); over the loop's budget or against a lock it is
        rolled back and runs again, whole, on the writer thread (one trip, one transaction
        after another there), in the caller's context (``contextvars``: the language a domain
        rule's error is written in, bot/i18n.py), as ``asyncio.to_thread`` would."""
        if self._closed:
            raise ValueError("the database is closed")
        loop = asyncio.get_running_loop()
        if self._checkpointer is None:
            self._checkpointer = loop.create_task(self._checkpoint_loop(),
                                                  name="guildbot-wal-checkpoint")
        try:
            try:
                return self._quick_writer.run(work)
            except _Handoff:
                pass
            return await loop.run_in_executor(self._writer_thread, contextvars.copy_context().run,
                                              _run_transaction, self._writer, work)
        finally:
            self._writes += 1

    async def _checkpoint_loop(self) -> None:
        while True:
            await asyncio.sleep(CHECKPOINT_INTERVAL)
            if self._writes != self._checkpointed:
                self._checkpointed = self._writes
                self._checkpoint_running = asyncio.ensure_future(
                    asyncio.to_thread(_checkpoint, self.path, "PASSIVE"))
                await asyncio.shield(self._checkpoint_running)

    @contextlib.asynccontextmanager
    async def reader(self) -> AsyncIterator[aiosqlite.Connection]:
        conn = await self._readers.get()
        try:
            yield conn
        finally:
            self._readers.put_nowait(conn)

    def snapshot_reader(self) -> sqlite3.Connection:
        """A new read-only connection for one long read on a worker thread (an export), so it
        holds neither a pooled reader nor the writer. Open it on that thread; the caller closes
        it."""
        if self._closed:
            raise ValueError("the database is closed")
        conn = sqlite3.connect(self.path, isolation_level=None)
        conn.execute("PRAGMA busy_timeout = 5000")
        conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        conn.execute("PRAGMA query_only = ON")
        return conn

    async def fetchall(self, sql: str, params: dict[str, Any] | Sequence[Any]) -> list[tuple]:
        if self._closed:
            raise ValueError("the database is closed")
        rows = self._quick.fetchall(sql, params)
        if rows is None:  # over the loop's budget, or locked: one trip to a reader thread
            async with self.reader() as conn:
                rows = list(await conn.execute_fetchall(sql, params))
        return rows

    async def fetchone(self, sql: str, params: dict[str, Any] | Sequence[Any]) -> tuple | None:
        """The first row; every caller's query returns at most one."""
        for row in await self.fetchall(sql, params):
            return row
        return None


def _checkpoint(path: Path, mode: str = "TRUNCATE") -> None:
    try:
        conn = sqlite3.connect(path, timeout=5)
        try:
            conn.execute(f"PRAGMA wal_checkpoint({mode})")
        finally:
            conn.close()
    except sqlite3.Error:
        pass  # another process holds the database; its own close will checkpoint
