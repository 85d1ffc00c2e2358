"""What only the PostgreSQL backend has: a server that can go away and come back, a pool, a
password, the statements' ``:name`` to ``$n`` compilation, and the schema's own constraints."""

from __future__ import annotations

import asyncpg
import pytest

from bot.domain.errors import UserError
from bot.storage.base import StorageUnavailable
from bot.storage.postgres import PostgresStorage, pool, queries, schema
from bot.storage.postgres.database import connect
from tests.fixtures.pytest_plugin import noon
from tests.pgserver import BOT_PASSWORD

G = 444444444444444444
NOW = 1_700_000_000.0


# The PostgreSQL backend alone: these are what SQLite does not have.
ON_POSTGRES = pytest.mark.parametrize("backend", ["postgres"], indirect=True)


def test_statements_compile_to_numbered_parameters_once_per_name():
    text, names = queries.positional(
        "SELECT 1 FROM t WHERE a = :x AND b = :y AND c = :x AND d = 'a::text'")
    assert text == "SELECT 1 FROM t WHERE a = $1 AND b = $2 AND c = $1 AND d = 'a::text'"
    assert names == ("x", "y")
    assert queries.bind("SELECT :b, :a", {"a": 1, "b": 2, "c": 3}) == ("SELECT $1, $2", [2, 1])
    with pytest.raises(KeyError):
        queries.bind("SELECT :missing", {})


@ON_POSTGRES
async def test_ids_past_32_bits_and_the_points_constraint(backend, database, storage):
    """Snowflakes need BIGINT; a balance can never go below zero, whatever a statement does."""
    user = 2**62 + 7
    repo = storage.guild(G)
    member = await repo.register(user, "big", NOW)
    assert (await repo.member(user)) == member
    assert member.user_id == user
    conn = await backend.connect(database)
    try:
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute("UPDATE members SET points = -1 WHERE guild_id = $1", G)
    finally:
        await conn.close()


@ON_POSTGRES
async def test_a_stopped_server_is_unavailable_and_the_pool_recovers_when_it_is_back(
        backend, storage, postgres_server):
    """Reads, writes, operator calls and the readiness probe report StorageUnavailable (never a
    user error, never a raw asyncpg error) while the server is down, and the same storage
    serves again once it is back, without being reopened."""
    repo = storage.guild(G)
    await repo.register(1, "ann", NOW)
    postgres_server.stop()
    try:
        for call in (lambda: repo.member(1), lambda: repo.register(2, "bob", NOW),
                     lambda: repo.daily_login(1, noon("2024-01-01")),
                     lambda: repo.create_challenge(1, 2, 5, NOW, NOW + 60),
                     lambda: storage.known_guilds(), lambda: storage.set_meta("k", "v")):
            with pytest.raises(StorageUnavailable) as caught:
                await call()
            assert not isinstance(caught.value, UserError)
        assert await storage.writable() is False
    finally:
        postgres_server.start()
    assert await storage.writable() is True
    assert (await repo.member(1)).display_name == "ann"
    login, _ = await repo.daily_login(1, noon("2024-01-01"))
    assert login.awarded == 100


@ON_POSTGRES
async def test_opening_an_unreachable_server_is_unavailable(backend, database, postgres_server):
    dead = database.replace(f":{postgres_server.port}/", ":1/")
    with pytest.raises(StorageUnavailable, match="connect"):
        await PostgresStorage.open(dead, BOT_PASSWORD)
    with pytest.raises(StorageUnavailable, match="connect"):
        await connect(dead, BOT_PASSWORD)


@ON_POSTGRES
async def test_a_wrong_password_is_not_an_outage(backend, database):
    """A refused login is the operator's to fix, said as PostgreSQL says it; it is not
    reported as the database being temporarily unavailable."""
    with pytest.raises(asyncpg.InvalidPasswordError):
        await PostgresStorage.open(database, "not-the-password")


@ON_POSTGRES
async def test_the_pool_opens_at_its_full_size(backend, database, postgres_server):
    """Regression (issue 11, item 3): the pool opens every connection it may use, so a burst
    after a quiet spell does not wait for new ones (a SCRAM exchange each); fails on the old code
    because it opened one (min_size 1) and grew on demand."""
    store = await PostgresStorage.open(database, BOT_PASSWORD, pool_size=3)
    try:
        assert (store._pool.pool.get_min_size(), store._pool.pool.get_max_size()) == (3, 3)
        assert (store._pool.pool.get_size(), store._pool.pool.get_idle_size()) == (3, 3)
        with pytest.raises(ValueError, match="at least one"):
            await PostgresStorage.open(database, BOT_PASSWORD, pool_size=0)
    finally:
        await store.close()


@ON_POSTGRES
async def test_table_counts_name_every_table(backend, storage, database):
    await storage.guild(G).register(1, "ann", NOW)
    conn = await backend.connect(database)
    try:
        counts = await schema.table_counts(conn)
    finally:
        await conn.close()
    assert counts == {"guilds": 1, "members": 1, "challenges": 0, "command_usage": 0,
                      "meta": 0, "identify_buckets": 0, "audit_log": 0,
                      "announcements": 0, "announcement_deliveries": 0,
                      "schema_migrations": schema.LATEST_VERSION}


@ON_POSTGRES
async def test_a_transaction_aborted_to_break_a_deadlock_runs_again(backend, storage):
    """PostgreSQL aborts one of two deadlocked transactions (two settlements between the same
    players, debiting and crediting them in opposite orders); the pool runs it again from the
    start, and after ATTEMPTS aborts in a row reports StorageUnavailable."""
    attempts = []

    async def deadlocked_once(conn):
        attempts.append(await conn.fetchval("SELECT txid_current()"))
        if len(attempts) == 1:
            raise asyncpg.DeadlockDetectedError("deadlock detected")
        return "done"
    assert await storage._pool.transaction(deadlocked_once) == "done"
    assert len(attempts) == 2 and attempts[0] != attempts[1]  # two transactions

    async def always(conn):
        raise asyncpg.SerializationError("could not serialize access")
    with pytest.raises(StorageUnavailable, match=f"failed {pool.ATTEMPTS} times"):
        await storage._pool.transaction(always)
