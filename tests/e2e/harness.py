"""Run the real bot process (``python -m bot run``) against the fake Discord."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
import os
import re
import signal
import socket
import sqlite3
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any, Protocol

import asyncpg

from tests.fake_discord import FakeDiscord
from tests.fixtures.big_guild import seed_guild, seed_guild_postgres
from tests.pgserver import BOT_PASSWORD, PostgresServer

REPO = Path(__file__).resolve().parents[2]
TOKEN = "fake-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class BotDatabase(Protocol):
    """The bot's database as a test configures, reads and seeds it, whatever the backend."""

    def settings(self) -> dict[str, str]: ...
    async def rows(self, sql: str, *args: Any) -> list[tuple]: ...
    async def seed_guild(self, guild: int, members: int) -> None: ...


class SqliteDatabase:
    def __init__(self, path: Path) -> None:
        self.path = path

    def settings(self) -> dict[str, str]:
        return {"database": str(self.path)}

    async def rows(self, sql: str, *args: Any) -> list[tuple]:
        """``sql`` with ``?`` placeholders, beside the running bot (WAL); committed, like
        PostgreSQL's statements."""
        def query() -> list[tuple]:
            with closing(sqlite3.connect(self.path, timeout=30)) as db, db:
                return db.execute(sql, args).fetchall()
        return await asyncio.to_thread(query)

    async def seed_guild(self, guild: int, members: int) -> None:
        await asyncio.to_thread(seed_guild, self.path, guild, members)


class PostgresDatabase:
    """A database on the session's server; the bot reaches it as its role, the password in a
    0600 file (GUILDBOT_DATABASE_PASSWORD_FILE), as an operator configures it."""

    def __init__(self, server: PostgresServer, name: str, workdir: Path) -> None:
        self.server = server
        self.name = name
        self.password_file = server.password_file(workdir)

    def settings(self) -> dict[str, str]:
        return {"database": self.server.url(self.name),
                "database_password_file": str(self.password_file)}

    async def rows(self, sql: str, *args: Any) -> list[tuple]:
        """The same SQL as SQLite's (``?`` placeholders become ``$n``)."""
        numbers = itertools.count(1)
        sql = re.sub(r"\?", lambda _: f"${next(numbers)}", sql)
        conn = await asyncpg.connect(self.server.url(self.name), password=BOT_PASSWORD)
        try:
            return [tuple(row) for row in await conn.fetch(sql, *args)]
        finally:
            await conn.close()

    async def seed_guild(self, guild: int, members: int) -> None:
        conn = await asyncpg.connect(self.server.url(self.name), password=BOT_PASSWORD)
        try:
            await seed_guild_postgres(conn, guild, members)
        finally:
            await conn.close()


class BotProcess:
    """The bot as operators run it: a subprocess configured only through its environment."""

    def __init__(self, workdir: Path, fake: FakeDiscord, db: BotDatabase | None = None,
                 **settings: str) -> None:
        self.workdir = workdir
        self.db = db if db is not None else SqliteDatabase(workdir / "guildbot.db")
        self.log_path = workdir / "bot.log"
        self.health_port = free_port()
        token_file = workdir / "token"
        token_file.write_text(fake.token)
        token_file.chmod(0o600)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("GUILDBOT_")}
        self.env.pop("NOTIFY_SOCKET", None)
        self.env.update(
            PYTHONPATH=str(REPO),
            GUILDBOT_TOKEN_FILE=str(token_file),
            GUILDBOT_API_BASE=fake.api_base,
            GUILDBOT_GATEWAY_URL=fake.gateway_url,
            GUILDBOT_STATE_DIR=str(workdir),
            GUILDBOT_BACKUP_DIR=str(workdir / "backups"),
            GUILDBOT_HEALTH_PORT=str(self.health_port),
            GUILDBOT_LOG_FILE=str(self.log_path),
            GUILDBOT_LOG_FORMAT="json",
            # The suites repeat commands faster than members do; test_cooldowns.py turns them on.
            GUILDBOT_COOLDOWNS="off",
        )
        settings = {**self.db.settings(), **settings}
        self.env.update({f"GUILDBOT_{k.upper()}": v for k, v in settings.items()})
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> BotProcess:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", env=self.env, cwd=self.workdir,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        return self

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.health_port}{path}"

    async def get(self, path: str) -> tuple[int, dict | str]:
        def fetch() -> tuple[int, dict | str]:
            try:
                with urllib.request.urlopen(self.url(path), timeout=5) as response:
                    body, status = response.read().decode(), response.status
            except urllib.error.HTTPError as exc:
                body, status = exc.read().decode(), exc.code
            try:
                return status, json.loads(body)
            except ValueError:
                return status, body
        return await asyncio.to_thread(fetch)

    async def wait_ready(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        async def ready() -> bool:
            if self.proc is not None and self.proc.returncode is not None:  # fails at once
                raise RuntimeError(f"the bot exited with {self.proc.returncode}:\n"
                                   f"{await self.output()}")
            return (await self.get("/readyz"))[0] == 200
        try:
            await eventually(ready, "the bot ready (/readyz 200)", timeout)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.log_tail()}") from None

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return "(no log file)"
        return "\n".join(self.log_path.read_text().splitlines()[-lines:])

    def log_records(self) -> list[dict]:
        return [json.loads(line) for line in self.log_path.read_text().splitlines()
                if line.startswith("{")]

    async def output(self) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        return (await self.proc.stdout.read()).decode(errors="replace")

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:  # noqa: ASYNC109
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        try:
            return await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            raise AssertionError(f"the bot ignored signal {sig} for {timeout} s") from None


async def answer(fake: FakeDiscord, guild, member, command: str, options: dict | None = None,
                 timeout: float = 10.0):  # noqa: ASYNC109
    """Invoke a command as ``member`` and return the bot's final reply."""
    inter = await fake.invoke(guild, member, command, options or {})
    return await inter.wait_final(timeout=timeout)


async def eventually(check: Callable[[], Any], what: str, limit: float = 10.0) -> Any:
    """The one bounded poll of the e2e tests: call ``check`` (a function or a coroutine
    function) every 0.1 s until it returns something true, and return that. An AssertionError
    or OSError it raises means "not yet" (an assert-style check, a server not listening yet);
    any other exception fails at once. At ``limit`` seconds: AssertionError naming ``what`` and
    the last value or exception. The limit only keeps a broken test from hanging the suite;
    nothing asserts timing with it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while True:
        try:
            last = check()
            if inspect.isawaitable(last):
                last = await last
        except (AssertionError, OSError) as exc:
            last = exc
        else:
            if last:
                return last
        if loop.time() > deadline:
            raise AssertionError(f"{what}: not within {limit} s (last: {last!r})") from (
                last if isinstance(last, BaseException) else None)
        await asyncio.sleep(0.1)


async def counted(bot: BotProcess, commands: int, limit: float = 5.0) -> None:  # noqa: ASYNC109
    """Wait until ``bot`` has counted ``commands`` commands in all (its /slo). A command is
    counted just after its reply is sent (the latency it records includes the reply), so the
    count may trail an answer a test has already seen by a moment."""
    async def enough() -> bool:
        got = (await bot.get("/slo"))[1]["commands"]
        assert got >= commands, f"{got} counted"
        return True
    await eventually(enough, f"{commands} commands counted", limit)


def metric(metrics: str, name: str, **labels: str) -> float:
    """The sample of ``name`` with exactly these ``labels`` in a /metrics page, 0 when absent
    (a counter no event has touched yet)."""
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in metrics.splitlines():
        if line.startswith(name + ("{" + want + "}" if want else " ")):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def text(reply) -> str:
    """Everything a user sees in a reply: content plus embed titles, fields and footers."""
    parts = [reply.content or ""]
    for embed in reply.embeds:
        parts += [embed.get("title", ""), embed.get("description", "")]
        parts += [f"{f['name']}: {f['value']}" for f in embed.get("fields", [])]
        parts.append(embed.get("footer", {}).get("text", ""))
    return "\n".join(p for p in parts if p)
