"""The SQLite backend's :class:`bot.storage.base.Storage`: its connections
(:mod:`bot.storage.sqlite.connections`), a guild-scoped repository per guild
(:mod:`bot.storage.sqlite.repository`) and the operator-level bookkeeping."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bot.domain.announcements import Announcement, Progress
from bot.storage.base import StorageSize, StorageUnavailable, UsageRow, UsageSummary
from bot.storage.guild_reads import usage_summaries
from bot.storage.sqlite import queries as q
from bot.storage.sqlite.connections import Connections
from bot.storage.sqlite.repository import SQLiteGuildRepository
from bot.storage.statements import usage_values


class SQLiteStorage(Connections):
    """The :class:`bot.storage.base.Storage` implementation for SQLite."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # IDENTIFY bucket -> its lock and the monotonic time of its last turn (one process).
        self._identify_locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._identified: dict[int, float] = {}

    def guild(self, guild_id: int) -> SQLiteGuildRepository:
        return SQLiteGuildRepository(self, guild_id)

    async def writable(self) -> bool:
        """True when a write transaction can be taken now (readiness probe)."""
        def probe(conn: sqlite3.Connection) -> None:
            conn.execute(q.META["set_meta"], {"key": "last_ready_probe", "value": "ok"})
        try:
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

    async def create_announcement(self, message: str, now: float) -> int:
        def insert(conn: sqlite3.Connection) -> int:
            row = conn.execute(q.META["create_announcement"],
                               {"message": message, "now": now}).fetchone()
            return int(row[0])
        return await self.write(insert)

    async def announcements_since(self, since: float) -> list[Announcement]:
        rows = await self.fetchall(q.META["announcements_since"], {"since": since})
        return [Announcement(*row) for row in rows]

    async def announcement_targets(self, announcement_id: int) -> list[tuple[int, int]]:
        rows = await self.fetchall(q.OPERATOR["announcement_targets"][0],
                                   {"announcement_id": announcement_id})
        return [(row[0], row[1]) for row in rows]

    async def claim_announcement(self, announcement_id: int, guild_id: int, channel_id: int,
                                 now: float, process: str) -> bool:
        params = {"announcement_id": announcement_id, "guild_id": guild_id,
                  "channel_id": channel_id, "now": now, "process": process}

        def claim(conn: sqlite3.Connection) -> bool:
            return conn.execute(q.OPERATOR["claim_announcement"][0], params).rowcount == 1
        return await self.write(claim)

    async def finish_announcement(self, announcement_id: int, guild_id: int, status: str,
                                  detail: str | None) -> None:
        params = {"announcement_id": announcement_id, "guild_id": guild_id, "status": status,
                  "detail": detail}

        def finish(conn: sqlite3.Connection) -> None:
            conn.execute(q.OPERATOR["finish_announcement"][0], params)
        await self.write(finish)

    async def announcement_progress(self, since: float) -> list[Progress]:
        rows = await self.fetchall(q.OPERATOR["announcement_counts"][0], {"since": since})
        return [Progress(row[0], row[1], row[2], row[3], row[4],
                         len(await self.announcement_targets(row[0]))) for row in rows]

    async def write_usage(self, rows: Sequence[UsageRow]) -> None:
        if not rows:
            return
        values = [usage_values(row) for row in rows]

        def insert(conn: sqlite3.Connection) -> None:
            conn.executemany(q.OPERATOR["insert_usage"][0], values)
        await self.write(insert)

    async def prune_usage(self, before: float) -> int:
        def prune(conn: sqlite3.Connection) -> int:
            return conn.execute(q.OPERATOR["prune_usage"][0], {"before": before}).rowcount
        return await self.write(prune)

    async def prune_audit(self, before: float) -> int:
        def prune(conn: sqlite3.Connection) -> int:
            return conn.execute(q.OPERATOR["prune_audit"][0], {"before": before}).rowcount
        return await self.write(prune)

    async def prune_announcements(self, before: float) -> int:
        def prune(conn: sqlite3.Connection) -> int:
            return conn.execute(q.OPERATOR["prune_announcements"][0],
                                {"before": before}).rowcount
        return await self.write(prune)

    async def usage_summary(self, since: float) -> list[UsageSummary]:
        rows = await self.fetchall(q.OPERATOR["usage_summary"][0], {"since": since})
        return usage_summaries(rows)

    async def get_meta(self, key: str) -> str | None:
        row = await self.fetchone(q.META["get_meta"], {"key": key})
        return row[0] if row else None

    async def take_identify_turn(self, bucket: int, interval: float) -> None:
        """SQLite is one process: the wait discord.py does itself, per bucket, in memory."""
        async with self._identify_locks[bucket]:
            last = self._identified.get(bucket)
            if last is not None:
                await asyncio.sleep(max(0.0, last + interval - time.monotonic()))
            self._identified[bucket] = time.monotonic()

    async def set_meta(self, key: str, value: str) -> None:
        def put(conn: sqlite3.Connection) -> None:
            conn.execute(q.META["set_meta"], {"key": key, "value": value})
        await self.write(put)
