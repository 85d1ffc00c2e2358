"""bot/storage/backends.py: the one place that picks SQLite or PostgreSQL from the settings, and
the start-up retry while PostgreSQL does not answer."""

from __future__ import annotations

import asyncpg
import pytest

from bot.config import ConfigError, Secret, Settings
from bot.storage import backends
from bot.storage.sqlite import SQLiteStorage, schema

PG_URL = "postgresql://guildbot@db.example:5432/guildbot"


def pg_settings(**changes) -> Settings:
    return Settings(database_url=PG_URL, database_password=Secret("s3cret-pw"), **changes)


async def test_a_path_opens_sqlite_with_its_readers(tmp_path):
    settings = Settings(database=tmp_path / "g.db", db_readers=3)
    result = await backends.ensure_schema(settings)
    assert (result["from_version"], result["to_version"]) == (0, schema.LATEST_VERSION)
    storage = await backends.open_storage(settings)
    try:
        assert isinstance(storage, SQLiteStorage)
        assert await storage.writable()
    finally:
        await storage.close()


async def test_a_url_opens_a_postgres_pool_sized_by_the_setting(monkeypatch):
    import bot.storage.postgres as postgres

    calls = []

    class FakePostgres:
        @classmethod
        async def open(cls, dsn, password, pool_size):
            calls.append((dsn, password, pool_size))
            return "pool"

    monkeypatch.setattr(postgres, "PostgresStorage", FakePostgres, raising=False)
    assert await backends.open_storage(pg_settings(db_pool_size=7)) == "pool"
    assert await backends.open_storage(pg_settings(db_pool_size=7), 1) == "pool"
    assert calls == [(PG_URL, "s3cret-pw", 7), (PG_URL, "s3cret-pw", 1)]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


async def test_unreachable_postgres_is_retried_with_back_off_then_given_up_in_one_line():
    clock = Clock()
    attempts = []

    async def attempt():
        attempts.append(clock.now)
        raise ConnectionRefusedError(111, "Connect call failed ('10.0.0.5', 5432)")

    with pytest.raises(backends.DatabaseUnreachable) as caught:
        await backends.with_retry(pg_settings(), attempt, window=60, clock=clock,
                                  sleep=clock.sleep)
    assert clock.sleeps[:5] == [1, 2, 4, 8, 10]
    assert sum(clock.sleeps) == 60
    message = str(caught.value)
    assert "\n" not in message
    assert PG_URL in message and "did not answer for 60 s" in message
    assert "ConnectionRefusedError" in message and "start it or fix GUILDBOT_DATABASE" in message
    assert "s3cret-pw" not in message


async def test_a_server_that_comes_back_inside_the_window_is_used():
    clock = Clock()
    answers = [OSError("down"), asyncpg.CannotConnectNowError("starting up"), "storage"]

    async def attempt():
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert await backends.with_retry(pg_settings(), attempt, window=60, clock=clock,
                                     sleep=clock.sleep) == "storage"
    assert clock.sleeps == [1, 2]


async def test_a_refused_password_is_a_configuration_error_at_once():
    clock = Clock()

    async def attempt():
        raise asyncpg.InvalidPasswordError('password authentication failed for user "guildbot"')

    with pytest.raises(ConfigError) as caught:
        await backends.with_retry(pg_settings(), attempt, window=60, clock=clock,
                                  sleep=clock.sleep)
    assert clock.sleeps == []
    assert str(caught.value).startswith("GUILDBOT_DATABASE_PASSWORD_FILE: PostgreSQL at "
                                        f"{PG_URL} refused the password")


async def test_sqlite_and_other_errors_are_not_retried(tmp_path):
    clock = Clock()

    async def attempt():
        raise OSError("disk I/O error")

    with pytest.raises(OSError):
        await backends.with_retry(Settings(database=tmp_path / "g.db"), attempt, window=60,
                                  clock=clock, sleep=clock.sleep)

    async def bug():
        raise KeyError("bug")

    with pytest.raises(KeyError):
        await backends.with_retry(pg_settings(), bug, window=60, clock=clock, sleep=clock.sleep)
    assert clock.sleeps == []
