"""The bots under load, as subprocesses: guildbot (``python -m bot run``, configured only
through GUILDBOT_* variables, like operators run it, on SQLite or PostgreSQL) and the bare
discord.py floor (tests/bench/bare_bot.py). All report when READY; the benchmark samples their
RSS and CPU."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path

import aiohttp
import psutil

REPO = Path(__file__).resolve().parents[2]
BARE_BOT = REPO / "tests" / "bench" / "bare_bot.py"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def guildbot_intents() -> int:
    """The intents guildbot identifies with; the bare bot is given the same value."""
    from bot.app import intents

    return intents().value


class BotUnderTest:
    label = "bot"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.out_path = workdir / "stdout.log"
        self.proc: asyncio.subprocess.Process | None = None
        self.ps: psutil.Process | None = None
        self.spawned_at = 0.0
        self.ready_seconds: float | None = None
        self.rss_samples: list[tuple[float, int]] = []
        self._sampler: asyncio.Task | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GUILDBOT_")}
        env.pop("NOTIFY_SOCKET", None)
        env["PYTHONPATH"] = str(REPO)
        return env

    def _open_output(self) -> None:
        self._out = open(self.out_path, "wb")  # noqa: SIM115 - closed in stop()

    async def start(self) -> None:
        self._open_output()
        self.spawned_at = time.perf_counter()
        self.proc = await asyncio.create_subprocess_exec(
            *self.command(), env=self.environment(), cwd=self.workdir,
            stdout=self._out, stderr=asyncio.subprocess.STDOUT)
        self.ps = psutil.Process(self.proc.pid)

    async def _ready_seen(self) -> bool:
        raise NotImplementedError

    async def wait_ready(self, timeout: float = 120.0) -> float:  # noqa: ASYNC109
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.proc is not None and self.proc.returncode is not None:
                raise RuntimeError(f"{self.label} exited with {self.proc.returncode}:\n"
                                   f"{self.tail()}")
            if await self._ready_seen():
                self.ready_seconds = round(time.perf_counter() - self.spawned_at, 3)
                return self.ready_seconds
            await asyncio.sleep(0.02)
        raise RuntimeError(f"{self.label} not ready after {timeout} s:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        text = self.out_path.read_text(errors="replace") if self.out_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    # -- measurements ---------------------------------------------------------------------
    def rss_mb(self) -> float:
        assert self.ps is not None
        return round(self.ps.memory_info().rss / 2**20, 1)

    def cpu_seconds(self) -> float:
        assert self.ps is not None
        times = self.ps.cpu_times()
        return times.user + times.system

    def start_sampling(self, interval: float = 0.25) -> None:
        async def sample() -> None:
            while True:
                try:
                    self.rss_samples.append((time.perf_counter(), self.ps.memory_info().rss))
                except psutil.Error:
                    return
                await asyncio.sleep(interval)
        self._sampler = asyncio.create_task(sample())

    def max_rss_mb(self, since: float, until: float | None = None) -> float | None:
        until = until if until is not None else float("inf")
        values = [rss for t, rss in self.rss_samples if since <= t <= until]
        return round(max(values) / 2**20, 1) if values else None

    async def stop(self, timeout: float = 30.0) -> int | None:  # noqa: ASYNC109
        if self._sampler is not None:
            self._sampler.cancel()
        proc = self.proc
        if proc is None:
            return None
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), timeout)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        self._out.close()
        return proc.returncode


class GuildBotProcess(BotUnderTest):
    label = "guildbot"

    def __init__(self, workdir: Path, fake, database: Path | str,
                 password_file: Path | None = None, profile: Path | None = None,
                 source: Path | None = None, **settings: str) -> None:
        super().__init__(workdir)
        self.fake = fake
        self.profile = profile
        self.source = source
        self.database = database  # a SQLite file, or a postgresql:// URL without a password
        self.password_file = password_file
        self.log_path = workdir / "bot.log"
        self.token_file = workdir / "token"
        self.token_file.write_text(fake.token)
        self.token_file.chmod(0o600)
        self.health_port = free_port()
        self.settings = settings
        self._log_offset = 0

    def command(self) -> list[str]:
        if self.profile is not None:  # cProfile writes the file when the bot exits on SIGTERM
            return [sys.executable, "-m", "cProfile", "-o", str(self.profile), "-m", "bot", "run"]
        return [sys.executable, "-m", "bot", "run"]

    def environment(self) -> dict[str, str]:
        env = super().environment()
        if self.source is not None:  # another checkout of the bot, to compare two versions
            env["PYTHONPATH"] = str(self.source)
        env.update(
            GUILDBOT_TOKEN_FILE=str(self.token_file),
            GUILDBOT_API_BASE=self.fake.api_base,
            GUILDBOT_GATEWAY_URL=self.fake.gateway_url,
            GUILDBOT_DATABASE=str(self.database),
            GUILDBOT_STATE_DIR=str(self.workdir),
            GUILDBOT_BACKUP_DIR=str(self.workdir / "backups"),
            GUILDBOT_HEALTH_PORT=str(self.health_port),
            GUILDBOT_LOG_FILE=str(self.log_path),
            GUILDBOT_LOG_FORMAT="json",
            # The first start on a fresh database syncs the tree: the fake learns the commands
            # and their option types, as Discord would after a deploy.
            GUILDBOT_SYNC_COMMANDS="true",
            # The load replays members faster than people act: measure the commands themselves,
            # not cooldown answers (a version without cooldowns ignores the setting).
            GUILDBOT_COOLDOWNS="off",
        )
        if self.password_file is not None:  # PostgreSQL: the password as operators give it
            env["GUILDBOT_DATABASE_PASSWORD_FILE"] = str(self.password_file)
        env.update({f"GUILDBOT_{k.upper()}": v for k, v in self.settings.items()})
        return env

    async def _ready_seen(self) -> bool:
        return self._ready_in_log()

    async def readyz(self) -> bool:
        """Whether the process's /readyz says ready (every shard of it READY), as operators and
        the fleet's ``health --all`` ask it."""
        url = f"http://127.0.0.1:{self.health_port}/readyz"
        try:
            async with aiohttp.ClientSession() as session, session.get(
                    url, timeout=aiohttp.ClientTimeout(total=2)) as response:
                return response.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    def _ready_in_log(self) -> bool:
        if not self.log_path.exists():
            return False
        with open(self.log_path, "rb") as fh:
            fh.seek(self._log_offset)
            chunk = fh.read()
        # Only whole lines; a partial last line is read again next time.
        cut = chunk.rfind(b"\n") + 1
        self._log_offset += cut
        for line in chunk[:cut].splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("logger") == "guildbot" and str(record.get("msg", "")).startswith(
                    "ready:"):
                return True
        return False

    def log_warnings(self) -> list[str]:
        """WARNING and worse lines of the bot's log (errors, "Can't keep up", ...)."""
        if not self.log_path.exists():
            return []
        found = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("level") in ("WARNING", "ERROR", "CRITICAL"):
                found.append(f"{record.get('level')} {record.get('logger')}: "
                             f"{str(record.get('msg'))[:200]}")
        return found


class BareBotProcess(BotUnderTest):
    label = "bare discord.py"

    def __init__(self, workdir: Path, fake, intents: int, gc_freeze: bool = False) -> None:
        super().__init__(workdir)
        self.fake = fake
        self.intents = intents
        self.gc_freeze = gc_freeze
        self.token_file = workdir / "token"
        self.token_file.write_text(fake.token)
        self.token_file.chmod(0o600)

    def command(self) -> list[str]:
        cmd = [sys.executable, str(BARE_BOT), "--api-base", self.fake.api_base,
               "--gateway-url", self.fake.gateway_url, "--token-file", str(self.token_file),
               "--sync", "--intents", str(self.intents)]
        if self.gc_freeze:
            cmd.append("--gc-freeze")
        return cmd

    async def _ready_seen(self) -> bool:
        text = self.out_path.read_text(errors="replace") if self.out_path.exists() else ""
        return '"event": "ready"' in text

    def log_warnings(self) -> list[str]:
        text = self.out_path.read_text(errors="replace") if self.out_path.exists() else ""
        return [line[:200] for line in text.splitlines()
                if " WARNING " in line or " ERROR " in line or "Traceback" in line]

    def gc_pauses(self) -> dict | None:
        """The bare bot's garbage collections after READY (its last stdout line), once stopped."""
        text = self.out_path.read_text(errors="replace") if self.out_path.exists() else ""
        for line in reversed(text.splitlines()):
            if line.startswith('{"event": "gc"'):
                return json.loads(line)
        return None


class Fleet(BotUnderTest):
    """Several guildbot processes run as one bot (the cluster step: each its own shards of one
    shard count, on one PostgreSQL database), measured as one: started together, ready when
    every process's /readyz is, CPU and RSS summed (and each process's RSS kept apart)."""

    label = "guildbot fleet"

    def __init__(self, workdir: Path, processes: list[GuildBotProcess]) -> None:
        super().__init__(workdir)
        self.processes = processes
        ports = ",".join(str(p.health_port) for p in processes)
        for process in processes:  # as the Ansible role sets it: health --all sees them all
            process.settings["fleet_health_ports"] = ports
        self.process_ready_seconds: list[float | None] = [None] * len(processes)
        self.started_monotonic = 0.0  # the fake's clock (its IDENTIFY log) at the start

    async def start(self) -> None:
        self.spawned_at = time.perf_counter()
        self.started_monotonic = time.monotonic()
        for process in self.processes:
            await process.start()

    async def _ready_seen(self) -> bool:
        for i, process in enumerate(self.processes):
            if process.proc is not None and process.proc.returncode is not None:
                raise RuntimeError(f"{process.workdir.name} exited with "
                                   f"{process.proc.returncode}:\n{process.tail()}")
            if self.process_ready_seconds[i] is None and await process.readyz():
                self.process_ready_seconds[i] = round(time.perf_counter() - self.spawned_at, 3)
        return None not in self.process_ready_seconds

    def tail(self, lines: int = 30) -> str:
        return "\n".join(f"{p.workdir.name}:\n{p.tail(lines)}" for p in self.processes)

    def process_rss_mb(self) -> list[float]:
        return [p.rss_mb() for p in self.processes]

    def rss_mb(self) -> float:
        return round(sum(self.process_rss_mb()), 1)

    def cpu_seconds(self) -> float:
        return sum(p.cpu_seconds() for p in self.processes)

    def start_sampling(self, interval: float = 0.25) -> None:
        for process in self.processes:
            process.start_sampling(interval)

    async def stop(self, timeout: float = 30.0) -> int | None:  # noqa: ASYNC109
        """Stop every process; the first non-zero exit code, else 0."""
        codes = await asyncio.gather(*(p.stop(timeout) for p in self.processes))
        return next((c for c in codes if c), codes[0] if codes else None)

    def log_warnings(self) -> list[str]:
        return [f"{p.workdir.name}: {line}" for p in self.processes for line in p.log_warnings()]
