"""``Storage.size``: each backend measures its own database (monitoring's size metric)."""

from __future__ import annotations

import os


async def test_size_is_the_backends_own_figure(backend, database, storage):
    """SQLite: the file and its WAL; PostgreSQL: ``pg_database_size()`` of the bot's database
    (no WAL figure: the server's log is not the database's)."""
    await storage.set_meta("size-probe", "x" * 1000)
    size = await storage.size()
    if backend.name == "sqlite":
        assert size.database == os.path.getsize(database) > 0  # noqa: ASYNC240
        assert size.wal == os.path.getsize(database + "-wal") > 0  # noqa: ASYNC240
    else:
        name = database.rsplit("/", 1)[1]
        measured = int(backend.server.psql(f"SELECT pg_database_size('{name}')"))
        assert size.database == measured > 0
        assert size.wal is None
