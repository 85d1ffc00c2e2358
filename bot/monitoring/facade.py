"""The monitoring facade: the one object the bot core talks to (it satisfies
``bot.monitoring.hooks.MonitoringHooks``, and so does its null twin, :class:`NullMonitoring`).

The core creates ``Monitoring(settings, sink=storage)``, calls ``await start(probe)`` on the running
loop, ``notify_ready()`` once the gateway is READY and the database open, the hooks below while
running, and ``await stop()`` on shutdown (before closing the database: stop flushes analytics).

Hot-path hooks (``observe_command``, ``gateway_event``, the guild hooks) are O(1), synchronous and
never do I/O; everything slow (psutil, file sizes, alert delivery, analytics writes) runs in
periodic tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from bot.config import Settings
from bot.monitoring.alerting import BotAlerts
from bot.monitoring.analytics import AnalyticsSink, UsageBuffer
from bot.monitoring.dashboard import DashboardSeries
from bot.monitoring.errors import ErrorTracker
from bot.monitoring.hooks import BotProbe
from bot.monitoring.logs import Redactor
from bot.monitoring.metrics import (
    GrowthRate,
    Metrics,
    OffsiteCollector,
    ResourceSample,
    ResourceSampler,
    apply_sample,
)
from bot.monitoring.server import HealthServer, MetricsServer
from bot.monitoring.stats import Readiness, latency_text, ms
from bot.monitoring.systemd import Notifier, Watchdog, gateway_healthy
from bot.periodic import every
from bot.shards import label as shard_label
from bot.statefiles import GATEWAY_RESTARTS_FILE, STARTS_FILE, GatewayRestarts, StartsFile
from bot.storage.base import GuildRepository, StorageSize, UsageSummary

log = logging.getLogger("guildbot.monitoring")

SLO_WINDOW = 300.0
DB_CHECK_TTL = 1.0  # seconds a readiness write probe's result answers /readyz


@dataclass(frozen=True)
class Intervals:
    """Periods of the background tasks (seconds) and related limits; tests shorten them."""

    sample: float = 15.0          # process/host/database/gateway gauges
    dashboard: float = 5.0        # one dashboard point
    dashboard_points: int = 720   # ring buffer length (1 h at 5 s)
    loop_lag: float = 0.5         # event-loop lag probe
    alerts: float = 30.0          # in-process alert evaluation
    flush: float = 10.0           # analytics batch at least this often ...
    flush_rows: int = 1000        # ... or as soon as this many rows wait
    max_buffered_rows: int = 50_000
    prune_delay: float = 60.0     # first analytics prune after start, then daily
    watchdog: float | None = None  # None: half of $WATCHDOG_USEC
    # The watchdog keeps pinging this long through a gateway outage; None: the gateway-down
    # alert's delay (settings.alerts.gateway_down_minutes), so the alert and the restart agree.
    gateway_grace: float | None = None
    max_heartbeat_latency: float = 60.0
    db_check_timeout: float = 5.0  # the readiness write probe and the size query, each
    top_guilds: int = 20


Listener = TypeVar("Listener", HealthServer, MetricsServer)


async def _started(listener: Listener | None) -> Listener | None:
    """The listener once it listens, or None when it cannot (the bot runs without it)."""
    if listener is None:
        return None
    try:
        await listener.start()
    except OSError as exc:
        log.error("%s could not listen on %s:%s: %s (the bot runs without it)", listener.what,
                  listener.host, listener.port, exc)
        return None
    return listener


class Monitoring:
    def __init__(self, settings: Settings, *, sink: AnalyticsSink | None = None,
                 clock: Callable[[], float] = time.time, health_port: int | None = None,
                 intervals: Intervals | None = None,
                 environ: Mapping[str, str] | None = None) -> None:
        """``health_port`` overrides settings.health_port; with it, 0 means an ephemeral port
        (tests). Without it, settings.health_port == 0 disables the server."""
        self.settings = settings
        self.clock = clock
        self.intervals = intervals or Intervals()
        self.started_at = clock()
        self.redact = Redactor(settings.secrets())
        self.errors = ErrorTracker(clock, redact=self.redact)
        self.metrics = Metrics(top_guilds=self.intervals.top_guilds, errors=self.errors)
        self.timeline = Readiness(self.started_at)
        self.usage: UsageBuffer | None = None
        if sink is not None:
            self.usage = UsageBuffer(
                sink, retention_days=settings.analytics_retention_days, metrics=self.metrics,
                clock=clock, flush_interval=self.intervals.flush,
                batch_rows=self.intervals.flush_rows, max_rows=self.intervals.max_buffered_rows,
                prune_delay=self.intervals.prune_delay)
        self.notifier = Notifier(environ)
        self.gateway_restarts = GatewayRestarts(settings.state_dir / GATEWAY_RESTARTS_FILE)
        self.watchdog = Watchdog(self.notifier, self._gateway_healthy, self.status_text,
                                 interval=self.intervals.watchdog,
                                 gateway_grace=self._gateway_grace(),
                                 on_gateway_give_up=self._gateway_give_up)
        self.dashboard = DashboardSeries(self.metrics, self._guild_count, clock,
                                         maxlen=self.intervals.dashboard_points,
                                         interval=self.intervals.dashboard)
        self.starts = StartsFile(settings.state_dir / STARTS_FILE)
        self.probe: BotProbe | None = None
        self.loop_lag = 0.0
        self.last_sample: ResourceSample | None = None
        self._growth = GrowthRate()
        self._sampler: ResourceSampler | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._db_check: asyncio.Future[list[str]] | None = None
        self._db_check_at = 0.0
        self._stopping = False
        self._started = False
        self.alerts: BotAlerts | None = None  # once started
        port = settings.health_port if health_port is None else health_port
        enabled = health_port is not None or settings.health_port != 0
        self.server = HealthServer(self, settings.health_host, port) if enabled else None
        self.metrics_server = (
            MetricsServer(self, settings.metrics_host, settings.metrics_port,
                          settings.metrics_token.reveal(), settings.metrics_allow)
            if settings.metrics_port and settings.metrics_token is not None else None)
        self.metrics.start_time.set(self.started_at)
        if settings.offsite is not None:
            self.metrics.registry.register(OffsiteCollector(settings.state_dir, clock))
        self.metrics.process_info.labels(shard_label(settings.own_shards), str(settings.instance),
                                         str(settings.shard_count)).set(1)

    def _gateway_grace(self) -> float:
        grace = self.intervals.gateway_grace
        return self.settings.alerts.gateway_down_minutes * 60 if grace is None else grace

    def _gateway_give_up(self) -> None:
        self.gateway_restarts.record(self.clock())

    # --- lifecycle ----------------------------------------------------------------------------
    async def start(self, probe: BotProbe) -> None:
        if self._started:
            return
        self._started = True
        self.probe = probe
        m = self.metrics
        # Read at every scrape: a shard or a maintenance switch shows at once.
        for shard in self.settings.own_shards:
            m.shard_ready.labels(str(shard)).set_function(functools.partial(
                _shard_up, probe, shard))
        m.maintenance_guilds.set_function(probe.maintenance_guild_count)
        now = self.clock()
        restarts = self.starts.record(now)
        m.start_after_crash.set(1 if now in self.starts.crashes else 0)
        if restarts:
            log.info("process start %d within 24 h", restarts + 1)
        base = self._gateway_grace()
        grace = self.gateway_restarts.grace(base, self.clock())
        if grace != base:
            log.warning("the watchdog restarted the bot for a gateway outage recently: this "
                        "process waits %.0f s (not %.0f s) of gateway trouble before it stops "
                        "pinging", grace, base)
        self.watchdog.gateway_grace = grace
        self._sampler = ResourceSampler(self.settings.database, self.settings.backup_dir)
        self.server = await _started(self.server)
        self.metrics_server = await _started(self.metrics_server)
        iv = self.intervals
        self._spawn(self._loop_lag_probe(iv.loop_lag), "loop-lag")
        self._spawn(every(iv.sample, self.sample_now, first=0, on_error=_task_failed), "sampler")
        self._spawn(every(iv.dashboard, self._dashboard_tick, on_error=_task_failed),
                    "dashboard")
        self._start_alerts()
        if self.usage is not None:
            self.usage.start()
        self.watchdog.start()

    def _start_alerts(self) -> None:
        """The in-process alert loop (bot.monitoring.alerting)."""
        self.alerts = BotAlerts(self.settings, self, clock=self.clock)
        self._spawn(every(self.intervals.alerts, self.alerts.run_once, on_error=_task_failed),
                    "alerts")

    def stopped_cleanly(self) -> None:
        """The process stops on purpose (drained after SIGTERM): not a crash at the next start."""
        if self._started:
            self.starts.stopped_cleanly(self.clock())

    async def stop(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        self.notifier.notify("STOPPING=1", "STATUS=stopping")
        await self.watchdog.stop()
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:
                log.exception("monitoring task %s failed", task.get_name())
        if self.usage is not None:
            await self.usage.stop()
        if self.alerts is not None:
            await self.alerts.close()
        for listener in (self.server, self.metrics_server):
            if listener is not None:
                await listener.stop()
        self.notifier.close()

    def notify_ready(self) -> None:
        self.timeline.set(self.clock(), True)
        self.metrics.gateway_ready.set(1)
        self.notifier.notify("READY=1", f"STATUS={self.status_text()}")

    @property
    def health_port(self) -> int | None:
        """The port the health server is bound to (None when disabled or not started)."""
        return self.server.bound_port if self.server is not None else None

    # --- hot path -------------------------------------------------------------------------------
    def observe_command(self, command: str, guild_id: int | None, outcome: str,
                        seconds: float) -> None:
        now = self.clock()
        self.metrics.observe(command, guild_id, outcome, seconds, now)
        usage = self.usage
        if usage is not None:
            usage.add(now, guild_id, command, outcome, seconds * 1000.0)

    def record_error(self, exc: BaseException, *, command: str | None = None,
                     guild_id: int | None = None) -> str:
        return self.errors.record(exc, command=command, guild_id=guild_id)

    def cooldown_evicted(self) -> None:
        """A member's cooldown bucket was evicted before it refilled (bot/cooldowns.py)."""
        self.metrics.cooldown_evictions.inc()

    def guild_joined(self, guild_id: int) -> None:
        self.metrics.guild_joins.inc()

    def guild_left(self, guild_id: int) -> None:
        self.metrics.guild_leaves.inc()

    def guild_rejected(self, guild_id: int, reason: str) -> None:
        self.metrics.guild_rejections.labels(reason[:40]).inc()

    def registration(self, guild_id: int) -> None:
        self.metrics.registrations.inc()

    def gateway_event(self, event: str) -> None:
        self.metrics.gateway_events.labels(event).inc()
        if event in ("ready", "resumed"):
            self.timeline.set(self.clock(), True)
            self.metrics.gateway_ready.set(1)
        elif event == "disconnect":
            self.timeline.set(self.clock(), False)
            self.metrics.gateway_ready.set(0)

    # --- views ----------------------------------------------------------------------------------
    async def command_usage(self, repo: GuildRepository, since: float) -> list[UsageSummary]:
        """A guild's command usage since ``since``, counting the rows not yet written (/stats)."""
        if self.usage is None:
            return await repo.usage(since)
        return await self.usage.with_pending(repo.guild_id, since, lambda: repo.usage(since))

    async def purge_guild(self, repo: GuildRepository) -> None:
        """Delete a guild's data, its usage rows still waiting in the batch included."""
        if self.usage is None:
            await repo.purge()
        else:
            await self.usage.purge_guild(repo.guild_id, repo.purge)

    async def readiness(self) -> tuple[bool, list[str]]:
        reasons: list[str] = []
        if self._stopping:
            reasons.append("shutting down")
        probe = self.probe
        if probe is None:
            reasons.append("not started")
            return False, reasons
        try:
            if not probe.gateway_ready():
                down = [shard for shard, up in probe.shards_ready().items() if not up]
                reasons.append(f"gateway not ready (shards {shard_label(down)} down)" if down
                               else "gateway not ready")
        except Exception as exc:
            reasons.append(f"gateway check failed: {type(exc).__name__}")
        reasons.extend(await self._database_check(probe))
        return not reasons, reasons

    async def _database_check(self, probe: BotProbe) -> list[str]:
        """The database's readiness reasons, from one write probe per ``DB_CHECK_TTL`` seconds.

        /readyz needs no authentication, so it must not cost a write transaction per request:
        requests within the TTL of the last probe, and requests while one runs, share its
        result. A database that stops accepting writes is still reported within the TTL."""
        task, started = self._db_check, self._db_check_at
        if task is None or (task.done() and not 0 <= self.clock() - started < DB_CHECK_TTL):
            self._db_check_at = self.clock()
            task = self._db_check = asyncio.ensure_future(self._probe_database(probe))
        return list(await asyncio.shield(task))

    async def _probe_database(self, probe: BotProbe) -> list[str]:
        try:
            writable = await asyncio.wait_for(probe.database_writable(),
                                              self.intervals.db_check_timeout)
        except TimeoutError:
            return ["database check timed out"]
        except Exception as exc:
            return [f"database check failed: {type(exc).__name__}"]
        return [] if writable else ["database not writable"]

    def slo(self) -> dict[str, Any]:
        now = self.clock()
        slo = self.metrics.slo
        window = slo.totals(now).to_json()
        window["uptime_fraction"] = round(self.timeline.fraction(now, SLO_WINDOW), 6)
        lifetime = slo.lifetime.to_json()
        lifetime["uptime_fraction"] = round(self.timeline.fraction(now), 6)
        return {
            "now": now,
            "started_at": self.started_at,
            "uptime_seconds": round(now - self.started_at, 3),
            "ready": self.timeline.ready,
            "gateway_down_seconds": round(self.timeline.down_seconds(now), 3),
            "window_seconds": SLO_WINDOW,
            "window": window,
            "lifetime": lifetime,
            "restarts_24h": self.starts.restarts(now),
            "crash_restarts_24h": self.starts.crash_restarts(now),
            "commands": slo.lifetime.count,
            "errors_recorded": self.errors.total,
            "loop_lag_seconds": round(self.loop_lag, 6),
            "process": self.process_view(),
            "offsite": self.offsite_view(now),
        }

    def offsite_view(self, now: float) -> dict[str, Any]:
        """The off-host backups (bot.storage.offsite): off, or the newest pushed backup's age,
        the pushes' outcomes and the last error."""
        if self.settings.offsite is None:
            return {"enabled": False}
        from bot.storage import offsite

        return {"enabled": True, **offsite.summary(self.settings.state_dir, now)}

    def process_view(self) -> dict[str, Any]:
        """This process in the fleet: its number on the host, its shards, each shard's
        session (ready, heartbeat latency)."""
        settings, probe = self.settings, self.probe
        ready: dict[int, bool] = {}
        latency: dict[int, float] = {}
        if probe is not None:
            with contextlib.suppress(Exception):
                ready = probe.shards_ready()
                latency = dict(probe.shard_latencies())
        return {
            "instance": settings.instance,
            "shards": shard_label(settings.own_shards),
            "shard_count": settings.shard_count,
            "shard_states": [
                {"shard": shard, "ready": ready.get(shard, False),
                 "latency_ms": ms(latency.get(shard), 1)}
                for shard in settings.own_shards],
        }

    def dashboard_data(self) -> dict[str, Any]:
        s = self.slo()
        summary = {
            "ready": s["ready"], "guilds": self._guild_count(),
            "commands_5m": s["window"]["commands"], "error_rate_5m": s["window"]["error_rate"],
            "p95_ms_5m": s["window"]["p95_latency_ms"], "uptime_seconds": s["uptime_seconds"],
            "database_bytes": None if self.last_sample is None else self.last_sample.db_bytes,
            "offsite_age_seconds": s["offsite"].get("age_seconds"),
            "offsite_enabled": s["offsite"]["enabled"],
        }
        return self.dashboard.data(summary)

    def status_text(self) -> str:
        probe = self.probe
        if probe is None:
            return "starting"
        try:
            guilds = probe.guild_count()
            latency = latency_text(lat for _, lat in probe.shard_latencies())
        except Exception:
            return "running"
        return f"guilds {guilds}, latency {latency}"

    # --- periodic work --------------------------------------------------------------------------
    async def sample_now(self) -> ResourceSample | None:
        """Take one resource/gateway sample and update the gauges (the sampler task's body)."""
        probe = self.probe
        m = self.metrics
        if probe is not None:
            try:
                m.guilds.set(probe.guild_count())
                for shard, latency in probe.shard_latencies():
                    m.gateway_latency.labels(str(shard)).set(latency)
                m.gateway_ready.set(1 if probe.gateway_ready() else 0)
            except Exception:
                log.exception("gateway sample failed")
        if self.usage is not None:
            m.usage_buffered.set(len(self.usage.rows))
        if self._sampler is None:
            self._sampler = ResourceSampler(self.settings.database, self.settings.backup_dir)
        sample = await asyncio.to_thread(self._sampler.sample)
        if probe is not None:
            size = await self._database_size(probe)
            if size is not None:
                sample.db_bytes, sample.wal_bytes = size.database, size.wal
        apply_sample(m, sample, self._growth)
        self.last_sample = sample
        return sample

    async def _database_size(self, probe: BotProbe) -> StorageSize | None:
        """The backend's own figure (``Storage.size``), bounded like the readiness probe; None
        while the database cannot answer (the gauges keep their last value). ``asyncio.timeout``
        rather than ``wait_for``: on Python 3.11 ``wait_for`` swallows a cancellation that
        arrives as the query completes, and ``stop()`` would then wait for the sampler forever."""
        try:
            async with asyncio.timeout(self.intervals.db_check_timeout):
                return await probe.database_size()
        except Exception as exc:  # an outage shows on /readyz and /errors, not here
            log.debug("database size unavailable: %s: %s", type(exc).__name__, exc)
            return None

    async def _dashboard_tick(self) -> None:
        self.dashboard.sample()

    def _guild_count(self) -> int | None:
        probe = self.probe
        if probe is None:
            return None
        try:
            return probe.guild_count()
        except Exception:
            return None

    def _gateway_healthy(self) -> bool:
        probe = self.probe
        if probe is None:
            return False
        return gateway_healthy(probe.gateway_ready(), probe.shard_latencies(),
                               self.intervals.max_heartbeat_latency)

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=f"guildbot-{name}")
        self._tasks.append(task)

    async def _loop_lag_probe(self, interval: float) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(interval)
            lag = max(0.0, loop.time() - before - interval)
            self.loop_lag = lag
            self.metrics.loop_lag.set(lag)
            self.metrics.loop_lag_hist.observe(lag)


def _task_failed(exc: Exception) -> None:
    log.error("monitoring task failed (it will run again)", exc_info=exc)


def _shard_up(probe: BotProbe, shard: int) -> float:
    return 1.0 if probe.shards_ready().get(shard, False) else 0.0


class NullMonitoring:
    """The facade without side effects, for CLI commands that build the bot but do not run it
    (sync-commands, announce): no server, no tasks, no starts file, no sd_notify. Errors are
    still logged (with an id and fingerprint)."""

    def __init__(self, settings: Settings | None = None) -> None:
        redact = Redactor(settings.secrets()) if settings is not None else str
        self.errors = ErrorTracker(redact=redact)

    async def start(self, probe: BotProbe) -> None:
        return None

    def stopped_cleanly(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def notify_ready(self) -> None:
        return None

    def observe_command(self, command: str, guild_id: int | None, outcome: str,
                        seconds: float) -> None:
        return None

    def record_error(self, exc: BaseException, *, command: str | None = None,
                     guild_id: int | None = None) -> str:
        return self.errors.record(exc, command=command, guild_id=guild_id)

    async def command_usage(self, repo: GuildRepository, since: float) -> list[UsageSummary]:
        return await repo.usage(since)

    async def purge_guild(self, repo: GuildRepository) -> None:
        await repo.purge()

    def cooldown_evicted(self) -> None:
        return None

    def guild_joined(self, guild_id: int) -> None:
        return None

    def guild_left(self, guild_id: int) -> None:
        return None

    def guild_rejected(self, guild_id: int, reason: str) -> None:
        return None

    def registration(self, guild_id: int) -> None:
        return None

    def gateway_event(self, event: str) -> None:
        return None
