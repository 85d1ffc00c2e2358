"""The load shedder the benchmark's overload step relies on (bot/shedding.py).

Lives beside the benchmark because it is the benchmark's overload target that it serves: late
slash commands get a cheap "busy" answer instead of silence, and a skewed clock never sheds.
"""

from __future__ import annotations

import json

import discord
from aiohttp import web

from bot import i18n
from bot.shedding import DISCORD_EPOCH_MS, MAX_WAIT, LoadShedder


def snowflake(unix_seconds: float) -> int:
    return (int(unix_seconds * 1000) - DISCORD_EPOCH_MS) << 22


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make(clock: Clock, observed: list | None = None, api_base: str = "http://127.0.0.1:9/api"):
    def observe(*args):
        if observed is not None:
            observed.append(args)
    return LoadShedder(api_base, "busy!", observe, clock=clock)


def test_a_constant_clock_skew_never_counts_as_lateness():
    clock = Clock(1_800_000_000.0)
    shedder = make(clock)
    for step in range(200):
        clock.now += 0.01
        # The host clock runs 5 s ahead of Discord's: every command looks 5 s old.
        assert shedder.lateness(snowflake(clock.now - 5.0)) < 0.01, step


def test_a_growing_backlog_is_late_and_a_drained_one_is_not():
    clock = Clock(1_800_000_000.0)
    shedder = make(clock)
    assert shedder.lateness(snowflake(clock.now - 0.002)) == 0.0
    waits = []
    for _ in range(100):  # one second in which each command waited 10 ms more than the last
        clock.now += 0.01
        waits.append(shedder.lateness(snowflake(clock.now - 0.002 - len(waits) * 0.01)))
    assert waits[-1] > MAX_WAIT
    clock.now += 1.0
    assert shedder.lateness(snowflake(clock.now - 0.002)) < 0.01


async def test_late_commands_get_a_busy_callback_and_skip_discord_py():
    received = []

    async def callback(request: web.Request) -> web.Response:
        received.append((request.match_info["id"], request.match_info["token"],
                         await request.json(), request.query_string))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/api/v10/interactions/{id}/{token}/callback", callback)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    clock = Clock(1_800_000_000.0)
    observed: list = []
    shedder = make(clock, observed, f"http://127.0.0.1:{port}/api/v10")
    parsed = []
    parsers = {"INTERACTION_CREATE": parsed.append}
    shedder.install(parsers)

    def event(waited: float, kind: int = 2) -> dict:
        return {"id": str(snowflake(clock.now - waited)), "type": kind, "token": "tok",
                "guild_id": "123456789012345678", "data": {"name": "profile"}}

    try:
        on_time = event(0.001)
        parsers["INTERACTION_CREATE"](on_time)
        clock.now += 0.01
        late = event(0.001 + MAX_WAIT + 0.2)
        parsers["INTERACTION_CREATE"](late)
        autocomplete = event(0.001 + MAX_WAIT + 0.3, kind=4)  # never shed: it needs choices
        parsers["INTERACTION_CREATE"](autocomplete)
        await shedder.close()
    finally:
        await runner.cleanup()
    assert parsed == [on_time, autocomplete]
    assert len(received) == 1
    interaction_id, token, body, query = received[0]
    assert (interaction_id, token, query) == (late["id"], "tok", "")
    assert body == {"type": 4, "data": {"content": "busy!", "flags": 64}}
    assert [(c, g, o) for c, g, o, _ in observed] == [("profile", 123456789012345678, "busy")]
    assert json.loads(shedder.body) == body


async def test_the_busy_answer_is_in_the_members_locale():
    """Regression (issue 14, item 2): a shed command is answered in the language of the raw
    payload's ``locale`` (the body prebuilt per shipped language), English for a locale we do
    not ship or none; the in-flight limit's answer takes the Interaction's locale. Fails on the
    old code because the one prebuilt body was English for everyone."""
    from bot.app import BUSY_NOTICE

    received = []

    async def callback(request: web.Request) -> web.Response:
        received.append((request.match_info["id"], (await request.json())["data"]["content"]))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/api/v10/interactions/{id}/{token}/callback", callback)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    clock = Clock(1_800_000_000.0)
    shedder = LoadShedder(f"http://127.0.0.1:{port}/api/v10", BUSY_NOTICE, lambda *a: None,
                          clock=clock)
    parsers = {"INTERACTION_CREATE": lambda data: None}
    shedder.install(parsers)
    parsers["INTERACTION_CREATE"]({"id": str(snowflake(clock.now - 0.001)), "type": 2,
                                   "token": "t", "data": {"name": "profile"}})  # the floor
    clock.now += 0.01
    try:
        for number, locale in enumerate(("de", "es-419", "es-ES", "ja", None)):
            event = {"id": str(snowflake(clock.now - MAX_WAIT - 0.2) + number), "type": 2,
                     "token": "t", "data": {"name": "profile"}}
            if locale:
                event["locale"] = locale
            parsers["INTERACTION_CREATE"](event)
        shedder.answer_busy(snowflake(clock.now) + 9, "t", None, None, discord.Locale.german)
        await shedder.close()
    finally:
        await runner.cleanup()
    german = ("guildbot ist gerade sehr ausgelastet. Bitte versuche es in ein paar Sekunden "
              "noch einmal.")
    spanish = "guildbot está muy ocupado ahora mismo. Vuelve a intentarlo en unos segundos."
    assert [content for _id, content in sorted(received)] == [
        german, spanish, spanish, BUSY_NOTICE, BUSY_NOTICE, german]


def test_the_busy_answers_are_built_before_any_load(monkeypatch):
    """Regression (issue 15/17 review, item 3): the busy answer of every shipped language is
    built when the shedder is made (the bot makes it before the gateway connects); answering
    busy is a dict lookup (English for a locale we do not ship) that reads no catalog and
    builds nothing. Fails on the old code because each language's answer was built at its
    first busy answer, while the bot was overloaded."""
    from bot.app import BUSY_NOTICE

    shedder = LoadShedder("http://127.0.0.1:9/api", BUSY_NOTICE, lambda *a: None,
                          clock=Clock(1_800_000_000.0))
    built = dict(shedder.tails)
    assert set(built) == set(i18n.LANGUAGES)

    def nothing_more(*args):
        raise AssertionError("built while answering busy")

    monkeypatch.setattr(shedder.client, "prebuild", nothing_more)
    monkeypatch.setattr(i18n, "translate", nothing_more)
    sent: list[bytes | None] = []
    monkeypatch.setattr(shedder.client, "submit",
                        lambda interaction_id, token, item, tail=None: sent.append(tail))
    for locale in ("de", "es-419", "ja", None, discord.Locale.german):
        shedder.answer_busy(1, "t", None, None, locale)
    assert shedder.tails == built
    assert sent == [built["de"], built["es"], built["en"], built["en"], built["de"]]
    body = json.loads(built["de"].split(b"\r\n\r\n", 1)[1])
    assert body["data"]["content"] == ("guildbot ist gerade sehr ausgelastet. Bitte versuche "
                                       "es in ein paar Sekunden noch einmal.")


class RawServer:
    """A loopback HTTP/1.1 server answering each request with the next canned response."""

    def __init__(self, responses: list[bytes | None]) -> None:
        self.responses = list(responses)
        self.requests: list[bytes] = []
        self.connections = 0

    async def handle(self, reader, writer) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
                self.requests.append(head + await reader.readexactly(length))
                answer = self.responses.pop(0)
                if answer is None:  # hang up without answering
                    break
                writer.write(answer)
                await writer.drain()
                if b"Connection: close" in answer:
                    break
        except Exception:  # noqa: BLE001 - the client went away
            pass
        writer.close()

    async def __aenter__(self) -> str:
        import asyncio

        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/api/v10"

    async def __aexit__(self, *exc) -> None:
        self.server.close()


NO_CONTENT = b"HTTP/1.1 204 No Content\r\nServer: x\r\n\r\n"
ERROR = (b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
         b"Content-Length: 46\r\n\r\n" + b'{"message": "already acknowledged", "c": 4006}')
CHUNKED = (b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"4\r\nnope\r\n0\r\n\r\n")
CLOSING = (b"HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 4\r\n\r\n"
           b"nope")


async def test_busy_answers_reuse_a_connection_and_survive_odd_responses():
    import asyncio

    from bot.callbacks import CallbackClient

    server = RawServer([NO_CONTENT, ERROR, NO_CONTENT, CHUNKED, NO_CONTENT, CLOSING, NO_CONTENT,
                        None, NO_CONTENT])
    async with server as api_base:
        results: dict = {}
        done = asyncio.Event()

        def finished(item, status):
            results[item] = status
            if len(results) == 9:
                done.set()

        client = CallbackClient(api_base, "guildbot-test", b'{"type":4}', finished, limit=1)
        for i in range(9):
            client.submit(1000 + i, f"tok/{i}", i)
        await asyncio.wait_for(done.wait(), 10)
        await client.close()
    # 204, 400 (body read, connection kept), 204, chunked 404 (body decoded, connection kept),
    # 204, 404 with Connection: close (connection dropped), 204 on a second connection,
    # hang-up (lost, not retried), 204 on a third.
    assert results == {0: 204, 1: 400, 2: 204, 3: 404, 4: 204, 5: 404, 6: 204, 7: None, 8: 204}
    assert server.connections == 3
    first = server.requests[0].decode()
    assert first.startswith("POST /api/v10/interactions/1000/tok%2F0/callback HTTP/1.1\r\n")
    assert "Content-Type: application/json" in first and first.endswith('{"type":4}')


async def test_a_silent_server_times_out_and_close_reports_the_rest():
    import asyncio

    from bot.callbacks import CallbackClient

    async def silent(reader, writer):
        try:
            await reader.read()
        except asyncio.CancelledError:
            writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    results: dict = {}
    client = CallbackClient(f"http://127.0.0.1:{port}/api/v10", "t", b"{}",
                        lambda item, status: results.__setitem__(item, status),
                        limit=1, timeout=0.2)
    for i in range(3):
        client.submit(1, "t", i)
    await asyncio.sleep(0.5)
    await client.close(timeout=0.1)
    server.close()
    assert results == {0: None, 1: None, 2: None}
