"""The bot process: discord.py client, command tree with admission control, lifecycle.

Start-up: migrations are current, storage is open, cogs are loaded, the command tree is synced
only when its definition changed, then the gateway connects. Every interaction passes through
:class:`GuildBotTree`, which answers at once when the bot is draining, overloaded, not admitted
in the guild (the rollout policy), in maintenance or when the member is over a command's
cooldown (bot/cooldowns.py), times the command for monitoring and turns
failures into replies (never silence).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import json
import logging
import math
import pkgutil
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

import aiohttp
import discord
import yarl
from discord import app_commands
from discord.ext import commands

from bot import cogs, components, i18n, posts
from bot.callbacks import CallbackClient
from bot.config import Settings
from bot.cooldowns import Cooldowns
from bot.domain import announcements
from bot.domain import audit as audit_rules
from bot.domain.errors import UserError
from bot.domain.text import clean_text
from bot.i18n import N_, _
from bot.monitoring.hooks import MonitoringHooks
from bot.periodic import every
from bot.policy import AdmissionPolicy, Decision
from bot.responses import answer, send_choices
from bot.shards import IDENTIFY_INTERVAL
from bot.shards import label as shard_label
from bot.shedding import LoadShedder
from bot.storage.base import Storage, StorageSize, StorageUnavailable

log = logging.getLogger("guildbot")

COMMAND_HASH_KEY = "command_tree_hash"
DRAIN_SECONDS = 20.0
RETENTION_INTERVAL = 3600.0
CONTROL_POLL_INTERVAL = 2.0
# Added to Discord's 5 s between two IDENTIFYs of a bucket: the time between recording a turn
# and the IDENTIFY reaching Discord differs between processes.
IDENTIFY_MARGIN = 0.5
MAINTENANCE_NOTICE = N_("🛠️ guildbot is under maintenance right now. Please try again a "
                        "little later.")
BUSY_NOTICE = N_("guildbot is very busy right now. Please try again in a few seconds.")
DRAINING_NOTICE = N_("guildbot is restarting. Please try again in a minute.")
COOLDOWN_NOTICE = N_("You're doing that too often — try again in {seconds} s.")
UNAVAILABLE_NOTICE = N_("guildbot is temporarily unavailable. Please try again in a minute.")
HTTP_CONNECTION_LIMIT = 64
NOT_A_MEMBER = "the bot is not a member of this server"


def configure_endpoints(settings: Settings) -> None:
    """Point discord.py at the configured REST base and gateway (a proxy or a fake Discord)."""
    discord.http.Route.BASE = settings.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.gateway_url)


def intents() -> discord.Intents:
    """Only the guilds intent: interactions arrive without any, no privileged intent needed."""
    wanted = discord.Intents.none()
    wanted.guilds = True
    return wanted


def command_tree_hash(tree: app_commands.CommandTree) -> str:
    """The commands as synced, and the catalogs their descriptions' translations come from."""
    payload = sorted((c.to_dict(tree) for c in tree.get_commands()), key=lambda c: c["name"])
    payload.append({"catalogs": i18n.fingerprint()})
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class CatalogTranslator(app_commands.Translator):
    """Discord's localization fields of the commands (descriptions, choice names) from the
    catalogs (bot/i18n.py); names stay English. No translation: the field is left out."""

    async def translate(self, string: app_commands.locale_str, locale: discord.Locale,
                        context: app_commands.TranslationContextTypes) -> str | None:
        if context.location in (app_commands.TranslationContextLocation.command_name,
                                app_commands.TranslationContextLocation.group_name,
                                app_commands.TranslationContextLocation.parameter_name):
            return None
        return i18n.translate(string.message, i18n.language_of(locale))


def _command_name(interaction: discord.Interaction) -> str:
    named = interaction.extras.get("usage_name")  # a component, a modal, an autocomplete
    if named:
        return str(named)
    if interaction.command is not None:
        return interaction.command.qualified_name
    data: Any = interaction.data or {}
    return str(data.get("name", "unknown"))[:32]


class GuildBotTree(app_commands.CommandTree["GuildBot"]):
    """The command tree of a :class:`GuildBot` (``self.client`` is typed as one)."""

    ADMIN_GROUPS = frozenset({"admin"})

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        bot = self.client
        if bot.draining:
            return await self._refuse(interaction, _(DRAINING_NOTICE), "busy")
        if bot.inflight > bot.settings.max_inflight:
            if interaction.type is discord.InteractionType.autocomplete:
                return False  # no suggestions while overloaded: the cheapest answer is none
            # The cheap answer: one small request, no message parsed back (bot/shedding.py).
            interaction.extras["outcome"] = "busy"
            bot.shedder.answer_busy(interaction.id, interaction.token, None, None,
                                   interaction.locale)
            return False
        guild_id = interaction.guild_id
        if guild_id is not None:
            refusal = bot.admission_refusal(guild_id)
            if refusal is not None:
                return await self._refuse(interaction, refusal, "refused")
        name = _command_name(interaction).split(" ", 1)[0]
        name = name.split(":", 1)[-1].split("-", 1)[0]  # button:admin-purge -> admin
        if name not in self.ADMIN_GROUPS and bot.in_maintenance(interaction.guild_id):
            return await self._refuse(interaction, _(MAINTENANCE_NOTICE), "maintenance")
        # Last: an interaction refused above never ran, so it takes nothing from the member's
        # allowance. Autocomplete passes this check too but is no use of the command.
        if interaction.type is discord.InteractionType.application_command:
            wait = bot.cooldowns.check(_command_name(interaction), guild_id or 0,
                                       interaction.user.id)
            if wait:
                notice = _(COOLDOWN_NOTICE, seconds=max(1, math.ceil(wait)))
                return await self._refuse(interaction, notice, "cooldown")
        return True

    @staticmethod
    async def _refuse(interaction: discord.Interaction, text: str, outcome: str) -> bool:
        interaction.extras["outcome"] = outcome
        if interaction.type is discord.InteractionType.autocomplete:
            await send_choices(interaction, [])  # typing gets no message, no choices
        else:
            await answer(interaction, text)
        return False

    @contextlib.asynccontextmanager
    async def _tracked(self, interaction: discord.Interaction) -> AsyncIterator[None]:
        """Count the interaction in flight (the drain waits for it) and record its outcome and
        latency for monitoring when it ends."""
        bot = self.client
        started = time.perf_counter()
        i18n.set_for_locale(interaction.locale)  # this task answers in the member's language
        task = asyncio.current_task()
        bot.inflight += 1
        if task is not None:
            bot.inflight_tasks.add(task)
        try:
            yield
        finally:
            bot.inflight -= 1
            if task is not None:
                bot.inflight_tasks.discard(task)
            outcome = interaction.extras.get("outcome") or (
                "failure" if interaction.command_failed else "success")
            # Nothing is recorded under the id of a guild that is not admitted.
            guild_id = None if outcome == "refused" else interaction.guild_id
            bot.monitoring.observe_command(_command_name(interaction), guild_id, outcome,
                                           time.perf_counter() - started)

    async def _call(self, interaction: discord.Interaction[GuildBot]) -> None:
        if interaction.type is discord.InteractionType.autocomplete:
            # Typing is not a command run: recorded apart, never admission-checked twice.
            interaction.extras["usage_name"] = f"autocomplete:{_command_name(interaction)}"[:32]
        async with self._tracked(interaction):
            try:
                await super()._call(interaction)
            except app_commands.AppCommandError as exc:  # raised before invoking (unknown)
                interaction.command_failed = True
                await self.on_error(interaction, exc)

    async def run_component(self, interaction: discord.Interaction) -> None:
        """A click, a pick or a modal submit (see bot.components): parsed from its custom_id,
        checked like a command (draining, load, admission, maintenance) and against the guild it
        comes from, handled, its outcome recorded as ``button:challenge-accept`` etc."""
        data: Any = interaction.data or {}
        cid = components.parse_id(str(data.get("custom_id", "")))
        found = components.find_handler(cid) if cid is not None else None
        if cid is None or found is None:
            return  # not ours (or from a release that knew other components): nothing to do
        interaction.extras["usage_name"] = components.usage_name(interaction, cid)
        async with self._tracked(interaction):
            try:
                if await self.interaction_check(interaction):
                    components.check_guild(interaction, cid)
                    await found(self.client, interaction, cid)
            except Exception as exc:
                interaction.command_failed = True
                await self.answer_error(interaction, exc)

    async def on_error(self, interaction: discord.Interaction,
                       error: app_commands.AppCommandError) -> None:
        await self.answer_error(interaction, error)

    async def answer_error(self, interaction: discord.Interaction, error: Exception) -> None:
        """Turn a failure into a reply the member sees (never silence) and its outcome."""
        bot = self.client
        original = getattr(error, "original", error)
        if isinstance(original, UserError):
            outcome, text = "user_error", str(original)
        elif isinstance(original, StorageUnavailable):  # not the member's fault, not a bug
            bot.monitoring.record_error(original, command=_command_name(interaction),
                                        guild_id=interaction.guild_id)
            outcome, text = "failure", _(UNAVAILABLE_NOTICE)
        elif isinstance(error, app_commands.CheckFailure):
            outcome, text = "user_error", _("You are not allowed to use this command here.")
        elif isinstance(error, app_commands.TransformerError):
            outcome = "user_error"
            text = _("I could not understand `{value}`.", value=clean_text(str(error.value), 50))
        elif isinstance(error, app_commands.CommandNotFound
                        | app_commands.CommandSignatureMismatch):
            outcome = "user_error"
            text = _("This command is being updated. Please try again in a minute.")
        else:
            error_id = bot.monitoring.record_error(original, command=_command_name(interaction),
                                                   guild_id=interaction.guild_id)
            outcome = "failure"
            text = _("Something went wrong on our side (error id `{error_id}`). It has been "
                     "logged; please try again later.", error_id=error_id)
        interaction.extras["outcome"] = outcome
        try:
            await answer(interaction, text)
        except discord.HTTPException as exc:
            log.warning("could not deliver an error reply: %s", exc)


class GuildBot(commands.AutoShardedBot):
    """The bot: one class for every deployment. An AutoShardedBot runs this process's shards
    (GUILDBOT_SHARD_IDS, else all of GUILDBOT_SHARD_COUNT); unsharded is one shard of one, so
    every gateway event names its shard (on_shard_ready ...) whatever the deployment."""

    def __init__(self, settings: Settings, storage: Storage, monitoring: MonitoringHooks,
                 clock: Callable[[], float] = time.time, **options: Any) -> None:
        if settings.shard_ids is not None:  # this process runs only these shards
            options["shard_ids"] = list(settings.shard_ids)
        super().__init__(command_prefix=commands.when_mentioned, tree_cls=GuildBotTree,
                         shard_count=max(settings.shard_count, 1), **_client_options(settings),
                         **options)
        self.settings = settings
        self.storage = storage
        self.monitoring = monitoring
        self.clock = clock
        self.started_at = clock()
        self.policy = AdmissionPolicy(settings)
        # Guild id -> the policy's decision, for every guild the gateway delivered: the
        # interaction check is one lookup here (no database trip on the hot path).
        self.admission: dict[int, Decision] = {}
        self._admission_lock = asyncio.Lock()
        # Per-member cooldowns (a member's rate, not load: the shedding above is unchanged).
        self.cooldowns = Cooldowns(dict(settings.cooldowns), evicted=monitoring.cooldown_evicted)
        self.inflight = 0
        self.inflight_tasks: set[asyncio.Task] = set()
        self.draining = False
        self.global_maintenance = False
        self.maintenance_guilds: set[int] = set()
        self._gateway_up = False  # READY's guilds decided (the first READY and every later one)
        self._shards_up: set[int] = set()  # shards with a READY or RESUMED session now
        self._max_concurrency: int | None = None  # IDENTIFY buckets, from GET /gateway/bot
        self._notified_ready = False
        self._background: list[asyncio.Task] = []
        self._shutdown_task: asyncio.Task | None = None
        # Operator announcements this process has taken up (sent to each of its guilds that had
        # a channel then), and the task sending them (one at a time).
        self._announced: set[int] = set()
        self._announcing: asyncio.Task | None = None
        # Answers "busy" cheaply once commands arrive late (overload); see bot/shedding.py.
        self.shedder = LoadShedder(settings.api_base, BUSY_NOTICE, monitoring.observe_command,
                                   user_agent=self.http.user_agent)
        self.shedder.install(self._connection.parsers)

    @property
    def tree(self) -> GuildBotTree:
        """The command tree, typed as the one every GuildBot is made with."""
        tree = super().tree
        assert isinstance(tree, GuildBotTree)
        return tree

    @property
    def callbacks(self) -> CallbackClient:
        """The keep-alive connections every first reply goes over (bot/responses.py)."""
        return self.shedder.client

    # -- monitoring probe -------------------------------------------------------------------
    def gateway_ready(self) -> bool:
        """Every shard of this process has a READY (or resumed) session, READY is decided."""
        return (self._gateway_up and not self.is_closed()
                and self._shards_up.issuperset(self.settings.own_shards))

    def shards_ready(self) -> dict[int, bool]:
        """Each shard of this process: whether its session is READY (or resumed) now."""
        return {shard: shard in self._shards_up for shard in self.settings.own_shards}

    def _shard_state(self, shard: int, up: bool, event: str) -> None:
        """A shard's session came up or went down: readiness follows the whole process (ready
        when every shard is), monitoring sees the process's transitions."""
        ready_before = self.gateway_ready()
        if up:
            self._shards_up.add(shard)
        else:
            self._shards_up.discard(shard)
        if up and self.gateway_ready() and not ready_before:
            self.monitoring.gateway_event(event)
        elif not up and ready_before:
            self.monitoring.gateway_event("disconnect")

    def shard_latencies(self) -> list[tuple[int, float]]:
        """Heartbeat latency per shard of this process; unknown ones left out."""
        return [(shard, lat) for shard, lat in self.latencies if math.isfinite(lat)]

    def guild_count(self) -> int:
        return len(self.guilds)

    def maintenance_guild_count(self) -> int:
        return len(self.maintenance_guilds)

    async def database_writable(self) -> bool:
        return await self.storage.writable()

    async def database_size(self) -> StorageSize:
        return await self.storage.size()

    # -- admission --------------------------------------------------------------------------
    def admission_refusal(self, guild_id: int) -> str | None:
        """None when the guild is admitted, else what to answer its interactions."""
        decision = self.admission.get(guild_id)
        if decision is not None and decision.admitted:
            return None
        if decision is None:  # never delivered by the gateway: commands only, or removed
            decision = self.policy.decide(guild_id, known=True, guild_count=0)  # the allowlist
        return self.policy.refusal(decision.reason or NOT_A_MEMBER)

    async def admit_ready_guilds(self) -> list[tuple[discord.Guild, Decision]]:
        """Decide for every guild READY delivered at once (``AdmissionPolicy.decide_ready``) and
        record the admitted ones as present (a row, ``left_at`` cleared). Returns the refused
        ones, for the caller to turn away."""
        guilds = [g for g in self.guilds if not g.unavailable]
        async with self._admission_lock:
            known = await self.storage.known_guilds()
            decisions = self.policy.decide_ready(((g.id, _joined_at(g)) for g in guilds), known)
            self.admission = decisions
            refused = [(g, decisions[g.id]) for g in guilds if not decisions[g.id].admitted]
            for guild in guilds:
                new = guild.id not in known
                if decisions[guild.id].admitted and (new or known[guild.id] is not None):
                    await self._present(guild, new=new)
        return refused

    async def admit_guild(self, guild: discord.Guild, *, joined: bool) -> None:
        """Decide for one guild delivered outside READY (a join, a late or returning guild)."""
        async with self._admission_lock:
            known = await self.storage.guild(guild.id).known()
            count = 1 + sum(d.admitted for g, d in self.admission.items() if g != guild.id)
            decision = self.policy.decide(guild.id, known=known, guild_count=count)
            self.admission[guild.id] = decision
            if decision.admitted:
                await self._present(guild, new=joined)
        if not decision.admitted:
            await self._turn_away(guild, decision)

    async def _present(self, guild: discord.Guild, *, new: bool) -> None:
        """Record an admitted guild as present: its row exists and ``left_at`` is cleared, so the
        retention purge keeps its data."""
        await self.storage.guild(guild.id).ensure(guild.name, self.clock())
        if new:
            self.monitoring.guild_joined(guild.id)
            log.info("joined guild %s", guild.id)

    def unknown_cooldowns(self) -> list[str]:
        """The commands given a cooldown that the loaded command tree does not have."""
        known = {command.qualified_name for command in self.tree.walk_commands()}
        return sorted(set(self.cooldowns.rates) - known)

    # -- audit trail (bot/domain/audit.py) ----------------------------------------------------
    async def audit(self, entry: audit_rules.AuditEntry) -> None:
        """Record ``entry`` in its guild's audit trail, then post it to the guild's audit
        channel when one is set. The post never fails the action: a channel that is gone or
        refuses the bot is logged (the entry is stored either way)."""
        repo = self.storage.guild(entry.guild_id)
        await repo.record_audit(entry)
        settings = await repo.settings()
        channel_id = settings.audit_channel_id
        if channel_id is None:
            return
        with i18n.use(settings.language):  # a public message: the guild's language
            line = audit_rules.describe(entry)
        client: Any = self
        try:
            channel = client.get_channel(channel_id) or await client.fetch_channel(channel_id)
            await channel.send(line,
                               allowed_mentions=discord.AllowedMentions.none())
        except Exception as exc:  # never fatal: the action is done and recorded
            log.warning("audit entry of guild %s not posted to channel %s: %s",
                        entry.guild_id, channel_id, exc)

    # -- maintenance ------------------------------------------------------------------------
    def in_maintenance(self, guild_id: int | None) -> bool:
        return self.global_maintenance or guild_id in self.maintenance_guilds

    def set_guild_maintenance(self, guild_id: int, on: bool) -> None:
        if on:
            self.maintenance_guilds.add(guild_id)
        else:
            self.maintenance_guilds.discard(guild_id)

    async def _watch_control(self) -> None:
        """Every CONTROL_POLL_INTERVAL: global maintenance follows the file
        $STATE_DIR/maintenance, and the guilds in maintenance are read again from the database,
        so a switch made through another process (or the database) holds here within seconds;
        a new operator announcement is taken up the same way."""
        flag = self.settings.state_dir / "maintenance"
        while True:
            on = flag.exists()
            if on != self.global_maintenance:
                log.warning("global maintenance %s (%s)", "ON" if on else "OFF", flag)
                self.global_maintenance = on
            await self.refresh_maintenance()
            await self.poll_announcements()
            await asyncio.sleep(CONTROL_POLL_INTERVAL)

    async def refresh_maintenance(self) -> None:
        """The guilds in maintenance, from the database (one indexed read); while it cannot
        answer, the last set read stays."""
        try:
            self.maintenance_guilds = set(await self.storage.guilds_in_maintenance())
        except StorageUnavailable as exc:
            log.debug("guilds in maintenance not refreshed: %s", exc)
        except Exception as exc:  # a bug here must not end the watch of the maintenance file
            self.monitoring.record_error(exc, command="task:refresh_maintenance")

    # -- announcements (bot/domain/announcements.py) ------------------------------------------
    async def poll_announcements(self) -> None:
        """From the control poll: take up the recent announcements this process has not sent
        yet, in a task of their own (one at a time: the poll never waits for the sending)."""
        if self.draining or (self._announcing is not None and not self._announcing.done()):
            return
        try:
            recent = await self.storage.announcements_since(
                self.clock() - announcements.MAX_AGE_SECONDS)
        except StorageUnavailable as exc:
            log.debug("announcements not polled: %s", exc)
            return
        except Exception as exc:  # a bug here must not end the watch of the maintenance file
            self.monitoring.record_error(exc, command="task:poll_announcements")
            return
        todo = [a for a in recent if a.announcement_id not in self._announced]
        if todo:
            self._announcing = asyncio.create_task(self._announce_all(todo), name="announce")

    async def _announce_all(self, todo: list[announcements.Announcement]) -> None:
        try:
            await self.send_announcements(todo)
        except StorageUnavailable as exc:  # the next poll takes them up again
            log.warning("announcements paused: %s", exc)
        except Exception as exc:
            self.monitoring.record_error(exc, command="task:send_announcements")

    async def send_announcements(self, todo: list[announcements.Announcement]) -> int:
        """Send each announcement to this process's guilds (those of its shards) that have a
        channel and no delivery row yet: claim the guild's row, then send, then record sent or
        failed (never retried). Paced to this process's share of the fleet's announcement rate.
        Returns the messages sent."""
        interval = announcements.send_interval(self.settings.shard_count,
                                               self.settings.own_shards)
        process = (f"{socket.gethostname()} process {self.settings.instance} "
                   f"(shards {shard_label(self.settings.own_shards)})")
        sent = 0
        for item in todo:
            targets = [(guild_id, channel_id) for guild_id, channel_id
                       in await self.storage.announcement_targets(item.announcement_id)
                       if self.settings.owns_guild(guild_id)]
            for guild_id, channel_id in targets:
                if self.draining:
                    return sent
                if not await self.storage.claim_announcement(
                        item.announcement_id, guild_id, channel_id, self.clock(), process):
                    continue  # another process (or an earlier run of this one) has it
                refused = await self._send_announcement(item, guild_id, channel_id)
                await self.storage.finish_announcement(
                    item.announcement_id, guild_id,
                    announcements.SENT if refused is None else announcements.FAILED,
                    None if refused is None else f"{refused.status} {refused.text}"[:200])
                sent += refused is None
                if refused is not None and refused.status in announcements.STOPS_THE_ROUND:
                    # The token is refused: every further send would fail the same way.
                    log.error("announcements stopped: Discord refused the token (%s)", refused)
                    self._announced.update(a.announcement_id for a in todo)
                    return sent
                await asyncio.sleep(interval)
            self._announced.add(item.announcement_id)
            log.info("announcement %s: sent to this process's %d guild(s) with a channel",
                     item.announcement_id, len(targets))
        return sent

    async def _send_announcement(self, item: announcements.Announcement, guild_id: int,
                                 channel_id: int) -> discord.HTTPException | None:
        """One message, mentions stripped; Discord's refusal, or None when it was sent."""
        try:
            await self.get_partial_messageable(
                channel_id, guild_id=guild_id).send(
                item.message, allowed_mentions=discord.AllowedMentions.none())
        except discord.HTTPException as exc:
            log.warning("announcement %s to guild %s channel %s failed: %s",
                        item.announcement_id, guild_id, channel_id, exc)
            return exc
        return None

    # -- start-up -----------------------------------------------------------------------------
    async def setup_hook(self) -> None:
        await self.tree.set_translator(CatalogTranslator())
        for module in pkgutil.iter_modules(cogs.__path__):
            if not module.name.startswith("_"):
                await self.load_extension(f"bot.cogs.{module.name}")
        unknown = self.unknown_cooldowns()
        if unknown:
            log.warning("cooldowns for commands this release does not have (a typo in "
                        "GUILDBOT_COOLDOWNS?): %s", ", ".join(unknown))
        self.maintenance_guilds = set(await self.storage.guilds_in_maintenance())
        # Until READY is decided, the guilds the bot was in when it stopped (allowlist applied),
        # so interactions that arrive in the first seconds after a start are answered.
        self.admission = {
            guild_id: self.policy.decide(guild_id, known=True, guild_count=0)
            for guild_id, left_at in (await self.storage.known_guilds()).items()
            if left_at is None}
        # Once per rollout, not by every process of a cluster: the one running shard 0 syncs
        # (exactly one process does; an unsharded or all-shards process always).
        if self.settings.sync_commands and 0 in self.settings.own_shards:
            await self.sync_commands_if_changed()
        await self.monitoring.start(self)
        self._background = [asyncio.create_task(coro, name=name) for name, coro in (
            ("control", self._watch_control()),
            ("challenge-expiry", self._every(self.settings.expiry_interval,
                                             self.expire_challenges)),
        )]

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """Discord takes one IDENTIFY per bucket (shard_id % max_concurrency) per 5 s across
        every process of the bot: wait for the bucket's turn through the storage (PostgreSQL:
        shared by every process; SQLite: this one). Never raises: a database that cannot answer
        costs a local wait of the interval instead (at worst Discord refuses and we retry)."""
        bucket = (shard_id or 0) % await self._identify_buckets()
        try:
            await self.storage.take_identify_turn(bucket, IDENTIFY_INTERVAL + IDENTIFY_MARGIN)
        except StorageUnavailable as exc:
            log.warning("IDENTIFY of shard %s waits %.1f s on its own: %s", shard_id,
                        IDENTIFY_INTERVAL + IDENTIFY_MARGIN, exc)
            await asyncio.sleep(IDENTIFY_INTERVAL + IDENTIFY_MARGIN)

    async def _identify_buckets(self) -> int:
        """``max_concurrency`` from GET /gateway/bot, asked once; 1 (every shard in one bucket,
        the strictest) when Discord does not answer."""
        if self._max_concurrency is None:
            try:
                _, _, limits = await self.http.get_bot_gateway()
                self._max_concurrency = max(1, int(limits["max_concurrency"]))
            except (discord.DiscordException, aiohttp.ClientError, KeyError, ValueError) as exc:
                log.warning("max_concurrency unknown (%s): one IDENTIFY bucket", exc)
                return 1
        return self._max_concurrency

    async def sync_commands_if_changed(self, force: bool = False) -> bool:
        digest = command_tree_hash(self.tree)
        if not force and await self.storage.get_meta(COMMAND_HASH_KEY) == digest:
            log.info("command tree unchanged (%s); not syncing", digest[:12])
            return False
        synced = await self.tree.sync()
        await self.storage.set_meta(COMMAND_HASH_KEY, digest)
        log.info("synced %d commands (tree %s)", len(synced), digest[:12])
        return True

    def _every(self, seconds: float, job: Callable[[], Awaitable[object]], *,
               at_once: bool = False) -> Coroutine[None, None, None]:
        """``job`` every ``seconds`` (bot.periodic); a failure is recorded as ``task:<name>``."""
        def failed(exc: Exception) -> None:
            self.monitoring.record_error(exc, command=f"task:{job.__name__}")
        return every(seconds, job, first=0 if at_once else None, on_error=failed)

    async def expire_challenges(self) -> int:
        """Resolve the due challenges of this process's guilds (those of its shards): each
        guild's expiry runs in one process of the deployment, so a stake is refunded once.
        Each resolved challenge's public message is then edited to say so (buttons gone)."""
        now = self.clock()
        total = 0
        for guild_id in await self.storage.guilds_with_due_challenges(now):
            if self.settings.owns_guild(guild_id):
                repo = self.storage.guild(guild_id)
                resolved = await repo.expire_challenges(now)
                for challenge in resolved:
                    await posts.refresh(self, repo, challenge)
                total += len(resolved)
        return total

    async def purge_departed_guilds(self) -> int:
        """Delete the data of this process's guilds (those of its shards: it alone knows
        whether they are admitted) that left before the retention cutoff. Never one admitted
        now (the gateway delivered it), nor one whose row changed since it was listed: the purge
        re-checks the cutoff inside its own transaction."""
        cutoff = self.clock() - self.settings.data_retention_days * 86400
        purged = 0
        for guild_id in await self.storage.guilds_left_before(cutoff):
            if not self.settings.owns_guild(guild_id):
                continue
            decision = self.admission.get(guild_id)
            if decision is not None and decision.admitted:
                continue
            if await self.storage.guild(guild_id).purge(left_before=cutoff):
                purged += 1
                log.info("purged data of guild %s (left more than %d days ago)", guild_id,
                         self.settings.data_retention_days)
        before = self.clock() - self.settings.audit_retention_days * 86400
        pruned = await self.storage.prune_audit(before)
        if pruned:
            log.info("pruned %d audit entries older than %d days", pruned,
                     self.settings.audit_retention_days)
        # Operator announcements (and every guild's delivery rows) are kept as long as the
        # audit trail: at least a day, so never one still being sent (those are younger than
        # announcements.MAX_AGE_SECONDS, a day).
        pruned = await self.storage.prune_announcements(before)
        if pruned:
            log.info("pruned %d announcements older than %d days", pruned,
                     self.settings.audit_retention_days)
        return purged

    # -- gateway events -------------------------------------------------------------------
    async def on_ready(self) -> None:
        # Ready (/readyz) once READY's guilds are decided: the first interactions find them.
        refused = await self.admit_ready_guilds()
        self._gateway_up = True
        if self.gateway_ready():  # each shard's READY came first (on_shard_ready)
            self.monitoring.gateway_event("ready")
        if not self._notified_ready:
            self._notified_ready = True
            # First purge once the guilds READY delivered are decided (and present again), then
            # hourly: a bot restarted more often than hourly still purges.
            self._background.append(asyncio.create_task(
                self._every(RETENTION_INTERVAL, self.purge_departed_guilds, at_once=True),
                name="retention-purge"))
            # Everything allocated so far lives as long as the process: keep the collector off it.
            gc.collect()
            gc.freeze()
            self.monitoring.notify_ready()
            log.info("ready: %d guilds, stage %s", len(self.guilds),
                     self.settings.stage)
        for guild, decision in refused:
            await self._turn_away(guild, decision)

    async def on_shard_ready(self, shard_id: int) -> None:
        self._shard_state(shard_id, True, "ready")

    async def on_shard_resumed(self, shard_id: int) -> None:
        self._shard_state(shard_id, True, "resumed")

    async def on_shard_disconnect(self, shard_id: int) -> None:
        self._shard_state(shard_id, False, "disconnect")

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """Components and modal submits go to the tree's :meth:`GuildBotTree.run_component`
        (slash commands and autocomplete reach the tree directly)."""
        if interaction.type in (discord.InteractionType.component,
                                discord.InteractionType.modal_submit):
            await self.tree.run_component(interaction)

    async def on_guild_join(self, guild: discord.Guild) -> None:
        await self.admit_guild(guild, joined=True)

    async def on_guild_available(self, guild: discord.Guild) -> None:
        """READY's guilds wait for :meth:`on_ready`, which decides for all of them in order;
        a guild that arrives later and was never decided is decided on its own."""
        if self._notified_ready and guild.id not in self.admission:
            await self.admit_guild(guild, joined=False)

    async def on_guild_remove(self, guild: discord.Guild) -> None:
        self.admission.pop(guild.id, None)
        await self.storage.guild(guild.id).mark_left(self.clock())
        self.monitoring.guild_left(guild.id)
        log.info("removed from guild %s; its data is kept for %d days", guild.id,
                 self.settings.data_retention_days)

    async def _turn_away(self, guild: discord.Guild, decision: Decision) -> None:
        log.warning("leaving guild %s: %s", guild.id, decision.reason)
        self.monitoring.guild_rejected(guild.id, decision.reason)
        channels = [guild.system_channel] if guild.system_channel else []
        channels += [c for c in guild.text_channels if c not in channels]
        for channel in channels[:3]:
            try:
                await channel.send(self.policy.farewell(decision, guild.preferred_locale))
                break
            except discord.HTTPException:
                continue
        with contextlib.suppress(discord.HTTPException):
            await guild.leave()

    # -- shutdown -------------------------------------------------------------------------
    def request_shutdown(self) -> None:
        if self._shutdown_task is None:
            self._shutdown_task = asyncio.get_running_loop().create_task(self.graceful_close())

    async def graceful_close(self) -> None:
        """Stop taking interactions, let those in flight finish, then disconnect."""
        self.draining = True
        pending = set(self.inflight_tasks)
        log.info("shutting down: %d interaction(s) in flight", len(pending))
        if self._announcing is not None:  # it stops before its next guild: no send cut short
            pending.add(self._announcing)
        if pending:
            await asyncio.wait(pending, timeout=DRAIN_SECONDS)
        for task in [*self._background, self._announcing]:
            if task is not None:
                task.cancel()
        await self.shedder.close()
        await self.close()


def _joined_at(guild: discord.Guild) -> float:
    """When the bot joined the guild (its own member's joined_at); unknown sorts last."""
    me = guild.me
    return me.joined_at.timestamp() if me is not None and me.joined_at else math.inf


def _client_options(settings: Settings) -> dict[str, Any]:
    return {
        "intents": intents(),
        "help_command": None,
        "chunk_guilds_at_startup": False,
        "member_cache_flags": discord.MemberCacheFlags.none(),
        "max_messages": None,
        # discord.py's HTTP client has no connection limit of its own: past saturation a
        # backlog opened thousands of connections. Bound it so overload queues instead.
        "connector": aiohttp.TCPConnector(limit=HTTP_CONNECTION_LIMIT),
        "allowed_mentions": discord.AllowedMentions(everyone=False, roles=False, users=True),
    }


def create_bot(settings: Settings, storage: Storage, monitoring: MonitoringHooks,
               clock: Callable[[], float] = time.time) -> GuildBot:
    configure_endpoints(settings)
    return GuildBot(settings, storage, monitoring, clock)
