"""The interaction callback client: every first reply of a command, a click's update of its
message, autocomplete's choices and every busy answer.

:class:`CallbackClient` sends interaction callbacks (``POST /interactions/{id}/{token}/callback``)
over keep-alive HTTP/1.1 connections fed from one queue, each taking its next request the moment
a response is complete. A request costs about a quarter of an aiohttp request (34 vs 130
microseconds of CPU, measured on the benchmark machine): what lets a saturated bot shed faster
than commands arrive (bot/shedding.py, :meth:`CallbackClient.submit`: one prebuilt body, only
the status wanted, never retried) and answer commands, update messages and send choices
without discord.py's HTTP client (bot/responses.py, :meth:`CallbackClient.post`: the caller's
body, the response's body back).

A response's body is read by Content-Length or decoded when chunked; anything the client cannot
frame (a body until the server closes, another transfer coding, garbled chunks) gives its status
alone and closes that connection, as does a server's ``Connection: close``.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

CONNECTION_LIMIT = 64   # callback connections, apart from discord.py's own
REQUEST_TIMEOUT = 10.0
MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 1024 * 1024  # a chunked response longer than this is given up


def _dechunk(buffer: bytearray, start: int) -> tuple[bytes, int] | None:
    """The body of a ``Transfer-Encoding: chunked`` response that begins at ``start``, and
    where it ends in ``buffer``; None while it is incomplete, ValueError when it is garbled.
    Chunk extensions and trailers are skipped."""
    body = bytearray()
    at = start
    while True:
        eol = buffer.find(b"\r\n", at)
        if eol < 0:
            return None
        size = int(bytes(buffer[at:eol]).split(b";", 1)[0].strip(), 16)
        if size < 0:
            raise ValueError(f"chunk size {size}")
        at = eol + 2
        if size == 0:
            while True:  # trailers, up to the empty line
                eol = buffer.find(b"\r\n", at)
                if eol < 0:
                    return None
                if eol == at:
                    return bytes(body), eol + 2
                at = eol + 2
        if len(buffer) < at + size + 2:
            return None
        if buffer[at + size:at + size + 2] != b"\r\n":
            raise ValueError("a chunk longer than its size")
        body += buffer[at:at + size]
        at += size + 2


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection of a :class:`CallbackClient`, one request at a time.

    It takes its next request from the client's queue as soon as a response is complete, inside
    ``data_received``: no task and no extra trip through the event loop per request."""

    def __init__(self, client: CallbackClient) -> None:
        self.client = client
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.item: Any = None
        self._buffer = bytearray()
        self._timer: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol -----------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._finish(None)
        self.client._lost(self)

    def data_received(self, data: bytes) -> None:
        if self.item is None:
            self.close()  # nothing was asked: the connection is out of step
            return
        self._buffer += data
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > MAX_HEADER_BYTES:
                self._finish(None)
                self.close()
            return
        lines = bytes(self._buffer[:end]).split(b"\r\n")
        try:
            status = int(lines[0].split(b" ", 2)[1])
        except (IndexError, ValueError):
            self._finish(None)
            self.close()
            return
        bodiless = status in (204, 304) or 100 <= status < 200
        length: int | None = 0 if bodiless else None
        chunked = False
        framed = True   # we can tell where the body ends
        keep = True     # the server keeps the connection open
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            value = value.strip().lower()
            if name == b"connection" and value == b"close":
                keep = False
            elif bodiless:
                continue
            elif name == b"transfer-encoding":  # wins over any Content-Length (RFC 9112)
                chunked = value == b"chunked"
                framed = chunked  # any other coding is not understood
            elif name == b"content-length" and not chunked:
                try:
                    length = int(value)
                except ValueError:
                    framed = False
        decoded: tuple[bytes, int] | None = None
        if chunked:
            try:
                decoded = _dechunk(self._buffer, end + 4)
            except ValueError:
                pass  # garbled
            else:
                if decoded is None and len(self._buffer) <= MAX_HEADER_BYTES + MAX_BODY_BYTES:
                    return  # wait for the rest of the body
        elif framed and length is not None and length >= 0:
            if len(self._buffer) < end + 4 + length:
                return  # wait for the rest of the body
            decoded = bytes(self._buffer[end + 4:end + 4 + length]), end + 4 + length
        if decoded is None:
            # The body runs until the server closes, or is garbled or too long: the status
            # alone (the request did arrive), and this connection is out of step.
            self._finish(status)
            self.close()
            return
        body, used = decoded
        del self._buffer[:used]
        self._finish(status, body)
        if keep:
            self.client._ready(self)
        else:
            self.close()

    # -- use ------------------------------------------------------------------------------
    def send(self, request: bytes, item: Any, timeout: float) -> None:
        assert self.transport is not None and self.item is None
        self.item = item
        self._timer = asyncio.get_running_loop().call_later(timeout, self._timed_out)
        self.transport.write(request)

    def _timed_out(self) -> None:
        self._timer = None
        self._finish(None)
        self.close()

    def _finish(self, status: int | None, body: bytes = b"") -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        item, self.item = self.item, None
        if item is not None:
            self.client._settle(item, status, body)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.close()


class CallbackClient:
    """Interaction callback requests over up to ``limit`` keep-alive connections, from one
    queue: the prebuilt ``body`` (:meth:`submit`) or a body of the caller's (:meth:`post`).

    ``done(item, status)`` is called once for every submitted item: ``status`` is the HTTP
    status, or None when the request failed (refused, lost, timed out, garbled)."""

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
        self.host_headers = f"Host: {url.netloc}\r\nUser-Agent: {user_agent}\r\n"
        self.request_tail = self._tail(body, "application/json")
        self.done = done
        self.limit = limit
        self.timeout = timeout
        self._queue: collections.deque[tuple[bytes, Any]] = collections.deque()
        self._open: set[_Connection] = set()
        self._idle: list[_Connection] = []
        self._connecting = 0
        self._tasks: set[asyncio.Task] = set()

    @property
    def pending(self) -> int:
        return len(self._queue)

    def prebuild(self, body: bytes) -> bytes:
        """What :meth:`submit` sends after the request line for a JSON ``body``."""
        return self._tail(body, "application/json")

    def _tail(self, body: bytes, content_type: str) -> bytes:
        """The request's headers after its request line, and its body."""
        return (f"{self.host_headers}Content-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1") + body

    def _line(self, interaction_id: int, token: str, query: str = "") -> bytes:
        return (f"POST {self.prefix}/interactions/{interaction_id}/"
                f"{urllib.parse.quote(token, safe='')}/callback{query} HTTP/1.1\r\n"
                ).encode("latin-1")

    def submit(self, interaction_id: int, token: str, item: Any,
               tail: bytes | None = None) -> None:
        """Queue the prebuilt body for this interaction (or ``tail``, another prebuilt one:
        :meth:`prebuild`); ``done(item, status)`` follows."""
        self._queue.append((self._line(interaction_id, token) + (tail or self.request_tail),
                            item))
        self._dispatch()

    def post(self, interaction_id: int, token: str, body: bytes, content_type: str,
             query: str = "") -> asyncio.Future[tuple[int | None, bytes]]:
        """Queue ``body`` for this interaction; the future gives ``(status, response body)``,
        status None when the request failed. Nothing is retried."""
        future: asyncio.Future[tuple[int | None, bytes]] = (
            asyncio.get_running_loop().create_future())
        self._queue.append((self._line(interaction_id, token, query)
                            + self._tail(body, content_type), future))
        self._dispatch()
        return future

    def _dispatch(self) -> None:
        queue, idle = self._queue, self._idle
        while queue and idle:
            conn = idle.pop()
            if conn.closed:
                continue
            request, item = queue.popleft()
            conn.send(request, item, self.timeout)
        # Open connections for what waits, beyond those already being opened, up to the limit.
        wanted = min(len(queue), self.limit - len(self._open)) - self._connecting
        for _ in range(wanted):
            self._connecting += 1
            task = asyncio.get_running_loop().create_task(self._connect())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _ready(self, conn: _Connection) -> None:
        """A connection finished its request: give it the next one."""
        queue = self._queue
        if queue and not conn.closed:
            request, item = queue.popleft()
            conn.send(request, item, self.timeout)
        elif not conn.closed:
            self._idle.append(conn)

    def _lost(self, conn: _Connection) -> None:
        self._open.discard(conn)
        if self._queue:
            self._dispatch()

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            if self.tls and self._ssl is None:
                self._ssl = ssl.create_default_context()
            _, conn = await asyncio.wait_for(loop.create_connection(
                lambda: _Connection(self), self.host, self.port, ssl=self._ssl,
                server_hostname=self.host if self.tls else None), self.timeout)
        except OSError:
            self._connecting -= 1
            if not self._open and not self._connecting:
                # The endpoint is unreachable: fail what waits rather than retry in a loop.
                while self._queue:
                    self._settle(self._queue.popleft()[1], None)
            return
        self._connecting -= 1
        self._open.add(conn)
        self._ready(conn)

    async def close(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Let queued and in-flight answers finish (up to ``timeout``), then close."""
        deadline = time.monotonic() + timeout
        while (self._queue or any(c.item is not None for c in self._open)
               or self._connecting) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for conn in list(self._open):
            conn._finish(None)
            conn.close()
        self._open.clear()
        self._idle.clear()
        while self._queue:
            self._settle(self._queue.popleft()[1], None)

    def _settle(self, item: Any, status: int | None, body: bytes = b"") -> None:
        if isinstance(item, asyncio.Future):  # a request of post(): its caller awaits it
            if not item.done():
                item.set_result((status, body))
        else:
            self.done(item, status)
