"""Interactions: building INTERACTION_CREATE (slash commands, components, autocomplete, modal
submits) and tracking the bot's answers."""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tests.fake_discord.state.model import Attachment, Channel, Guild, Member, Message, Role, User

# Interaction types (https://discord.com/developers/docs/interactions/receiving-and-responding)
APPLICATION_COMMAND = 2
MESSAGE_COMPONENT = 3
APPLICATION_COMMAND_AUTOCOMPLETE = 4
MODAL_SUBMIT = 5

# Interaction callback types (https://discord.com/developers/docs/interactions/receiving-and-responding)
PONG = 1
CHANNEL_MESSAGE = 4
DEFERRED_CHANNEL_MESSAGE = 5
DEFERRED_UPDATE_MESSAGE = 6
UPDATE_MESSAGE = 7
AUTOCOMPLETE_RESULT = 8
MODAL = 9

# Message component types (https://discord.com/developers/docs/components/reference)
ACTION_ROW = 1
BUTTON = 2
STRING_SELECT = 3
TEXT_INPUT = 4
LABEL = 18
SELECT_TYPES = frozenset({3, 5, 6, 7, 8})  # string, user, role, mentionable, channel selects
LINK_BUTTON = 5
PREMIUM_BUTTON = 6

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
IS_COMPONENTS_V2 = 1 << 15
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
    choices: list[dict[str, Any]] = field(default_factory=list)  # autocomplete result (type 8)
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
            "choices": self.choices,
            "raw": self.raw,
        }

    def __repr__(self) -> str:
        return (
            f"<Reply {self.kind} type={self.type} content={self.content!r} "
            f"embeds={len(self.embeds)} flags={self.flags} files={len(self.attachments)}>"
        )


class FakeInteraction:
    """An INTERACTION_CREATE the fake sent, and everything the bot answered to it.

    ``interaction_type`` is 2 (slash command), 3 (component: ``custom_id``, ``message`` is the
    message the component is on), 4 (autocomplete) or 5 (modal submit: ``custom_id`` of the
    modal, ``source`` the interaction the modal answered, ``message`` its message if any).
    ``modal`` holds the modal the bot opened in answer (callback type 9), as stored.
    """

    __slots__ = (
        "id",
        "token",
        "guild",
        "member",
        "channel",
        "command",
        "options",
        "interaction_type",
        "custom_id",
        "message",
        "source",
        "modal",
        "data",
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
        interaction_type: int = APPLICATION_COMMAND,
        custom_id: str | None = None,
        message: Message | None = None,
        source: FakeInteraction | None = None,
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
        self.custom_id = custom_id
        self.message = message
        self.source = source
        self.modal: dict[str, Any] | None = None
        self.data: dict[str, Any] = {}  # the interaction's ``data`` as sent
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
    def label(self) -> str:
        """The command, or the component's / modal's custom_id, for messages."""
        return self.command or f"custom_id={self.custom_id}"

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
                f"bot did not answer interaction {self.label!r} within {timeout}s"
            ) from None

    async def wait_final(self, timeout: float = 5.0) -> Reply:  # noqa: ASYNC109
        """The answer a user finally sees: the callback message, or after a deferral the first
        edit of the original response or the first follow-up."""
        try:
            return await asyncio.wait_for(asyncio.shield(self._final_fut), timeout)
        except TimeoutError:
            state = "deferred" if self.response is not None else "never answered"
            raise AssertionError(
                f"interaction {self.label!r} got no final answer within {timeout}s ({state})"
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
        return (
            f"<FakeInteraction type={self.interaction_type} {self.label!r} id={self.id} "
            f"responded={self.responded}>"
        )


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
    focused: str | None = None,
) -> dict[str, Any]:
    """``data`` of a chat-input INTERACTION_CREATE. ``"a b c"`` = command a, group b, sub c.

    ``focused`` (autocomplete, type 4): the option being typed; it carries ``focused: true`` and
    the text typed so far as a string, whatever its declared type (Discord sends partial input).
    Discord only sends it for a command it knows: the command must have been synced, with that
    option declared with ``autocomplete`` (its declared type is the one sent); a ``ValueError``
    otherwise.
    """
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
        if name != focused
    ]
    if focused is not None:
        if focused not in options:
            raise ValueError(f"focused option {focused!r} is not among the options given")
        if synced is None:
            raise ValueError(
                f"no synced command {root!r} in guild {guild.name!r}: Discord sends autocomplete "
                "only for a command it knows (sync the commands first)"
            )
        definition = next((d for d in definitions or () if d["name"] == focused), None)
        if not (definition and definition.get("autocomplete")):
            raise ValueError(f"option {focused!r} of {command!r} is not an autocomplete option")
        leaf.append(
            {
                "name": focused,
                "type": definition["type"],
                "value": str(options[focused]),
                "focused": True,
            }
        )
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


def focused_option(data: dict[str, Any]) -> dict[str, Any]:
    """The option with ``focused: true`` in an autocomplete interaction's ``data``."""
    options = data.get("options") or []
    while options and options[0]["type"] in (SUB_COMMAND, SUB_COMMAND_GROUP):
        options = options[0].get("options") or []
    return next(o for o in options if o.get("focused"))


def build_interaction_payload(
    inter: FakeInteraction,
    *,
    application_id: int,
    data: dict[str, Any],
    bot_permissions: int,
    locale: str = "en-US",
    message: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The INTERACTION_CREATE payload; ``message``: the payload of the message a component (or
    the component that opened a submitted modal) is on."""
    guild, channel, member = inter.guild, inter.channel, inter.member
    payload = {
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
    if message is not None:
        payload["message"] = message
    return payload


# -- components --------------------------------------------------------------------------------
class ComponentError(ValueError):
    """Components Discord refuses; ``str()`` names the field as Discord's Invalid Form Body does."""


def _children(component: dict[str, Any]) -> list[dict[str, Any]]:
    """Nested components: action rows / containers (``components``), labels (``component``),
    sections (``accessory``)."""
    nested = list(component.get("components") or ())
    nested += [component[key] for key in ("component", "accessory") if component.get(key)]
    return nested


def walk_components(components: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every component, parents before children (the order Discord numbers them in)."""
    for component in components:
        yield component
        yield from walk_components(_children(component))


def find_component(components: list[dict[str, Any]], custom_id: str) -> dict[str, Any]:
    for component in walk_components(components):
        if component.get("custom_id") == custom_id:
            return component
    raise KeyError(f"no component with custom_id {custom_id!r}")


def stored_components(components: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Components as Discord stores and returns them: ``null`` fields dropped, every component
    numbered (``id``: Discord fills missing ones sequentially, parents first), selects with
    their ``min_values``/``max_values`` defaults (1)."""
    if not components:
        return []
    taken = {c["id"] for c in walk_components(components) if c.get("id") is not None}
    free = (n for n in itertools.count(1) if n not in taken)

    def store(component: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in component.items() if v is not None}
        if "id" not in out:
            out["id"] = next(free)
        if out.get("type") in SELECT_TYPES:
            out.setdefault("min_values", 1)
            out.setdefault("max_values", 1)
        if "components" in out:
            out["components"] = [store(c) for c in out["components"]]
        for key in ("component", "accessory"):
            if key in out:
                out[key] = store(out[key])
        return out

    return [store(c) for c in components]


def _check_custom_id(component: dict[str, Any], where: str, seen: set[str]) -> None:
    custom_id = component.get("custom_id")
    if custom_id is None:
        return
    if not isinstance(custom_id, str) or not 1 <= len(custom_id) <= 100:
        raise ComponentError(f"{where}.custom_id: Must be between 1 and 100 in length.")
    if custom_id in seen:
        raise ComponentError(f"{where}.custom_id: Component custom id cannot be duplicated")
    seen.add(custom_id)


def _check_button(button: dict[str, Any], where: str) -> None:
    style = button.get("style")
    if style == LINK_BUTTON:
        if not button.get("url") or button.get("custom_id"):
            raise ComponentError(f"{where}: A link button needs a url and no custom_id")
    elif style == PREMIUM_BUTTON:
        if not button.get("sku_id") or button.get("custom_id"):
            raise ComponentError(f"{where}: A premium button needs a sku_id and no custom_id")
    elif not button.get("custom_id") or button.get("url"):
        raise ComponentError(f"{where}: A button needs a custom_id and no url")
    if len(button.get("label") or "") > 80:
        raise ComponentError(f"{where}.label: Must be 80 or fewer in length.")


def _check_string_select(select: dict[str, Any], where: str) -> None:
    options = select.get("options") or []
    if not 1 <= len(options) <= 25:
        raise ComponentError(f"{where}.options: Must be between 1 and 25 in length.")
    values = [o.get("value") for o in options]
    if len(set(values)) != len(values):
        raise ComponentError(f"{where}.options: Select option values must be unique")
    for n, option in enumerate(options):
        for key in ("label", "value"):
            if not 1 <= len(option.get(key) or "") <= 100:
                raise ComponentError(
                    f"{where}.options.{n}.{key}: Must be between 1 and 100 in length."
                )
    low = 1 if select.get("min_values") is None else select["min_values"]
    high = 1 if select.get("max_values") is None else select["max_values"]
    if not 0 <= low <= high <= min(25, len(options)) or high < 1:
        raise ComponentError(
            f"{where}: min_values {low} / max_values {high} do not fit {len(options)} options"
        )


def check_message_components(components: list[dict[str, Any]] | None, flags: int = 0) -> None:
    """Refuse message components as Discord does (https://discord.com/developers/docs/components/
    reference, "Action Row", "Button", "String Select"; the spec's ``...ForMessageRequest``
    schemas): at most 5 action rows (40 components with IS_COMPONENTS_V2, whose layout the fake
    does not model further), 1-5 buttons or one select per row, custom_id 1-100 characters and
    unique in the message, link buttons with a url and no custom_id, a string select with 1-25
    options of unique values and a fitting min/max, no text inputs outside modals."""
    if not components:
        return
    if flags & IS_COMPONENTS_V2:
        if sum(1 for _ in walk_components(components)) > 40:
            raise ComponentError("components: Must be 40 or fewer in length.")
        return
    if len(components) > 5:
        raise ComponentError("components: Must be 5 or fewer in length.")
    seen: set[str] = set()
    for r, row in enumerate(components):
        where = f"components.{r}"
        if row.get("type") != ACTION_ROW:
            raise ComponentError(f"{where}.type: top-level components must be action rows")
        items = row.get("components") or []
        if not 1 <= len(items) <= 5:
            raise ComponentError(f"{where}.components: Must be between 1 and 5 in length.")
        for c, item in enumerate(items):
            here = f"{where}.components.{c}"
            kind = item.get("type")
            if kind in SELECT_TYPES and len(items) > 1:
                raise ComponentError(f"{here}: A select must be alone in its action row")
            if kind == BUTTON:
                _check_button(item, here)
            elif kind == STRING_SELECT:
                _check_string_select(item, here)
            elif kind not in SELECT_TYPES:
                raise ComponentError(f"{here}.type: component type {kind} is not allowed here")
            _check_custom_id(item, here, seen)


def check_modal(data: dict[str, Any]) -> None:
    """Refuse a modal (callback type 9) as Discord does (the spec's
    ``ModalInteractionCallbackRequestData``; docs "Interaction Response Object", "Modal"):
    custom_id 1-100 and title 1-45 characters, 1-5 rows, each an action row holding exactly one
    text input or a label holding one (the fake models text inputs only), text input custom_ids
    unique, labels at most 45 characters, min_length <= max_length <= 4000."""
    custom_id, title = data.get("custom_id"), data.get("title")
    if not isinstance(custom_id, str) or not 1 <= len(custom_id) <= 100:
        raise ComponentError("data.custom_id: Must be between 1 and 100 in length.")
    if not isinstance(title, str) or not 1 <= len(title) <= 45:
        raise ComponentError("data.title: Must be between 1 and 45 in length.")
    rows = data.get("components") or []
    if not 1 <= len(rows) <= 5:
        raise ComponentError("data.components: Must be between 1 and 5 in length.")
    seen: set[str] = set()
    for r, row in enumerate(rows):
        where = f"data.components.{r}"
        if row.get("type") == ACTION_ROW and len(row.get("components") or []) == 1:
            text_input = row["components"][0]
            label = text_input.get("label")
        elif row.get("type") == LABEL and isinstance(row.get("component"), dict):
            text_input, label = row["component"], row.get("label")
        else:
            raise ComponentError(f"{where}: a modal row is one text input (in a row or a label)")
        if text_input.get("type") != TEXT_INPUT:
            raise ComponentError(f"{where}: the fake's modals hold text inputs only")
        if not label or len(label) > 45:
            raise ComponentError(f"{where}.label: Must be between 1 and 45 in length.")
        low, high = text_input.get("min_length") or 0, text_input.get("max_length") or 4000
        if not 0 <= low <= high <= 4000:
            raise ComponentError(f"{where}: min_length {low} / max_length {high} do not fit")
        _check_custom_id(text_input, where, seen)
        if text_input.get("custom_id") is None:
            raise ComponentError(f"{where}.custom_id: This field is required")


def modal_text_inputs(modal: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """``(row, text input)`` pairs of a stored modal."""
    pairs = []
    for row in modal["components"]:
        inner = row["components"][0] if row["type"] == ACTION_ROW else row["component"]
        pairs.append((row, inner))
    return pairs


def build_component_data(
    message: Message, custom_id: str, component_type: int, values: list[str] | None = None
) -> dict[str, Any]:
    """``data`` of a MESSAGE_COMPONENT interaction: what a member can do with the component
    ``custom_id`` on ``message`` (a button: click it; a string select: pick ``values`` among its
    options, between min_values and max_values). Anything else raises ValueError."""
    component = find_component(message.components, custom_id)
    if component.get("type") != component_type:
        raise ValueError(
            f"component {custom_id!r} has type {component.get('type')}, not {component_type}"
        )
    if component.get("disabled"):
        raise ValueError(f"component {custom_id!r} is disabled")
    data: dict[str, Any] = {"custom_id": custom_id, "component_type": component_type}
    if component_type == STRING_SELECT:
        picked = list(values or [])
        offered = {o["value"] for o in component["options"]}
        if not set(picked) <= offered or len(set(picked)) != len(picked):
            raise ValueError(f"values {picked} are not distinct options of {custom_id!r}")
        if not component["min_values"] <= len(picked) <= component["max_values"]:
            raise ValueError(
                f"{custom_id!r} takes {component['min_values']}-{component['max_values']} values"
            )
        data["values"] = picked
    return data


def build_modal_submit_data(modal: dict[str, Any], fields: dict[str, str]) -> dict[str, Any]:
    """``data`` of a MODAL_SUBMIT interaction: the stored modal's rows with each text input's
    ``value`` from ``fields`` (by custom_id). Unknown fields, a missing required one or a value
    outside min_length/max_length raise ValueError (Discord's client does not submit those)."""
    pairs = modal_text_inputs(modal)
    unknown = set(fields) - {text_input["custom_id"] for _, text_input in pairs}
    if unknown:
        raise ValueError(f"the modal has no text input {sorted(unknown)}")
    rows = []
    for row, text_input in pairs:
        custom_id = text_input["custom_id"]
        value = str(fields.get(custom_id, text_input.get("value") or ""))
        low, high = text_input.get("min_length") or 0, text_input.get("max_length") or 4000
        if value == "" and text_input.get("required", True):
            raise ValueError(f"text input {custom_id!r} is required")
        if value and not low <= len(value) <= high:
            raise ValueError(f"text input {custom_id!r} takes {low}-{high} characters")
        submitted = {"type": TEXT_INPUT, "id": text_input["id"], "custom_id": custom_id}
        submitted["value"] = value
        if row["type"] == ACTION_ROW:
            rows.append({"type": ACTION_ROW, "id": row["id"], "components": [submitted]})
        else:
            rows.append({"type": LABEL, "id": row["id"], "component": submitted})
    return {"custom_id": modal["custom_id"], "components": rows}
