"""Connections and transactions of the SQLite backend.

All writes go through one writer connection inside ``BEGIN IMMEDIATE`` transactions, run one at a
time on the writer's own thread, so a read-modify-write (spending points, accepting a challenge)
can never interleave with another. Reads go to a pool of reader connections, which WAL lets run
beside the writer. Each connection has its own thread, so a slow read never stalls a write and no
query ever runs on the event loop.

Every trip to a connection's thread costs a thread wake-up, a self-pipe write and a GIL hand-off
(up to the interpreter's switch interval when the loop is busy), so each write transaction is one
trip as a whole: the transaction's ``work`` coroutine is driven to its end on the writer thread
against a synchronous connection (:class:`_TransactionConnection`), without ever suspending.
A read costs SQLite tens of microseconds and a trip several times that, so a read first runs
right on the event loop (:class:`_QuickReader`) within a budget of SQLite VM steps; one that
needs more (a big guild's statistics, an export) is interrupted at once and runs on a reader
thread, as does one that meets a lock.

The writer never checkpoints the WAL itself: SQLite's automatic checkpoint runs inside the
commit that crosses 1,000 pages and, with its fsync, made every ~3 s one write wait 15-50 ms
(and the writes queued behind it). A background task checkpoints (PASSIVE, from its own
connection on a worker thread) once a second while there are writes, which neither blocks the
writer nor the readers. docs/benchmark.md has the figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from bot.storage.base import StorageSize, StorageUnavailable, UsageRow, UsageSummary
from bot.storage.sqlite import queries as q
from bot.storage.sqlite import schema
from bot.storage.sqlite.repository import SQLiteGuildRepository

T = TypeVar("T")

QUICK_READ_STEPS = 20_000  # SQLite VM steps a read may take on the event loop
QUICK_READ_TICK = 1_000    # progress-handler granularity
# Page cache per connection (SQLite's default is 2,000 KiB). Guild data is read at random, so
# a bigger cache barely raised the hit rate while four connections' caches added ~3 MB of RSS;
# B-tree interior pages still fit, and misses come from the OS page cache.
CACHE_KIB = 512
CHECKPOINT_INTERVAL = 1.0  # seconds between background WAL checkpoints while there are writes


async def _open(path: Path, *, readonly: bool) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path, isolation_level=None)
    await conn.execute("PRAGMA busy_timeout = 5000")
    await conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    await conn.execute("PRAGMA foreign_keys = ON")
    if readonly:
        await conn.execute("PRAGMA query_only = ON")
    else:
        await conn.execute("PRAGMA journal_mode = WAL")
        await conn.execute(f"PRAGMA synchronous = {schema.SYNCHRONOUS}")
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


def _open_writer(path: Path) -> sqlite3.Connection:
    """The writer connection; opened, used and closed on the writer thread only."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA busy_timeout = 5000")
        conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {schema.SYNCHRONOUS}")
        conn.execute("PRAGMA wal_autocheckpoint = 0")  # SQLiteStorage checkpoints off this path
    except BaseException:
        conn.close()
        raise
    return conn


class _TransactionCursor:
    """The part of aiosqlite's cursor API a transaction uses, answered synchronously."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    async def fetchone(self) -> tuple | None:
        return self._cursor.fetchone()

    async def fetchall(self) -> list[tuple]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()


class _TransactionConnection:
    """What a write transaction's ``work`` is given: aiosqlite's ``execute`` and
    ``executemany``, run synchronously on the writer thread. Awaiting them never suspends."""

    __slots__ = ("_conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, parameters: Any = ()) -> _TransactionCursor:
        return _TransactionCursor(self._conn.execute(sql, parameters))

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> _TransactionCursor:
        return _TransactionCursor(self._conn.executemany(sql, parameters))


def _run_transaction(conn: sqlite3.Connection, work: Callable[[Any], Awaitable[T]]) -> T:
    """On the writer thread: BEGIN IMMEDIATE, drive ``work`` to its end, COMMIT or ROLLBACK."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        coro: Any = work(_TransactionConnection(conn))
        try:
            coro.send(None)
        except StopIteration as finished:
            result = finished.value
        else:
            coro.close()
            raise RuntimeError("a write transaction may await only its connection")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result


class SQLiteStorage:
    """The :class:`bot.storage.base.Storage` implementation for SQLite."""

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
        self._closed = False
        self._writes = 0
        self._checkpointed = 0
        self._checkpointer: asyncio.Task | None = None
        self._checkpoint_running: asyncio.Future | None = None

    @classmethod
    async def open(cls, path: Path | str, readers: int = 2) -> SQLiteStorage:
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
        pool = [await _open(path, readonly=True) for _ in range(readers)]
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
        for conn in self._reader_list:
            await conn.close()
        # Queued behind any transaction still running, so those finish first.
        await asyncio.get_running_loop().run_in_executor(self._writer_thread, self._writer.close)
        self._writer_thread.shutdown(wait=True)
        # Checkpoint and drop the WAL so a stopped bot leaves a single self-contained file.
        await asyncio.to_thread(_checkpoint, self.path)

    def guild(self, guild_id: int) -> SQLiteGuildRepository:
        return SQLiteGuildRepository(self, guild_id)

    # -- transactions ---------------------------------------------------------------------
    async def write(self, work: Callable[[aiosqlite.Connection], Awaitable[T]]) -> T:
        """Run ``work`` in one ``BEGIN IMMEDIATE`` transaction on the writer connection.

        ``work`` may await only the connection it is given (``execute``, ``executemany`` and
        their cursors' ``fetchone``/``fetchall``/``close``, plus ``rowcount``): the whole
        transaction runs on the writer thread in one trip, one transaction after another."""
        if self._closed:
            raise ValueError("the database is closed")
        loop = asyncio.get_running_loop()
        if self._checkpointer is None:
            self._checkpointer = loop.create_task(self._checkpoint_loop(),
                                                  name="guildbot-wal-checkpoint")
        try:
            return await loop.run_in_executor(self._writer_thread, _run_transaction,
                                              self._writer, work)
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

    # -- operator-level bookkeeping ---------------------------------------------------------
    async def writable(self) -> bool:
        """True when a write transaction can be taken now (readiness probe)."""
        try:
            async def probe(conn: aiosqlite.Connection) -> None:
                await conn.execute(q.META["set_meta"], {"key": "last_ready_probe", "value": "ok"})
            await asyncio.wait_for(self.write(probe), timeout=2)
        except (sqlite3.Error, TimeoutError, ValueError):
            return False
        return True

    async def size(self) -> StorageSize:
        """The database file and its WAL, in bytes (a missing file counts 0)."""
        def of(path: Path) -> int:
            try:
                return path.stat().st_size
            except FileNotFoundError:
                return 0

        def sizes() -> StorageSize:
            return StorageSize(of(self.path), of(self.path.with_name(self.path.name + "-wal")))
        try:
            return await asyncio.to_thread(sizes)
        except OSError as exc:
            raise StorageUnavailable(f"database size unreadable: {exc}") from exc

    async def _ids(self, name: str, params: dict[str, Any]) -> list[int]:
        return [row[0] for row in await self.fetchall(q.OPERATOR[name][0], params)]

    async def guilds_left_before(self, cutoff: float) -> list[int]:
        return await self._ids("guilds_left_before", {"cutoff": cutoff})

    async def known_guilds(self) -> dict[int, float | None]:
        rows = await self.fetchall(q.OPERATOR["known_guilds"][0], {})
        return {row[0]: row[1] for row in rows}

    async def guilds_with_due_challenges(self, now: float) -> list[int]:
        return await self._ids("guilds_with_due_challenges", {"now": now})

    async def guilds_in_maintenance(self) -> list[int]:
        return await self._ids("guilds_in_maintenance", {})

    async def announcement_channels(self) -> list[tuple[int, int]]:
        rows = await self.fetchall(q.OPERATOR["announcement_channels"][0], {})
        return [(row[0], row[1]) for row in rows]

    async def write_usage(self, rows: Sequence[UsageRow]) -> None:
        if not rows:
            return
        values = [(r.guild_id or 0, r.ts, r.command, r.outcome, r.latency_ms) for r in rows]

        async def insert(conn: aiosqlite.Connection) -> None:
            await conn.executemany(q.OPERATOR["insert_usage"][0], values)
        await self.write(insert)

    async def prune_usage(self, before: float) -> int:
        async def prune(conn: aiosqlite.Connection) -> int:
            cursor = await conn.execute(q.OPERATOR["prune_usage"][0], {"before": before})
            return cursor.rowcount
        return await self.write(prune)

    async def usage_summary(self, since: float) -> list[UsageSummary]:
        rows = await self.fetchall(q.OPERATOR["usage_summary"][0], {"since": since})
        return [UsageSummary(r[0], r[1], r[2], r[3], round(r[4] or 0.0, 2)) for r in rows]

    async def get_meta(self, key: str) -> str | None:
        row = await self.fetchone(q.META["get_meta"], {"key": key})
        return row[0] if row else None

    async def set_meta(self, key: str, value: str) -> None:
        async def put(conn: aiosqlite.Connection) -> None:
            await conn.execute(q.META["set_meta"], {"key": key, "value": value})
        await self.write(put)


def _checkpoint(path: Path, mode: str = "TRUNCATE") -> None:
    try:
        conn = sqlite3.connect(path, timeout=5)
        try:
            conn.execute(f"PRAGMA wal_checkpoint({mode})")
        finally:
            conn.close()
    except sqlite3.Error:
        pass  # another process holds the database; its own close will checkpoint
