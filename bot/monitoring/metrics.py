"""Prometheus metrics on a private CollectorRegistry.

Hot-path data (command latency buckets, outcomes, per-guild counts, errors) lives in plain Python
containers that the event loop updates without locks; a custom collector turns them into metric
families only when /metrics is scraped. Slow-moving values (process, host, database, gateway) are
ordinary gauges set by a periodic sampler, never per request.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.utils import floatToGoString

from bot.monitoring.errors import ErrorTracker
from bot.monitoring.stats import (
    BAD_OUTCOMES,
    LATENCY_BOUNDS,
    NBUCKETS,
    OUTCOMES,
    CommandStats,
    SloWindow,
    bucket_index,
    top_counts,
)
from bot.storage.backups import list_backups, taken_at

log = logging.getLogger("guildbot.monitoring")

_LE = [floatToGoString(b) for b in LATENCY_BOUNDS] + ["+Inf"]
MAX_COMMANDS = 200     # distinct command labels; more (a bug, or a flood of names) go to "other"
TOP_GUILDS = 20        # per-guild series; the rest are summed as guild="other"


class Metrics:
    """All metrics of one process. ``observe`` is the hot path."""

    def __init__(self, *, top_guilds: int = TOP_GUILDS, errors: ErrorTracker | None = None,
                 slo: SloWindow | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.top_guilds = top_guilds
        self.commands: dict[str, CommandStats] = {}
        self.guild_counts: dict[int | None, int] = {}
        self.slo = slo if slo is not None else SloWindow()
        self.errors = errors if errors is not None else ErrorTracker()
        r = self.registry
        self.guilds = Gauge("guildbot_guilds", "Guilds the bot is in", registry=r)
        self.guild_joins = Counter("guildbot_guild_joins", "Guilds joined", registry=r)
        self.guild_leaves = Counter("guildbot_guild_leaves", "Guilds left", registry=r)
        self.guild_rejections = Counter("guildbot_guild_rejections",
                                        "Guilds refused by the rollout policy", ["reason"],
                                        registry=r)
        self.cooldown_evictions = Counter(
            "guildbot_cooldown_evictions", "Members' cooldown buckets evicted before they "
            "refilled (the cap of bot/cooldowns.py reached; those members start afresh)",
            registry=r)
        self.registrations = Counter("guildbot_registrations", "Member registrations", registry=r)
        self.gateway_events = Counter("guildbot_gateway_events", "Gateway lifecycle events",
                                      ["event"], registry=r)
        self.gateway_ready = Gauge("guildbot_gateway_ready", "1 when the gateway is READY",
                                   registry=r)
        self.gateway_latency = Gauge("guildbot_gateway_latency_seconds",
                                     "Heartbeat latency per shard", ["shard"], registry=r)
        self.shard_ready = Gauge("guildbot_shard_ready",
                                 "1 while the shard's gateway session is READY", ["shard"],
                                 registry=r)
        self.process_info = Gauge("guildbot_process_info",
                                  "This process: its shards (as in GUILDBOT_SHARD_IDS), its number "
                                  "on the host (GUILDBOT_INSTANCE) and the shard count",
                                  ["shards", "process", "shard_count"], registry=r)
        self.maintenance_guilds = Gauge("guildbot_guilds_in_maintenance",
                                        "Guilds in maintenance as this process sees them",
                                        registry=r)
        self.loop_lag = Gauge("guildbot_event_loop_lag_seconds",
                              "Scheduling delay of the last event-loop probe", registry=r)
        self.loop_lag_hist = Histogram("guildbot_event_loop_delay_seconds",
                                       "Event-loop scheduling delay (distribution)", registry=r,
                                       buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5))
        self.db_bytes = Gauge("guildbot_database_size_bytes",
                              "Database size (SQLite: the file; PostgreSQL: pg_database_size)",
                              registry=r)
        self.wal_bytes = Gauge("guildbot_database_wal_size_bytes",
                               "Database WAL file size (SQLite only)", registry=r)
        self.db_growth = Gauge("guildbot_database_growth_bytes_per_second",
                               "Growth of database (+ SQLite's WAL) over the last sample interval",
                               registry=r)
        self.process_rss = Gauge("guildbot_process_resident_memory_bytes", "Process RSS",
                                 registry=r)
        self.process_cpu = Gauge("guildbot_process_cpu_percent",
                                 "Process CPU over the last sample interval (100 = one core)",
                                 registry=r)
        self.process_fds = Gauge("guildbot_process_open_fds", "Open file descriptors", registry=r)
        self.host_cpu = Gauge("guildbot_host_cpu_percent", "Host CPU use", registry=r)
        self.host_memory = Gauge("guildbot_host_memory_percent", "Host memory use", registry=r)
        self.host_disk = Gauge("guildbot_host_disk_percent",
                               "Use of the filesystem holding the database", registry=r)
        self.usage_buffered = Gauge("guildbot_usage_rows_buffered",
                                    "Usage rows waiting to be written", registry=r)
        self.usage_dropped = Counter("guildbot_usage_rows_dropped",
                                     "Usage rows dropped (buffer full while the sink failed)",
                                     registry=r)
        self.usage_flush_failures = Counter("guildbot_usage_flush_failures",
                                            "Failed usage batch writes", registry=r)
        self.alerts_firing = Gauge("guildbot_alert_firing", "1 while an alert rule fires",
                                   ["rule"], registry=r)
        self.webhook_calls = Counter("guildbot_alert_webhook_calls", "Alert webhook calls",
                                     ["result"], registry=r)
        self.start_time = Gauge("guildbot_start_time_seconds", "Process start (unix time)",
                                registry=r)
        self.start_after_crash = Gauge("guildbot_start_after_crash",
                                       "1 when this process started after the previous one "
                                       "crashed (no clean stop recorded in starts.json)",
                                       registry=r)
        self.backup_time = Gauge("guildbot_backup_last_success_timestamp_seconds",
                                 "Time of the newest backup in GUILDBOT_BACKUP_DIR, any kind "
                                 "(from its name; 0: none on this host)", registry=r)
        r.register(_LiveCollector(self))

    # --- hot path -----------------------------------------------------------------------------
    def observe(self, command: str, guild_id: int | None, outcome: str, seconds: float,
                now: float) -> None:
        stats = self.commands.get(command)
        if stats is None:
            stats = self._command(command)
        index = bucket_index(seconds)
        stats.buckets[index] += 1
        stats.sum += seconds
        outcomes = stats.outcomes
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        self.slo.add(now, index, seconds, outcome in BAD_OUTCOMES)
        counts = self.guild_counts
        counts[guild_id] = counts.get(guild_id, 0) + 1

    def _command(self, command: str) -> CommandStats:
        if len(self.commands) >= MAX_COMMANDS:
            stats = self.commands.get("other")
            if stats is None:
                stats = self.commands["other"] = CommandStats()
            # Alias the unknown name to "other" so the next call is a single lookup too.
            self.commands[command] = stats
            return stats
        stats = self.commands[command] = CommandStats()
        return stats

    # --- views ----------------------------------------------------------------------------------
    def unique_commands(self) -> list[tuple[str, CommandStats]]:
        """(label, stats) per command; the names aliased to "other" appear once, as "other"."""
        other = self.commands.get("other")
        seen: set[int] = set()
        out = []
        for name, stats in list(self.commands.items()):
            if id(stats) in seen:
                continue
            seen.add(id(stats))
            out.append(("other" if stats is other else name, stats))
        return out

    def command_totals(self) -> dict[str, int]:
        """Calls per command since start."""
        return {label: stats.count for label, stats in self.unique_commands()}

    def render(self) -> bytes:
        from prometheus_client import generate_latest
        return generate_latest(self.registry)


class _LiveCollector:
    """Builds the hot-path metric families at scrape time."""

    def __init__(self, metrics: Metrics) -> None:
        self.m = metrics

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        m = self.m
        latency = HistogramMetricFamily("guildbot_command_latency_seconds",
                                        "Command handling time", labels=["command"])
        outcomes = CounterMetricFamily("guildbot_commands", "Commands by outcome",
                                       labels=["command", "outcome"])
        for label, stats in m.unique_commands():
            cumulative = 0
            buckets = []
            for le, count in zip(_LE, stats.buckets, strict=True):
                cumulative += count
                buckets.append((le, cumulative))
            latency.add_metric([label], buckets, stats.sum)
            for outcome in OUTCOMES:
                outcomes.add_metric([label, outcome], stats.outcomes.get(outcome, 0))
            for outcome, count in stats.outcomes.items():
                if outcome not in OUTCOMES:
                    outcomes.add_metric([label, outcome], count)
        yield latency
        yield outcomes

        per_guild = GaugeMetricFamily(
            "guildbot_guild_commands",
            f"Commands per guild since start: the {m.top_guilds} busiest guilds, the rest summed "
            "as guild=\"other\" (a gauge: a guild moving in or out of the top changes 'other')",
            labels=["guild"])
        top, rest = top_counts(m.guild_counts, m.top_guilds)
        for guild_id, count in top:
            per_guild.add_metric(["none" if guild_id is None else str(guild_id)], count)
        per_guild.add_metric(["other"], rest)
        yield per_guild

        errors = CounterMetricFamily("guildbot_errors", "Errors recorded, by exception type",
                                     labels=["type"])
        for etype, count in list(m.errors.by_type.items()):
            errors.add_metric([etype], count)
        yield errors

        life = m.slo.lifetime
        yield CounterMetricFamily("guildbot_commands_all", "Commands handled (all commands)",
                                  value=life.count)
        yield CounterMetricFamily("guildbot_commands_failed",
                                  "Commands that failed or were refused as busy", value=life.errors)


class OffsiteCollector:
    """The off-host backups' figures at scrape time, from ``offsite-status.json`` (written by
    the backup job): the newest pushed backup's age and the pushes by outcome."""

    def __init__(self, state_dir: Path, clock: Callable[[], float] = time.time) -> None:
        self.state_dir = state_dir
        self.clock = clock

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        from bot.storage import offsite

        status = offsite.summary(self.state_dir, self.clock())
        age = GaugeMetricFamily("guildbot_offsite_backup_age_seconds",
                                "Age of the newest backup pushed off-host (absent: none yet)")
        if status["age_seconds"] is not None:
            age.add_metric([], status["age_seconds"])
        yield age
        pushes = CounterMetricFamily("guildbot_offsite_pushes", "Off-host pushes by outcome",
                                     labels=["outcome"])
        pushes.add_metric(["success"], status["successes"])
        pushes.add_metric(["failure"], status["failures"])
        yield pushes


@dataclass
class ResourceSample:
    ts: float
    process_rss: int | None = None
    process_cpu: float | None = None
    process_fds: int | None = None
    host_cpu: float | None = None
    host_memory: float | None = None
    host_disk: float | None = None
    db_bytes: int | None = None
    wal_bytes: int | None = None
    backup_time: float | None = None


def existing_dir(path: Path) -> Path:
    """The nearest existing directory at or above ``path`` (for disk usage of a future file)."""
    p = path if path.is_dir() else path.parent
    p = p if str(p) else Path(".")
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def newest_backup_time(backup_dir: Path) -> float:
    """When the newest backup under ``backup_dir`` was taken (any kind and backend: the time in
    its name; published backups only, partial ones have hidden names), 0 when there is none."""
    try:
        found = list_backups(backup_dir, suffix="")
    except OSError:
        return 0.0
    when = next((t for t in map(taken_at, found) if t is not None), None)
    return when.timestamp() if when is not None else 0.0


class ResourceSampler:
    """Reads process and host figures and the newest backup's time (run it in a thread: it does
    file I/O). The database's own size comes from the storage backend (``Storage.size``), not
    from here."""

    def __init__(self, database: Path, backup_dir: Path) -> None:
        self.database = database
        self.backup_dir = backup_dir
        self._proc = psutil.Process()
        try:  # the first calls prime the counters
            self._proc.cpu_percent(None)
            psutil.cpu_percent(None)
        except (psutil.Error, OSError):
            pass

    def sample(self) -> ResourceSample:
        s = ResourceSample(ts=time.time())
        try:
            with self._proc.oneshot():
                s.process_rss = self._proc.memory_info().rss
                s.process_cpu = self._proc.cpu_percent(None)
                s.process_fds = self._proc.num_fds()
        except (psutil.Error, OSError, AttributeError) as exc:
            log.debug("process sample failed: %s", exc)
        # Each on its own: under systemd's ProcSubset=pid /proc/stat and /proc/meminfo are hidden,
        # while the disk (statvfs) still answers.
        for attr, read in (
            ("host_cpu", lambda: psutil.cpu_percent(None)),
            ("host_memory", lambda: psutil.virtual_memory().percent),
            ("host_disk", lambda: psutil.disk_usage(str(existing_dir(self.database))).percent),
        ):
            try:
                setattr(s, attr, read())
            except (psutil.Error, OSError, ValueError) as exc:
                log.debug("host sample %s failed: %s", attr, exc)
        s.backup_time = newest_backup_time(self.backup_dir)
        return s


class GrowthRate:
    def __init__(self) -> None:
        self._last: tuple[float, int] | None = None

    def update(self, ts: float, size: int) -> float | None:
        last, self._last = self._last, (ts, size)
        if last is None or ts <= last[0]:
            return None
        return (size - last[1]) / (ts - last[0])


def apply_sample(m: Metrics, s: ResourceSample, growth: GrowthRate) -> None:
    pairs: list[tuple[Any, float | int | None]] = [
        (m.process_rss, s.process_rss), (m.process_cpu, s.process_cpu),
        (m.process_fds, s.process_fds), (m.host_cpu, s.host_cpu),
        (m.host_memory, s.host_memory), (m.host_disk, s.host_disk),
        (m.db_bytes, s.db_bytes), (m.wal_bytes, s.wal_bytes), (m.backup_time, s.backup_time),
    ]
    for gauge, value in pairs:
        if value is not None:
            gauge.set(value)
    if s.db_bytes is not None:
        rate = growth.update(s.ts, s.db_bytes + (s.wal_bytes or 0))
        if rate is not None:
            m.db_growth.set(rate)


__all__ = ["Metrics", "OffsiteCollector", "ResourceSample", "ResourceSampler", "GrowthRate",
           "apply_sample", "NBUCKETS", "existing_dir", "newest_backup_time"]
