"""``FakeDiscord``: the REST API, the gateway and the control API on one loopback port."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fake_discord.gateway import (
    IDENTIFY_WINDOW,
    MAX_GUILDS_PER_SESSION,
    SESSION_START_TOTAL,
    Gateway,
)
from tests.fake_discord.interactions import (
    APPLICATION_COMMAND,
    APPLICATION_COMMAND_AUTOCOMPLETE,
    BUTTON,
    MESSAGE_COMPONENT,
    MODAL_SUBMIT,
    STRING_SELECT,
    FakeInteraction,
    build_command_data,
    build_component_data,
    build_interaction_payload,
    build_modal_submit_data,
)
from tests.fake_discord.rest import RestApi
from tests.fake_discord.state.model import Channel, Guild, Member, Message, State

log = logging.getLogger("fake_discord")

GUILDS_PER_SHARD = 1000  # GET /gateway/bot recommends one shard per 1,000 guilds


@dataclass(slots=True)
class IncomingWebhook:
    """A channel webhook (``https://discord.com/api/webhooks/ID/TOKEN``), e.g. for alerts."""

    id: int
    token: str
    channel_id: int
    guild_id: int
    name: str
    url: str


@dataclass(slots=True)
class FakeError:
    """Something that must fail the test: an unmodelled route, a schema violation, a protocol
    misuse (double acknowledgement, unknown interaction, ...)."""

    kind: str  # "rest", "request-schema", "response-schema", "gateway-schema", "gateway"
    where: str
    detail: str
    body: Any = None
    at: float = field(default_factory=time.time)

    def __str__(self) -> str:
        return f"[{self.kind}] {self.where}: {self.detail}"


class FakeDiscord:
    """A protocol-faithful fake of Discord's REST API and gateway for an unmodified discord.py.

    Point the client at ``fake.api_base`` (``discord.http.Route.BASE``) and ``fake.gateway_url``
    (``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY``).
    """

    def __init__(
        self,
        token: str = "fake-token",
        shard_count: int | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        validate: bool = False,
        strict_requests: bool = False,
        spec_path: str | None = None,
        compression: bool = True,
        heartbeat_interval_ms: int = 41250,
        ack_delay: float = 0.02,
        privileged_intents: tuple[str, ...] = (
            "GUILD_MEMBERS",
            "GUILD_PRESENCES",
            "MESSAGE_CONTENT",
        ),
        bot_name: str = "guildbot",
        max_interactions: int = 100_000,
        control_api: bool = True,
        max_concurrency: int = 1,
        identify_window: float = IDENTIFY_WINDOW,
        session_start_total: int = SESSION_START_TOTAL,
        max_guilds_per_session: int | None = MAX_GUILDS_PER_SESSION,
    ) -> None:
        self.token = token
        self.shard_count = shard_count
        self.host = host
        self.port = port
        self.compression = compression
        self.privileged_intents = set(privileged_intents)
        self.application_flags = 0
        self.max_interactions = max_interactions
        self.state = State(bot_name=bot_name)
        self.errors: list[FakeError] = []
        self.request_counts: Counter[tuple[str, str]] = Counter()
        self.requests: deque[tuple[str, str, dict[str, str], Any]] = deque(maxlen=1000)
        self.unauthorized = 0
        self.left_guilds: list[int] = []
        self.gateway_queries: list[dict[str, str]] = []
        self.gateway_ops: Counter[int] = Counter()
        self.interactions: dict[int, FakeInteraction] = {}
        self.interactions_by_token: dict[str, FakeInteraction] = {}
        self.webhooks: dict[int, IncomingWebhook] = {}
        self.webhook_messages: defaultdict[int, list[Message]] = defaultdict(list)
        self.interaction_listeners: list[Callable[[FakeInteraction], None]] = []
        self.message_listeners: list[Callable[[Message], None]] = []
        self.validator = None
        if validate:
            from tests.fake_discord.openapi import shared_validator

            self.validator = shared_validator(spec_path, strict_requests)
        self.rest = RestApi(self)
        self.gateway = Gateway(
            self,
            heartbeat_interval_ms=heartbeat_interval_ms,
            ack_delay=ack_delay,
            max_concurrency=max_concurrency,
            identify_window=identify_window,
            session_start_total=session_start_total,
            max_guilds_per_session=max_guilds_per_session,
        )
        self._control_api = control_api
        self._runner: web.AppRunner | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/api/v10/{tail:.*}", self.rest.handle)
        # Webhook URLs as Discord hands them out carry no API version.
        app.router.add_route("*", "/api/{tail:webhooks/.*}", self.rest.handle)
        app.router.add_route("*", "/api/{tail:.*}", self._wrong_api_version)
        if self._control_api:
            from tests.fake_discord.control import add_control_routes

            add_control_routes(app, self)
        app.router.add_get("/", self.gateway.handle)
        return app

    async def start(self) -> FakeDiscord:
        self._runner = web.AppRunner(self.make_app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=1024)
        await site.start()
        sockets = site._server.sockets if site._server else []  # type: ignore[union-attr]
        self.port = sockets[0].getsockname()[1]
        log.info("fake Discord listening on %s", self.base_url)
        return self

    async def stop(self) -> None:
        await self.gateway.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_base(self) -> str:
        return f"{self.base_url}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://{self.host}:{self.port}/"

    async def _wrong_api_version(self, request: web.Request) -> web.Response:
        self.record_error(
            "rest", f"{request.method} {request.path}", "only /api/v10 is served", None
        )
        from tests.fake_discord.rest import error_body, json_response

        return json_response(404, error_body(0, "404: Not Found"))

    # -- errors ----------------------------------------------------------------------------------
    def record_error(self, kind: str, where: str, detail: str, body: Any) -> None:
        error = FakeError(kind, where, detail, body)
        self.errors.append(error)
        log.error("fake Discord error: %s", error)

    def assert_no_errors(self) -> None:
        if self.errors:
            lines = "\n".join(f"  {e}" for e in self.errors)
            raise AssertionError(f"fake Discord recorded {len(self.errors)} error(s):\n{lines}")

    def record_gateway_op(self, op: int | None, data: Any) -> None:
        self.gateway_ops[op if op is not None else -1] += 1

    # -- world -----------------------------------------------------------------------------------
    def add_guild(
        self,
        name: str | None = None,
        *,
        guild_id: int | None = None,
        channels: tuple[str, ...] = ("general",),
        members: int = 0,
        joined: bool = True,
        locale: str = "en-US",
    ) -> Guild:
        """A guild the bot is in (sent at the next IDENTIFY). ``joined=False`` keeps it out until
        ``add_guild_live``. ``members=N`` adds N plain members named member0..N-1."""
        guild = self.state.add_guild(
            name, guild_id=guild_id, channels=channels, joined=joined, locale=locale
        )
        for i in range(members):
            guild.add_member(f"member{i}")
        return guild

    def add_webhook(
        self,
        channel: Channel | None = None,
        name: str = "alerts",
        *,
        webhook_id: int | None = None,
        token: str | None = None,
    ) -> IncomingWebhook:
        """An incoming webhook; its ``url`` works only once the fake is started. Messages posted
        to it land in ``fake.webhook_messages[webhook.id]``. ``webhook_id`` and ``token`` fix its
        URL in advance (the serve command's --webhook); by default both are new."""
        if channel is None:
            guild = next(iter(self.state.guilds.values()), None) or self.add_guild("webhooks")
            channel = guild.channel(None)
        webhook_id = self.state.snowflake() if webhook_id is None else webhook_id
        token = secrets.token_urlsafe(51) if token is None else token
        webhook = IncomingWebhook(
            id=webhook_id,
            token=token,
            channel_id=channel.id,
            guild_id=channel.guild.id,
            name=name,
            url=f"{self.base_url}/api/webhooks/{webhook_id}/{token}",
        )
        self.webhooks[webhook_id] = webhook
        return webhook

    @property
    def recommended_shards(self) -> int:
        """``shards`` of ``GET /gateway/bot``: the ``shard_count`` given, else one per 1,000
        guilds (at least 1), as Discord recommends."""
        if self.shard_count:
            return self.shard_count
        joined = sum(1 for g in self.state.guilds.values() if g.joined)
        return max(1, -(-joined // GUILDS_PER_SHARD))

    @property
    def guilds(self) -> list[Guild]:
        return list(self.state.guilds.values())

    def guild(self, ref: int | str | Guild) -> Guild:
        return self.state.guild(ref)

    @property
    def synced_commands(self) -> dict[str | int, list[dict[str, Any]]]:
        return self.state.commands

    @property
    def channel_messages(self) -> dict[int, list[Message]]:
        return self.state.channel_messages

    @property
    def bot_user(self):
        return self.state.bot_user

    @property
    def application_id(self) -> int:
        return self.state.application_id

    def bot_user_payload(self) -> dict[str, Any]:
        data = self.state.bot_user.to_payload()
        data.update(bot=True, mfa_enabled=False, locale="en-US", verified=True, email=None)
        return data

    def application_payload(self) -> dict[str, Any]:
        owner = self.state.owner_user.to_payload()
        app_id = str(self.state.application_id)
        return {
            "id": app_id,
            "name": self.state.bot_user.name,
            "icon": None,
            "description": "",
            "type": None,
            "bot": self.bot_user_payload(),
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "flags": self.application_flags,
            "flags_new": str(self.application_flags),
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "role_connections_verification_url": None,
            "owner": owner,
            "approximate_guild_count": sum(1 for g in self.state.guilds.values() if g.joined),
            "approximate_user_install_count": 0,
            "approximate_user_authorization_count": 0,
            "explicit_content_filter": 0,
            "team": None,
            "eligible_oauth2_scopes": [],
            "summary": "",
            "tags": [],
            "integration_types_config": {"0": {}},
        }

    # -- gateway control -------------------------------------------------------------------------
    async def wait_for_identify(self, timeout: float = 10.0, count: int = 1) -> dict[str, Any]:  # noqa: ASYNC109
        """Wait for the ``count``-th IDENTIFY; returns the latest IDENTIFY payload."""
        await self.gateway.wait_for_identify(timeout, count)
        return self.gateway.identifies[-1]

    async def wait_guilds_sent(
        self,
        timeout: float = 10.0,  # noqa: ASYNC109
        shard_ids: Iterable[int] | None = None,
    ) -> None:
        """Wait until READY and every GUILD_CREATE were written for all identified shards (or
        for ``shard_ids``: one process's shards)."""
        await self.gateway.wait_guilds_sent(timeout, shard_ids)

    @property
    def intents(self) -> int | None:
        """The intents of the latest IDENTIFY."""
        return self.gateway.identifies[-1].get("intents") if self.gateway.identifies else None

    @property
    def identifies(self) -> list[dict[str, Any]]:
        return self.gateway.identifies

    @property
    def resumes(self) -> list[dict[str, Any]]:
        return self.gateway.resumes

    @property
    def heartbeats(self) -> int:
        return self.gateway.heartbeats

    def dispatch(
        self, event: str, data: Any, *, guild_id: int | None = None, shard_id: int | None = None
    ):
        """Send a raw dispatch: to the guild's shard (``Undelivered`` if it has no session), to
        ``shard_id``, or to every shard."""
        if guild_id is not None:
            sessions = [self.gateway.owner(guild_id, event)]
        else:
            sessions = self.gateway.sessions_for(shard_id)
        if not sessions:
            raise RuntimeError(
                f"no gateway session to dispatch {event} to (has the bot identified?)"
            )
        for session in sessions:
            session.dispatch(event, data)

    async def add_guild_live(self, guild: Guild | None = None, **kwargs: Any) -> Guild:
        """The bot joins a guild now: GUILD_CREATE on the guild's shard."""
        if guild is None:
            guild = self.add_guild(joined=False, **kwargs)
        guild.joined = True
        self.dispatch("GUILD_CREATE", guild.create_payload(join=True), guild_id=guild.id)
        return guild

    async def remove_guild_live(self, guild: Guild, unavailable: bool = False) -> None:
        """The bot is removed from a guild (GUILD_DELETE), or the guild has an outage."""
        data: dict[str, Any] = {"id": str(guild.id)}
        if unavailable:
            data["unavailable"] = True
        else:
            guild.joined = False
        self.dispatch("GUILD_DELETE", data, guild_id=guild.id)

    async def drop_gateway(self, shard_id: int | None = None, code: int | None = None) -> None:
        """Cut the websocket (no close frame unless ``code``); the session stays resumable."""
        await self.gateway.drop(shard_id, code)

    async def send_reconnect(self, shard_id: int | None = None) -> None:
        """op 7 RECONNECT: the client must reconnect and RESUME."""
        self.gateway.reconnect(shard_id)

    async def invalidate_session(
        self, resumable: bool = False, shard_id: int | None = None
    ) -> None:
        """op 9 INVALID_SESSION; not resumable -> the client must IDENTIFY again."""
        self.gateway.invalidate(resumable, shard_id)

    def delay_gateway(self, seconds: float) -> None:
        """Delay every later gateway frame (and heartbeat ACK) by ``seconds`` (0 to stop)."""
        self.gateway.delay = max(0.0, seconds)

    def set_heartbeat_acks(self, enabled: bool) -> None:
        """Stop ACKing heartbeats to simulate a zombie connection."""
        self.gateway.ack_heartbeats = enabled

    def fail_next(self, method: str, template: str, *failure: Any, **options: Any) -> None:
        """Answer the next calls of a REST route (``("POST", "/channels/{id}/messages")``) with
        an error status: :meth:`RestApi.fail_next` (``status``, ``times``, ``retry_after``)."""
        self.rest.fail_next(method, template, *failure, **options)

    # -- interactions ----------------------------------------------------------------------------
    async def invoke(
        self,
        guild: Guild | int | str,
        member: Member | int | str,
        command: str,
        options: dict[str, Any] | None = None,
        *,
        channel: Channel | int | str | None = None,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """A user runs a slash command: INTERACTION_CREATE on the guild's shard only; with no
        session on that shard nothing is sent and ``Undelivered`` is raised.

        ``command`` is ``"name"``, ``"name sub"`` or ``"name group sub"``. Option values: str,
        int, float, bool, ``Member``/``User`` (type 6 with ``resolved``), ``Channel``, ``Role``.
        When the command was synced, the synced option types are used (e.g. a member index for a
        user option).
        """
        return await self._command_interaction(
            APPLICATION_COMMAND, guild, member, command, options or {}, channel, locale, None
        )

    async def autocomplete(
        self,
        guild: Guild | int | str,
        member: Member | int | str,
        command: str,
        options: dict[str, Any],
        focused: str,
        *,
        channel: Channel | int | str | None = None,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """A user types into the option ``focused`` of a slash command (type 4): ``options``
        holds what is filled in so far, ``options[focused]`` the text being typed. The bot's
        answer (callback type 8) is ``(await inter.wait_response()).choices``."""
        return await self._command_interaction(
            APPLICATION_COMMAND_AUTOCOMPLETE,
            guild,
            member,
            command,
            options,
            channel,
            locale,
            focused,
        )

    async def click(
        self, member: Member, message: Message, custom_id: str, *, locale: str = "en-US"
    ) -> FakeInteraction:
        """``member`` clicks the button ``custom_id`` on ``message`` (type 3, component_type 2),
        delivered on the shard owning the message's guild. ``ValueError``/``KeyError`` for what
        Discord's client does not allow (no such or a disabled button, a deleted message, another
        guild, someone else's ephemeral message)."""
        data = build_component_data(self._clickable(member, message), custom_id, BUTTON)
        return await self._component_interaction(member, message, data, locale)

    async def select(
        self,
        member: Member,
        message: Message,
        custom_id: str,
        values: list[str],
        *,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """``member`` picks ``values`` in the string select ``custom_id`` on ``message`` (type 3,
        component_type 3); the values must be distinct options, as many as min/max_values
        allow."""
        data = build_component_data(
            self._clickable(member, message), custom_id, STRING_SELECT, values
        )
        return await self._component_interaction(member, message, data, locale)

    async def submit_modal(
        self,
        member: Member,
        modal: FakeInteraction | str,
        fields: dict[str, str],
        *,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """``member`` fills and submits a modal (type 5): ``modal`` is the interaction the bot
        answered with it (callback type 9) or the modal's custom_id (the latest such modal shown
        to ``member``); ``fields`` maps text input custom_ids to values. Only the member it was
        shown to can submit it, once."""
        source = self._modal_source(member, modal)
        assert source.modal is not None
        data = build_modal_submit_data(source.modal, fields)
        inter = FakeInteraction(
            interaction_id=self.state.interaction_snowflake(),
            guild=source.guild,
            member=member,
            channel=source.channel,
            command=source.command,
            options={},
            interaction_type=MODAL_SUBMIT,
            custom_id=source.modal["custom_id"],
            message=source.message,
            source=source,
        )
        self._deliver(inter, data, locale)
        source.modal = None  # a modal is submitted once
        return inter

    def _modal_source(self, member: Member, modal: FakeInteraction | str) -> FakeInteraction:
        if isinstance(modal, str):
            shown = [
                i
                for i in self.interactions.values()
                if i.modal is not None and i.modal["custom_id"] == modal and i.member is member
            ]
            if not shown:
                raise KeyError(f"no open modal {modal!r} shown to {member.name}")
            return shown[-1]
        if modal.modal is None:
            raise ValueError(f"{modal!r} has no open modal (not answered with one, or submitted)")
        if modal.member is not member:
            raise ValueError(f"the modal was shown to {modal.member.name}, not {member.name}")
        return modal

    def find_message(self, message_id: int) -> Message:
        """A message of the bot by id: a channel message, an interaction response or a
        follow-up (for the control API; tests hold the ``Message`` objects themselves)."""
        message = self.state.messages.get(message_id)
        for inter in self.interactions.values() if message is None else ():
            original = inter.original
            if original is not None and original.id == message_id:
                message = original
            else:
                message = inter.followup_messages.get(message_id)
            if message is not None:
                break
        if message is None:
            raise KeyError(f"no message {message_id}")
        return message

    def _clickable(self, member: Member, message: Message) -> Message:
        """The message, if ``member`` can see and use it."""
        if message.deleted:
            raise ValueError(f"{message!r} was deleted")
        if message.guild_id != member.guild.id:
            raise ValueError(f"{message!r} is not in {member.guild.name}")
        if message.ephemeral:
            creator = self.interactions.get(message.interaction_id or 0)
            if creator is None or creator.member is not member:
                raise ValueError(f"{message!r} is ephemeral: only its recipient sees it")
        return message

    async def _component_interaction(
        self, member: Member, message: Message, data: dict[str, Any], locale: str
    ) -> FakeInteraction:
        inter = FakeInteraction(
            interaction_id=self.state.interaction_snowflake(),
            guild=member.guild,
            member=member,
            channel=self.state.channels[message.channel_id],
            command="",
            options={},
            interaction_type=MESSAGE_COMPONENT,
            custom_id=data["custom_id"],
            message=message,
        )
        self._deliver(inter, data, locale)
        return inter

    async def _command_interaction(
        self,
        interaction_type: int,
        guild: Guild | int | str,
        member: Member | int | str,
        command: str,
        options: dict[str, Any],
        channel: Channel | int | str | None,
        locale: str,
        focused: str | None,
    ) -> FakeInteraction:
        g = self.state.guild(guild)
        m = g.member(member)
        ch = g.channel(channel)
        synced = self.state.find_command(g.id, command.split()[0])
        command_id = (
            int(synced["id"])
            if synced
            else self.state.command_id("unsynced", 1, command.split()[0])
        )
        data = build_command_data(
            command=command,
            options=options,
            guild=g,
            synced=synced,
            command_id=command_id,
            bot_permissions=self.state.bot_permissions,
            focused=focused,
        )
        inter = FakeInteraction(
            interaction_id=self.state.interaction_snowflake(),
            guild=g,
            member=m,
            channel=ch,
            command=command,
            options=options,
            interaction_type=interaction_type,
        )
        self._deliver(inter, data, locale)
        return inter

    def _deliver(self, inter: FakeInteraction, data: dict[str, Any], locale: str) -> None:
        """INTERACTION_CREATE on the session owning the guild's shard (``Undelivered`` if none),
        with the message the component is on, if any."""
        inter.data = data
        message = self.rest.message_payload(inter.message) if inter.message is not None else None
        if message is not None and self.validator is not None:
            for problem in self.validator.validate_schema("MessageResponse", message):
                self.record_error("gateway-schema", "INTERACTION_CREATE message", problem, message)
        payload = build_interaction_payload(
            inter,
            application_id=self.state.application_id,
            data=data,
            bot_permissions=self.state.bot_permissions,
            locale=locale,
            message=message,
        )
        session = self.gateway.owner(inter.guild.id, "INTERACTION_CREATE")
        self._remember(inter)
        session.dispatch("INTERACTION_CREATE", payload, inter.mark_sent)

    def _remember(self, inter: FakeInteraction) -> None:
        self.interactions[inter.id] = inter
        self.interactions_by_token[inter.token] = inter
        while len(self.interactions) > self.max_interactions:
            oldest = self.interactions.pop(next(iter(self.interactions)))
            self.interactions_by_token.pop(oldest.token, None)

    def on_interaction_response(self, inter: FakeInteraction) -> None:
        for listener in self.interaction_listeners:
            listener(inter)

    def on_channel_message(self, message: Message) -> None:
        for listener in self.message_listeners:
            listener(message)

    async def wait_channel_message(
        self,
        channel: Channel | int,
        timeout: float = 5.0,  # noqa: ASYNC109
        predicate: Callable[[Message], bool] | None = None,
    ) -> Message:
        """The next (or an already posted, matching) message in a channel."""
        channel_id = channel.id if isinstance(channel, Channel) else int(channel)
        for message in self.state.channel_messages.get(channel_id, ()):
            if predicate is None or predicate(message):
                return message
        fut: asyncio.Future[Message] = asyncio.get_running_loop().create_future()

        def listener(message: Message) -> None:
            matches = predicate is None or predicate(message)
            if message.channel_id == channel_id and matches and not fut.done():
                fut.set_result(message)

        self.message_listeners.append(listener)
        try:
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise AssertionError(f"no message in channel {channel_id} within {timeout}s") from None
        finally:
            self.message_listeners.remove(listener)

    def snapshot(self) -> dict[str, Any]:
        """Ids and names of everything, for the control API and ``--state-file``."""
        return {
            "api_base": self.api_base,
            "gateway_url": self.gateway_url,
            "application_id": str(self.state.application_id),
            "bot": {"id": str(self.state.bot_user.id), "name": self.state.bot_user.name},
            "guilds": [
                {
                    "index": i,
                    "id": str(g.id),
                    "name": g.name,
                    "joined": g.joined,
                    "channels": [
                        {"index": j, "id": str(c.id), "name": c.name, "type": c.type}
                        for j, c in enumerate(g.channels.values())
                    ],
                    "members": [
                        {
                            "index": j,
                            "id": str(m.id),
                            "name": m.name,
                            "permissions": str(m.permissions),
                        }
                        for j, m in enumerate(g.members.values())
                    ],
                }
                for i, g in enumerate(self.state.guilds.values())
            ],
            "sessions": [
                {
                    "shard": s.shard_id,
                    "shard_count": s.shard_count,
                    "connected": s.connection is not None,
                }
                for s in self.gateway.by_shard.values()
            ],
            "left_guilds": [str(g) for g in self.left_guilds],
            "errors": [str(e) for e in self.errors],
        }
