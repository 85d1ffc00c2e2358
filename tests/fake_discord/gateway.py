"""The fake gateway: HELLO, heartbeats, IDENTIFY/READY, RESUME, reconnects and sharding.

A *session* (``GatewaySession``) outlives its websocket *connection* (``GatewayConnection``):
dispatches are numbered and buffered per session, so a client that RESUMEs gets the events it
missed replayed, exactly as Discord does. Guild events go to the session of the guild's shard,
``(guild_id >> 22) % shard_count``, and to no other; with no session on that shard nothing is
delivered (``Undelivered``). A client's own close with 1000/1001 ends its session, as on Discord.

Discord's sharding rules, enforced across ALL connections (several processes on one token):

- at most one IDENTIFY per 5 s (``identify_window``) per bucket ``shard_id % max_concurrency``; a
  too-fast IDENTIFY is answered with op 9 Invalid Session (``d: false``), as Discord's gateway
  documentation says; every IDENTIFY is logged as ``IdentifyRecord(at, shard, bucket)`` in
  ``identify_log`` (accepted) or ``identify_refusals`` (refused);
- a shard count that disagrees with the other connected sessions: close 4010 Invalid shard;
- a session that would hold more than ``max_guilds_per_session`` guilds (Discord: 2,500): close
  4011 Sharding required;
- ``session_start_total`` session starts (Discord: 1,000 a day); an IDENTIFY past it resets the
  token and terminates every session (the fake records an error).

Transport compression is what the client's ``compress`` query asks for, as on Discord:
``zstd-stream`` (one zstd frame for the connection's lifetime, each message a flushed block, which
is what discord.py's ``_ZstdDecompressionContext`` feeds to one ``decompressobj``), ``zlib-stream``
(one deflate stream, each message ending in a sync flush, ``00 00 ff ff``) or none (text frames).
Any other value is refused before HELLO with close 4000 "Unknown error" and the reason naming it
(Discord documents no code of its own for this). ``FakeDiscord(compression=False)`` sends text
frames whatever the client asks.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import zstandard
from aiohttp import WSMsgType, web

if TYPE_CHECKING:
    from tests.fake_discord.server import FakeDiscord
    from tests.fake_discord.state.model import Guild

log = logging.getLogger("fake_discord.gateway")

# Gateway opcodes
DISPATCH = 0
HEARTBEAT = 1
IDENTIFY = 2
PRESENCE_UPDATE = 3
VOICE_STATE_UPDATE = 4
RESUME = 6
RECONNECT = 7
REQUEST_GUILD_MEMBERS = 8
INVALID_SESSION = 9
HELLO = 10
HEARTBEAT_ACK = 11

# Discord's limits (https://discord.com/developers/docs/topics/gateway#sharding)
IDENTIFY_WINDOW = 5.0  # seconds between two IDENTIFYs of one bucket
SESSION_START_TOTAL = 1000  # session starts per reset period
SESSION_START_PERIOD_MS = 86_400_000
MAX_GUILDS_PER_SESSION = 2500

PRIVILEGED_INTENTS = {
    1 << 1: "GUILD_MEMBERS",
    1 << 8: "GUILD_PRESENCES",
    1 << 15: "MESSAGE_CONTENT",
}

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


@dataclass(frozen=True, slots=True)
class IdentifyRecord:
    """An IDENTIFY that reached the rate limit check: when (``time.monotonic()``), shard, and
    bucket (``shard % max_concurrency``)."""

    at: float
    shard: int
    bucket: int


class Undelivered(RuntimeError):
    """A guild event (an interaction...) whose shard has no session: nothing was sent."""

    def __init__(self, event: str, guild_id: int, shard_id: int, shard_count: int) -> None:
        super().__init__(
            f"{event} for guild {guild_id} not delivered: its shard {shard_id} "
            f"(of {shard_count}) has no gateway session"
        )
        self.event = event
        self.guild_id = guild_id
        self.shard_id = shard_id
        self.shard_count = shard_count


@dataclass(eq=False)
class GatewaySession:
    session_id: str
    shard_id: int
    shard_count: int
    sharded: bool
    intents: int | None
    identify: dict[str, Any]
    buffer_size: int
    seq: int = 0
    connection: GatewayConnection | None = None
    valid: bool = True
    guilds_sent: asyncio.Event = field(default_factory=asyncio.Event)
    buffer: deque[tuple[int, str]] = field(init=False)

    def __post_init__(self) -> None:
        self.buffer = deque(maxlen=self.buffer_size)

    def dispatch(self, event: str, data: Any, on_sent: Callable[[], None] | None = None) -> int:
        self.seq += 1
        frame = _dumps({"op": DISPATCH, "t": event, "s": self.seq, "d": data})
        self.buffer.append((self.seq, frame))
        if self.connection is not None:
            self.connection.enqueue(frame, on_sent)
        return self.seq


def _zlib_stream() -> Callable[[bytes], bytes]:
    stream = zlib.compressobj()
    return lambda data: stream.compress(data) + stream.flush(zlib.Z_SYNC_FLUSH)


def _zstd_stream() -> Callable[[bytes], bytes]:
    stream = zstandard.ZstdCompressor().compressobj()
    return lambda data: stream.compress(data) + stream.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)


# ``compress`` query value -> a new connection's compressor (one stream per connection)
COMPRESSIONS: dict[str, Callable[[], Callable[[bytes], bytes]]] = {
    "zstd-stream": _zstd_stream,
    "zlib-stream": _zlib_stream,
}


class GatewayConnection:
    """One websocket. Frames go through a queue so an optional delay keeps their order."""

    def __init__(self, gateway: Gateway, ws: web.WebSocketResponse, request: web.Request) -> None:
        self.gateway = gateway
        self.ws = ws
        self.request = request
        self.session: GatewaySession | None = None
        asked = request.query.get("compress")
        # the transport compression in use: the one asked for, None for text frames
        self.compression = asked if asked in COMPRESSIONS and gateway.fake.compression else None
        self._compress = COMPRESSIONS[self.compression]() if self.compression else None
        self._queue: asyncio.Queue[tuple[float, str, Callable[[], None] | None]] = asyncio.Queue()
        self._sender: asyncio.Task[None] | None = None
        self.closed = False
        self.heartbeats = 0

    # -- sending ---------------------------------------------------------------------------------
    def enqueue(self, frame: str, on_sent: Callable[[], None] | None = None) -> None:
        if self.closed:
            return
        self._queue.put_nowait((time.monotonic() + self.gateway.delay, frame, on_sent))

    async def _send_now(self, frame: str) -> None:
        if self._compress is not None:
            await self.ws.send_bytes(self._compress(frame.encode()))
        else:
            await self.ws.send_str(frame)

    async def _sender_loop(self) -> None:
        queue = self._queue
        try:
            while True:
                due, frame, on_sent = await queue.get()
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                await self._send_now(frame)
                if on_sent is not None:
                    on_sent()
        except (ConnectionError, RuntimeError, asyncio.CancelledError):
            pass

    def send_op(self, op: int, data: Any) -> None:
        self.enqueue(_dumps({"op": op, "d": data, "s": None, "t": None}))

    async def _ack_later(self) -> None:
        # An instant ACK races discord.py's keep-alive thread and logs false "Can't keep up".
        await asyncio.sleep(self.gateway.ack_delay + self.gateway.delay)
        if not self.closed:
            try:
                await self._send_now(_dumps({"op": HEARTBEAT_ACK, "d": None}))
            except (ConnectionError, RuntimeError):
                pass

    async def close(self, code: int = 4000, message: bytes = b"") -> None:
        self.closed = True
        await self.ws.close(code=code, message=message)

    def abort(self) -> None:
        """Drop the TCP connection without a close frame (a network failure)."""
        self.closed = True
        transport = self.request.transport
        if transport is not None:
            transport.abort()

    # -- receiving -------------------------------------------------------------------------------
    async def run(self) -> None:
        self._sender = asyncio.create_task(self._sender_loop())
        hello = {"heartbeat_interval": self.gateway.heartbeat_interval_ms, "_trace": ["fake-gw"]}
        self.send_op(HELLO, hello)
        try:
            async for msg in self.ws:
                if msg.type is WSMsgType.TEXT:
                    await self._received(json.loads(msg.data))
                elif msg.type is WSMsgType.BINARY:
                    await self._received(json.loads(zlib.decompress(msg.data)))
                elif msg.type is WSMsgType.ERROR:
                    break
        finally:
            # The client's own close with 1000/1001 ends its session (Discord: not resumable).
            ended = not self.closed and self.ws.close_code in (1000, 1001)
            self.closed = True
            if self.session is not None and self.session.connection is self:
                self.session.connection = None
                if ended:
                    self.gateway._drop_session(self.session)
            self._sender.cancel()
            self.gateway.connections.discard(self)

    async def _received(self, payload: dict[str, Any]) -> None:
        op = payload.get("op")
        data = payload.get("d")
        gw = self.gateway
        gw.fake.record_gateway_op(op, data)
        if op == HEARTBEAT:
            self.heartbeats += 1
            gw.heartbeats += 1
            if gw.ack_heartbeats:
                asyncio.create_task(self._ack_later())
        elif op == IDENTIFY:
            await gw.identify(self, data)
        elif op == RESUME:
            await gw.resume(self, data)
        elif op == REQUEST_GUILD_MEMBERS:
            gw.request_members(self, data)
        elif op in (PRESENCE_UPDATE, VOICE_STATE_UPDATE):
            pass
        else:
            gw.fake.record_error("gateway", f"op {op}", "unknown opcode from client", payload)
            await self.close(4001, b"Unknown opcode")


class Gateway:
    def __init__(
        self,
        fake: FakeDiscord,
        *,
        heartbeat_interval_ms: int = 41250,
        ack_delay: float = 0.02,
        buffer_size: int = 20000,
        max_concurrency: int = 1,
        identify_window: float = IDENTIFY_WINDOW,
        session_start_total: int = SESSION_START_TOTAL,
        max_guilds_per_session: int | None = MAX_GUILDS_PER_SESSION,
    ) -> None:
        if max_concurrency < 1 or identify_window < 0 or session_start_total < 1:
            raise ValueError(
                "max_concurrency and session_start_total must be >= 1, identify_window >= 0"
            )
        self.fake = fake
        self.max_concurrency = max_concurrency
        self.identify_window = identify_window
        self.session_start_total = session_start_total
        self.max_guilds_per_session = max_guilds_per_session
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.ack_delay = ack_delay
        self.ack_heartbeats = True
        self.buffer_size = buffer_size
        self.delay = 0.0
        self.heartbeats = 0
        self.connections: set[GatewayConnection] = set()
        self.sessions: dict[str, GatewaySession] = {}
        self.by_shard: dict[int, GatewaySession] = {}
        self.shard_count: int | None = None  # as identified by the client
        self.identifies: list[dict[str, Any]] = []
        self.identify_log: list[IdentifyRecord] = []
        self.identify_refusals: list[IdentifyRecord] = []
        self._bucket_last: dict[int, float] = {}
        self.undelivered: list[Undelivered] = []
        self.resumes: list[dict[str, Any]] = []
        self._identified = asyncio.Event()
        self._identify_waiters: list[tuple[int, asyncio.Future[None]]] = []

    # -- websocket endpoint ----------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=0)
        if not ws.can_prepare(request).ok:
            return web.Response(status=400, text="fake Discord gateway: websocket expected\n")
        await ws.prepare(request)
        self.fake.gateway_queries.append(dict(request.query))
        asked = request.query.get("compress")
        if asked is not None and asked not in COMPRESSIONS:
            await ws.close(code=4000, message=f"Unknown error: invalid compress {asked[:40]!r}"
                           .encode())
            return ws
        conn = GatewayConnection(self, ws, request)
        self.connections.add(conn)
        await conn.run()
        return ws

    # -- IDENTIFY / READY ------------------------------------------------------------------------
    async def identify(self, conn: GatewayConnection, data: dict[str, Any]) -> None:
        fake = self.fake
        if conn.session is not None:
            fake.record_error("gateway", "IDENTIFY", "identified twice on one connection", data)
            await conn.close(4005, b"Already authenticated")
            return
        if data.get("token") != fake.token:
            await conn.close(4004, b"Authentication failed")
            return
        shard = data.get("shard")
        sharded = shard is not None
        shard_id, shard_count = (shard[0], shard[1]) if sharded else (0, 1)
        if not 0 <= shard_id < shard_count:
            await conn.close(4010, b"Invalid shard")
            return
        intents = data.get("intents")
        if intents is None:
            await conn.close(4013, b"Invalid intent(s)")
            return
        denied = [
            name
            for bit, name in PRIVILEGED_INTENTS.items()
            if intents & bit and name not in fake.privileged_intents
        ]
        if denied:
            await conn.close(4014, b"Disallowed intent(s)")
            return
        if self._count_disagrees(shard_id, shard_count):
            await conn.close(4010, b"Invalid shard")
            return
        guilds = [
            g
            for g in fake.state.guilds.values()
            if g.joined and (shard_count == 1 or g.shard_id(shard_count) == shard_id)
        ]
        limit = self.max_guilds_per_session
        if limit is not None and len(guilds) > limit:
            await conn.close(4011, b"Sharding required")
            return
        if len(self.identify_log) >= self.session_start_total:
            await self._reset_token()
            return
        now = time.monotonic()
        record = IdentifyRecord(now, shard_id, shard_id % self.max_concurrency)
        last = self._bucket_last.get(record.bucket)
        if last is not None and now - last < self.identify_window:
            self.identify_refusals.append(record)
            log.info("IDENTIFY of shard %s too fast for bucket %s: op 9", shard_id, record.bucket)
            conn.send_op(INVALID_SESSION, False)
            return
        self._bucket_last[record.bucket] = now
        self.identify_log.append(record)
        session = GatewaySession(
            session_id=secrets.token_hex(16),
            shard_id=shard_id,
            shard_count=shard_count,
            sharded=sharded,
            intents=intents,
            identify=data,
            buffer_size=self.buffer_size,
        )
        for old in list(self.by_shard.values()):
            if old.shard_id == shard_id or old.shard_count != shard_count:
                self._drop_session(old)  # replaced, or left behind by a shard count change
        self.sessions[session.session_id] = session
        self.by_shard[shard_id] = session
        self.shard_count = shard_count
        self.identifies.append(data)
        session.connection = conn
        conn.session = session
        self._identified.set()
        for wanted, fut in self._identify_waiters:
            if len(self.identifies) >= wanted and not fut.done():
                fut.set_result(None)
        await self._send_ready(session, guilds)

    def _count_disagrees(self, shard_id: int, shard_count: int) -> bool:
        """Another connected session identified with a different shard count (Discord: 4010)."""
        return any(
            s.connection is not None and s.shard_id != shard_id and s.shard_count != shard_count
            for s in self.by_shard.values()
        )

    async def _reset_token(self) -> None:
        """Past the session start limit Discord resets the token and ends every session."""
        fake = self.fake
        fake.record_error(
            "gateway",
            "IDENTIFY",
            f"session start limit ({self.session_start_total}) exhausted: "
            "the token was reset and every session terminated",
            None,
        )
        fake.token = secrets.token_urlsafe(32)
        for session in list(self.by_shard.values()):
            self._drop_session(session)
        for conn in list(self.connections):
            await conn.close(4004, b"Authentication failed")

    def session_start_limit(self) -> dict[str, int]:
        """``session_start_limit`` of ``GET /gateway/bot``: it counts down per session start."""
        started = self.identify_log[0].at if self.identify_log else time.monotonic()
        elapsed_ms = int((time.monotonic() - started) * 1000)
        return {
            "total": self.session_start_total,
            "remaining": max(0, self.session_start_total - len(self.identify_log)),
            "reset_after": max(0, SESSION_START_PERIOD_MS - elapsed_ms),
            "max_concurrency": self.max_concurrency,
        }

    async def _send_ready(self, session: GatewaySession, guilds: list[Guild]) -> None:
        fake = self.fake
        ready: dict[str, Any] = {
            "v": 10,
            "user": fake.bot_user_payload(),
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": session.session_id,
            "resume_gateway_url": fake.gateway_url,
            "session_type": "normal",
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "user_settings": {},
            "application": {"id": str(fake.state.application_id), "flags": fake.application_flags},
            "_trace": ["fake-gw"],
        }
        if session.sharded:
            ready["shard"] = [session.shard_id, session.shard_count]
        session.dispatch("READY", ready)
        done = session.guilds_sent
        if not guilds:
            done.set()
            return
        last = len(guilds) - 1
        for i, guild in enumerate(guilds):
            session.dispatch(
                "GUILD_CREATE", guild.create_payload(), done.set if i == last else None
            )
            if i % 200 == 199:
                await asyncio.sleep(0)  # keep the loop responsive while 10,000 guilds go out

    # -- RESUME ----------------------------------------------------------------------------------
    async def resume(self, conn: GatewayConnection, data: dict[str, Any]) -> None:
        fake = self.fake
        if data.get("token") != fake.token:
            await conn.close(4004, b"Authentication failed")
            return
        session = self.sessions.get(data.get("session_id", ""))
        seq = data.get("seq") or 0
        record = {"session_id": data.get("session_id"), "seq": seq, "replayed": 0, "ok": False}
        self.resumes.append(record)
        if session is None or not session.valid:
            conn.send_op(INVALID_SESSION, False)
            return
        missed = [frame for s, frame in session.buffer if s > seq]
        oldest = session.buffer[0][0] if session.buffer else session.seq + 1
        if seq < session.seq and oldest > seq + 1:
            # Events the client never saw fell out of the buffer: cannot resume faithfully.
            conn.send_op(INVALID_SESSION, False)
            self._drop_session(session)
            return
        previous = session.connection
        if previous is not None and previous is not conn:
            previous.session = None
            await previous.close(4000, b"Session resumed elsewhere")
        session.connection = conn
        conn.session = session
        for frame in missed:
            conn.enqueue(frame)
        record.update(replayed=len(missed), ok=True)
        session.dispatch("RESUMED", {"_trace": ["fake-gw"]})

    def _drop_session(self, session: GatewaySession) -> None:
        session.valid = False
        self.sessions.pop(session.session_id, None)
        if self.by_shard.get(session.shard_id) is session:
            del self.by_shard[session.shard_id]

    # -- op 8 ------------------------------------------------------------------------------------
    def request_members(self, conn: GatewayConnection, data: dict[str, Any]) -> None:
        session = conn.session
        if session is None:
            return
        guild_ids = data.get("guild_id")
        if not isinstance(guild_ids, list):
            guild_ids = [guild_ids]
        query = data.get("query") or ""
        user_ids = {int(u) for u in data.get("user_ids") or []}
        limit = data.get("limit") or 0
        for gid in guild_ids:
            guild = self.fake.state.guilds.get(int(gid))
            if guild is None:
                continue
            members = [
                m
                for m in guild.members.values()
                if (not user_ids or m.id in user_ids) and m.user.name.startswith(query)
            ]
            payloads = [m.to_payload() for m in members]
            bot = self.fake.state.bot_user
            if (not user_ids or bot.id in user_ids) and bot.name.startswith(query):
                payloads.insert(0, guild.bot_member_payload())
            if limit:
                payloads = payloads[:limit]
            chunk: dict[str, Any] = {
                "guild_id": str(guild.id),
                "members": payloads,
                "chunk_index": 0,
                "chunk_count": 1,
            }
            if data.get("nonce") is not None:
                chunk["nonce"] = data["nonce"]
            session.dispatch("GUILD_MEMBERS_CHUNK", chunk)

    # -- routing and control ---------------------------------------------------------------------
    def session_for_guild(self, guild_id: int) -> GatewaySession | None:
        count = self.shard_count or 1
        return self.by_shard.get((guild_id >> 22) % count)

    def owner(self, guild_id: int, event: str) -> GatewaySession:
        """The session of the guild's shard, the only one its events go to; else ``Undelivered``
        (recorded in ``undelivered``)."""
        session = self.session_for_guild(guild_id)
        if session is None:
            count = self.shard_count or 1
            error = Undelivered(event, guild_id, (guild_id >> 22) % count, count)
            self.undelivered.append(error)
            log.warning("%s", error)
            raise error
        return session

    def sessions_for(self, shard_id: int | None) -> list[GatewaySession]:
        if shard_id is None:
            return list(self.by_shard.values())
        session = self.by_shard.get(shard_id)
        return [session] if session is not None else []

    async def wait_for_identify(self, timeout: float, count: int = 1) -> None:  # noqa: ASYNC109
        if len(self.identifies) >= count:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._identify_waiters.append((count, fut))
        try:
            await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise AssertionError(
                f"client sent {len(self.identifies)} IDENTIFY(s) within {timeout}s, wanted {count}"
            ) from None
        finally:
            self._identify_waiters.remove((count, fut))

    async def wait_guilds_sent(
        self,
        timeout: float,  # noqa: ASYNC109
        shard_ids: Iterable[int] | None = None,
    ) -> None:
        """Until every shard in ``shard_ids`` (default: every shard of the identified shard
        count) has been sent its guilds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        await self.wait_for_identify(timeout)
        wanted = None if shard_ids is None else list(shard_ids)
        while True:
            shards = range(self.shard_count or 1) if wanted is None else wanted
            pending = [
                s
                for s in shards
                if s not in self.by_shard or not self.by_shard[s].guilds_sent.is_set()
            ]
            if not pending:
                return
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(
                    f"shards {pending} were not sent their guilds within {timeout}s"
                )
            session = self.by_shard.get(pending[0])
            if session is None:
                await asyncio.sleep(min(0.05, remaining))
                continue
            try:
                await asyncio.wait_for(session.guilds_sent.wait(), remaining)
            except TimeoutError:
                continue

    def report(self) -> dict[str, Any]:
        """The sharding rules' figures, for the control API (``GET /_fake/gateway``)."""

        def records(items: list[IdentifyRecord]) -> list[dict[str, Any]]:
            return [{"at": r.at, "shard": r.shard, "bucket": r.bucket} for r in items]

        return {
            "shard_count": self.shard_count,
            "max_concurrency": self.max_concurrency,
            "identify_window": self.identify_window,
            "max_guilds_per_session": self.max_guilds_per_session,
            "session_start_limit": self.session_start_limit(),
            "identifies": records(self.identify_log),
            "refused": len(self.identify_refusals),
            "refusals": records(self.identify_refusals),
            "undelivered": [
                {"event": u.event, "guild_id": str(u.guild_id), "shard": u.shard_id}
                for u in self.undelivered
            ],
        }

    async def drop(self, shard_id: int | None = None, code: int | None = None) -> None:
        for session in self.sessions_for(shard_id):
            conn = session.connection
            if conn is None:
                continue
            session.connection = None
            conn.session = None
            if code is None:
                conn.abort()
            else:
                await conn.close(code)

    def reconnect(self, shard_id: int | None = None) -> None:
        for session in self.sessions_for(shard_id):
            if session.connection is not None:
                session.connection.send_op(RECONNECT, None)

    def invalidate(self, resumable: bool, shard_id: int | None = None) -> None:
        for session in self.sessions_for(shard_id):
            conn = session.connection
            if not resumable:
                self._drop_session(session)
            if conn is not None:
                conn.send_op(INVALID_SESSION, resumable)

    async def close_all(self) -> None:
        for conn in list(self.connections):
            try:
                await conn.close(1001, b"fake Discord shutting down")
            except (ConnectionError, RuntimeError):
                pass
