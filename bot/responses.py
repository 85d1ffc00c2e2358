"""What a command answers, separate from how it is sent.

Command logic returns a :class:`Reply`; :func:`send_reply` delivers it within Discord's 3-second
window: it answers directly when the work finishes in time and defers first when it would not.

The direct answer, every command's usual path, bypasses discord.py's HTTP client: the body is
built by discord.py's own ``interaction_message_response_params`` (the same JSON or multipart
it would send) and POSTed over the bot's keep-alive callback connections
(:class:`bot.callbacks.CallbackClient`), and of the response only the message id is read. A
click's update of its message (:func:`update_message`) and autocomplete's choices
(:func:`send_choices`, :func:`direct_choices`) go the same way. A deferral and its follow-up,
which are rare, go through discord.py.
"""

from __future__ import annotations

import asyncio
import functools
import io
import json
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, ParamSpec, TypeVar, cast

import discord
from discord.app_commands import Choice
from discord.webhook.async_ import interaction_message_response_params

from bot.callbacks import CallbackClient

# Discord drops an interaction not answered within 3 s of its creation; keep a safety margin.
ANSWER_BUDGET = 2.0
# As discord.py's webhook adapter: a reply whose connection was lost (a keep-alive connection
# the server closed as we wrote) or that Discord failed with one of these is sent again.
RETRIES = 2
RETRY_STATUSES = frozenset({500, 502, 504, 524})
RETRY_DELAY = 0.25  # seconds before a retry after a Discord 5xx (none after a lost connection)
MAX_CHOICES = 25  # autocomplete choices Discord takes in one answer
# What may update its message (callback type 7), as discord.py's ``edit_message`` allows.
UPDATABLE = (discord.InteractionType.component, discord.InteractionType.modal_submit)


@dataclass
class Reply:
    content: str | None = None
    embed: discord.Embed | None = None
    ephemeral: bool = False
    file: tuple[str, bytes] | None = None
    view: discord.ui.View | None = None  # components (bot.components.frozen: nothing kept)
    # Ask Discord for the id of the message it becomes (``with_response``): only for a reply
    # whose message is used afterwards (a challenge's post, edited by clicks and expiry). Any
    # other reply is sent without it: Discord answers 204, nothing to read back.
    wants_message_id: bool = False
    message_id: int | None = None  # the message it became, set by send_reply when asked

    def kwargs(self) -> dict:
        out: dict = {}
        if self.view is not None:
            out["view"] = self.view
        if self.content is not None:
            out["content"] = self.content
        if self.embed is not None:
            out["embed"] = self.embed
        if self.file is not None:
            out["file"] = discord.File(io.BytesIO(self.file[1]), filename=self.file[0])
        return out


R = TypeVar("R", bound=Reply)
P = ParamSpec("P")
ChoiceList = list[Choice[Any]]


def time_left(interaction: discord.Interaction, budget: float = ANSWER_BUDGET) -> float:
    """Seconds until we must have answered, from the interaction's own creation time."""
    created = discord.utils.snowflake_time(interaction.id).timestamp()
    left = created + budget - time.time()
    return min(max(left, 0.2), budget)  # tolerate clock skew between us and Discord


def message_body(reply: Reply, allowed_mentions: discord.AllowedMentions | None, *,
                 update: bool = False) -> tuple[bytes, str]:
    """The CHANNEL_MESSAGE_WITH_SOURCE callback for ``reply``, or with ``update`` the
    UPDATE_MESSAGE one: its body and content type (JSON, or multipart with ``payload_json`` when
    it carries a file), as discord.py makes it. An update is what discord.py's ``edit_message``
    sends: the reply's content and embed replace the message's where set (left as they are when
    None), its view always replaces the components (None removes them); no flags."""
    if reply.view is not None and not reply.view.is_finished():
        raise ValueError("a Reply's view must be stopped (bot.components.frozen): nothing "
                         "would route its clicks")
    fields = reply.kwargs()
    if update:
        kind = discord.InteractionResponseType.message_update
        fields["view"] = reply.view
        flags = discord.utils.MISSING
    else:
        kind = discord.InteractionResponseType.channel_message
        flags = (discord.MessageFlags(ephemeral=True) if reply.ephemeral
                 else discord.utils.MISSING)
    params = interaction_message_response_params(
        type=kind.value, flags=flags, previous_allowed_mentions=allowed_mentions, **fields)
    if not params.files:
        return _json(params.payload), "application/json"
    with params:
        return _multipart(params.multipart or [])


def _json(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def _multipart(parts: list[dict[str, Any]]) -> tuple[bytes, str]:
    boundary = secrets.token_hex(16)
    out = bytearray()
    for part in parts:
        value = part["value"]
        data = value.read() if hasattr(value, "read") else str(value).encode()
        disposition = f'form-data; name="{part["name"]}"'
        if "filename" in part:
            filename = str(part["filename"]).replace('"', "%22")
            disposition += f'; filename="{filename}"'
        kind = part.get("content_type") or "application/json"
        out += (f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
                f"Content-Type: {kind}\r\n\r\n").encode()
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def mark_answered(interaction: discord.Interaction,
                  kind: discord.InteractionResponseType) -> None:
    """discord.py's own bookkeeping after a first response of type ``kind`` sent without it: the
    interaction has its response (``is_done()``, ``response.type``), so an error reply
    afterwards follows up. The one private attribute of discord.py the direct path touches
    (``InteractionResponse._response_type``, slotted: a rename raises AttributeError);
    tests/unit/test_responses.py checks it against the installed discord.py, so an upgrade that
    removes it fails the tests, not a reply."""
    interaction.response._response_type = kind


async def _respond(interaction: discord.Interaction, client: CallbackClient,
                   kind: discord.InteractionResponseType, body: bytes, content_type: str,
                   query: str = "") -> Any:
    """POST ``body``, the first response to ``interaction``, over ``client``; a lost connection
    or a Discord 5xx is sent again (``RETRIES``). Returns the response's JSON (None without one)
    after marking the interaction answered; a refused or failed request raises
    :class:`discord.HTTPException`, an interaction already answered InteractionResponded."""
    if interaction.response.is_done():
        raise discord.InteractionResponded(interaction)
    for attempt in range(RETRIES + 1):
        status, data = await client.post(interaction.id, interaction.token, body, content_type,
                                         query)
        if status is not None and status not in RETRY_STATUSES:
            break
        if status is not None and attempt < RETRIES:
            await asyncio.sleep(RETRY_DELAY)
    try:
        payload: Any = json.loads(data) if data else None
    except ValueError:
        payload = None
    if status is None or status >= 300:
        message = payload if isinstance(payload, dict) else "no response from Discord"
        raise discord.HTTPException(
            SimpleNamespace(status=status or 0, reason="callback"),
            message)
    mark_answered(interaction, kind)
    return payload


async def post_reply(interaction: discord.Interaction, client: CallbackClient,
                     reply: Reply) -> None:
    """Answer ``interaction`` with ``reply`` (the first response) over ``client``; sets
    ``reply.message_id`` when the reply asks for it. A refused or failed request raises
    :class:`discord.HTTPException`."""
    body, content_type = message_body(reply, interaction.client.allowed_mentions)
    payload = await _respond(interaction, client, discord.InteractionResponseType.channel_message,
                             body, content_type,
                             "?with_response=true" if reply.wants_message_id else "")
    # InteractionCallbackResponse: only the message's id is read, nothing is built from it.
    about = payload.get("interaction") if isinstance(payload, dict) else None
    message_id = (about or {}).get("response_message_id")
    reply.message_id = int(message_id) if message_id else None


async def update_message(interaction: discord.Interaction, reply: Reply) -> None:
    """Answer a click (or a modal opened from one) by making its message ``reply``
    (UPDATE_MESSAGE, :func:`message_body` with ``update``), direct: what
    ``interaction.response.edit_message`` did, without discord.py's HTTP client and with nothing
    read back. Only a first response: an interaction already answered raises
    InteractionResponded, as discord.py's does."""
    if interaction.type not in UPDATABLE:
        raise ValueError(f"an interaction of type {interaction.type} has no message to update")
    body, content_type = message_body(reply, interaction.client.allowed_mentions, update=True)
    await _respond(interaction, interaction.client.callbacks,  # type: ignore[attr-defined]
                   discord.InteractionResponseType.message_update, body, content_type)


async def send_choices(interaction: discord.Interaction, choices: Sequence[Choice[Any]]) -> None:
    """Answer autocomplete with ``choices`` (APPLICATION_COMMAND_AUTOCOMPLETE_RESULT), direct:
    what ``interaction.response.autocomplete`` did. Each choice as ``Choice.to_dict()`` makes it
    (its name as given: the bot's are already in the member's language, bot/i18n). More than
    Discord's 25, or an interaction that is not autocomplete, is a ValueError."""
    if interaction.type is not discord.InteractionType.autocomplete:
        raise ValueError(f"an interaction of type {interaction.type} takes no choices")
    if len(choices) > MAX_CHOICES:
        raise ValueError(f"{len(choices)} autocomplete choices: Discord takes at most "
                         f"{MAX_CHOICES}")
    body = _json({"type": discord.InteractionResponseType.autocomplete_result.value,
                  "data": {"choices": [choice.to_dict() for choice in choices]}})
    await _respond(interaction, interaction.client.callbacks,  # type: ignore[attr-defined]
                   discord.InteractionResponseType.autocomplete_result, body,
                   "application/json")


def direct_choices(callback: Callable[P, Awaitable[ChoiceList]],
                   ) -> Callable[P, Coroutine[Any, Any, ChoiceList]]:
    """An autocomplete callback (``@app_commands.autocomplete(option=callback)``) whose choices
    go direct (:func:`send_choices`): discord.py, handed none, finds the interaction answered
    and sends nothing. The signature and name discord.py inspects are the callback's own."""

    @functools.wraps(callback)
    async def answer_direct(*args: P.args, **kwargs: P.kwargs) -> ChoiceList:
        interaction = cast(discord.Interaction, args[-2])  # discord.py calls ([self,] it, current)
        await send_choices(interaction, await callback(*args, **kwargs))
        return []

    return answer_direct


async def send_reply(interaction: discord.Interaction, work: Awaitable[R], *,
                     ephemeral_hint: bool = False) -> R:
    """Run ``work`` and send its reply, deferring first if it is not done in time.

    ``work`` runs in the caller's task; a timer starts the deferral only when the window is
    about to close, so a command finished in time costs no extra task or event-loop trip."""
    loop = asyncio.get_running_loop()
    deferral: list[asyncio.Task] = []

    def defer() -> None:
        deferral.append(loop.create_task(
            interaction.response.defer(ephemeral=ephemeral_hint, thinking=True)))

    timer = loop.call_later(time_left(interaction), defer)
    try:
        reply = await work
    except BaseException:
        timer.cancel()
        if deferral:  # let the deferral land before the error reply looks at the response
            await asyncio.gather(*deferral, return_exceptions=True)
        raise
    timer.cancel()
    if not deferral:
        await post_reply(interaction, interaction.client.callbacks, reply)  # type: ignore[attr-defined]
        return reply
    await deferral[0]
    message = await interaction.followup.send(ephemeral=reply.ephemeral, wait=True,
                                              **reply.kwargs())
    reply.message_id = message.id
    return reply


async def answer(interaction: discord.Interaction, text: str, *, ephemeral: bool = True) -> None:
    """Send a short text answer, as the first response or as a follow-up if already answered."""
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=ephemeral)
    else:
        await post_reply(interaction, interaction.client.callbacks,  # type: ignore[attr-defined]
                         Reply(content=text, ephemeral=ephemeral))
