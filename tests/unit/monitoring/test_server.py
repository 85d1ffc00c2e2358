"""The health server on an ephemeral port: /metrics, /slo, /readyz, /healthz, /errors, dashboard."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import replace

import aiohttp
import pytest

from bot import cli
from bot.monitoring import DB_CHECK_TTL, Monitoring
from bot.monitoring.resources import healthz_answers
from bot.storage.base import StorageSize, StorageUnavailable
from tests.unit.monitoring.conftest import QUIET


def metric_value(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus text format (labels must match exactly)."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][\w:]*)(\{(.*)\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        if found == labels:
            return float(m.group(4))
    return None


async def get_text(http, path):
    session, base = http
    async with session.get(base + path) as resp:
        return resp.status, await resp.text()


async def get_json(http, path):
    session, base = http
    async with session.get(base + path) as resp:
        assert resp.headers["Content-Type"] == "application/json"
        return resp.status, await resp.json()


async def test_healthz_answers_from_the_loop(http):
    status, body = await get_json(http, "/healthz")
    assert status == 200
    assert body["status"] == "ok"


async def test_observe_command_changes_metrics(monitoring: Monitoring, http):
    _, before = await get_text(http, "/metrics")
    assert metric_value(before, "guildbot_command_latency_seconds_count", command="daily") is None

    monitoring.observe_command("daily", 111, "success", 0.004)
    monitoring.observe_command("daily", 111, "success", 0.006)
    monitoring.observe_command("daily", 222, "failure", 0.5)
    monitoring.observe_command("profile", None, "user_error", 0.001)

    status, text = await get_text(http, "/metrics")
    assert status == 200
    assert metric_value(text, "guildbot_command_latency_seconds_count", command="daily") == 3
    assert metric_value(text, "guildbot_command_latency_seconds_sum",
                        command="daily") == pytest.approx(0.51)
    assert metric_value(text, "guildbot_command_latency_seconds_bucket",
                        command="daily", le="0.005") == 1
    assert metric_value(text, "guildbot_command_latency_seconds_bucket",
                        command="daily", le="+Inf") == 3
    assert metric_value(text, "guildbot_commands_total", command="daily", outcome="success") == 2
    assert metric_value(text, "guildbot_commands_total", command="daily", outcome="failure") == 1
    assert metric_value(text, "guildbot_commands_total", command="profile",
                        outcome="user_error") == 1
    assert metric_value(text, "guildbot_guild_commands", guild="111") == 2
    assert metric_value(text, "guildbot_guild_commands", guild="none") == 1
    assert metric_value(text, "guildbot_commands_all_total") == 4
    assert metric_value(text, "guildbot_commands_failed_total") == 1


async def test_record_error_changes_metrics_and_errors_endpoint(monitoring: Monitoring, http):
    try:
        raise KeyError("missing")
    except KeyError as exc:
        error_id = monitoring.record_error(exc, command="daily", guild_id=5)
    assert re.fullmatch(r"[0-9a-f]{8}", error_id)
    _, text = await get_text(http, "/metrics")
    assert metric_value(text, "guildbot_errors_total", type="KeyError") == 1
    status, body = await get_json(http, "/errors")
    assert status == 200
    assert body["total"] == 1
    assert body["groups"][0]["last_error_id"] == error_id
    assert body["groups"][0]["type"] == "KeyError"


async def test_slo_reflects_commands_and_window(monitoring: Monitoring, http, clock):
    monitoring.notify_ready()
    for _ in range(98):
        monitoring.observe_command("daily", 1, "success", 0.010)
    monitoring.observe_command("daily", 1, "failure", 0.010)
    monitoring.observe_command("daily", 1, "busy", 3.0)
    monitoring.observe_command("daily", 1, "user_error", 0.010)  # not an SLO error
    monitoring.observe_command("daily", 1, "maintenance", 0.010)  # not an SLO error

    status, slo = await get_json(http, "/slo")
    assert status == 200
    assert slo["commands"] == 102
    assert slo["window"]["commands"] == 102
    assert slo["window"]["errors"] == 2
    assert slo["window"]["error_rate"] == pytest.approx(2 / 102, abs=1e-6)
    assert slo["lifetime"]["error_rate"] == pytest.approx(2 / 102, abs=1e-6)
    assert slo["window"]["avg_latency_ms"] == pytest.approx((101 * 10 + 3000) / 102, rel=1e-3)
    assert 5 <= slo["window"]["p95_latency_ms"] <= 10
    assert slo["restarts_24h"] == 0
    assert slo["ready"] is True

    # Six minutes later the 5-minute window is empty but the lifetime keeps everything.
    clock.advance(360)
    monitoring.observe_command("daily", 1, "success", 0.020)
    _, slo = await get_json(http, "/slo")
    assert slo["window"]["commands"] == 1
    assert slo["window"]["error_rate"] == 0
    assert slo["lifetime"]["commands"] == 103
    assert slo["uptime_seconds"] == pytest.approx(360)
    assert slo["window"]["uptime_fraction"] == pytest.approx(1.0)


async def test_slo_uptime_fraction_follows_gateway_events(monitoring: Monitoring, http, clock):
    monitoring.gateway_event("connect")
    clock.advance(60)            # 60 s not ready (starting)
    monitoring.gateway_event("ready")
    clock.advance(120)           # 120 s ready
    monitoring.gateway_event("disconnect")
    clock.advance(60)            # 60 s down
    monitoring.gateway_event("resumed")
    clock.advance(60)            # 60 s ready
    _, slo = await get_json(http, "/slo")
    assert slo["lifetime"]["uptime_fraction"] == pytest.approx(180 / 300)
    assert slo["window"]["uptime_fraction"] == pytest.approx(180 / 300)
    clock.advance(300)
    _, slo = await get_json(http, "/slo")
    assert slo["window"]["uptime_fraction"] == pytest.approx(1.0)
    assert slo["lifetime"]["uptime_fraction"] == pytest.approx(480 / 600)


async def test_readyz(monitoring: Monitoring, http, probe, clock):
    status, body = await get_json(http, "/readyz")
    assert (status, body) == (200, {"ready": True, "reasons": []})

    probe.ready = False  # the gateway is asked on every request
    status, body = await get_json(http, "/readyz")
    assert status == 503
    assert body["reasons"] == ["gateway not ready (shards 0 down)"]

    probe.writable = False  # the database's answer is reused for DB_CHECK_TTL
    clock.advance(DB_CHECK_TTL)
    status, body = await get_json(http, "/readyz")
    assert status == 503
    assert body["reasons"] == ["gateway not ready (shards 0 down)", "database not writable"]

    probe.ready = True
    status, body = await get_json(http, "/readyz")
    assert (status, body["reasons"]) == (503, ["database not writable"])

    probe.writable = True
    clock.advance(DB_CHECK_TTL)
    status, _ = await get_json(http, "/readyz")
    assert status == 200


async def test_readyz_probes_the_database_at_most_once_per_ttl(settings, clock, probe, storage,
                                                               monkeypatch):
    """Regression (issue 13, item 14): unauthenticated GET /readyz no longer costs a database
    write each. Through the real server and a real SQLite database, 40 requests (20 of them at
    once) within DB_CHECK_TTL run one write probe; after the TTL the next request probes again,
    and a database that cannot be written (closed) is still reported. Fails on the old code
    because every request ran ``storage.writable()``, a write transaction: 40 writes."""
    writes = []
    real_write = storage.write

    async def counted(work):
        writes.append(clock())
        return await real_write(work)

    monkeypatch.setattr(storage, "write", counted)
    probe.database_writable = storage.writable
    mon = Monitoring(settings, clock=clock, health_port=0, intervals=QUIET, environ={})
    await mon.start(probe)
    try:
        async with aiohttp.ClientSession() as session:
            http = (session, f"http://127.0.0.1:{mon.health_port}")
            answers = await asyncio.gather(*(get_json(http, "/readyz") for _ in range(20)))
            answers += [await get_json(http, "/readyz") for _ in range(20)]
            assert {status for status, _ in answers} == {200}
            assert len(writes) == 1

            clock.advance(DB_CHECK_TTL)
            assert (await get_json(http, "/readyz"))[0] == 200
            assert len(writes) == 2

            await storage.close()  # every write now fails
            clock.advance(DB_CHECK_TTL)
            status, body = await get_json(http, "/readyz")
            assert (status, body["reasons"]) == (503, ["database not writable"])
    finally:
        await mon.stop()


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST:8710", "127.0.0.1", "127.0.0.1:1",
                                  "[::1]", "[::1]:8710"])
async def test_loopback_host_headers_are_served(http, host):
    session, base = http
    for path in ("/healthz", "/readyz", "/slo", "/metrics", "/dashboard"):
        async with session.get(base + path, headers={"Host": host}) as resp:
            assert resp.status == 200, (path, host)


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8710", "127.0.0.1.evil.example",
                                  "localhost.evil.example:8710", "0.0.0.0:8710", "[::1]x",
                                  "localhost:", "localhost:8710:1", "10.0.0.5", ""])
async def test_other_host_headers_are_refused(http, host):
    """Regression (issue 13, item 14): a request whose Host header is not a loopback name
    (a browser page on a rebound DNS name, say) gets 421 and no data, on every endpoint. Fails
    on the old code because the server answered whatever the Host header said (200)."""
    session, base = http
    for path in ("/healthz", "/readyz", "/slo", "/metrics", "/dashboard", "/dashboard/data"):
        async with session.get(base + path, headers={"Host": host}) as resp:
            assert resp.status == 421, (path, host)
            assert "Host header" in (await resp.json())["error"]


async def test_the_cli_health_command_is_served(monitoring: Monitoring, settings, monkeypatch,
                                                capsys):
    """``python -m bot health`` (and the cron's /healthz check) name localhost in the Host
    header, so they are served even when the server listens on another address."""
    monkeypatch.setenv("GUILDBOT_DATABASE", str(settings.database))
    monkeypatch.setenv("GUILDBOT_HEALTH_PORT", str(monitoring.health_port))
    monkeypatch.setenv("GUILDBOT_HEALTH_HOST", "127.0.0.1")
    for args in (["health"], ["health", "--ready"], ["health", "--slo"]):
        assert await asyncio.to_thread(cli.main, args) == 0, capsys.readouterr()
        assert json.loads(capsys.readouterr().out)["status"] == 200
    cron_settings = replace(settings, health_host="0.0.0.0", health_port=monitoring.health_port)
    assert await asyncio.to_thread(healthz_answers, cron_settings) is True


async def test_readyz_reports_a_failing_database_check(monitoring: Monitoring, http, probe):
    async def broken() -> bool:
        raise RuntimeError("disk I/O error")

    probe.database_writable = broken
    status, body = await get_json(http, "/readyz")
    assert status == 503
    assert body["reasons"] == ["database check failed: RuntimeError"]


async def test_sampled_gauges(monitoring: Monitoring, http, probe, settings):
    probe.size = StorageSize(4096, 1024)
    probe.guilds = 42
    probe.latencies = [(0, 0.05), (1, 0.07)]
    await monitoring.sample_now()
    _, text = await get_text(http, "/metrics")
    assert metric_value(text, "guildbot_guilds") == 42
    assert metric_value(text, "guildbot_gateway_latency_seconds", shard="1") == pytest.approx(0.07)
    assert metric_value(text, "guildbot_database_size_bytes") == 4096
    assert metric_value(text, "guildbot_database_wal_size_bytes") == 1024
    assert metric_value(text, "guildbot_process_resident_memory_bytes") > 0
    assert metric_value(text, "guildbot_host_memory_percent") is not None
    assert metric_value(text, "guildbot_host_disk_percent") is not None
    assert metric_value(text, "guildbot_process_open_fds") > 0


async def test_database_size_comes_from_the_storage_backend(monitoring: Monitoring, http, probe,
                                                            settings):
    """Regression (issue 11, pg-run item 3): on PostgreSQL there is no database file (the
    setting names a ``guildbot.db`` that does not exist); the size metric and the dashboard's
    figure are what the backend measures (``Storage.size``: ``pg_database_size()``), with no
    WAL figure of its own. Fails on the old code because the sampler read the size of the
    file named by GUILDBOT_DATABASE: 0 here."""
    assert not settings.database.exists()
    probe.size = StorageSize(123_456_789, None)
    await monitoring.sample_now()
    _, text = await get_text(http, "/metrics")
    assert metric_value(text, "guildbot_database_size_bytes") == 123_456_789
    assert metric_value(text, "guildbot_database_wal_size_bytes") == 0  # SQLite's only
    _, data = await get_json(http, "/dashboard/data")
    assert data["summary"]["database_bytes"] == 123_456_789


async def test_an_unreachable_database_leaves_the_size_and_samples_the_rest(
        monitoring: Monitoring, http, probe):
    """The size query is bounded like the readiness probe: a database that fails (an outage:
    ``StorageUnavailable``) or never answers leaves the last size in place, and the other
    gauges are still sampled."""
    probe.size = StorageSize(5000, 0)
    await monitoring.sample_now()
    probe.size = StorageUnavailable("connection refused")
    probe.guilds = 7
    sample = await monitoring.sample_now()
    assert sample is not None and sample.db_bytes is None

    async def never() -> StorageSize:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    probe.database_size = never
    monitoring.intervals = replace(monitoring.intervals, db_check_timeout=0.05)
    probe.guilds = 8
    sample = await monitoring.sample_now()
    assert sample is not None and sample.db_bytes is None
    _, text = await get_text(http, "/metrics")
    assert metric_value(text, "guildbot_database_size_bytes") == 5000
    assert metric_value(text, "guildbot_guilds") == 8


async def test_guild_hooks_count(monitoring: Monitoring, http):
    monitoring.guild_joined(1)
    monitoring.guild_joined(2)
    monitoring.guild_left(1)
    monitoring.guild_rejected(3, "allowlist")
    monitoring.registration(2)
    monitoring.gateway_event("disconnect")
    _, text = await get_text(http, "/metrics")
    assert metric_value(text, "guildbot_guild_joins_total") == 2
    assert metric_value(text, "guildbot_guild_leaves_total") == 1
    assert metric_value(text, "guildbot_guild_rejections_total", reason="allowlist") == 1
    assert metric_value(text, "guildbot_registrations_total") == 1
    assert metric_value(text, "guildbot_gateway_events_total", event="disconnect") == 1
    assert metric_value(text, "guildbot_gateway_ready") == 0


async def test_per_guild_series_are_bounded(monitoring: Monitoring, http):
    for guild in range(100):
        for _ in range(guild + 1):
            monitoring.observe_command("ping", guild, "success", 0.001)
    _, text = await get_text(http, "/metrics")
    series = [line for line in text.splitlines() if line.startswith("guildbot_guild_commands{")]
    assert len(series) == monitoring.intervals.top_guilds + 1
    assert metric_value(text, "guildbot_guild_commands", guild="99") == 100
    total = sum(range(1, 101))
    top = sum(range(81, 101))
    assert metric_value(text, "guildbot_guild_commands", guild="other") == total - top


async def test_command_label_cardinality_is_bounded(monitoring: Monitoring):
    from bot.monitoring.metrics import MAX_COMMANDS

    for i in range(MAX_COMMANDS + 50):
        monitoring.observe_command(f"cmd{i}", 1, "success", 0.001)
    labels = [label for label, _ in monitoring.metrics.unique_commands()]
    assert len(labels) == MAX_COMMANDS + 1
    assert "other" in labels
    assert sum(monitoring.metrics.command_totals().values()) == MAX_COMMANDS + 50


async def test_dashboard_data_and_page(monitoring: Monitoring, http, clock):
    monitoring.observe_command("daily", 1, "success", 0.002)
    monitoring.dashboard.sample()
    clock.advance(5)
    monitoring.observe_command("daily", 1, "failure", 0.2)
    monitoring.dashboard.sample()
    status, data = await get_json(http, "/dashboard/data")
    assert status == 200
    assert [p["commands"] for p in data["points"]] == [1, 1]
    assert [p["failed"] for p in data["points"]] == [0, 1]
    assert data["commands"] == [{"command": "daily", "calls": 2}]
    session, base = http
    async with session.get(base + "/dashboard") as resp:
        assert resp.status == 200
        assert "default-src 'none'" in resp.headers["Content-Security-Policy"]
        page = await resp.text()
    assert "<canvas" in page
    assert "http://" not in page
    assert "https://" not in page


async def test_restarts_counted_from_the_starts_file(settings, clock, probe, intervals):
    for _ in range(3):
        mon = Monitoring(settings, clock=clock, intervals=intervals, environ={})
        await mon.start(probe)
        await mon.stop()
        clock.advance(60)
    assert mon.slo()["restarts_24h"] == 2
    assert mon.slo()["crash_restarts_24h"] == 2  # none of them said it stopped on purpose
    clock.advance(86400)
    assert mon.slo()["restarts_24h"] == 0


async def test_a_clean_stop_is_not_a_crash_restart(settings, clock, probe, intervals):
    for _ in range(3):
        mon = Monitoring(settings, clock=clock, intervals=intervals, environ={})
        await mon.start(probe)
        mon.stopped_cleanly()
        await mon.stop()
        clock.advance(60)
    slo = mon.slo()
    assert (slo["restarts_24h"], slo["crash_restarts_24h"]) == (2, 0)


async def test_disabled_server_when_port_zero_in_settings(settings, probe):
    mon = Monitoring(settings, environ={})
    await mon.start(probe)
    try:
        assert mon.server is None
        assert mon.health_port is None
    finally:
        await mon.stop()


async def test_null_monitoring_has_the_facade_and_no_side_effects(settings, probe, caplog):
    from bot.monitoring import NullMonitoring

    null = NullMonitoring(settings)
    await null.start(probe)
    null.notify_ready()
    null.observe_command("daily", 1, "success", 0.1)
    null.gateway_event("ready")
    null.guild_joined(1)
    null.guild_left(1)
    null.guild_rejected(1, "closed to new guilds")
    null.registration(1)
    try:
        raise ValueError("x")
    except ValueError as exc:
        error_id = null.record_error(exc, command="daily")
    await null.stop()
    assert len(error_id) == 8
    assert any(getattr(r, "error_id", None) == error_id for r in caplog.records)
    assert not settings.state_dir.exists()  # no starts file, nothing written
    public = {n for n in dir(Monitoring) if not n.startswith("_")}
    facade = {"start", "stop", "notify_ready", "observe_command", "record_error",
              "guild_joined", "guild_left", "guild_rejected", "registration", "gateway_event"}
    assert facade <= public
    assert facade <= {n for n in dir(NullMonitoring) if not n.startswith("_")}


async def test_offsite_backup_age_on_metrics_slo_and_dashboard(settings, clock, probe, tmp_path):
    """Regression (issue 16, item 1): the age of the newest off-host backup and the pushes'
    outcomes, from offsite-status.json (the backup job's), are on /metrics, in /slo and on the
    dashboard; without off-host backups /slo says so and /metrics has none. Fails on the old
    code because none of them existed."""
    from bot.config import OffsiteSettings
    from bot.storage import offsite

    off = Monitoring(settings, clock=clock, health_port=0, intervals=QUIET, environ={})
    assert off.slo()["offsite"] == {"enabled": False}
    assert b"guildbot_offsite" not in off.metrics.render()

    on = replace(settings, offsite=OffsiteSettings("/srv/restic", None, "bot-a"))
    mon = Monitoring(on, clock=clock, health_port=0, intervals=QUIET, environ={})
    await mon.start(probe)
    try:
        async with aiohttp.ClientSession() as session:
            http = (session, f"http://127.0.0.1:{mon.health_port}")
            _, text = await get_text(http, "/metrics")
            assert metric_value(text, "guildbot_offsite_backup_age_seconds") is None
            offsite.write_status(on.state_dir, pushed={"time": clock() - 7200, "snapshot": "ab",
                                                       "kind": "scheduled", "seconds": 1.5},
                                 error=None, now=clock() - 7000)
            offsite.write_status(on.state_dir, pushed=None, error="restic backup failed: x",
                                 now=clock() - 60)
            _, text = await get_text(http, "/metrics")
            assert metric_value(text, "guildbot_offsite_backup_age_seconds") == 7200
            assert metric_value(text, "guildbot_offsite_pushes_total", outcome="success") == 1
            assert metric_value(text, "guildbot_offsite_pushes_total", outcome="failure") == 1
            _, slo = await get_json(http, "/slo")
            assert slo["offsite"] == {"enabled": True, "age_seconds": 7200.0, "successes": 1,
                                      "failures": 1, "last_error": "restic backup failed: x",
                                      "snapshot": "ab"}
            _, data = await get_json(http, "/dashboard/data")
            assert data["summary"]["offsite_age_seconds"] == 7200.0
            _, page = await get_text(http, "/dashboard")
            assert "off-host backup age" in page
    finally:
        await mon.stop()
