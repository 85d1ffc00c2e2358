"""Login, READY/GUILD_CREATE, heartbeats, resume, reconnect, invalid sessions, sharding."""

from __future__ import annotations

import asyncio
import json
import math
import zlib
from collections.abc import Callable
from typing import Any

import aiohttp
import discord
import pytest
import zstandard

from tests.fake_discord import FakeDiscord
from tests.fake_discord.testing import pointed_at
from tests.test_fake_discord.conftest import (
    IDENTIFY_WINDOW,
    TOKEN,
    FakeTestBot,
    Running,
    ShardedTestBot,
    bot_intents,
    eventually,
)


async def test_login_ready_and_guilds(fake: FakeDiscord, running: Running) -> None:
    bot = running.bot
    assert fake.request_counts[("GET", "/users/@me")] == 1
    assert fake.request_counts[("GET", "/oauth2/applications/@me")] == 1
    assert bot.user is not None
    assert bot.user.id == fake.application_id
    assert bot.application_id == fake.application_id
    assert sorted(g.name for g in bot.guilds) == ["Alpha", "Beta"]
    alpha = bot.get_guild(fake.guild("Alpha").id)
    assert alpha is not None
    assert alpha.me is not None
    assert alpha.member_count == 3  # two members + the bot
    assert [c.name for c in alpha.text_channels] == ["general"]
    # IDENTIFY is recorded with the client's intents; READY was not sharded.
    assert fake.intents == bot_intents().value
    assert "shard" not in fake.identifies[0]
    # The fake compressed with what discord.py asked for (zstd-stream when zstandard is
    # installed, as it is here) and discord.py decoded it.
    asked = discord.utils._ActiveDecompressionContext.COMPRESSION_TYPE
    assert fake.gateway_queries[0]["compress"] == asked
    assert [c.compression for c in fake.gateway.connections] == [asked]
    assert fake.gateway_queries[0]["v"] == "10"


async def test_plain_text_frames_when_compression_is_off() -> None:
    fake = FakeDiscord(token=TOKEN, compression=False)
    fake.add_guild("Plain")
    await fake.start()
    runner = Running(FakeTestBot())
    try:
        with pointed_at(fake):
            await runner.start(fake)
            assert [g.name for g in runner.bot.guilds] == ["Plain"]
            assert [c.compression for c in fake.gateway.connections] == [None]
            await runner.stop()
    finally:
        await fake.stop()
    fake.assert_no_errors()


def _zlib_reader() -> Callable[[bytes], bytes]:
    """Discord's documented zlib-stream reader (discord.py's before zstd): one inflate context
    for the connection, each message ending in the sync-flush suffix."""
    inflate = zlib.decompressobj()

    def read(data: bytes) -> bytes:
        assert data.endswith(b"\x00\x00\xff\xff"), "a zlib-stream message ends in a sync flush"
        return inflate.decompress(data)
    return read


def _zstd_reader() -> Callable[[bytes], bytes]:
    """What discord.py 2.7's _ZstdDecompressionContext does: one decompressobj for the
    connection's lifetime, fed each message whole."""
    stream = zstandard.ZstdDecompressor().decompressobj()

    def read(data: bytes) -> bytes:
        out = stream.decompress(data)
        assert not stream.eof, "the zstd frame must last as long as the connection"
        return out
    return read


async def _hello_and_ready(fake: FakeDiscord, compress: str | None) -> list[dict[str, Any]]:
    """HELLO, then IDENTIFY and its READY, read as a client asking ``compress`` would."""
    read = {"zlib-stream": _zlib_reader, "zstd-stream": _zstd_reader}.get(compress or "")
    decode = read() if read else None
    query = "?v=10&encoding=json" + (f"&compress={compress}" if compress else "")
    received = []
    async with aiohttp.ClientSession() as http, http.ws_connect(fake.gateway_url + query) as ws:
        while len(received) < 2:
            msg = await asyncio.wait_for(ws.receive(), 5)
            if decode is None:
                assert msg.type is aiohttp.WSMsgType.TEXT
                payload = json.loads(msg.data)
            else:
                assert msg.type is aiohttp.WSMsgType.BINARY
                payload = json.loads(decode(msg.data))
            received.append(payload)
            if payload["op"] == 10:
                await ws.send_json({"op": 2, "d": {"token": TOKEN, "intents": 1,
                                                   "properties": {}}})
            elif payload.get("t") != "READY":
                received.pop()  # only HELLO and READY are asked about
    return received


@pytest.mark.parametrize("compress", ["zstd-stream", "zlib-stream", None])
async def test_each_transport_compression_the_client_asks_for(
        fake: FakeDiscord, compress: str | None) -> None:
    """Regression (issue 17, zstd): discord.py 2.7 asks for zstd-stream once ``zstandard`` is
    installed, as Discord supports. Fails on the old code because the fake answered anything but
    zlib-stream with text frames (which discord.py also accepts), so the zstd path real Discord
    takes was never exercised. Every mode keeps one stream across the connection's messages
    (HELLO, then READY)."""
    hello, ready = await _hello_and_ready(fake, compress)
    assert hello["op"] == 10 and "heartbeat_interval" in hello["d"]
    assert ready["t"] == "READY" and ready["d"]["session_id"]
    assert fake.gateway_queries[-1].get("compress") == compress


async def test_an_unknown_compress_value_is_refused_before_hello(fake: FakeDiscord) -> None:
    """As Discord does with a bad query: the socket is closed (4000, the value named), no
    HELLO is sent and nothing is compressed in a way the client did not ask for. Fails on the
    old code because it sent plain-text HELLO to any ``compress`` but zlib-stream."""
    url = fake.gateway_url + "?v=10&encoding=json&compress=brotli-stream"
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        msg = await asyncio.wait_for(ws.receive(), 5)
        assert msg.type is aiohttp.WSMsgType.CLOSE
        assert (msg.data, msg.extra) == (4000, "Unknown error: invalid compress 'brotli-stream'")
    assert not fake.gateway.connections


async def test_bad_token_is_a_login_failure(fake: FakeDiscord) -> None:
    bot = FakeTestBot()
    with pytest.raises(discord.LoginFailure):
        await bot.login("not-the-token")
    await bot.close()
    assert fake.unauthorized == 1
    assert fake.identifies == []


async def test_heartbeats_are_acknowledged(fake: FakeDiscord, running: Running) -> None:
    # discord.py heartbeats right after HELLO; latency stays infinite until op 11 arrives.
    await eventually(lambda: math.isfinite(running.bot.latency))
    assert fake.heartbeats >= 1


async def test_guild_join_after_ready(fake: FakeDiscord, running: Running) -> None:
    guild = fake.add_guild("Gamma", joined=False)
    guild.add_member("dave")
    await fake.add_guild_live(guild)
    await eventually(lambda: running.bot.joined)
    assert [g.id for g in running.bot.joined] == [guild.id]
    assert running.bot.get_guild(guild.id).name == "Gamma"


async def test_guild_removal_is_a_guild_delete(fake: FakeDiscord, running: Running) -> None:
    beta = fake.guild("Beta")
    await fake.remove_guild_live(beta)
    await eventually(lambda: running.bot.removed)
    assert [g.id for g in running.bot.removed] == [beta.id]
    assert running.bot.get_guild(beta.id) is None


async def test_dropped_connection_resumes_and_replays_missed_events(
    fake: FakeDiscord, running: Running
) -> None:
    alpha = fake.guild("Alpha")
    await fake.drop_gateway()
    # Sent while the client is disconnected: buffered in the session, replayed on RESUME.
    inter = await fake.invoke(alpha, "alice", "profile")
    reply = await inter.wait_response()
    assert reply.content.startswith("profile of alice in Alpha")
    assert len(fake.identifies) == 1
    assert fake.resumes[-1]["ok"] is True
    assert fake.resumes[-1]["replayed"] == 1  # exactly the missed INTERACTION_CREATE
    await eventually(lambda: running.bot.resumed == 1)


async def test_op7_reconnect_resumes(fake: FakeDiscord, running: Running) -> None:
    await fake.send_reconnect()
    await eventually(lambda: running.bot.resumed == 1)
    assert len(fake.identifies) == 1
    assert fake.resumes[-1]["ok"] is True
    assert fake.resumes[-1]["replayed"] == 0
    inter = await fake.invoke(fake.guild("Alpha"), "alice", "profile")
    assert (await inter.wait_response()).content.startswith("profile of alice")


async def test_invalid_session_not_resumable_reidentifies(
    fake: FakeDiscord, running: Running
) -> None:
    await fake.invalidate_session(resumable=False)
    await fake.wait_for_identify(count=2)
    await fake.wait_guilds_sent()
    assert fake.resumes == []
    inter = await fake.invoke(fake.guild("Beta"), "carol", "profile")
    assert (await inter.wait_response()).content.startswith("profile of carol in Beta")


async def test_invalid_session_resumable_resumes(fake: FakeDiscord, running: Running) -> None:
    await fake.invalidate_session(resumable=True)
    await eventually(lambda: running.bot.resumed == 1)
    assert len(fake.identifies) == 1
    assert fake.resumes[-1]["ok"] is True


async def test_resume_of_an_unknown_session_is_refused(fake: FakeDiscord, running: Running) -> None:
    # The server forgets the session while the client is away: RESUME -> op 9 -> IDENTIFY.
    session = fake.gateway.by_shard[0]
    await fake.drop_gateway()
    fake.gateway._drop_session(session)
    await fake.wait_for_identify(count=2)
    assert fake.resumes[-1]["ok"] is False
    await fake.wait_guilds_sent()
    inter = await fake.invoke(fake.guild("Alpha"), "bob", "profile")
    assert (await inter.wait_response()).content.startswith("profile of bob")


async def test_two_shards_route_guilds_by_id() -> None:
    fake = FakeDiscord(
        token=TOKEN,
        shard_count=2,
        validate=True,
        strict_requests=True,
        identify_window=IDENTIFY_WINDOW,
    )
    guilds = [fake.add_guild(f"g{i}") for i in range(4)]
    for guild in guilds:
        guild.add_member("user")
    assert {g.shard_id(2) for g in guilds} == {0, 1}
    await fake.start()
    runner = Running(ShardedTestBot())  # no shard_count: asks GET /gateway/bot
    try:
        with pointed_at(fake):
            await runner.start(fake)
            bot = runner.bot
            assert fake.request_counts[("GET", "/gateway/bot")] == 1
            assert bot.shard_count == 2
            assert sorted(i["shard"] for i in fake.identifies) == [[0, 2], [1, 2]]
            assert fake.gateway.identify_refusals == []  # discord.py paced its two shards
            assert len(bot.guilds) == 4
            for guild in guilds:
                assert bot.get_guild(guild.id).shard_id == guild.shard_id(2)
            for guild in guilds:
                session = fake.gateway.by_shard[guild.shard_id(2)]
                other = fake.gateway.by_shard[1 - guild.shard_id(2)]
                before, other_before = session.seq, other.seq
                inter = await fake.invoke(guild, "user", "profile")
                reply = await inter.wait_response()
                assert reply.content.startswith(f"profile of user in {guild.name}")
                assert (session.seq, other.seq) == (before + 1, other_before)
            await runner.stop()
    finally:
        await fake.stop()
    fake.assert_no_errors()


async def test_disallowed_privileged_intent_closes_4014() -> None:
    fake = FakeDiscord(token=TOKEN, privileged_intents=())
    fake.add_guild("Alpha")
    await fake.start()
    bot = FakeTestBot(members=True)
    try:
        with pointed_at(fake):
            await bot.login(TOKEN)
            with pytest.raises(discord.PrivilegedIntentsRequired):
                await asyncio.wait_for(bot.connect(reconnect=True), 10)
    finally:
        await bot.close()
        await fake.stop()


async def test_member_chunking_answers_op8() -> None:
    fake = FakeDiscord(token=TOKEN)
    guild = fake.add_guild("Big", members=5)
    await fake.start()
    bot = FakeTestBot(members=True, member_cache_flags=discord.MemberCacheFlags.all())
    runner = Running(bot)
    try:
        with pointed_at(fake):
            await runner.start(fake)
            members = await asyncio.wait_for(bot.get_guild(guild.id).chunk(), 5)
            assert sorted(m.name for m in members) == ["guildbot"] + [
                f"member{i}" for i in range(5)
            ]
            assert fake.gateway_ops[8] == 1
            await runner.stop()
    finally:
        await fake.stop()
    fake.assert_no_errors()


async def test_identify_with_a_wrong_token_is_closed_4004(fake: FakeDiscord) -> None:
    bot = FakeTestBot()
    try:
        await bot.login(TOKEN)
        fake.token = "rotated"  # the token was reset between login and IDENTIFY
        with pytest.raises(discord.ConnectionClosed) as closed:
            await asyncio.wait_for(bot.connect(reconnect=True), 10)
        assert closed.value.code == 4004
    finally:
        await bot.close()
        fake.token = TOKEN
    assert fake.identifies == []


async def test_delayed_gateway_holds_frames_back(fake: FakeDiscord, running: Running) -> None:
    fake.delay_gateway(1.0)
    inter = await fake.invoke(fake.guild("Alpha"), "alice", "secret")
    await asyncio.sleep(0.05)
    assert inter.sent_at is None  # still queued: it cannot go out before the delay
    assert not inter.responded
    await inter.wait_response()
    fake.delay_gateway(0)


async def test_heartbeats_without_acks() -> None:
    fake = FakeDiscord(token=TOKEN, heartbeat_interval_ms=50)
    fake.add_guild("Alpha")
    fake.set_heartbeat_acks(False)
    await fake.start()
    runner = Running(FakeTestBot())
    try:
        with pointed_at(fake):
            await runner.start(fake)
            await eventually(lambda: fake.heartbeats >= 3)
            assert math.isinf(runner.bot.latency)  # never acknowledged
            await runner.stop()
    finally:
        await fake.stop()
