"""Slash-command interactions: building INTERACTION_CREATE and tracking the bot's answers."""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from tests.fake_discord.state.model import Attachment, Channel, Guild, Member, Message, Role, User

# Interaction callback types (https://discord.com/developers/docs/interactions/receiving-and-responding)
PONG = 1
CHANNEL_MESSAGE = 4
DEFERRED_CHANNEL_MESSAGE = 5
DEFERRED_UPDATE_MESSAGE = 6
UPDATE_MESSAGE = 7
AUTOCOMPLETE_RESULT = 8
MODAL = 9

# Application command option types
SUB_COMMAND = 1
SUB_COMMAND_GROUP = 2
STRING = 3
INTEGER = 4
BOOLEAN = 5
USER = 6
CHANNEL = 7
ROLE = 8
MENTIONABLE = 9
NUMBER = 10

EPHEMERAL = 1 << 6
LOADING = 1 << 7
ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024


@dataclass(eq=False, slots=True)
class Reply:
    """One answer of the bot to an interaction.

    ``kind`` is ``"callback"`` (the interaction response; ``type`` is the callback type: 4 message,
    5 deferred, 6 deferred update, 7 update, 8 autocomplete, 9 modal), ``"edit"`` (PATCH of the
    original response) or ``"followup"`` (POST to the webhook).
    """

    kind: str
    type: int | None
    content: str | None
    embeds: list[dict[str, Any]]
    flags: int
    attachments: list[Attachment]
    components: list[dict[str, Any]]
    message: Message | None
    raw: dict[str, Any]
    at: float = field(default_factory=time.perf_counter)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def deferred(self) -> bool:
        return self.kind == "callback" and self.type in (
            DEFERRED_CHANNEL_MESSAGE,
            DEFERRED_UPDATE_MESSAGE,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "type": self.type,
            "content": self.content,
            "embeds": self.embeds,
            "flags": self.flags,
            "ephemeral": self.ephemeral,
            "components": self.components,
            "attachments": [
                {"filename": a.filename, "size": a.size, "content_type": a.content_type}
                for a in self.attachments
            ],
            "message_id": str(self.message.id) if self.message else None,
            "raw": self.raw,
        }

    def __repr__(self) -> str:
        return (
            f"<Reply {self.kind} type={self.type} content={self.content!r} "
            f"embeds={len(self.embeds)} flags={self.flags} files={len(self.attachments)}>"
        )


class FakeInteraction:
    """An INTERACTION_CREATE the fake sent, and everything the bot answered to it."""

    __slots__ = (
        "id",
        "token",
        "guild",
        "member",
        "channel",
        "command",
        "options",
        "interaction_type",
        "created_at",
        "sent_at",
        "responded_at",
        "response",
        "original",
        "edits",
        "followups",
        "followup_messages",
        "_response_fut",
        "_final_fut",
    )

    def __init__(
        self,
        *,
        interaction_id: int,
        guild: Guild,
        member: Member,
        channel: Channel,
        command: str,
        options: dict[str, Any],
        interaction_type: int = 2,
    ) -> None:
        loop = asyncio.get_running_loop()
        self.id = interaction_id
        self.token = "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(60)
        self.guild = guild
        self.member = member
        self.channel = channel
        self.command = command
        self.options = options
        self.interaction_type = interaction_type
        self.created_at = time.perf_counter()
        self.sent_at: float | None = None
        self.responded_at: float | None = None
        self.response: Reply | None = None
        self.original: Message | None = None
        self.edits: list[Reply] = []
        self.followups: list[Reply] = []
        self.followup_messages: dict[int, Message] = {}
        self._response_fut: asyncio.Future[Reply] = loop.create_future()
        self._final_fut: asyncio.Future[Reply] = loop.create_future()

    @property
    def latency(self) -> float | None:
        """Seconds from INTERACTION_CREATE written to the socket to the callback received."""
        if self.responded_at is None:
            return None
        start = self.sent_at if self.sent_at is not None else self.created_at
        return self.responded_at - start

    @property
    def responded(self) -> bool:
        return self.response is not None

    def mark_sent(self) -> None:
        if self.sent_at is None:
            self.sent_at = time.perf_counter()

    async def wait_response(self, timeout: float = 5.0) -> Reply:  # noqa: ASYNC109
        """The interaction callback (first answer)."""
        try:
            return await asyncio.wait_for(asyncio.shield(self._response_fut), timeout)
        except TimeoutError:
            raise AssertionError(
                f"bot did not answer interaction {self.command!r} within {timeout}s"
            ) from None

    async def wait_final(self, timeout: float = 5.0) -> Reply:  # noqa: ASYNC109
        """The answer a user finally sees: the callback message, or after a deferral the first
        edit of the original response or the first follow-up."""
        try:
            return await asyncio.wait_for(asyncio.shield(self._final_fut), timeout)
        except TimeoutError:
            state = "deferred" if self.response is not None else "never answered"
            raise AssertionError(
                f"interaction {self.command!r} got no final answer within {timeout}s ({state})"
            ) from None

    # -- recording (called by the REST layer) --------------------------------------------------
    def record_callback(self, reply: Reply) -> None:
        self.responded_at = time.perf_counter()
        self.response = reply
        if not self._response_fut.done():
            self._response_fut.set_result(reply)
        if not reply.deferred and not self._final_fut.done():
            self._final_fut.set_result(reply)

    def record_edit(self, reply: Reply) -> None:
        self.edits.append(reply)
        if not self._final_fut.done():
            self._final_fut.set_result(reply)

    def record_followup(self, reply: Reply) -> None:
        self.followups.append(reply)
        if reply.message is not None:
            self.followup_messages[reply.message.id] = reply.message
        if not self._final_fut.done():
            self._final_fut.set_result(reply)

    def __repr__(self) -> str:
        return f"<FakeInteraction {self.command!r} id={self.id} responded={self.responded}>"


def _option_value(
    name: str,
    value: Any,
    declared_type: int | None,
    guild: Guild,
    resolved: dict[str, dict[str, Any]],
    bot_permissions: int,
) -> dict[str, Any]:
    """One leaf option, filling ``resolved`` the way Discord does for users/channels/roles."""
    if isinstance(value, Member):
        resolved.setdefault("users", {})[str(value.id)] = value.user.to_payload()
        resolved.setdefault("members", {})[str(value.id)] = value.to_payload(
            with_user=False, with_permissions=True
        )
        return {"name": name, "type": declared_type or USER, "value": str(value.id)}
    if isinstance(value, User):
        resolved.setdefault("users", {})[str(value.id)] = value.to_payload()
        return {"name": name, "type": declared_type or USER, "value": str(value.id)}
    if isinstance(value, Channel):
        resolved.setdefault("channels", {})[str(value.id)] = {
            "id": str(value.id),
            "name": value.name,
            "type": value.type,
            "permissions": str(bot_permissions),
            "parent_id": None,
            "flags": 0,
        }
        return {"name": name, "type": CHANNEL, "value": str(value.id)}
    if isinstance(value, Role):
        resolved.setdefault("roles", {})[str(value.id)] = value.to_payload()
        return {"name": name, "type": declared_type or ROLE, "value": str(value.id)}
    if declared_type in (USER, MENTIONABLE) and isinstance(value, (int, str)):
        return _option_value(
            name, guild.member(value), declared_type, guild, resolved, bot_permissions
        )
    if declared_type == CHANNEL and isinstance(value, (int, str)):
        return _option_value(
            name, guild.channel(value), declared_type, guild, resolved, bot_permissions
        )
    if declared_type == INTEGER:
        return {"name": name, "type": INTEGER, "value": int(value)}
    if declared_type == NUMBER:
        return {"name": name, "type": NUMBER, "value": float(value)}
    if declared_type == BOOLEAN:
        return {"name": name, "type": BOOLEAN, "value": bool(value)}
    if declared_type == STRING:
        return {"name": name, "type": STRING, "value": str(value)}
    if isinstance(value, bool):
        return {"name": name, "type": BOOLEAN, "value": value}
    if isinstance(value, int):
        return {"name": name, "type": INTEGER, "value": value}
    if isinstance(value, float):
        return {"name": name, "type": NUMBER, "value": value}
    return {"name": name, "type": STRING, "value": str(value)}


def _find_definitions(synced: dict[str, Any] | None, path: list[str]) -> list[dict] | None:
    """The option definitions of the (sub)command at ``path`` in a synced command, if known."""
    if synced is None:
        return None
    options = synced.get("options") or []
    for part in path:
        for opt in options:
            if opt.get("name") == part and opt.get("type") in (SUB_COMMAND, SUB_COMMAND_GROUP):
                options = opt.get("options") or []
                break
        else:
            return None
    return options


def build_command_data(
    *,
    command: str,
    options: dict[str, Any],
    guild: Guild,
    synced: dict[str, Any] | None,
    command_id: int,
    bot_permissions: int,
) -> dict[str, Any]:
    """``data`` of a chat-input INTERACTION_CREATE. ``"a b c"`` = command a, group b, sub c."""
    parts = command.split()
    if not parts or len(parts) > 3:
        raise ValueError(f"command must be 'name', 'name sub' or 'name group sub', got {command!r}")
    root, subpath = parts[0], parts[1:]
    definitions = _find_definitions(synced, subpath)
    declared = {d["name"]: d.get("type") for d in definitions or ()}
    resolved: dict[str, dict[str, Any]] = {}
    leaf = [
        _option_value(name, value, declared.get(name), guild, resolved, bot_permissions)
        for name, value in options.items()
    ]
    nested: list[dict[str, Any]] = leaf
    if len(subpath) == 1:
        nested = [{"name": subpath[0], "type": SUB_COMMAND, "options": leaf}]
    elif len(subpath) == 2:
        nested = [
            {
                "name": subpath[0],
                "type": SUB_COMMAND_GROUP,
                "options": [{"name": subpath[1], "type": SUB_COMMAND, "options": leaf}],
            }
        ]
    data: dict[str, Any] = {"id": str(command_id), "name": root, "type": 1}
    if nested:
        data["options"] = nested
    if resolved:
        data["resolved"] = resolved
    if synced is not None and synced.get("guild_id"):
        data["guild_id"] = synced["guild_id"]
    return data


def build_interaction_payload(
    inter: FakeInteraction,
    *,
    application_id: int,
    data: dict[str, Any],
    bot_permissions: int,
    locale: str = "en-US",
) -> dict[str, Any]:
    guild, channel, member = inter.guild, inter.channel, inter.member
    return {
        "id": str(inter.id),
        "application_id": str(application_id),
        "type": inter.interaction_type,
        "token": inter.token,
        "version": 1,
        "data": data,
        "guild_id": str(guild.id),
        "guild": {"id": str(guild.id), "locale": guild.locale, "features": []},
        "channel_id": str(channel.id),
        "channel": channel.partial_payload(bot_permissions),
        "member": member.to_payload(with_permissions=True),
        "locale": locale,
        "guild_locale": guild.locale,
        "app_permissions": str(bot_permissions),
        "entitlements": [],
        "entitlement_sku_ids": [],
        "authorizing_integration_owners": {"0": str(guild.id)},
        "context": 0,
        "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
    }
