"""The :class:`bot.storage.base.Storage` of the PostgreSQL backend: an asyncpg pool shared by
every guild's repository, and the operator-level bookkeeping.

Every process of a deployment (shards on one host or many) opens its own pool on the same
database; the repository's locking (bot/storage/postgres/repository.py) keeps their concurrent
writes correct. The pool opens all ``pool_size`` connections at once, replaces the ones a restarted
server closed, and maps the database's failures to ``StorageUnavailable``
(bot/storage/postgres/pool.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import asyncpg

from bot.domain.announcements import Announcement, Progress
from bot.storage.base import StorageSize, StorageUnavailable, UsageRow, UsageSummary
from bot.storage.guild_reads import usage_summaries
from bot.storage.postgres import queries as q
from bot.storage.postgres import schema
from bot.storage.postgres.pool import (
    COMMAND_TIMEOUT,
    CONNECT_TIMEOUT,
    Pool,
    rowcount,
    unavailable,
)
from bot.storage.postgres.repository import PostgresGuildRepository
from bot.storage.statements import usage_values

PROBE_TIMEOUT = 2.0  # seconds the readiness probe's write may take
# pg_advisory_xact_lock(class, key) classes ("gb" 1 and 2; the two-key space is apart from the
# migrator's one-key MIGRATION_LOCK): an IDENTIFY bucket's turn (key: the bucket), the prune.
IDENTIFY_LOCK_CLASS = 0x67620001
PRUNE_LOCK_CLASS = 0x67620002
# A process may queue behind every other process of its bucket for the IDENTIFY lock.
IDENTIFY_LOCK_TIMEOUT = 600.0


async def connect(dsn: str, password: str | None) -> asyncpg.Connection:
    """One connection for one-off use (the CLI, migrations, copies); the caller closes it.
    A server that cannot be reached is StorageUnavailable."""
    with unavailable("connect"):
        return await asyncpg.connect(dsn, password=password, timeout=CONNECT_TIMEOUT,
                                     command_timeout=COMMAND_TIMEOUT,
                                     server_settings={"application_name": "guildbot-cli"})


def _args(sql: str, **params: Any) -> tuple[Any, ...]:
    """``sql`` compiled, followed by its values in order (a connection call's arguments)."""
    text, values = q.bind(sql, params)
    return (text, *values)


class PostgresStorage:
    """The :class:`bot.storage.base.Storage` implementation for PostgreSQL."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    @classmethod
    async def open(cls, dsn: str, password: str | None, pool_size: int = 10) -> PostgresStorage:
        """Open a pool on a database this release can run on (SchemaError otherwise: behind,
        or newer and incompatible); StorageUnavailable when the server cannot be reached."""
        pool = await Pool.create(dsn, password, pool_size)
        try:
            with unavailable("connect"):
                async with pool.pool.acquire() as conn:
                    await schema.require_current(conn)
        except BaseException:
            await pool.close()
            raise
        return cls(pool)

    async def close(self) -> None:
        await self._pool.close()

    def guild(self, guild_id: int) -> PostgresGuildRepository:
        return PostgresGuildRepository(self._pool, guild_id)

    # -- operator-level bookkeeping ---------------------------------------------------------
    async def writable(self) -> bool:
        """True when a write commits now, within PROBE_TIMEOUT (readiness probe)."""
        try:
            await asyncio.wait_for(self.set_meta("last_ready_probe", "ok"), PROBE_TIMEOUT)
        except (StorageUnavailable, TimeoutError):
            return False
        return True

    async def size(self) -> StorageSize:
        """``pg_database_size()`` of this database; its WAL is the server's (no figure)."""
        row = await self._pool.fetchrow("SELECT pg_database_size(current_database())", ())
        return StorageSize(int(row[0]) if row is not None else 0)

    async def _rows(self, name: str, **params: Any) -> list[asyncpg.Record]:
        return await self._pool.fetch(*q.bind(q.OPERATOR[name][0], params))

    async def guilds_left_before(self, cutoff: float) -> list[int]:
        return [row[0] for row in await self._rows("guilds_left_before", cutoff=cutoff)]

    async def known_guilds(self) -> dict[int, float | None]:
        return {row[0]: row[1] for row in await self._rows("known_guilds")}

    async def guilds_with_due_challenges(self, now: float) -> list[int]:
        return [row[0] for row in await self._rows("guilds_with_due_challenges", now=now)]

    async def guilds_in_maintenance(self) -> list[int]:
        return [row[0] for row in await self._rows("guilds_in_maintenance")]

    async def announcement_channels(self) -> list[tuple[int, int]]:
        return [(row[0], row[1]) for row in await self._rows("announcement_channels")]

    async def create_announcement(self, message: str, now: float) -> int:
        row = await self._pool.fetchrow(*q.bind(q.META["create_announcement"],
                                                {"message": message, "now": now}))
        assert row is not None  # INSERT ... RETURNING returns its row
        return int(row[0])

    async def announcements_since(self, since: float) -> list[Announcement]:
        return [Announcement(*row) for row in await self._pool.fetch(
            *q.bind(q.META["announcements_since"], {"since": since}))]

    async def announcement_targets(self, announcement_id: int) -> list[tuple[int, int]]:
        return [(row[0], row[1]) for row in await self._rows("announcement_targets",
                                                             announcement_id=announcement_id)]

    async def claim_announcement(self, announcement_id: int, guild_id: int, channel_id: int,
                                 now: float, process: str) -> bool:
        """One INSERT ... ON CONFLICT DO NOTHING: of processes claiming at once, the key lets
        exactly one insert the row."""
        return await self._pool.execute(*q.bind(q.OPERATOR["claim_announcement"][0], {
            "announcement_id": announcement_id, "guild_id": guild_id, "channel_id": channel_id,
            "now": now, "process": process})) == 1

    async def finish_announcement(self, announcement_id: int, guild_id: int, status: str,
                                  detail: str | None) -> None:
        await self._pool.execute(*q.bind(q.OPERATOR["finish_announcement"][0], {
            "announcement_id": announcement_id, "guild_id": guild_id, "status": status,
            "detail": detail}))

    async def announcement_progress(self, since: float) -> list[Progress]:
        rows = await self._rows("announcement_counts", since=since)
        return [Progress(row[0], row[1], row[2], row[3], row[4],
                         len(await self.announcement_targets(row[0]))) for row in rows]

    async def write_usage(self, rows: Sequence[UsageRow]) -> None:
        if not rows:
            return
        sql = q.OPERATOR["insert_usage"][0]
        values = [q.bind(sql, usage_values(row))[1] for row in rows]
        await self._pool.executemany(q.positional(sql)[0], values)

    async def prune_usage(self, before: float) -> int:
        """Delete usage rows older than ``before``, in one process of the deployment at a time:
        while another holds the prune lock this one skips (0), never deleting twice at once."""
        async def prune(conn: asyncpg.Connection) -> int:
            if not await conn.fetchval(*_args(q.META["prune_lock"], lock_class=PRUNE_LOCK_CLASS)):
                return 0
            return rowcount(await conn.execute(
                *_args(q.OPERATOR["prune_usage"][0], before=before)))
        return await self._pool.transaction(prune)

    async def prune_audit(self, before: float) -> int:
        """Delete audit entries older than ``before`` (idempotent: processes of a cluster that
        prune at once delete each row once between them)."""
        return await self._pool.execute(*q.bind(q.OPERATOR["prune_audit"][0], {"before": before}))

    async def prune_announcements(self, before: float) -> int:
        """Delete announcements older than ``before`` with their deliveries (idempotent, as
        :meth:`prune_audit`)."""
        return await self._pool.execute(*q.bind(q.OPERATOR["prune_announcements"][0],
                                                {"before": before}))

    async def take_identify_turn(self, bucket: int, interval: float) -> None:
        """Return when a shard of ``bucket`` may IDENTIFY: under the bucket's advisory lock,
        wait until ``interval`` seconds after the bucket's last IDENTIFY by any process (the
        server's clock), record this one, commit. Processes of one bucket queue on the lock."""
        async def turn(conn: asyncpg.Connection) -> None:
            await conn.execute(*_args(q.META["identify_lock"], lock_class=IDENTIFY_LOCK_CLASS,
                                      bucket=bucket), timeout=IDENTIFY_LOCK_TIMEOUT)
            wait = await conn.fetchval(*_args(q.META["identify_wait"], bucket=bucket,
                                              interval=interval))
            if wait:
                await asyncio.sleep(wait)
            await conn.execute(*_args(q.META["identify_record"], bucket=bucket))
        await self._pool.transaction(turn)

    async def usage_summary(self, since: float) -> list[UsageSummary]:
        rows = await self._rows("usage_summary", since=since)
        return usage_summaries(rows)

    async def get_meta(self, key: str) -> str | None:
        row = await self._pool.fetchrow(*q.bind(q.META["get_meta"], {"key": key}))
        return row[0] if row else None

    async def set_meta(self, key: str, value: str) -> None:
        await self._pool.execute(*q.bind(q.META["set_meta"], {"key": key, "value": value}))
