"""The direct reply path (bot/responses.py): a command's first answer, a click's update of its
message and autocomplete's choices POSTed over the bot's own keep-alive callback connections, the
body built as discord.py builds it, checked by the fake Discord against Discord's OpenAPI
description (issue 17)."""

from __future__ import annotations

import asyncio
import datetime
import json
from types import SimpleNamespace

import discord
import pytest
from discord import app_commands
from discord.app_commands import Choice
from discord.webhook.async_ import async_context

from bot import components as ui
from bot.callbacks import CallbackClient
from bot.responses import (
    Reply,
    direct_choices,
    mark_answered,
    message_body,
    post_reply,
    send_choices,
    send_reply,
    update_message,
)
from tests.fake_discord import FakeDiscord, Message
from tests.fake_discord.interactions import FakeInteraction, stored_components
from tests.fake_discord.testing import serving
from tests.fixtures.callback_server import HANG_UP, NO_CONTENT

MENTIONS = discord.AllowedMentions(everyone=False, roles=False, users=True)


COMPONENT = discord.InteractionType.component
AUTOCOMPLETE = discord.InteractionType.autocomplete


def alpha(fake: FakeDiscord):
    return fake.guild("Alpha") if fake.state.guilds else fake.add_guild("Alpha")


def fake_interaction(fake: FakeDiscord, interaction_type: int = 2,
                     message: Message | None = None) -> FakeInteraction:
    """An interaction the fake knows (so it takes its callback), not sent anywhere: an
    application command, or (type 3) a click on ``message``, or (type 4) typing into the
    integer option ``challenge`` of ``/challenge accept``."""
    guild = alpha(fake)
    inter = FakeInteraction(interaction_id=fake.state.interaction_snowflake(), guild=guild,
                            member=guild.add_member("ann"), channel=guild.channel(None),
                            command="profile", options={}, interaction_type=interaction_type,
                            message=message, custom_id="gb1:lb:next:1:0:2" if message else None)
    if interaction_type == 4:
        inter.data = {"id": "1", "name": "challenge", "type": 1, "options": [
            {"name": "accept", "type": 1, "options": [
                {"name": "challenge", "type": 4, "value": "3", "focused": True}]}]}
    fake._remember(inter)
    return inter


def bot_message(fake: FakeDiscord, content: str) -> Message:
    """A message of the bot's with one button, in the fake's channel."""
    guild = alpha(fake)
    channel = guild.channel(None)
    button = {"type": 2, "style": 2, "label": "Next", "custom_id": "gb1:lb:next:1:0:2"}
    message = Message(id=fake.state.snowflake(), channel_id=channel.id, author=fake.bot_user,
                      content=content, guild_id=guild.id,
                      components=stored_components([{"type": 1, "components": [button]}]))
    fake.channel_messages[channel.id].append(message)
    return message


def bot_interaction(interaction_id: int, token: str, client: object | None = None,
                    kind: discord.InteractionType = discord.InteractionType.application_command):
    """What post_reply, send_reply, update_message and send_choices use of a
    discord.Interaction, with discord.py's own InteractionResponse (its bookkeeping says whether
    the interaction was answered). ``client``: the callback client the bot would hold
    (``GuildBot.callbacks``); ``kind``: the interaction's type."""
    inter = SimpleNamespace(id=interaction_id, token=token, type=kind,
                            client=SimpleNamespace(callbacks=client, allowed_mentions=MENTIONS))
    inter.response = Response(inter)  # type: ignore[arg-type]
    return inter


class Response(discord.InteractionResponse):
    """discord.py's, with a deferral a test can stand in for (``deferring``)."""

    __slots__ = ("deferring",)

    async def defer(self, *, ephemeral: bool = False, thinking: bool = False) -> None:
        await self.deferring(ephemeral=ephemeral, thinking=thinking)


def snowflake(ago: float = 0.0) -> int:
    when = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=ago)
    return discord.utils.time_snowflake(when)


async def test_an_ephemeral_embed_with_buttons_reaches_the_fake_valid() -> None:
    """Regression (issue 17, item 1): a reply's body is what discord.py sends (type 4, flags 64
    for ephemeral, embeds, components, allowed_mentions), over our own connection, valid for the
    fake's OpenAPI check; the message id comes back. Fails on the old code because it had no
    direct path (no ``post_reply``/``message_body``: every answer went through aiohttp)."""
    async with serving(FakeDiscord(validate=True)) as fake:
        inter = fake_interaction(fake)
        client = CallbackClient(fake.api_base, "guildbot-test", b"{}", lambda *_: None)
        embed = discord.Embed(title="Profile of ann", description="Points: 100")
        view = ui.frozen(ui.button("Next", ui.make_id("lb", "page", inter.guild.id, 2)))
        reply = Reply(embed=embed, ephemeral=True, view=view, wants_message_id=True)
        bot_side = bot_interaction(inter.id, inter.token)
        await post_reply(bot_side, client, reply)  # type: ignore[arg-type]
        await client.close()
        got = await inter.wait_response()
        assert got.type == 4 and got.ephemeral
        assert got.embeds[0]["title"] == "Profile of ann"
        assert got.components[0]["components"][0]["custom_id"].startswith("gb1:lb:page:")
        assert got.raw["data"]["allowed_mentions"] == MENTIONS.to_dict()
        assert reply.message_id == got.message.id
        assert bot_side.response.is_done()  # an error reply afterwards would follow up
        fake.assert_no_errors()


async def test_a_reply_nobody_edits_asks_for_nothing_back() -> None:
    """Regression (issue 17, the reply's response): a reply whose message is never used again
    (all but a challenge's post) is sent without ``with_response``: the fake, as Discord,
    answers 204 and nothing is parsed; the message is posted all the same. Fails on the old code
    because every reply asked for the callback response and parsed it for a message id."""
    async with serving(FakeDiscord(validate=True)) as fake:
        inter = fake_interaction(fake)
        client = CallbackClient(fake.api_base, "guildbot-test", b"{}", lambda *_: None)
        reply = Reply(content="Welcome back", ephemeral=True)
        bot_side = bot_interaction(inter.id, inter.token)
        await post_reply(bot_side, client, reply)  # type: ignore[arg-type]
        await client.close()
        got = await inter.wait_response()
        assert got.type == 4 and got.content == "Welcome back" and got.message is not None
        assert reply.message_id is None
        assert bot_side.response.is_done()
        fake.assert_no_errors()


async def test_a_file_goes_as_multipart_and_a_public_reply_has_no_flags() -> None:
    """Regression (issue 17, item 1): an attachment is sent as multipart (``payload_json`` plus
    ``files[0]``) and arrives whole; a public reply carries no ephemeral flag. Fails on the old
    code because it had no direct path to send it."""
    async with serving(FakeDiscord(validate=True)) as fake:
        inter = fake_interaction(fake)
        client = CallbackClient(fake.api_base, "guildbot-test", b"{}", lambda *_: None)
        data = b'{"guild": 1, "members": []}\n' * 100
        reply = Reply(content="Your export", file=("export.json", data))
        await post_reply(bot_interaction(inter.id, inter.token), client,  # type: ignore[arg-type]
                         reply)
        await client.close()
        got = await inter.wait_response()
        assert got.content == "Your export" and not got.ephemeral
        assert [(a.filename, a.size) for a in got.attachments] == [("export.json", len(data))]
        fake.assert_no_errors()
    body, content_type = message_body(Reply(content="hi"), MENTIONS)
    assert content_type == "application/json" and b'"flags"' not in body


async def test_a_malformed_direct_body_fails_the_fakes_schema_check() -> None:
    """What bypasses discord.py is still checked: a callback body against Discord's OpenAPI
    description is flagged by the fake (a malformed one makes any e2e test fail at teardown), and
    a refused callback raises discord.HTTPException like discord.py's path. Fails on the old
    code because CallbackClient could only send its one prebuilt body (no ``post``)."""
    async with serving(FakeDiscord(validate=True)) as fake:
        inter = fake_interaction(fake)
        client = CallbackClient(fake.api_base, "guildbot-test", b"{}", lambda *_: None)
        status, _ = await client.post(inter.id, inter.token,
                                      b'{"type":4,"data":{"content":"x","tts":"yes"}}',
                                      "application/json")
        assert status is not None
        assert any(e.kind == "request-schema" for e in fake.errors)
        fake.errors.clear()
        with pytest.raises(discord.HTTPException) as refused:  # already acknowledged
            await post_reply(bot_interaction(inter.id, inter.token), client,  # type: ignore[arg-type]
                             Reply(content="again"))
        assert refused.value.status == 400 and refused.value.code == 40060
        assert [e.kind for e in fake.errors] == ["rest"]
        fake.errors.clear()
        await client.close()


def test_a_view_that_was_not_stopped_is_refused() -> None:
    """Regression (issue 17, item 1): the direct path stores no view, so a live one (whose
    clicks nothing would route) is a clear error, not a silently dead button. Fails on the old
    code because there was no ``message_body``."""
    view = discord.ui.View(timeout=None)
    view.add_item(discord.ui.Button(label="x", custom_id="gb1:ch:accept:1:2"))
    with pytest.raises(ValueError, match="must be stopped"):
        message_body(Reply(content="x", view=view), MENTIONS)


class Recording:
    """Stands for the callback client and discord.py's deferral/follow-up calls."""

    def __init__(self) -> None:
        self.posts: list[bytes] = []
        self.calls: list[str] = []
        self.deferred = asyncio.Event()

    async def _answer(self):
        return 200, b'{"interaction":{"id":"1","type":2,"response_message_id":"42"}}'

    def post(self, interaction_id, token, body, content_type, query=""):
        self.posts.append(body)
        return asyncio.ensure_future(self._answer())


async def test_a_reply_in_time_goes_direct_without_discord_pys_client() -> None:
    """Regression (issue 17, item 1): a reply ready in time is one POST of ours, and the
    interaction counts as answered. Fails on the old code because it called
    ``interaction.response.send_message``, which here has no HTTP client to go through."""
    client = Recording()
    inter = bot_interaction(snowflake(), "tok", client)

    async def work() -> Reply:
        return Reply(content="done", ephemeral=True)

    reply = await send_reply(inter, work())  # type: ignore[arg-type]
    assert reply.message_id == 42
    assert len(client.posts) == 1 and b'"flags":64' in client.posts[0]
    assert inter.response.is_done()


async def test_work_past_the_window_is_deferred_then_followed_up() -> None:
    """Kept behaviour (issue 17): the deferral now starts from a timer while the work runs in
    the command's own task; work that cannot finish before the window closes still gets a
    deferral and its reply as a follow-up, never the direct POST. The work here waits for the
    deferral itself, so it cannot finish in time. The old code passes this too (it deferred
    the same way): this guards the behaviour across the change, it is not a regression test."""
    client = Recording()
    inter = bot_interaction(snowflake(ago=10), "tok", client)

    async def defer(*, ephemeral: bool, thinking: bool) -> None:
        client.calls.append(f"defer ephemeral={ephemeral} thinking={thinking}")
        client.deferred.set()

    async def followup(**kwargs) -> SimpleNamespace:
        client.calls.append(f"followup {kwargs['content']} ephemeral={kwargs['ephemeral']}")
        return SimpleNamespace(id=7)

    inter.response.deferring = defer
    inter.followup = SimpleNamespace(send=followup)

    async def work() -> Reply:
        await client.deferred.wait()
        return Reply(content="late", ephemeral=True)

    reply = await send_reply(inter, work(), ephemeral_hint=True)  # type: ignore[arg-type]
    assert client.calls == ["defer ephemeral=True thinking=True",
                            "followup late ephemeral=True"]
    assert client.posts == [] and reply.message_id == 7


async def test_a_failing_work_waits_for_a_started_deferral() -> None:
    """Kept behaviour (issue 17): when the work fails after the deferral started, the error
    reaches the caller only once the deferral landed, so the error reply sees the interaction
    answered and follows up. The old code passes this too (its deferral was awaited before the
    work's result); it guards the timer-based deferral."""
    client = Recording()
    inter = bot_interaction(snowflake(ago=10), "tok", client)
    landed = []

    async def defer(*, ephemeral: bool, thinking: bool) -> None:
        client.deferred.set()
        await asyncio.sleep(0)
        landed.append(True)

    inter.response.deferring = defer

    async def work() -> Reply:
        await client.deferred.wait()
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await send_reply(inter, work())  # type: ignore[arg-type]
    assert landed == [True] and client.posts == []


async def test_a_reply_whose_connection_was_lost_is_sent_again(callback_server) -> None:
    """Regression (issue 17, item 1): discord.py retried a callback whose connection was reset
    (a keep-alive connection the server closed as we wrote); the direct path does too, on a new
    connection, and a Discord 5xx likewise. Fails on the old code of the direct path (one
    attempt: HTTPException on the lost connection)."""
    body = b'{"interaction":{"id":"1","type":2,"response_message_id":"42"}}'
    ok = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
          b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    unavailable = b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n"
    callback_server.answers = [HANG_UP, unavailable, ok]
    client = CallbackClient(callback_server.api_base, "t", b"{}", lambda *_: None, limit=1)
    reply = Reply(content="hello")
    await post_reply(bot_interaction(5, "tok"), client, reply)  # type: ignore[arg-type]
    await client.close()
    seen = callback_server.requests
    assert reply.message_id == 42
    assert len(seen) == 3 and len(set(seen)) == 1  # the same request each time


async def test_a_chunked_response_still_gives_the_message_id_and_keeps_the_connection(
        callback_server) -> None:
    """Regression (issue 17 follow-up, item 1): a server behind a proxy answers the callback
    with ``Transfer-Encoding: chunked``; the reply's message id is still read (``/challenge
    create`` keeps its public message), across a chunk boundary and with a trailer, and the
    connection, its body complete, serves the next reply. Fails on the old code because the
    client read a body only with Content-Length: a chunked response gave its status, no body (so
    ``message_id`` None), and closed its connection."""
    body = b'{"interaction":{"id":"1","type":2,"response_message_id":"42"}}'
    chunked = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n"
               b"%x;ext=1\r\n%s\r\n%x\r\n%s\r\n0\r\nX-Trailer: y\r\n\r\n"
               % (20, body[:20], len(body) - 20, body[20:]))
    callback_server.answers = [(chunked[:70], chunked[70:])] * 2  # a body across two reads
    client = CallbackClient(callback_server.api_base, "t", b"{}", lambda *_: None, limit=1)
    replies = [Reply(content="one"), Reply(content="two")]
    for number, reply in enumerate(replies):
        await post_reply(bot_interaction(number, "tok"), client, reply)  # type: ignore[arg-type]
    await client.close()
    assert [r.message_id for r in replies] == [42, 42]
    assert callback_server.connections == 1


def test_the_discord_py_internals_the_direct_path_relies_on_are_there() -> None:
    """Regression (issue 17 follow-up, item 3): the direct path marks discord.py's
    ``InteractionResponse`` answered through its private ``_response_type`` (``mark_answered``,
    the one place) and takes the client's ``allowed_mentions`` as discord.py would; against the
    installed discord.py, a real response becomes ``is_done()`` and a real client's mentions
    are the ones in the body. A discord.py upgrade that renames the attribute fails here
    (AttributeError: the class is slotted), not in a reply. Fails on the old code because there
    was no ``mark_answered``: the attribute was set inline in ``post_reply`` and nothing checked
    it, and the mentions were read from the private ``interaction._state``."""
    kinds = discord.InteractionResponseType
    for kind in (kinds.channel_message, kinds.message_update, kinds.autocomplete_result):
        response = discord.InteractionResponse(SimpleNamespace())  # type: ignore[arg-type]
        assert not response.is_done()
        mark_answered(SimpleNamespace(response=response), kind)  # type: ignore[arg-type]
        assert response.is_done() and response.type is kind
    client = discord.Client(intents=discord.Intents.none(), allowed_mentions=MENTIONS)
    body, _ = message_body(Reply(content="hi"), client.allowed_mentions)
    assert json.loads(body)["data"]["allowed_mentions"] == MENTIONS.to_dict()


# -- a click's update of its message, autocomplete's choices ------------------------------------
class Captured:
    """Stands for discord.py's webhook adapter: what discord.py itself would POST."""

    def __init__(self) -> None:
        self.payloads: list[dict] = []

    async def create_interaction_response(self, interaction_id, token, *, params, **_):
        self.payloads.append(params.payload)
        return {"interaction": {"id": str(interaction_id), "type": 3}}


async def discord_pys_own(call, kind: discord.InteractionType) -> dict:
    """The callback body discord.py's own InteractionResponse sends for ``call(response)`` on an
    interaction of type ``kind`` (``edit_message`` of a click, ``autocomplete``): the reference
    the direct bodies match."""
    adapter = Captured()
    token = async_context.set(adapter)  # type: ignore[arg-type]
    state = SimpleNamespace(allowed_mentions=MENTIONS, _translator=None,
                            http=SimpleNamespace(proxy=None, proxy_auth=None),
                            prevent_view_updates_for=lambda _: None)
    parent = SimpleNamespace(id=1, token="t", type=kind, message=SimpleNamespace(id=9),
                             _state=state, _session=None)
    try:
        await call(discord.InteractionResponse(parent))  # type: ignore[arg-type]
    finally:
        async_context.reset(token)
    return adapter.payloads[0]


async def test_a_click_updates_its_message_direct_with_discord_pys_body() -> None:
    """Regression (issue 17, direct2 item 1): a click's answer that edits its message (a
    leaderboard page, a challenge's post) is one UPDATE_MESSAGE POST of ours: the body discord.py's
    ``edit_message`` would send (the embed or content given, the view's components, ``[]`` for
    none, the client's allowed mentions, no flags even for an ephemeral Reply), valid for the
    fake's OpenAPI check, the message edited in place; discord.py's bookkeeping records
    ``message_update``, so an error afterwards follows up. Fails on the old code because there
    was no ``update_message``: every such edit went through discord.py's aiohttp client."""
    embed = discord.Embed(title="Leaderboard", description="page 2")
    view = ui.frozen(ui.button("Prev", ui.make_id("lb", "prev", 1, 0, 1)))
    page = Reply(embed=embed, view=view, ephemeral=True)
    done = Reply("Challenge #3 accepted")

    async def edit(response):
        await response.edit_message(embed=embed, view=view)

    async def edit_done(response):
        await response.edit_message(content="Challenge #3 accepted", view=None)

    async with serving(FakeDiscord(validate=True)) as fake:
        client = CallbackClient(fake.api_base, "guildbot-test", b"{}", lambda *_: None)
        for reply, reference in ((page, edit), (done, edit_done)):
            message = bot_message(fake, "Leaderboard page 1")
            inter = fake_interaction(fake, 3, message)
            bot_side = bot_interaction(inter.id, inter.token, client, COMPONENT)
            await update_message(bot_side, reply)  # type: ignore[arg-type]
            got = await inter.wait_response()
            assert got.type == 7 and got.message is message
            assert got.raw == await discord_pys_own(reference, COMPONENT)
            assert "flags" not in got.raw["data"]
            assert bot_side.response.type is discord.InteractionResponseType.message_update
        await client.close()
        fake.assert_no_errors()
    assert message.content == "Challenge #3 accepted" and message.components == []


async def test_choices_go_direct_with_discord_pys_body() -> None:
    """Regression (issue 17, direct2 item 1): autocomplete's choices are one
    APPLICATION_COMMAND_AUTOCOMPLETE_RESULT POST of ours: each ``Choice.to_dict()``, the body
    discord.py's ``autocomplete`` would send, valid for the fake (whose checks include the
    option's type); discord.py's bookkeeping records ``autocomplete_result``. Fails on the old
    code because there was no ``send_choices``: choices went through discord.py's client."""
    choices = [Choice(name="#3 · challenges you · 5 points · open", value=3),
               Choice(name="#31 · you challenged bob · 9 points · accepted", value=31)]

    async def choose(response):
        await response.autocomplete(choices)

    async with serving(FakeDiscord(validate=True)) as fake:
        client = CallbackClient(fake.api_base, "guildbot-test", b"{}", lambda *_: None)
        inter = fake_interaction(fake, 4)
        bot_side = bot_interaction(inter.id, inter.token, client, AUTOCOMPLETE)
        await send_choices(bot_side, choices)  # type: ignore[arg-type]
        got = await inter.wait_response()
        assert got.type == 8 and got.choices == [c.to_dict() for c in choices]
        assert got.raw == await discord_pys_own(choose, AUTOCOMPLETE)
        assert bot_side.response.type is discord.InteractionResponseType.autocomplete_result
        await client.close()
        fake.assert_no_errors()


async def test_what_discord_would_refuse_is_a_clear_error_and_nothing_is_sent() -> None:
    """Regression (issue 17, direct2 item 1): discord.py's own checks hold on the direct path:
    more than Discord's 25 choices, choices for what is not autocomplete, an update for what is
    neither a click nor a modal, and a second first response are errors before anything is
    sent (InteractionResponded for the last, as discord.py raises). Fails on the old code
    because there was no ``send_choices``/``update_message``."""
    client = Recording()
    typing = bot_interaction(1, "tok", client, AUTOCOMPLETE)
    many = [Choice(name=f"#{n}", value=n) for n in range(26)]
    with pytest.raises(ValueError, match="26 autocomplete choices"):
        await send_choices(typing, many)  # type: ignore[arg-type]
    command = bot_interaction(2, "tok", client)
    with pytest.raises(ValueError, match="takes no choices"):
        await send_choices(command, many[:1])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no message to update"):
        await update_message(command, Reply("x"))  # type: ignore[arg-type]
    click = bot_interaction(3, "tok", client, COMPONENT)
    mark_answered(click, discord.InteractionResponseType.deferred_message_update)  # type: ignore[arg-type]
    with pytest.raises(discord.InteractionResponded):
        await update_message(click, Reply("x"))  # type: ignore[arg-type]
    assert client.posts == [] and not typing.response.is_done()


async def test_an_update_and_choices_are_retried_like_a_reply_and_a_refusal_raises(
        callback_server) -> None:
    """Regression (issue 17, direct2 item 1): an update or choices whose connection was lost or
    that Discord failed with a 5xx are sent again, as a reply is (the same loop), without
    ``with_response`` (nothing is read back); a refusal raises discord.HTTPException and leaves
    the interaction unanswered. Fails on the old code because neither went direct."""
    unavailable = b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n"
    refusal = b'{"message": "Invalid Form Body", "code": 50035}'
    refused = (b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n%s" % (len(refusal), refusal))
    callback_server.answers = [HANG_UP, unavailable, NO_CONTENT, unavailable, refused]
    client = CallbackClient(callback_server.api_base, "t", b"{}", lambda *_: None, limit=1)
    click = bot_interaction(5, "tok", client, COMPONENT)
    await update_message(click, Reply("Accepted"))  # type: ignore[arg-type]
    typing = bot_interaction(6, "tok", client, AUTOCOMPLETE)
    with pytest.raises(discord.HTTPException) as error:
        await send_choices(typing, [Choice(name="#3", value=3)])  # type: ignore[arg-type]
    await client.close()
    assert (error.value.status, error.value.code) == (400, 50035)
    assert click.response.is_done() and not typing.response.is_done()
    sent = callback_server.callbacks()
    assert [c.interaction_id for c in sent] == ["5", "5", "5", "6", "6"]
    assert {c.query for c in sent} == {""} and len({c.body for c in sent[:3]}) == 1
    assert json.loads(sent[0].body) == {"type": 7, "data": {
        "content": "Accepted", "components": [], "tts": False,
        "allowed_mentions": MENTIONS.to_dict()}}


async def test_direct_choices_is_an_autocomplete_callback_discord_py_takes() -> None:
    """Regression (issue 17, direct2 item 1): ``direct_choices`` wraps a callback that returns
    choices so that they go direct and discord.py is handed none (it then sees the interaction
    answered and sends nothing); discord.py accepts the wrapper where it checks an autocomplete
    callback's signature, a function's and a cog method's (which it passes ``self``). Fails on
    the old code because there was no ``direct_choices``."""
    client = Recording()

    async def zones(interaction, current: str) -> list[Choice[str]]:
        return [Choice(name=current.title(), value=current)]

    class Cog:
        async def numbers(self, interaction, current: str) -> list[Choice[int]]:
            return [Choice(name=f"#{current}", value=int(current))]

        @app_commands.command(name="accept", description="Accept")
        @app_commands.autocomplete(number=direct_choices(numbers))
        async def accept(self, interaction: discord.Interaction, number: int) -> None: ...

    @app_commands.command(name="settings", description="Settings")
    @app_commands.autocomplete(zone=direct_choices(zones))
    async def settings(interaction: discord.Interaction, zone: str) -> None: ...

    typing = bot_interaction(1, "tok", client, AUTOCOMPLETE)
    assert await direct_choices(zones)(typing, "europe/paris") == []
    assert typing.response.is_done()
    numbers = Cog.accept._params["number"].autocomplete  # what discord.py will call
    assert numbers.pass_command_binding  # type: ignore[attr-defined]
    assert await numbers(Cog(), bot_interaction(2, "tok", client, AUTOCOMPLETE), "3") == []
    assert [json.loads(body)["data"]["choices"] for body in client.posts] == [
        [{"name": "Europe/Paris", "value": "europe/paris"}], [{"name": "#3", "value": 3}]]
