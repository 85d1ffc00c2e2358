"""The storage suites run on both backends: the ``backend`` and ``storage`` fixtures are
parametrized over ``sqlite`` and ``postgres``.

PostgreSQL: one throwaway server per session (``postgres_server``) and one database migrated
once per session as a template (``pg_template``), both from tests/fixtures/pytest_plugin.py, and a
copy of it per test (``CREATE DATABASE ... TEMPLATE``, cheaper than migrating each time).
Storages connect as the bot's role, over TCP with its password, as in production.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.storage.postgres import PostgresStorage
from bot.storage.postgres.database import connect as pg_connect
from bot.storage.sqlite import SQLiteStorage
from tests.fixtures.pytest_plugin import make_database
from tests.pgserver import BOT_PASSWORD, PostgresServer

BACKENDS = ("sqlite", "postgres")
_NAMES = itertools.count(1)


@dataclass
class Backend:
    """Fresh, migrated databases of one backend, and storages opened on them."""

    name: str
    scratch: Path
    server: PostgresServer | None = None
    template: str | None = None

    def new_database(self) -> str:
        """A new migrated database: a SQLite path, or a PostgreSQL URL (no password)."""
        if self.server is None:
            return str(make_database(Path(self.scratch) / f"db{next(_NAMES)}.db"))
        return self.server.url(self.server.new_database(template=self.template))

    def empty_database(self) -> str:
        """A new database without the schema."""
        if self.server is None:
            return str(Path(self.scratch) / f"empty{next(_NAMES)}.db")
        return self.server.url(self.server.new_database())

    def drop_database(self, location: str) -> None:
        if self.server is None:
            for suffix in ("", "-wal", "-shm"):
                Path(location + suffix).unlink(missing_ok=True)
        else:
            self.server.drop_database(location.rsplit("/", 1)[1])

    async def open(self, location: str, **options: Any):
        """A storage on ``location``: each call is another process's worth of connections."""
        if self.server is None:
            return await SQLiteStorage.open(location, **options)
        return await PostgresStorage.open(location, BOT_PASSWORD, **options)

    async def connect(self, location: str):
        """A one-off connection (PostgreSQL) for the schema functions."""
        assert self.server is not None
        return await pg_connect(location, BOT_PASSWORD)

    @contextlib.asynccontextmanager
    async def fresh(self) -> AsyncIterator[Any]:
        """A storage on a new database, closed and dropped afterwards."""
        location = self.new_database()
        storage = await self.open(location)
        try:
            yield storage
        finally:
            await storage.close()
            self.drop_database(location)


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request, tmp_path_factory) -> Backend:
    """The backend under test (the PostgreSQL server starts only when one is asked for)."""
    scratch = tmp_path_factory.mktemp(f"storage-{request.param}")
    if request.param == "sqlite":
        return Backend("sqlite", scratch)
    return Backend("postgres", scratch, request.getfixturevalue("postgres_server"),
                   request.getfixturevalue("pg_template"))


@pytest.fixture
def database(backend: Backend) -> Iterator[str]:
    """A fresh migrated database of the backend under test, dropped afterwards."""
    location = backend.new_database()
    yield location
    backend.drop_database(location)


@pytest.fixture
async def storage(backend: Backend, database: str):
    store = await backend.open(database)
    yield store
    await store.close()
