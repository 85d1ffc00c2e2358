"""Connections and transactions of the SQLite backend.

All writes go through one writer connection inside ``BEGIN IMMEDIATE`` transactions, serialised
by an asyncio lock, so a read-modify-write (spending points, accepting a challenge) can never
interleave with another. Reads go to a pool of reader connections, which WAL lets run beside the
writer. aiosqlite runs each connection on its own thread, so a slow read never stalls a write.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from bot.storage import schema
from bot.storage.base import UsageRow, UsageSummary
from bot.storage.sqlite import queries as q
from bot.storage.sqlite.repository import SQLiteGuildRepository

T = TypeVar("T")


async def _open(path: Path, *, readonly: bool) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path, isolation_level=None)
    await conn.execute("PRAGMA busy_timeout = 5000")
    await conn.execute("PRAGMA foreign_keys = ON")
    if readonly:
        await conn.execute("PRAGMA query_only = ON")
    else:
        await conn.execute("PRAGMA journal_mode = WAL")
        await conn.execute("PRAGMA synchronous = NORMAL")
    return conn


class SQLiteStorage:
    """The :class:`bot.storage.base.Storage` implementation for SQLite."""

    def __init__(self, path: Path, writer: aiosqlite.Connection,
                 readers: list[aiosqlite.Connection]) -> None:
        self.path = path
        self._writer = writer
        self._write_lock = asyncio.Lock()
        self._readers: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        for reader in readers:
            self._readers.put_nowait(reader)
        self._all = [writer, *readers]
        self._closed = False

    @classmethod
    async def open(cls, path: Path | str, readers: int = 2) -> SQLiteStorage:
        """Open a database whose schema is current (run migrations first)."""
        path = Path(path)
        writer = await _open(path, readonly=False)
        version = (await (await writer.execute("PRAGMA user_version")).fetchone())[0]
        if version != schema.LATEST_VERSION:
            await writer.close()
            raise schema.SchemaError(
                f"{path} is at schema version {version}, this release needs "
                f"{schema.LATEST_VERSION}: run `python -m bot migrate` first"
            )
        pool = [await _open(path, readonly=True) for _ in range(readers)]
        return cls(path, writer, pool)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        async with self._write_lock:
            for conn in self._all:
                await conn.close()
        # Checkpoint and drop the WAL so a stopped bot leaves a single self-contained file.
        await asyncio.to_thread(_checkpoint, self.path)

    def guild(self, guild_id: int) -> SQLiteGuildRepository:
        return SQLiteGuildRepository(self, guild_id)

    # -- transactions ---------------------------------------------------------------------
    async def write(self, work: Callable[[aiosqlite.Connection], Awaitable[T]]) -> T:
        """Run ``work`` in one ``BEGIN IMMEDIATE`` transaction on the writer connection."""
        async with self._write_lock:
            await self._writer.execute("BEGIN IMMEDIATE")
            try:
                result = await work(self._writer)
            except BaseException:
                await self._writer.execute("ROLLBACK")
                raise
            await self._writer.execute("COMMIT")
            return result

    @contextlib.asynccontextmanager
    async def reader(self) -> AsyncIterator[aiosqlite.Connection]:
        conn = await self._readers.get()
        try:
            yield conn
        finally:
            self._readers.put_nowait(conn)

    async def fetchall(self, sql: str, params: dict[str, Any] | Sequence[Any]) -> list[tuple]:
        async with self.reader() as conn:
            cursor = await conn.execute(sql, params)
            rows = await cursor.fetchall()
            await cursor.close()
            return list(rows)

    async def fetchone(self, sql: str, params: dict[str, Any] | Sequence[Any]) -> tuple | None:
        async with self.reader() as conn:
            cursor = await conn.execute(sql, params)
            row = await cursor.fetchone()
            await cursor.close()
            return row

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

    async def _ids(self, name: str, params: dict[str, Any]) -> list[int]:
        return [row[0] for row in await self.fetchall(q.OPERATOR[name][0], params)]

    async def guilds_left_before(self, cutoff: float) -> list[int]:
        return await self._ids("guilds_left_before", {"cutoff": cutoff})

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


def _checkpoint(path: Path) -> None:
    try:
        conn = sqlite3.connect(path, timeout=5)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
    except sqlite3.Error:
        pass  # another process holds the database; its own close will checkpoint
