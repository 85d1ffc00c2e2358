"""The connection pool of the PostgreSQL backend and what every call through it shares.

Every trip to the server goes through :class:`Pool`, which turns the failures that are the
database's and not the member's (the server down or restarting, a connection lost or refused,
too many connections, a timeout, a read-only server after a failover) into
:class:`bot.storage.base.StorageUnavailable`; a member's errors (the domain's ``UserError``) pass
as they are. asyncpg's pool replaces a connection the server closed when it is next acquired, so
the pool recovers by itself once the server is back; a call that met the outage fails once.

A write transaction that PostgreSQL aborted to break a deadlock (or a serialization failure) is
run again from the start, up to :data:`ATTEMPTS` times: ``work`` only talks to its connection, so
nothing of the aborted attempt remains.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Any, TypeVar

import asyncpg

from bot.storage.base import StorageUnavailable

T = TypeVar("T")

CONNECT_TIMEOUT = 5.0  # seconds to open a connection (the server is down: fail, do not hang)
COMMAND_TIMEOUT = 15.0  # seconds a statement may take before the call fails
ATTEMPTS = 3  # tries of a transaction PostgreSQL aborted to break a deadlock

# The failures that say "the database cannot serve now", not "this request is wrong".
UNAVAILABLE: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,  # lost, refused, does not exist any more
    asyncpg.InterfaceError,  # the connection closed under a call
    asyncpg.InsufficientResourcesError,  # too many connections, disk full, out of memory
    asyncpg.OperatorInterventionError,  # cannot connect now, admin shutdown, statement timeout
    asyncpg.ReadOnlySQLTransactionError,  # a standby (after a failover) refuses writes
    OSError,  # refused, unreachable, reset; TimeoutError is one
)


@contextlib.contextmanager
def unavailable(what: str) -> Iterator[None]:
    """Turn the database's own failures inside the block into StorageUnavailable."""
    try:
        yield
    except UNAVAILABLE as exc:
        raise StorageUnavailable(f"PostgreSQL {what} failed: {type(exc).__name__}: {exc}") \
            from exc


def rowcount(status: str) -> int:
    """The number of rows a command's status names (``UPDATE 1``, ``INSERT 0 1``)."""
    return int(status.rsplit(" ", 1)[1])


class Pool:
    """An asyncpg pool whose every call maps the database's failures (see the module)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @classmethod
    async def create(cls, dsn: str, password: str | None, size: int) -> Pool:
        if size < 1:
            raise ValueError(f"the pool needs at least one connection, got {size}")
        with unavailable("connect"):
            pool = await asyncpg.create_pool(dsn, password=password, min_size=1, max_size=size,
                                             timeout=CONNECT_TIMEOUT,
                                             command_timeout=COMMAND_TIMEOUT,
                                             server_settings={"application_name": "guildbot"})
        return cls(pool)

    async def close(self) -> None:
        await self.pool.close()

    async def fetch(self, sql: str, args: Sequence[Any]) -> list[asyncpg.Record]:
        with unavailable("read"):
            return await self.pool.fetch(sql, *args)

    async def fetchrow(self, sql: str, args: Sequence[Any]) -> asyncpg.Record | None:
        with unavailable("read"):
            return await self.pool.fetchrow(sql, *args)

    async def execute(self, sql: str, args: Sequence[Any]) -> int:
        """One statement in its own transaction; the rows it changed."""
        with unavailable("write"):
            return rowcount(await self.pool.execute(sql, *args))

    async def executemany(self, sql: str, args: Sequence[Sequence[Any]]) -> None:
        """One statement per argument list, all in one transaction."""
        with unavailable("write"):
            await self.pool.executemany(sql, args)

    async def transaction(self, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """``work`` in one READ COMMITTED transaction, committed when it returns, rolled back
        when it raises; run again if PostgreSQL aborted it to break a deadlock."""
        attempt = 1
        while True:
            try:
                with unavailable("write"):
                    async with self.pool.acquire() as conn, conn.transaction():
                        return await work(conn)
            except asyncpg.TransactionRollbackError as exc:
                if attempt == ATTEMPTS:
                    raise StorageUnavailable(f"PostgreSQL write failed {ATTEMPTS} times: "
                                             f"{type(exc).__name__}: {exc}") from exc
                attempt += 1

    @contextlib.asynccontextmanager
    async def snapshot(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection in one REPEATABLE READ, read-only transaction (one snapshot)."""
        with unavailable("read"):
            async with self.pool.acquire() as conn, \
                    conn.transaction(isolation="repeatable_read", readonly=True):
                yield conn
