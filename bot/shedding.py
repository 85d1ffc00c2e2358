"""Load shedding: under overload, answer "busy" for a fraction of what a real answer costs.

Past its saturation rate a bot falls behind: INTERACTION_CREATE events wait in the gateway
socket, every answer comes later, and once they are older than Discord's 3 s window users get
silence. Answering "busy" through discord.py costs about as much as a real answer (an Interaction
object, the command tree, the callback through aiohttp with a message parsed back), so a bot that
is too slow to answer cannot afford to refuse either.

:class:`LoadShedder` sits in front of discord.py's INTERACTION_CREATE parser. It reads how long
each slash command has waited (the interaction id carries its creation time) and, while commands
arrive more than ``max_wait`` seconds late, answers them with a prebuilt callback request and
nothing else: no Interaction object, no command tree, no response body. The backlog drains,
commands are served again, and every user gets an answer within the window. The wait is measured
against the lowest recent wait (the floor), so a host clock that is off by a constant never
sheds by itself. The command tree's in-flight limit uses the same cheap answer.

The requests go through :class:`BusyClient`: a few keep-alive HTTP/1.1 connections fed from one
queue. A request costs about a quarter of an aiohttp request (34 vs 130 microseconds of CPU,
measured on the benchmark machine), which is what lets a saturated bot shed faster than commands
arrive. It only needs a status line: anything it does not expect closes that connection, and a
failed busy answer is counted and logged, never retried.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import ssl
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

log = logging.getLogger("guildbot.shedding")

DISCORD_EPOCH_MS = 1_420_070_400_000
APPLICATION_COMMAND = 2
MAX_WAIT = 0.5          # seconds late (beyond the floor) from which commands are shed
FLOOR_RISE = 0.02       # the floor may rise this many seconds per second (clock drift)
CONNECTION_LIMIT = 32   # connections for busy answers, apart from discord.py's own
REQUEST_TIMEOUT = 10.0
MAX_HEADER_BYTES = 64 * 1024
FAILURE_LOG_INTERVAL = 60.0


def created_at(interaction_id: int) -> float:
    """Unix time an interaction was created, from its snowflake id."""
    return ((interaction_id >> 22) + DISCORD_EPOCH_MS) / 1000.0


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection carrying one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._buffer = bytearray()
        self._waiter: asyncio.Future[int] | None = None

    # -- asyncio.Protocol -----------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(ConnectionError(f"connection lost: {exc!r}" if exc else "connection closed"))

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        waiter = self._waiter
        if waiter is None or waiter.done():
            self.close()  # nothing was asked: the connection is out of step
            return
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > MAX_HEADER_BYTES:
                self._fail(ConnectionError("response headers too long"))
                self.close()
            return
        lines = bytes(self._buffer[:end]).split(b"\r\n")
        try:
            status = int(lines[0].split(b" ", 2)[1])
        except (IndexError, ValueError):
            self._fail(ConnectionError(f"not an HTTP status line: {lines[0][:60]!r}"))
            self.close()
            return
        length: int | None = 0 if status in (204, 304) or 100 <= status < 200 else None
        reusable = True
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length" and length is None:
                try:
                    length = int(value.strip())
                except ValueError:
                    reusable = False
            elif name == b"transfer-encoding" or (
                    name == b"connection" and value.strip().lower() == b"close"):
                reusable = False  # a chunked body or a closing server: do not reuse
        if length is None:
            reusable = False  # the body runs until the server closes
        if reusable:
            if len(self._buffer) < end + 4 + length:  # type: ignore[operator]
                return  # wait for the rest of the body
            del self._buffer[:end + 4 + length]  # type: ignore[operator]
        else:
            self.close()
        waiter.set_result(status)

    # -- use ------------------------------------------------------------------------------
    async def request(self, data: bytes, timeout: float) -> int:  # noqa: ASYNC109
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        assert self.transport is not None
        self.transport.write(data)
        timer = loop.call_later(timeout, self._fail, TimeoutError("no answer in time"))
        try:
            return await waiter
        except BaseException:
            self.close()
            raise
        finally:
            timer.cancel()
            self._waiter = None

    def _fail(self, exc: Exception) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class BusyClient:
    """Prebuilt callback requests over up to ``limit`` keep-alive connections, from one queue.

    ``done(item, status)`` is called for every submitted item: ``status`` is the HTTP status,
    or None when the request failed (connection refused, lost, timed out, garbled)."""

    def __init__(self, api_base: str, user_agent: str, body: bytes,
                 done: Callable[[Any, int | None], None], *, limit: int = CONNECTION_LIMIT,
                 timeout: float = REQUEST_TIMEOUT) -> None:
        url = urllib.parse.urlsplit(api_base)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"not an http(s) URL: {api_base!r}")
        self.host = url.hostname
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self.tls = url.scheme == "https"
        self._ssl: ssl.SSLContext | None = None
        self.prefix = url.path.rstrip("/")
        self.headers = (f"Host: {url.netloc}\r\nUser-Agent: {user_agent}\r\n"
                        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                        "\r\n").encode("latin-1")
        self.body = body
        self.done = done
        self.limit = limit
        self.timeout = timeout
        self._queue: collections.deque[tuple[bytes, Any]] = collections.deque()
        self._wake = asyncio.Event()
        self._senders: set[asyncio.Task] = set()
        self._idle = 0
        self._closing = False

    def submit(self, interaction_id: int, token: str, item: Any) -> None:
        path = (f"{self.prefix}/interactions/{interaction_id}/"
                f"{urllib.parse.quote(token, safe='')}/callback")
        self._queue.append((f"POST {path} HTTP/1.1\r\n".encode("latin-1") + self.headers
                            + self.body, item))
        if self._idle:
            self._wake.set()
        elif len(self._senders) < self.limit and not self._closing:
            task = asyncio.get_running_loop().create_task(self._sender())
            self._senders.add(task)
            task.add_done_callback(self._senders.discard)

    @property
    def pending(self) -> int:
        return len(self._queue)

    async def _sender(self) -> None:
        conn: _Connection | None = None
        queue = self._queue
        try:
            while True:
                if not queue:
                    if self._closing:
                        return
                    self._idle += 1
                    self._wake.clear()
                    try:
                        await self._wake.wait()
                    finally:
                        self._idle -= 1
                    continue
                request, item = queue.popleft()
                status: int | None = None
                try:
                    if conn is None or conn.closed:
                        conn = await self._connect()
                    status = await conn.request(request, self.timeout)
                except OSError:  # refused, reset, timed out, TLS: this answer is lost
                    conn = None
                except BaseException:  # cancelled by close(): report it, then stop
                    self.done(item, None)
                    raise
                self.done(item, status)
        finally:
            if conn is not None:
                conn.close()

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        if self.tls and self._ssl is None:
            self._ssl = ssl.create_default_context()
        _, conn = await asyncio.wait_for(loop.create_connection(
            _Connection, self.host, self.port, ssl=self._ssl,
            server_hostname=self.host if self.tls else None), self.timeout)
        return conn

    async def close(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Send what is queued (up to ``timeout``), then close every connection."""
        self._closing = True
        self._wake.set()
        if self._senders:
            _, late = await asyncio.wait(set(self._senders), timeout=timeout)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        for _request, item in self._queue:
            self.done(item, None)
        self._queue.clear()


class LoadShedder:
    def __init__(self, api_base: str, text: str, observe: Callable[..., None], *,
                 user_agent: str = "guildbot", max_wait: float = MAX_WAIT,
                 clock: Callable[[], float] = time.time) -> None:
        self.observe = observe
        self.max_wait = max_wait
        self.clock = clock
        self.body = json.dumps({"type": 4, "data": {"content": text, "flags": 64}}).encode()
        self.client = BusyClient(api_base, user_agent, self.body, self._answered)
        self.floor: float | None = None
        self._floor_at = 0.0
        self.shed = 0
        self.failures = 0
        self._failures_logged_at = 0.0

    # -- admission ------------------------------------------------------------------------
    def lateness(self, interaction_id: int) -> float:
        """Seconds this interaction waited beyond the lowest recent wait."""
        now = self.clock()
        waited = now - created_at(interaction_id)
        floor = self.floor
        if floor is None:
            floor = waited
        else:
            floor = min(waited, floor + (now - self._floor_at) * FLOOR_RISE)
        self.floor, self._floor_at = floor, now
        return waited - floor

    def install(self, parsers: dict[str, Callable[[Any], Any]]) -> None:
        """Wrap discord.py's INTERACTION_CREATE parser (``client._connection.parsers``)."""
        original = parsers["INTERACTION_CREATE"]

        def interaction_create(data: Any) -> Any:
            try:
                late = (data["type"] == APPLICATION_COMMAND
                        and self.lateness(int(data["id"])) > self.max_wait)
            except (KeyError, TypeError, ValueError):
                late = False
            if late:
                inner = data.get("data") or {}
                guild_id = data.get("guild_id")
                self.answer_busy(int(data["id"]), data["token"],
                                 str(inner.get("name", "unknown"))[:32],
                                 int(guild_id) if guild_id else None)
                return None
            return original(data)

        parsers["INTERACTION_CREATE"] = interaction_create

    # -- the cheap answer -----------------------------------------------------------------
    def answer_busy(self, interaction_id: int, token: str, command: str | None,
                    guild_id: int | None) -> None:
        """Queue the busy answer; ``command=None``: the caller records the outcome itself."""
        self.shed += 1
        self.client.submit(interaction_id, token, (command, guild_id, time.perf_counter()))

    def _answered(self, item: tuple[str | None, int | None, float], status: int | None) -> None:
        command, guild_id, started = item
        ok = status is not None and status < 300
        if not ok:
            self._failed(f"HTTP {status}" if status is not None else "no response")
        if command is not None:
            self.observe(command, guild_id, "busy" if ok else "failure",
                         time.perf_counter() - started)

    def _failed(self, why: str) -> None:
        self.failures += 1
        now = time.monotonic()
        if now - self._failures_logged_at >= FAILURE_LOG_INTERVAL:
            self._failures_logged_at = now
            log.warning("a busy answer could not be delivered (%s); %d so far", why,
                        self.failures)

    async def close(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        await self.client.close(timeout)
