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

**Release without a reset query.** asyncpg's default pool sends ``SELECT
pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL;`` each time a connection goes back:
a second round trip after every single-statement call, for session state this backend never
creates. The pool is created with ``reset=`` :func:`_keep_session` (nothing to send); what a
released connection still guarantees the next caller:

- no open transaction: asyncpg (0.31, ``Connection._reset``, run before any custom reset) sends
  ``ROLLBACK`` when the connection is still in a transaction, e.g. a command task cancelled
  inside :meth:`Pool.transaction`; a connection whose cancelled query is still running is
  waited for, and one whose reset fails is closed. The rollback also ends every row lock and
  every transaction-level advisory lock (``pg_advisory_xact_lock``: the migrator's, the
  cluster's IDENTIFY and prune locks).
- no session state: the backend takes no session-level advisory lock, sends no ``LISTEN``,
  ``SET`` or ``DECLARE ... WITH HOLD``; a cursor
  lives inside its transaction. Code that needs one of them must undo it itself before it
  releases the connection, or hold a connection of its own (``database.connect``).
  tests/unit/storage/postgres/test_pool.py checks these.
- prepared statements are asyncpg's per-connection cache, which the reset query never touched.
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


async def _keep_session(conn: asyncpg.Connection) -> None:
    """The pool's reset on release: nothing to send (see the module: asyncpg has already rolled
    back a transaction left open)."""


def rowcount(status: str) -> int:
    """The number of rows a command's status names (``UPDATE 1``, ``INSERT 0 1``)."""
    return int(status.rsplit(" ", 1)[1])


class Pool:
    """An asyncpg pool whose every call maps the database's failures (see the module)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @classmethod
    async def create(cls, dsn: str, password: str | None, size: int) -> Pool:
        """A pool opened at its full ``size``: a burst after a quiet spell finds its
        connections ready (a new one costs a SCRAM exchange and its statements' preparation)."""
        if size < 1:
            raise ValueError(f"the pool needs at least one connection, got {size}")
        with unavailable("connect"):
            pool = await asyncpg.create_pool(dsn, password=password, min_size=size,
                                             max_size=size, reset=_keep_session,
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
