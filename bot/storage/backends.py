"""The one place that chooses the storage backend from the settings.

``GUILDBOT_DATABASE`` is a SQLite path (the default) or a ``postgresql://`` URL
(``Settings.backend``). Every CLI verb opens its storage with :func:`open_storage` and brings the
schema up to date with :func:`ensure_schema`; the operations (backup, restore, verify, drill) go
through the functions below. Cogs and services see only ``bot.storage.base.Storage``: nothing
else in the bot names a backend.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from bot.config import ConfigError, Settings
from bot.storage.backups import BackupResult
from bot.storage.base import Storage, StorageUnavailable

log = logging.getLogger("guildbot.storage")
T = TypeVar("T")


class DatabaseUnreachable(Exception):
    """The database server did not answer for the whole retry window (the CLI exits 75)."""


def _password(settings: Settings) -> str | None:
    return settings.database_password.reveal() if settings.database_password else None


async def open_storage(settings: Settings, connections: int | None = None) -> Storage:
    """The configured backend's storage: the SQLite file with ``connections`` readers (default
    ``GUILDBOT_DB_READERS``) or a PostgreSQL pool of ``connections`` (default
    ``GUILDBOT_DB_POOL_SIZE``)."""
    if settings.backend == "postgres":
        from bot.storage.postgres import PostgresStorage

        assert settings.database_url is not None
        return await PostgresStorage.open(settings.database_url, _password(settings),
                                          connections or settings.db_pool_size)
    from bot.storage.sqlite import SQLiteStorage

    return await SQLiteStorage.open(settings.database, connections or settings.db_readers)


async def ensure_schema(settings: Settings, *, quiet: bool = False,
                        migrate: bool = True) -> dict:
    """Bring the schema up to date, taking a verified ``pre-migrate`` backup first when the
    database has data (either backend); the result names the versions, what was applied and the
    backup.

    migrate=False (``run``): only a new database gets its schema; one with data behind this
    release is refused (SchemaError, exit 78). Its pre-migrate backup needs the backup directory,
    which the hardened unit cannot write, and migrating is the deploy's step (``migrate``), not
    the service's.
    """
    if settings.backend == "postgres":
        result = await _ensure_postgres(settings, migrate)
    else:
        result = await _ensure_sqlite(settings, migrate)
    if result["applied"] and not quiet:
        log.info("migrated %s from version %s to %s", settings.database_name,
                 result["from_version"], result["to_version"])
    return result


async def _ensure_sqlite(settings: Settings, migrate: bool) -> dict:
    from bot.storage.sqlite import schema

    existed = settings.database.exists() and settings.database.stat().st_size > 0
    settings.database.parent.mkdir(parents=True, exist_ok=True)
    conn = schema.connect(settings.database)
    try:
        before = schema.current_version(conn)
        if before > 0 and not migrate:
            schema.require_current(conn, settings.database)
        safety = None
        if schema.pending(conn) and existed and before > 0:
            safety = backup(settings, kind="pre-migrate").path
        applied = schema.apply_pending(conn)
        after = schema.current_version(conn)
    finally:
        conn.close()
    return {"from_version": before, "to_version": after,
            "applied": [f"{m.version:04d}_{m.name}" for m in applied], "backup": safety}


async def _ensure_postgres(settings: Settings, migrate: bool) -> dict:
    from bot.storage.postgres import schema
    from bot.storage.postgres.database import connect

    assert settings.database_url is not None
    conn = await connect(settings.database_url, _password(settings))
    try:
        before = await schema.current_version(conn)
        if before > 0 and not migrate:
            await schema.require_current(conn)
        safety = None
        if await schema.pending(conn) and before > 0:
            safety = (await asyncio.to_thread(backup, settings, kind="pre-migrate")).path
        applied = await schema.apply_pending(conn)
        after = await schema.current_version(conn)
    finally:
        await conn.close()
    return {"from_version": before, "to_version": after,
            "applied": [f"{m.version:04d}_{m.name}" for m in applied], "backup": safety}


# -- starting against a server that may not be up yet ---------------------------------------------
def _refused_configuration(settings: Settings, exc: BaseException) -> ConfigError | None:
    """The ConfigError for a connection failure that waiting cannot fix (a wrong password, an
    unknown role or database), or None for one that it may (server down, starting, full)."""
    import asyncpg

    for cause in _causes(exc):
        if isinstance(cause, asyncpg.InvalidPasswordError):
            return ConfigError("GUILDBOT_DATABASE_PASSWORD_FILE",
                               f"PostgreSQL at {settings.database_name} refused the password",
                               "put the role's password in $CREDENTIALS_DIRECTORY/"
                               "database_password or the file named by "
                               "GUILDBOT_DATABASE_PASSWORD_FILE")
        if isinstance(cause, (asyncpg.InvalidAuthorizationSpecificationError,
                              asyncpg.InvalidCatalogNameError)):
            return ConfigError("GUILDBOT_DATABASE",
                               f"PostgreSQL at {settings.database_name} refused the connection "
                               f"({type(cause).__name__}: {cause})",
                               "check the role and database names in the URL and pg_hba.conf")
    return None


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _transient(exc: BaseException) -> bool:
    import asyncpg

    return isinstance(exc, (OSError, StorageUnavailable,  # OSError: refused, timeouts
                            asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError,
                            asyncpg.ConnectionDoesNotExistError))


async def with_retry(settings: Settings, attempt: Callable[[], Awaitable[T]], *, window: float,
                     on_wait: Callable[[float, BaseException], None] | None = None,
                     clock: Callable[[], float] = time.monotonic,
                     sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> T:
    """Run ``attempt`` until it succeeds; while PostgreSQL cannot be reached, retry with
    back-off (1, 2, 4 ... 10 s) for ``window`` seconds, then raise DatabaseUnreachable with one
    line naming the server, why and the fix. A refused password, role or database raises
    ConfigError at once; SQLite is tried once (waiting does not bring a file back)."""
    deadline = clock() + window
    delay = 1.0
    while True:
        try:
            return await attempt()
        except Exception as exc:
            if settings.backend != "postgres":
                raise
            config = _refused_configuration(settings, exc)
            if config is not None:
                raise config from None
            if not _transient(exc):
                raise
            left = deadline - clock()
            if left <= 0:
                raise DatabaseUnreachable(
                    f"database unreachable: PostgreSQL at {settings.database_name} did not "
                    f"answer for {window:g} s ({type(exc).__name__}: {exc}); start it or fix "
                    "GUILDBOT_DATABASE (the service restarts after RestartSec and waits "
                    "longer each time)") from None
            if on_wait is not None:
                on_wait(left, exc)
            await sleep(min(delay, left))
            delay = min(delay * 2, 10.0)


# -- operations ---------------------------------------------------------------------------------
def _server(settings: Settings):  # -> bot.storage.postgres.backup.Server
    from bot.storage.postgres.backup import Server

    assert settings.database_url is not None
    return Server(settings.database_url, _password(settings))


def backup(settings: Settings, *, kind: str = "on-demand", timeout: float | None = None,
           push: Callable[[Path, Path], None] | None = None) -> BackupResult:
    """A verified backup of ``kind`` with that kind's retention (bot.storage.backups); then
    ``push(verified file, published backup)`` for the off-host copy (bot.storage.offsite)."""
    if settings.backend == "postgres":
        from bot.storage.postgres import backup as pg_backup

        return pg_backup.create_backup(_server(settings), settings.backup_dir, kind=kind,
                                       timeout=timeout, push=push)
    from bot.storage.sqlite import backup as sqlite_backup

    return sqlite_backup.create_backup(settings.database, settings.backup_dir, kind=kind,
                                       timeout=timeout, push=push)


def restore(settings: Settings, path: Path) -> dict:
    """Replace the database with a verified backup; what was there is kept (see the backend)."""
    if settings.backend == "postgres":
        from bot.storage.postgres import backup as pg_backup

        return pg_backup.restore(_server(settings), path, settings.backup_dir)
    from bot.storage.sqlite import backup as sqlite_backup

    return sqlite_backup.restore(path, settings.database, settings.backup_dir)


def verify(settings: Settings, path: Path | None) -> dict:
    """Integrity, schema version and rows per table of the database or of a backup file; the
    result's ``ok`` says whether it passed."""
    if settings.backend == "postgres":
        from bot.storage.postgres import backup as pg_backup

        pg = pg_backup.verify(_server(settings), path)
        return {**pg.__dict__, "ok": pg.ok}
    from bot.storage.sqlite import backup as sqlite_backup

    result = sqlite_backup.verify(path or settings.database)
    return {**result.__dict__, "ok": result.ok}


def drill(settings: Settings, path: Path | None) -> dict:
    """Restore the newest (or the given) backup somewhere scratch, verify it, remove it."""
    if settings.backend == "postgres":
        from bot.storage.postgres import backup as pg_backup

        return pg_backup.drill(_server(settings), settings.backup_dir, path)
    from bot.storage.sqlite import backup as sqlite_backup

    return sqlite_backup.drill(settings.backup_dir, path)
