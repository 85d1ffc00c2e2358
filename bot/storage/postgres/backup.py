"""PostgreSQL backups, verification, restore and the restore drill (the CLI's verbs).

A backup is ``pg_dump`` in its custom format (``-Fc``: compressed, restorable table by table),
run as a separate process so the bot's connections never wait on it. It dumps the snapshot of a
``REPEATABLE READ`` transaction that also counted every data table (``pg_export_snapshot()`` and
``pg_dump --snapshot``), so the counts are exactly the dump's even under concurrent writes. The
dump is written to a partial file, restored with ``pg_restore`` into a scratch database whose
counts must equal the source's, and only then renamed into place (``bot.storage.backups``: the
same kinds, names, tiers and retention as SQLite's, files ``guildbot-<UTC time>.pgdump``).

The scratch database is created and dropped by the bot's role, which therefore needs CREATEDB.
The password reaches ``pg_dump``/``pg_restore`` only through a 0600 PGPASSFILE in a private
temporary directory (never argv, never PGPASSWORD); their other PG* variables are cleared.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import tempfile
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from bot.storage import backups
from bot.storage.backups import BackupError, BackupResult, Verification
from bot.storage.postgres import schema
from bot.storage.postgres.database import connect

SUFFIX = ".pgdump"
SCRATCH_PREFIX = "guildbot_scratch_"


@dataclass(frozen=True)
class Server:
    """Where the database is: a URL without a password, and the password (None: none sent)."""

    url: str
    password: str | None

    def database(self, name: str) -> Server:
        """The same server and role, another database."""
        parts = urllib.parse.urlsplit(self.url)
        return Server(urllib.parse.urlunsplit(parts._replace(path="/" + name)), self.password)

    @property
    def name(self) -> str:
        return urllib.parse.urlsplit(self.url).path.lstrip("/")


# -- the client tools -------------------------------------------------------------------------
def _pgpass_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace(":", "\\:")


@contextlib.contextmanager
def client_env(password: str | None) -> Iterator[dict[str, str]]:
    """The environment of pg_dump/pg_restore: no PG* variable of ours, and the password in a
    0600 PGPASSFILE inside a private (0700) temporary directory, removed afterwards."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    with tempfile.TemporaryDirectory(prefix="guildbot-pgpass-") as private:
        if password is not None:
            path = Path(private) / "pgpass"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(f"*:*:*:*:{_pgpass_escape(password)}\n")
            env["PGPASSFILE"] = str(path)
        yield env


async def _run(server: Server, tool: str, *args: str) -> None:
    """Run a PostgreSQL client tool against ``server``; BackupError with its message if it
    fails (killed if the caller gives up on it)."""
    program = shutil.which(tool)
    if program is None:
        raise BackupError(f"{tool} is not installed (Debian: apt install postgresql-client)")
    with client_env(server.password) as env:
        process = await asyncio.create_subprocess_exec(
            program, "--no-password", *args, f"--dbname={server.url}", env=env,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, cwd="/")
        try:
            _, stderr = await process.communicate()
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            raise
    if process.returncode != 0:
        message = stderr.decode("utf-8", "replace").strip().splitlines()
        raise BackupError(f"{tool} failed (exit {process.returncode}): "
                          f"{' / '.join(message[-3:]) or 'no message'}")


# -- counting ---------------------------------------------------------------------------------
async def _state(conn: asyncpg.Connection) -> tuple[int, dict[str, int]]:
    """The schema version and the rows of every data table ({} without a schema)."""
    version = await schema.current_version(conn)
    return version, (await schema.table_counts(conn) if version else {})


async def live(server: Server) -> Verification:
    """The live database: it answers, its schema version and its rows per table."""
    conn = await connect(server.url, server.password)
    try:
        version, rows = await _state(conn)
    finally:
        await conn.close()
    return Verification(server.url, "ok", version, rows)


@contextlib.asynccontextmanager
async def scratch_database(server: Server) -> AsyncIterator[Server]:
    """A new empty database beside ``server``'s, dropped afterwards (needs CREATEDB)."""
    name = SCRATCH_PREFIX + secrets.token_hex(6)
    conn = await connect(server.url, server.password)
    try:
        try:
            await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        except asyncpg.InsufficientPrivilegeError:
            raise BackupError("verifying a backup restores it into a scratch database, and the "
                              "bot's role may not create one: ALTER ROLE <role> CREATEDB "
                              "(docs/runbook.md, PostgreSQL)") from None
        try:
            yield server.database(name)
        finally:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def _verify_dump(server: Server, dump: Path) -> Verification:
    async with scratch_database(server) as scratch:
        try:
            await _run(scratch, "pg_restore", "--no-owner", "--no-privileges",
                       "--exit-on-error", str(dump))
        except BackupError as exc:
            return Verification(str(dump), f"unrestorable: {exc}", -1, {})
        result = await live(scratch)
    return Verification(str(dump), "ok", result.schema_version, result.rows)


def verify(server: Server, dump: Path | None = None) -> Verification:
    """The live database (None), or a backup restored into a scratch database and counted."""
    if dump is None:
        return asyncio.run(live(server))
    if not dump.exists():
        raise BackupError(f"{dump} does not exist")
    return asyncio.run(_verify_dump(server, dump))


# -- the verbs --------------------------------------------------------------------------------
def create_backup(server: Server, backup_dir: Path, *, kind: str = "on-demand",
                  now: float | None = None, timeout: float | None = None,
                  push: Callable[[Path, Path], None] | None = None) -> BackupResult:
    """Take a verified backup of ``kind`` and apply that kind's retention; then
    ``push(verified, published)`` (the published ``.pgdump`` both times), under the lock."""
    started = time.monotonic()
    now = time.time() if now is None else now
    tiers = backups.tiers_for(kind)
    backup_dir.mkdir(parents=True, exist_ok=True)
    with backups.exclusive_lock(backup_dir / backups.LOCK_FILE, "another backup"):
        name = backups.backup_name(now, SUFFIX)
        partial = backups.partial_path(backup_dir, kind, name)
        try:
            rows = asyncio.run(asyncio.wait_for(_dump_verified(server, partial), timeout))
            first = backups.publish(partial, backup_dir, kind, name)
        except TimeoutError:
            raise BackupError(f"timed out after {timeout:g} s") from None
        finally:
            partial.unlink(missing_ok=True)
        pruned = backups.prune(backup_dir, kind, suffix=SUFFIX)
        seconds = round(time.monotonic() - started, 3)  # the local backup's time, without the push
        if push is not None:
            push(first, first)
    return BackupResult(str(first), kind, tiers, first.stat().st_size, seconds, rows,
                        [str(p) for p in pruned])


async def _dump_verified(server: Server, partial: Path) -> dict[str, int]:
    """pg_dump of one snapshot into ``partial``, whose restored counts equal the snapshot's."""
    conn = await connect(server.url, server.password)
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
            version, rows = await _state(conn)
            await _run(server, "pg_dump", "--format=custom", f"--snapshot={snapshot}",
                       f"--file={partial}")
    finally:
        await conn.close()
    check = await _verify_dump(server, partial)
    if not check.ok:
        raise BackupError(f"the backup failed its verification: {check.integrity}")
    if (check.schema_version, check.rows) != (version, rows):
        raise BackupError(f"the backup's restored rows {check.rows} (schema "
                          f"{check.schema_version}) differ from the database's {rows} "
                          f"(schema {version}) at the dump's snapshot")
    return rows


async def _other_sessions(server: Server) -> list[str]:
    """The other sessions of the bot's role on the database (application names)."""
    conn = await connect(server.url, server.password)
    try:
        rows = await conn.fetch(
            "SELECT coalesce(nullif(application_name, ''), 'unnamed') FROM pg_stat_activity "
            "WHERE datname = current_database() AND usename = current_user "
            "AND pid <> pg_backend_pid() ORDER BY 1")
    finally:
        await conn.close()
    return [row[0] for row in rows]


def restore(server: Server, dump: Path, backup_dir: Path, *, now: float | None = None) -> dict:
    """Replace the database's contents with a verified backup, after a ``pre-restore`` backup
    of what is there; refused while other sessions of the bot's role are connected. pg_restore
    runs in one transaction (``--single-transaction --clean``): it applies whole or not at all.
    """
    check = verify(server, dump)
    if not check.ok:
        raise BackupError(f"refusing to restore {dump}: {check.integrity}")
    if check.schema_version > schema.LATEST_VERSION:
        raise BackupError(f"{dump} has schema version {check.schema_version}, newer than this "
                          f"release ({schema.LATEST_VERSION}); deploy a matching release first")
    sessions = asyncio.run(_other_sessions(server))
    if sessions:
        raise BackupError(f"{len(sessions)} other session(s) of the bot's role are connected "
                          f"to {server.url} ({', '.join(sorted(set(sessions)))}): stop the bot "
                          "on every host first, e.g. systemctl stop guildbot")
    before = verify(server)
    safety = None
    if before.schema_version > 0:
        safety = create_backup(server, backup_dir, kind="pre-restore", now=now).path
    asyncio.run(_run(server, "pg_restore", "--clean", "--if-exists", "--single-transaction",
                     "--no-owner", "--no-privileges", "--exit-on-error", str(dump)))
    after = verify(server)
    kept = f"; the previous database is in {safety}" if safety else ""
    if after.rows != check.rows:
        raise BackupError(f"the restored database has rows {after.rows}, the backup "
                          f"{check.rows}{kept}")
    return {"restored": str(dump), "previous_rows": before.rows, "safety_backup": safety,
            "rows": after.rows, "schema_version": after.schema_version}


def drill(server: Server, backup_dir: Path, dump: Path | None = None) -> dict:
    """Restore the newest (or the given) backup into a scratch database, verify, drop it."""
    dump = dump or backups.newest(backup_dir, SUFFIX)
    result = verify(server, dump)
    if not result.ok:
        raise BackupError(f"restore drill failed for {dump}: {result.integrity}")
    if result.schema_version < 1 or "members" not in result.rows:
        raise BackupError(f"restore drill failed for {dump}: not a guildbot database")
    return {"backup": str(dump), "path": str(dump), "integrity": result.integrity,
            "schema_version": result.schema_version, "rows": result.rows}
