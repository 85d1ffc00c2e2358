"""The fake REST API (``/api/v10/...``).

Routes are matched by segment count and literal segments (O(1) per request). Every route knows
its Discord OpenAPI path so the optional validator can check the request body the bot sent and
the response the fake answers. Unknown routes answer 404 with a Discord-style error and are
recorded in ``fake.errors``: a test must never pass while the bot calls something the fake does
not model.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.fake_discord.interactions import (
    APPLICATION_COMMAND,
    APPLICATION_COMMAND_AUTOCOMPLETE,
    AUTOCOMPLETE_RESULT,
    CHANNEL_MESSAGE,
    DEFERRED_CHANNEL_MESSAGE,
    DEFERRED_UPDATE_MESSAGE,
    EPHEMERAL,
    INTEGER,
    LOADING,
    MESSAGE_COMPONENT,
    MODAL,
    MODAL_SUBMIT,
    NUMBER,
    UPDATE_MESSAGE,
    ComponentError,
    FakeInteraction,
    Reply,
    check_message_components,
    check_modal,
    focused_option,
    stored_components,
)
from tests.fake_discord.openapi import available_locales
from tests.fake_discord.state.model import Attachment, Message

if TYPE_CHECKING:
    from tests.fake_discord.server import FakeDiscord

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

# Discord JSON error codes used here
UNKNOWN_CHANNEL = 10003
UNKNOWN_GUILD = 10004
UNKNOWN_MESSAGE = 10008
UNKNOWN_MEMBER = 10007
UNKNOWN_USER = 10013
UNKNOWN_WEBHOOK = 10015
UNKNOWN_INTERACTION = 10062
ALREADY_ACKNOWLEDGED = 40060
INVALID_FORM_BODY = 50035

# The callback types each interaction type accepts (Discord's docs, "Receiving and Responding":
# MODAL is "not available for MODAL_SUBMIT and PING interactions", the update types are "only
# valid for component-based interactions", an autocomplete interaction takes only its result).
# A modal submit counts as component-based when the modal was opened from a component.
CALLBACKS_FOR = {
    APPLICATION_COMMAND: {CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, MODAL},
    MESSAGE_COMPONENT: {
        CHANNEL_MESSAGE,
        DEFERRED_CHANNEL_MESSAGE,
        DEFERRED_UPDATE_MESSAGE,
        UPDATE_MESSAGE,
        MODAL,
    },
    APPLICATION_COMMAND_AUTOCOMPLETE: {AUTOCOMPLETE_RESULT},
    MODAL_SUBMIT: {CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE},
}
UPDATES = {DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE}


# Discord's limits of a command's localized strings: names (commands, options) and choice names
LOCALIZED_LENGTH = {"name_localizations": 32, "description_localizations": 100,
                    "choice_name_localizations": 100}


def check_localizations(node: Any, *, choice: bool = False) -> None:
    """Every ``*_localizations`` of a command, its options and their choices: keys among
    Discord's locales (the spec's ``AvailableLocalesEnum``), values 1..limit characters, as
    Discord refuses anything else with 50035."""
    if not isinstance(node, dict):
        return
    for key in ("name_localizations", "description_localizations"):
        values = node.get(key)
        if values is None:
            continue
        limit = LOCALIZED_LENGTH["choice_name_localizations" if choice else key]
        if not isinstance(values, dict):
            raise RestError(400, INVALID_FORM_BODY, f"Invalid Form Body: {key} is not an object")
        for locale, text in values.items():
            if locale not in available_locales():
                raise RestError(400, INVALID_FORM_BODY,
                                f"Invalid Form Body: {key}: {locale!r} is not a valid locale")
            if not isinstance(text, str) or not 1 <= len(text) <= limit:
                raise RestError(400, INVALID_FORM_BODY,
                                f"Invalid Form Body: {key}.{locale}: must be 1-{limit} long")
    for option in node.get("options") or []:
        check_localizations(option)
    for item in node.get("choices") or []:
        check_localizations(item, choice=True)


class RestError(Exception):
    """Raised by handlers; turned into a Discord-style JSON error answer."""

    def __init__(self, status: int, code: int, message: str, *, record: bool = True) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.record = record


@dataclass(slots=True)
class Body:
    """A parsed request body: JSON (or multipart ``payload_json``) plus uploaded files."""

    json: Any
    files: dict[int, Attachment]
    content_type: str


@dataclass(slots=True)
class Call:
    request: web.Request
    params: dict[str, str]
    body: Body


Handler = Callable[[Call], Awaitable[tuple[int, Any]]]


@dataclass(slots=True)
class Route:
    method: str
    template: str  # e.g. "/interactions/{id}/{token}/callback" (the request_counts key)
    spec_path: str  # the path in Discord's OpenAPI description
    handler: Handler
    auth: bool = True  # needs "Authorization: Bot <token>"
    segments: tuple[str, ...] = ()

    def match(self, parts: list[str]) -> dict[str, str] | None:
        params: dict[str, str] = {}
        for pattern, value in zip(self.segments, parts, strict=True):
            if pattern[0] == "{":
                if value.startswith("@"):
                    return None  # "@me" / "@original" are literals, never ids
                params[pattern[1:-1]] = value
            elif pattern != value:
                return None
        return params


def json_response(status: int, data: Any, headers: dict[str, str] | None = None) -> web.Response:
    """Content-Type must be exactly ``application/json``: discord.py only parses JSON then."""
    hdrs = {"Content-Type": "application/json"}
    if headers:
        hdrs.update(headers)
    return web.Response(status=status, body=_dumps(data).encode(), headers=hdrs)


def error_body(code: int, message: str) -> dict[str, Any]:
    return {"message": message, "code": code}


class RestApi:
    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self.routes: dict[tuple[str, int], list[Route]] = {}
        self._failures: dict[tuple[str, str], list[tuple[int, float]]] = {}
        r = self._add
        r("GET", "/users/@me", "/users/@me", self.get_me)
        r("GET", "/oauth2/applications/@me", "/oauth2/applications/@me", self.get_application)
        r("GET", "/gateway", "/gateway", self.get_gateway, auth=False)
        r("GET", "/gateway/bot", "/gateway/bot", self.get_gateway_bot)
        app_cmds = "/applications/{application_id}/commands"
        guild_cmds = "/applications/{application_id}/guilds/{guild_id}/commands"
        r("PUT", "/applications/{app}/commands", app_cmds, self.put_global_commands)
        r("GET", "/applications/{app}/commands", app_cmds, self.get_global_commands)
        r("PUT", "/applications/{app}/guilds/{guild}/commands", guild_cmds, self.put_guild_commands)
        r("GET", "/applications/{app}/guilds/{guild}/commands", guild_cmds, self.get_guild_commands)
        r(
            "POST",
            "/interactions/{id}/{token}/callback",
            "/interactions/{interaction_id}/{interaction_token}/callback",
            self.interaction_callback,
            auth=False,
        )
        hook = "/webhooks/{webhook_id}/{webhook_token}"
        r("POST", "/webhooks/{app}/{token}", hook, self.followup, auth=False)
        # One message's verbs, named as the original response or by id (a follow-up's).
        for message, spec in (("@original", "@original"), ("{id}", "{message_id}")):
            path, spec_path = f"/webhooks/{{app}}/{{token}}/messages/{message}", \
                f"{hook}/messages/{spec}"
            r("GET", path, spec_path, self.get_webhook_message, auth=False)
            r("PATCH", path, spec_path, self.edit_webhook_message, auth=False)
            r("DELETE", path, spec_path, self.delete_webhook_message, auth=False)
        r("POST", "/channels/{id}/messages", "/channels/{channel_id}/messages", self.create_message)
        r(
            "PATCH",
            "/channels/{id}/messages/{message}",
            "/channels/{channel_id}/messages/{message_id}",
            self.edit_message,
        )
        r("DELETE", "/users/@me/guilds/{guild}", "/users/@me/guilds/{guild_id}", self.leave_guild)
        r("GET", "/channels/{id}", "/channels/{channel_id}", self.get_channel)
        r("GET", "/guilds/{guild}", "/guilds/{guild_id}", self.get_guild)
        member_spec = "/guilds/{guild_id}/members/{user_id}"
        r("GET", "/guilds/{guild}/members/{user}", member_spec, self.get_member)
        r("GET", "/users/{user}", "/users/{user_id}", self.get_user)

    def _add(self, method: str, template: str, spec_path: str, handler: Handler, auth: bool = True):
        segments = tuple(template.strip("/").split("/"))
        route = Route(method, template, spec_path, handler, auth, segments)
        bucket = self.routes.setdefault((method, len(segments)), [])
        # literal segments win over parameters ("@original" before "{id}")
        bucket.append(route)
        bucket.sort(key=lambda rt: sum(s.startswith("{") for s in rt.segments))

    def fail_next(
        self,
        method: str,
        template: str,
        status: int = 500,
        times: int = 1,
        retry_after: float = 0.1,
    ) -> None:
        """Answer the next ``times`` calls of a route with ``status`` (429 carries retry_after)."""
        self._failures.setdefault((method, template), []).extend([(status, retry_after)] * times)

    # -- dispatch --------------------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        fake = self.fake
        method = request.method
        path = "/" + request.match_info["tail"]
        parts = path.strip("/").split("/")
        route: Route | None = None
        params: dict[str, str] | None = None
        for candidate in self.routes.get((method, len(parts)), ()):
            params = candidate.match(parts)
            if params is not None:
                route = candidate
                break
        if route is None or params is None:
            fake.request_counts[(method, path)] += 1
            fake.record_error("rest", f"{method} {path}", "route not implemented by the fake", None)
            return json_response(404, error_body(0, "404: Not Found"))
        key = (method, route.template)
        fake.request_counts[key] += 1
        if route.auth and request.headers.get("Authorization") != f"Bot {fake.token}":
            fake.unauthorized += 1
            return json_response(401, error_body(0, "401: Unauthorized"))
        failures = self._failures.get(key)
        if failures:
            status, retry_after = failures.pop(0)
            return self._injected_failure(status, retry_after)
        try:
            body = await self._read_body(request)
        except ValueError as exc:
            fake.record_error(
                "rest", f"{method} {route.template}", f"unparseable body: {exc}", None
            )
            return json_response(400, error_body(INVALID_FORM_BODY, f"Invalid Form Body: {exc}"))
        fake.requests.append((method, route.template, params, body.json))
        validator = fake.validator
        problems = []
        if validator is not None:
            problems = validator.validate_request(
                method, route.spec_path, body.json, body.content_type, dict(request.query)
            )
            for problem in problems:
                fake.record_error(
                    "request-schema", f"{method} {route.template}", problem, body.json
                )
        try:
            status, data = await route.handler(Call(request, params, body))
        except RestError as exc:
            if exc.record:
                fake.record_error("rest", f"{method} {route.template}", exc.message, body.json)
            status, data = exc.status, error_body(exc.code, exc.message)
        except (AttributeError, KeyError, TypeError, ValueError):
            if not problems:
                raise  # a bug of the fake's, not a malformed request
            # A body the spec rejects, in a shape the route cannot even read (``embeds: "x"``):
            # refused as Discord refuses it, not a 500 a client would retry.
            refusal = f"Invalid Form Body: {problems[0]}"
            fake.record_error("rest", f"{method} {route.template}", refusal, body.json)
            status, data = 400, error_body(INVALID_FORM_BODY, refusal)
        if validator is not None:
            for problem in validator.validate_response(method, route.spec_path, status, data):
                fake.record_error("response-schema", f"{method} {route.template}", problem, data)
        headers = {
            "X-RateLimit-Limit": "50",
            "X-RateLimit-Remaining": "49",
            "X-RateLimit-Reset": f"{time.time() + 1:.3f}",
            "X-RateLimit-Reset-After": "1.000",
            "X-RateLimit-Bucket": f"fake-{abs(hash(route.template)) % 10**8:08d}",
        }
        if status == 204 or data is None:
            return web.Response(status=204 if data is None else status, headers=headers)
        return json_response(status, data, headers)

    @staticmethod
    def _injected_failure(status: int, retry_after: float) -> web.Response:
        if status == 429:
            body = {
                "message": "You are being rate limited.",
                "retry_after": retry_after,
                "global": False,
            }
            headers = {
                "Retry-After": f"{retry_after}",
                "X-RateLimit-Limit": "50",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset-After": f"{retry_after}",
                "X-RateLimit-Bucket": "fake-injected",
                "X-RateLimit-Scope": "user",
                "Via": "1.1 google",
            }
            return json_response(429, body, headers)
        return json_response(status, error_body(0, f"{status}: injected failure"))

    async def _read_body(self, request: web.Request) -> Body:
        ctype = request.content_type
        if not request.body_exists:
            return Body(None, {}, ctype)
        if ctype == "multipart/form-data":
            payload: Any = None
            files: dict[int, Attachment] = {}
            reader = await request.multipart()
            async for part in reader:
                if part is None:
                    break
                name = part.name or ""
                raw = await part.read(decode=False)
                if name == "payload_json":
                    payload = json.loads(raw)
                elif name.startswith("files[") and name.endswith("]"):
                    index = int(name[6:-1])
                    files[index] = Attachment(
                        id=self.fake.state.snowflake(),
                        filename=part.filename or f"file{index}",
                        data=bytes(raw),
                        content_type=part.headers.get("Content-Type"),
                    )
                else:
                    raise ValueError(f"unexpected multipart field {name!r}")
            return Body(payload, files, ctype)
        raw = await request.read()
        if not raw:
            return Body(None, {}, ctype)
        if ctype != "application/json":
            raise ValueError(f"Content-Type {ctype!r} is not application/json")
        return Body(json.loads(raw), {}, ctype)

    # -- login -----------------------------------------------------------------------------------
    async def get_me(self, call: Call) -> tuple[int, Any]:
        return 200, self.fake.bot_user_payload()

    async def get_application(self, call: Call) -> tuple[int, Any]:
        return 200, self.fake.application_payload()

    async def get_gateway(self, call: Call) -> tuple[int, Any]:
        return 200, {"url": self.fake.gateway_url.rstrip("/")}

    async def get_gateway_bot(self, call: Call) -> tuple[int, Any]:
        fake = self.fake
        return 200, {
            "url": fake.gateway_url.rstrip("/"),
            "shards": fake.recommended_shards,
            "session_start_limit": fake.gateway.session_start_limit(),
        }

    # -- application commands --------------------------------------------------------------------
    def _check_app(self, call: Call) -> None:
        if call.params["app"] != str(self.fake.state.application_id):
            raise RestError(
                403, 20012, "You are not authorized to perform this action on this application"
            )

    def _sync(self, scope: str | int, body: Any) -> list[dict[str, Any]]:
        state = self.fake.state
        if not isinstance(body, list):
            raise RestError(400, INVALID_FORM_BODY, "Invalid Form Body: expected an array")
        names: set[tuple[int, str]] = set()
        commands: list[dict[str, Any]] = []
        for spec in body:
            if not isinstance(spec, dict) or "name" not in spec:
                raise RestError(400, INVALID_FORM_BODY, "Invalid Form Body: command without a name")
            ctype = spec.get("type", 1)
            if (ctype, spec["name"]) in names:
                raise RestError(400, INVALID_FORM_BODY, f"Duplicate command name {spec['name']!r}")
            names.add((ctype, spec["name"]))
            check_localizations(spec)
            command = {
                "id": str(state.command_id(scope, ctype, spec["name"])),
                "application_id": str(state.application_id),
                "version": str(state.snowflake()),
                # Requests may carry it as a number; Discord always answers with a string.
                "default_member_permissions": (
                    None
                    if spec.get("default_member_permissions") is None
                    else str(spec["default_member_permissions"])
                ),
                "type": ctype,
                "name": spec["name"],
                "description": spec.get("description", ""),
                "dm_permission": spec.get("dm_permission", True),
                "nsfw": spec.get("nsfw", False),
            }
            for key in ("options", "name_localizations", "description_localizations", "contexts"):
                if spec.get(key) is not None:
                    command[key] = spec[key]
            if spec.get("integration_types") is not None:
                command["integration_types"] = spec["integration_types"]
            if scope != "global":
                command["guild_id"] = str(scope)
            commands.append(command)
        state.commands[scope] = commands
        return commands

    async def put_global_commands(self, call: Call) -> tuple[int, Any]:
        self._check_app(call)
        return 200, self._sync("global", call.body.json)

    async def get_global_commands(self, call: Call) -> tuple[int, Any]:
        self._check_app(call)
        return 200, self.fake.state.commands.get("global", [])

    def _guild_scope(self, call: Call) -> int:
        self._check_app(call)
        guild_id = int(call.params["guild"])
        guild = self.fake.state.guilds.get(guild_id)
        if guild is None or not guild.joined:
            raise RestError(403, 50001, "Missing Access")
        return guild_id

    async def put_guild_commands(self, call: Call) -> tuple[int, Any]:
        return 200, self._sync(self._guild_scope(call), call.body.json)

    async def get_guild_commands(self, call: Call) -> tuple[int, Any]:
        return 200, self.fake.state.commands.get(self._guild_scope(call), [])

    # -- interactions ----------------------------------------------------------------------------
    @staticmethod
    def check_message_limits(data: dict[str, Any]) -> None:
        """Discord's limits for a bot's message: 2000 characters of content (the spec's 4000 is
        the Nitro limit), at most 10 embeds and 6000 embed characters in all, components as
        ``check_message_components`` allows."""
        content = data.get("content") or ""
        if len(content) > 2000:
            raise RestError(
                400,
                INVALID_FORM_BODY,
                "Invalid Form Body: content: Must be 2000 or fewer in length.",
            )
        embeds = data.get("embeds") or []
        if len(embeds) > 10:
            raise RestError(
                400, INVALID_FORM_BODY, "Invalid Form Body: embeds: Must be 10 or fewer in length."
            )
        total = 0
        for embed in embeds:
            total += len(embed.get("title") or "") + len(embed.get("description") or "")
            total += len((embed.get("footer") or {}).get("text") or "")
            total += len((embed.get("author") or {}).get("name") or "")
            for fld in embed.get("fields") or []:
                total += len(fld.get("name") or "") + len(fld.get("value") or "")
        if total > 6000:
            raise RestError(
                400,
                INVALID_FORM_BODY,
                "Invalid Form Body: embeds: Embed size exceeds maximum size of 6000",
            )
        try:
            check_message_components(data.get("components"), data.get("flags") or 0)
        except ComponentError as exc:
            raise RestError(400, INVALID_FORM_BODY, f"Invalid Form Body: {exc}") from None

    def _message_from(
        self, data: dict[str, Any], files: dict[int, Attachment], *, channel_id: int, **extra: Any
    ) -> Message:
        self.check_message_limits(data)
        return Message(
            id=self.fake.state.snowflake(),
            channel_id=channel_id,
            author=self.fake.state.bot_user,
            content=data.get("content") or "",
            embeds=data.get("embeds") or [],
            components=stored_components(data.get("components")),
            attachments=self._attachments(data, files, []),
            flags=data.get("flags") or 0,
            raw=data,
            **extra,
        )

    def _interaction_message(
        self, inter: FakeInteraction, data: dict[str, Any], files: dict[int, Attachment]
    ) -> Message:
        """A message the interaction's webhook posts (its response or a follow-up: type 20)."""
        return self._message_from(
            data,
            files,
            channel_id=inter.channel.id,
            type=20,
            guild_id=inter.guild.id,
            interaction_id=inter.id,
            webhook_id=self.fake.state.application_id,
        )

    @staticmethod
    def _attachments(
        data: dict[str, Any], files: dict[int, Attachment], existing: list[Attachment]
    ) -> list[Attachment]:
        """Files of a message: the ``attachments`` array keeps old ones by id and names new ones
        by their ``files[n]`` index."""
        spec = data.get("attachments")
        if spec is None:
            return existing + [files[i] for i in sorted(files)]
        by_id = {a.id: a for a in existing}
        result: list[Attachment] = []
        for item in spec:
            ref = int(item["id"])
            if ref in files:
                attachment = files[ref]
                attachment.filename = item.get("filename") or attachment.filename
                attachment.description = item.get("description")
                result.append(attachment)
            elif ref in by_id:
                result.append(by_id[ref])
            else:
                raise RestError(
                    400, INVALID_FORM_BODY, f"attachment {ref} matches no uploaded file"
                )
        return result

    def _metadata(self, inter: FakeInteraction) -> dict[str, Any]:
        """``interaction_metadata`` of a message created in answer to ``inter``, by its type."""
        meta: dict[str, Any] = {
            "id": str(inter.id),
            "type": inter.interaction_type,
            "user": inter.member.user.to_payload(),
            "authorizing_integration_owners": {"0": str(inter.guild.id)},
        }
        if inter.interaction_type == MESSAGE_COMPONENT and inter.message is not None:
            meta["interacted_message_id"] = str(inter.message.id)
        elif inter.interaction_type == MODAL_SUBMIT and inter.source is not None:
            meta["triggering_interaction_metadata"] = self._metadata(inter.source)
        else:
            meta.update(name=inter.command, command_type=1)
        return meta

    def message_payload(self, message: Message) -> dict:
        """A message as Discord returns it, with the metadata of the interaction that made it."""
        inter = (
            self.fake.interactions.get(message.interaction_id)
            if message.interaction_id is not None
            else None
        )
        meta = self._metadata(inter) if inter is not None else None
        return message.to_payload(self.fake.api_base, meta)

    def _interaction(self, call: Call, id_key: str) -> FakeInteraction:
        inter = self.fake.interactions_by_token.get(call.params["token"])
        if inter is None or (id_key == "id" and str(inter.id) != call.params["id"]):
            raise RestError(404, UNKNOWN_INTERACTION, "Unknown interaction")
        if id_key == "app" and call.params["app"] != str(self.fake.state.application_id):
            raise RestError(404, UNKNOWN_WEBHOOK, "Unknown Webhook")
        return inter

    async def interaction_callback(self, call: Call) -> tuple[int, Any]:
        inter = self._interaction(call, "id")
        if inter.response is not None:
            raise RestError(400, ALREADY_ACKNOWLEDGED, "Interaction has already been acknowledged.")
        body = call.body.json
        if not isinstance(body, dict) or "type" not in body:
            raise RestError(400, INVALID_FORM_BODY, "Invalid Form Body: type is required")
        ctype = body["type"]
        data = body.get("data") or {}
        allowed = set(CALLBACKS_FOR.get(inter.interaction_type, ()))
        if inter.interaction_type == MODAL_SUBMIT and inter.message is not None:
            allowed |= UPDATES  # the modal was opened from a component on that message
        if ctype not in allowed:
            raise RestError(
                400,
                INVALID_FORM_BODY,
                f"Invalid Form Body: type: callback type {ctype} cannot answer an interaction "
                f"of type {inter.interaction_type}",
            )
        message: Message | None = None
        choices: list[dict[str, Any]] = []
        if ctype in (CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE):
            flags = (data.get("flags") or 0) & ~LOADING
            if ctype == DEFERRED_CHANNEL_MESSAGE:
                flags |= LOADING
                data = {"flags": flags}
            else:
                data = {**data, "flags": flags}
            message = self._interaction_message(inter, data, call.body.files)
            inter.original = message
        elif ctype in UPDATES:
            message = inter.message
            assert message is not None  # CALLBACKS_FOR allows updates only with a message
            if ctype == UPDATE_MESSAGE:
                self._edit(message, data, call.body.files)
            # The original response of a component interaction is the component's message.
            inter.original = message
        elif ctype == AUTOCOMPLETE_RESULT:
            choices = self._check_choices(inter, data)
        else:  # MODAL
            try:
                check_modal(data)
            except ComponentError as exc:
                raise RestError(400, INVALID_FORM_BODY, f"Invalid Form Body: {exc}") from None
            inter.modal = {**data, "components": stored_components(data["components"])}
        reply = Reply(
            kind="callback",
            type=ctype,
            content=message.content if message else None,
            embeds=message.embeds if message else [],
            flags=message.flags if message else 0,
            attachments=list(message.attachments) if message else [],
            components=(
                message.components if message else (inter.modal or {}).get("components", [])
            ),
            message=message,
            raw=body,
            choices=choices,
        )
        inter.record_callback(reply)
        self.fake.on_interaction_response(inter)
        if call.request.query.get("with_response") not in ("1", "true", "True"):
            return 204, None
        answer: dict[str, Any] = {
            "interaction": {"id": str(inter.id), "type": inter.interaction_type}
        }
        if message is not None:
            answer["interaction"].update(
                response_message_id=str(message.id),
                response_message_loading=bool(message.flags & LOADING),
                response_message_ephemeral=bool(message.flags & EPHEMERAL),
            )
        if message is not None and ctype in (CHANNEL_MESSAGE, UPDATE_MESSAGE):
            # The spec (and Discord's docs) only carry a resource message for types 4 and 7;
            # a deferral is described by response_message_loading alone.
            answer["resource"] = {"type": ctype, "message": self.message_payload(message)}
        return 200, answer

    @staticmethod
    def _check_choices(inter: FakeInteraction, data: dict[str, Any]) -> list[dict[str, Any]]:
        """Autocomplete choices as Discord takes them (docs "Application Command Option Choice
        Structure", the spec's ``...AutocompleteCallback...Data``): at most 25, names of 1-100
        characters, values of the focused option's type, strings up to 100 characters."""
        choices = data.get("choices") or []
        focused = focused_option(inter.data)
        numeric = {INTEGER: (int,), NUMBER: (int, float)}
        wanted: tuple[type, ...] = numeric.get(focused["type"], (str,))
        problem = ": Must be 25 or fewer in length." if len(choices) > 25 else None
        for n, choice in enumerate(choices if problem is None else ()):
            name, value = choice.get("name"), choice.get("value")
            if not isinstance(name, str) or not 1 <= len(name) <= 100:
                problem = f".{n}.name: Must be between 1 and 100 in length."
            elif not isinstance(value, wanted) or isinstance(value, bool):
                problem = f".{n}.value: not a value of option type {focused['type']}"
            elif isinstance(value, str) and len(value) > 100:
                problem = f".{n}.value: Must be 100 or fewer in length."
            if problem:
                break
        if problem:
            raise RestError(400, INVALID_FORM_BODY, f"Invalid Form Body: data.choices{problem}")
        return choices

    async def followup(self, call: Call) -> tuple[int, Any]:
        if call.params["token"] not in self.fake.interactions_by_token:
            return await self.execute_webhook(call)
        inter = self._interaction(call, "app")
        if inter.response is None:
            raise RestError(404, UNKNOWN_WEBHOOK, "Unknown Webhook")
        data = call.body.json or {}
        original = inter.original
        if original is not None and original.flags & LOADING and not original.deleted:
            # Discord: the first follow-up after a deferral replaces the "thinking" message and
            # keeps its ephemerality (a public deferral stays public, and vice versa).
            self.check_message_limits(data)
            message = original
            message.content = data.get("content") or ""
            message.embeds = data.get("embeds") or []
            message.components = stored_components(data.get("components"))
            message.attachments = self._attachments(data, call.body.files, [])
            # The deferral decided: an EPHEMERAL flag on this follow-up cannot change it.
            wanted = (data.get("flags") or 0) & ~(LOADING | EPHEMERAL)
            message.flags = (original.flags & EPHEMERAL) | wanted
            message.raw = data
        else:
            message = self._interaction_message(inter, data, call.body.files)
        inter.record_followup(self._reply("followup", message, data))
        if call.request.query.get("wait") not in ("1", "true", "True"):
            return 204, None
        return 200, self.message_payload(message)

    @staticmethod
    def _reply(kind: str, message: Message, data: dict[str, Any]) -> Reply:
        return Reply(
            kind=kind,
            type=None,
            content=message.content,
            embeds=message.embeds,
            flags=message.flags,
            attachments=list(message.attachments),
            components=message.components,
            message=message,
            raw=data,
        )

    def _edit(self, message: Message, data: dict[str, Any], files: dict[int, Attachment]) -> None:
        """Apply an edit (PATCH of a webhook message, or an UPDATE_MESSAGE callback): the fields
        given replace the old ones, ``components: []`` removes them."""
        self.check_message_limits(data)
        if "content" in data:
            message.content = data["content"] or ""
        if "embeds" in data:
            message.embeds = data["embeds"] or []
        if "components" in data:
            message.components = stored_components(data["components"])
        if "attachments" in data or files:
            message.attachments = self._attachments(data, files, message.attachments)
        if data.get("flags") is not None:
            message.flags = (message.flags & EPHEMERAL) | data["flags"]
        message.flags &= ~LOADING
        message.edited_at = time.time()

    def _webhook_message(self, call: Call) -> tuple[FakeInteraction, Message]:
        """The message a webhook message route names: ``@original`` (the interaction's
        response) or a follow-up's id (the original's own id names it too)."""
        inter = self._interaction(call, "app")
        message_id = call.params.get("id")  # None: the @original route
        if message_id is None:
            message = inter.original
        else:
            message = inter.followup_messages.get(int(message_id))
            if message is None and inter.original is not None \
                    and str(inter.original.id) == message_id:
                message = inter.original
        if message is None or message.deleted:
            raise RestError(404, UNKNOWN_MESSAGE, "Unknown Message")
        return inter, message

    async def get_webhook_message(self, call: Call) -> tuple[int, Any]:
        inter, message = self._webhook_message(call)
        return 200, self.message_payload(message)

    async def edit_webhook_message(self, call: Call) -> tuple[int, Any]:
        inter, message = self._webhook_message(call)
        self._edit(message, call.body.json or {}, call.body.files)
        inter.record_edit(self._reply("edit", message, call.body.json or {}))
        return 200, self.message_payload(message)

    async def delete_webhook_message(self, call: Call) -> tuple[int, Any]:
        inter, message = self._webhook_message(call)
        message.deleted = True
        return 204, None

    # -- channels and guilds ---------------------------------------------------------------------
    async def create_message(self, call: Call) -> tuple[int, Any]:
        state = self.fake.state
        channel = state.channels.get(int(call.params["id"]))
        if channel is None or not channel.guild.joined:
            raise RestError(404, UNKNOWN_CHANNEL, "Unknown Channel")
        data = call.body.json or {}
        if not (
            data.get("content") or data.get("embeds") or call.body.files or data.get("components")
        ):
            raise RestError(400, 50006, "Cannot send an empty message")
        message = self._message_from(
            data, call.body.files, channel_id=channel.id, guild_id=channel.guild.id
        )
        state.messages[message.id] = message
        state.channel_messages[channel.id].append(message)
        self.fake.on_channel_message(message)
        payload = self.message_payload(message)
        payload["guild_id"] = str(channel.guild.id)
        return 200, payload

    async def edit_message(self, call: Call) -> tuple[int, Any]:
        """PATCH of a message of the bot's by its channel (a channel message or a public
        interaction response, as Discord allows long after the interaction's token expired);
        ephemeral, deleted or another channel's messages are unknown, as on Discord."""
        channel = self.fake.state.channels.get(int(call.params["id"]))
        if channel is None or not channel.guild.joined:
            raise RestError(404, UNKNOWN_CHANNEL, "Unknown Channel")
        try:
            message = self.fake.find_message(int(call.params["message"]))
        except (KeyError, ValueError):
            message = None
        if (
            message is None
            or message.deleted
            or message.channel_id != channel.id
            or message.flags & EPHEMERAL
        ):
            raise RestError(404, UNKNOWN_MESSAGE, "Unknown Message", record=False)
        self._edit(message, call.body.json or {}, call.body.files)
        payload = self.message_payload(message)
        payload["guild_id"] = str(channel.guild.id)
        return 200, payload

    async def leave_guild(self, call: Call) -> tuple[int, Any]:
        guild = self.fake.state.guilds.get(int(call.params["guild"]))
        if guild is None or not guild.joined:
            raise RestError(404, UNKNOWN_GUILD, "Unknown Guild")
        self.fake.left_guilds.append(guild.id)
        await self.fake.remove_guild_live(guild)
        return 204, None

    async def execute_webhook(self, call: Call) -> tuple[int, Any]:
        """An incoming webhook (e.g. the bot's alert webhook), created with ``add_webhook``."""
        webhook = (
            self.fake.webhooks.get(int(call.params["app"]))
            if call.params["app"].isdigit()
            else None
        )
        if webhook is None:
            # A wrong webhook URL is a configuration matter the caller must handle (Discord
            # answers the same), so it is not recorded as a fake error.
            raise RestError(404, UNKNOWN_WEBHOOK, "Unknown Webhook", record=False)
        if call.params["token"] != webhook.token:
            raise RestError(401, 50027, "Invalid Webhook Token", record=False)
        data = call.body.json or {}
        message = self._message_from(
            data, call.body.files, channel_id=webhook.channel_id, webhook_id=webhook.id
        )
        message.guild_id = webhook.guild_id
        self.fake.webhook_messages[webhook.id].append(message)
        if call.request.query.get("wait") not in ("1", "true", "True"):
            return 204, None
        return 200, self.message_payload(message)

    # -- reads (a bot without a member cache fetches) --------------------------------------------
    def _joined_guild(self, call: Call) -> Any:
        guild = self.fake.state.guilds.get(int(call.params["guild"]))
        if guild is None or not guild.joined:
            raise RestError(404, UNKNOWN_GUILD, "Unknown Guild")
        return guild

    async def get_channel(self, call: Call) -> tuple[int, Any]:
        channel = self.fake.state.channels.get(int(call.params["id"]))
        if channel is None or not channel.guild.joined:
            raise RestError(404, UNKNOWN_CHANNEL, "Unknown Channel")
        return 200, channel.to_payload()

    async def get_guild(self, call: Call) -> tuple[int, Any]:
        guild = self._joined_guild(call)
        payload = guild.create_payload(join=True)
        rest = {k: v for k, v in payload.items() if k not in GATEWAY_ONLY_GUILD_KEYS}
        rest.update(
            home_header=None,
            widget_enabled=False,
            widget_channel_id=None,
            max_presences=None,
            max_stage_video_channel_users=50,
            nsfw=False,
            incidents_data=None,
        )
        if call.request.query.get("with_counts") in ("true", "1", "True"):
            rest.update(
                approximate_member_count=len(guild.members) + 1, approximate_presence_count=0
            )
        return 200, rest

    async def get_member(self, call: Call) -> tuple[int, Any]:
        guild = self._joined_guild(call)
        user_id = int(call.params["user"])
        if user_id == self.fake.state.bot_user.id:
            return 200, guild.bot_member_payload()
        member = guild.members.get(user_id)
        if member is None:
            # Asking for someone who is not a member is normal bot behaviour, not a fake error.
            raise RestError(404, UNKNOWN_MEMBER, "Unknown Member", record=False)
        return 200, member.to_payload()

    async def get_user(self, call: Call) -> tuple[int, Any]:
        user = self.fake.state.users.get(int(call.params["user"]))
        if user is None:
            raise RestError(404, UNKNOWN_USER, "Unknown User", record=False)
        return 200, user.to_payload()


# Keys of GUILD_CREATE that the REST guild object does not have.
GATEWAY_ONLY_GUILD_KEYS = frozenset(
    {
        "joined_at", "large", "unavailable", "member_count", "voice_states", "members",
        "channels", "threads", "presences", "stage_instances", "guild_scheduled_events",
        "soundboard_sounds", "lazy",
    }
)  # fmt: skip
