"""Issue 16 (part 2), the bot's side of Prometheus: the private /metrics listener behind a bearer
token, the metrics the alerting rules need, and the switch that leaves paging to Prometheus."""

from __future__ import annotations

import argparse
import gzip
import hmac
import json
import socket
from dataclasses import replace
from datetime import UTC, datetime

import aiohttp
import pytest

from bot.config import AlertThresholds, ConfigError, Secret, Settings, load_settings
from bot.monitoring import Monitoring, resources
from bot.monitoring import server as server_module
from bot.monitoring.alerting import BOT_RULES, CRON_RULES, PROMETHEUS_RULES, local_rules
from bot.monitoring.metrics import newest_backup_time
from bot.monitoring.server import MetricsServer
from bot.statefiles import StartsFile
from tests.unit.monitoring.conftest import QUIET
from tests.unit.monitoring.test_cron import cron_settings, fake_measure
from tests.unit.monitoring.test_server import metric_value

TOKEN = "metrics-token-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
async def metrics_url(monitoring):
    listener = MetricsServer(monitoring, "127.0.0.1", 0, TOKEN)
    port = await listener.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await listener.stop()


async def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as resp:
        return resp.status, await resp.text()


# --- the listener ---------------------------------------------------------------------------------
@pytest.mark.parametrize("authorization", [
    None, "Bearer wrong-token-0123456789abcdef", TOKEN, f"Basic {TOKEN}", f"Bearer {TOKEN}x",
    f"bearer {TOKEN}", f"Bearer {TOKEN[:-1]}"])
async def test_metrics_listener_refuses_a_request_without_the_token(metrics_url, authorization):
    """Regression (issue 16, item 1): the private /metrics answers 401 and no metric to a scrape
    without the right bearer token; fails on the old code because there was no such listener
    (the only /metrics was the loopback one, without any authentication)."""
    headers = {"Authorization": authorization} if authorization is not None else None
    status, body = await fetch(metrics_url + "/metrics", headers)
    assert status == 401
    assert "guildbot_" not in body


async def test_metrics_listener_serves_metrics_with_the_token_from_any_host_name(
        monitoring, metrics_url):
    """Regression (issue 16, item 1): with the token, /metrics answers a remote scraper (its Host
    header names the private address, which the loopback server refuses with 421); fails on the
    old code because no listener accepted a remote scrape."""
    monitoring.observe_command("daily", 111, "success", 0.004)
    status, body = await fetch(metrics_url + "/metrics", {
        "Authorization": f"Bearer {TOKEN}", "Host": "10.88.112.11:9710"})
    assert status == 200
    assert metric_value(body, "guildbot_commands_all_total") == 1


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/slo", "/errors", "/dashboard",
                                  "/dashboard/data", "/"])
async def test_metrics_listener_serves_nothing_but_metrics(metrics_url, path):
    """Regression (issue 16, item 1): the dashboard, /slo, /errors and the probes stay on the
    loopback server; the private listener answers 404 for them even with the token. Fails on the
    old code because there was no private listener."""
    status, body = await fetch(metrics_url + path, {"Authorization": f"Bearer {TOKEN}"})
    assert status == 404
    assert "guildbot" not in body.lower()


async def test_the_token_is_compared_in_constant_time(metrics_url, monkeypatch):
    """Regression (issue 16, item 1): the bearer token is checked with hmac.compare_digest (no
    timing side channel); fails if the listener compared with ``==``."""
    calls = []
    compare = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return compare(a, b)

    monkeypatch.setattr(server_module.hmac, "compare_digest", spy)
    status, _ = await fetch(metrics_url + "/metrics", {"Authorization": "Bearer nope"})
    assert status == 401
    assert calls == [(b"Bearer nope", f"Bearer {TOKEN}".encode())]


async def test_monitoring_runs_the_listener_beside_the_loopback_server(tmp_path, clock, probe):
    """Regression (issue 16, item 1): GUILDBOT_METRICS_PORT starts the private listener next to
    the health server, which keeps its loopback address and everything else; fails on the old
    code because Settings had no metrics listener."""
    settings = Settings(database=tmp_path / "g.db", state_dir=tmp_path, backup_dir=tmp_path / "b",
                        metrics_host="127.0.0.1", metrics_port=free_port(),
                        metrics_token=Secret(TOKEN))
    mon = Monitoring(settings, clock=clock, health_port=0, intervals=QUIET, environ={})
    await mon.start(probe)
    try:
        base = f"http://127.0.0.1:{settings.metrics_port}"
        assert (await fetch(base + "/metrics"))[0] == 401
        assert (await fetch(base + "/metrics", {"Authorization": f"Bearer {TOKEN}"}))[0] == 200
        health = f"http://127.0.0.1:{mon.health_port}"
        assert (await fetch(health + "/dashboard"))[0] == 200
        assert (await fetch(health + "/metrics", {"Host": "10.88.112.11"}))[0] == 421
    finally:
        await mon.stop()
    with pytest.raises(aiohttp.ClientConnectionError):
        await fetch(f"http://127.0.0.1:{settings.metrics_port}/metrics")


def test_the_listener_needs_a_long_enough_token(tmp_path):
    """Regression (issue 16, item 1): GUILDBOT_METRICS_PORT without a token, or with a short one,
    is a configuration error (exit 78) that names the fix; a token from the credential directory
    is read like the others and redacted from logs. Fails on the old code because the settings
    did not exist."""
    with pytest.raises(ConfigError, match="no bearer token") as missing:
        load_settings({"GUILDBOT_METRICS_PORT": "9710"})
    assert "metrics_token" in str(missing.value)
    (tmp_path / "metrics_token").write_text("short\n")
    env = {"GUILDBOT_METRICS_PORT": "9710", "CREDENTIALS_DIRECTORY": str(tmp_path)}
    with pytest.raises(ConfigError, match="too short"):
        load_settings(env)
    (tmp_path / "metrics_token").write_text(TOKEN + "\n")
    settings = load_settings({**env, "GUILDBOT_METRICS_HOST": "10.88.112.11"})
    assert (settings.metrics_host, settings.metrics_port) == ("10.88.112.11", 9710)
    assert settings.metrics_token is not None and settings.metrics_token.reveal() == TOKEN
    assert TOKEN in settings.secrets()
    assert load_settings({}).metrics_port == 0  # off unless asked for


# --- the metrics the rules need -------------------------------------------------------------
@pytest.mark.parametrize(("clean_stop", "expected"), [(True, 0), (False, 1)])
async def test_a_start_after_a_crash_is_a_metric(tmp_path, clock, probe, clean_stop, expected):
    """Regression (issue 16, item 2): guildbot_start_after_crash is 1 when the previous process
    stopped without marking starts.json (kill -9, OOM), 0 after a clean stop; Prometheus's crash
    restart alert reads it. Fails on the old code because the metric did not exist."""
    settings = Settings(database=tmp_path / "g.db", state_dir=tmp_path, health_port=0)
    previous = StartsFile(tmp_path / "starts.json")
    previous.record(clock() - 600)
    if clean_stop:
        previous.stopped_cleanly(clock() - 60)
    mon = Monitoring(settings, clock=clock, intervals=QUIET, environ={})
    await mon.start(probe)
    try:
        text = mon.metrics.render().decode()
    finally:
        await mon.stop()
    assert metric_value(text, "guildbot_start_after_crash") == expected


def test_the_newest_backup_time_comes_from_the_names(tmp_path):
    """Regression (issue 16, item 3): guildbot_backup_last_success_timestamp_seconds is the
    newest published backup of any kind and backend (0 when there is none; a partial one does
    not count). Fails on the old code because no backup age was exported."""
    assert newest_backup_time(tmp_path / "missing") == 0.0
    (tmp_path / "daily").mkdir()
    (tmp_path / "pre-deploy").mkdir()
    gzip.open(tmp_path / "daily" / "guildbot-20261128T031700Z.db.gz", "wb").close()
    (tmp_path / "pre-deploy" / "guildbot-20261129T120000Z.pgdump").write_bytes(b"x")
    (tmp_path / "daily" / ".guildbot-20261130T031700Z.db.gz.partial").write_bytes(b"x")
    assert newest_backup_time(tmp_path) == datetime(2026, 11, 29, 12, tzinfo=UTC).timestamp()


async def test_the_sampler_exports_the_backup_time(tmp_path, clock, probe):
    """Regression (issue 16, item 3): the periodic sample sets the backup gauge (the scrape only
    reads it); fails on the old code because the gauge did not exist."""
    (tmp_path / "b" / "on-demand").mkdir(parents=True)
    (tmp_path / "b" / "on-demand" / "guildbot-20261130T100000Z.db.gz").write_bytes(b"x")
    settings = Settings(database=tmp_path / "g.db", state_dir=tmp_path,
                        backup_dir=tmp_path / "b", health_port=0)
    mon = Monitoring(settings, clock=clock, intervals=QUIET, environ={})
    await mon.start(probe)
    try:
        await mon.sample_now()
        text = mon.metrics.render().decode()
    finally:
        await mon.stop()
    assert metric_value(text, "guildbot_backup_last_success_timestamp_seconds") == datetime(
        2026, 11, 30, 10, tzinfo=UTC).timestamp()


# --- one source per alert ------------------------------------------------------------------------
def test_prometheus_owns_every_rule_where_it_pages():
    """Regression (issue 16, item 4): with GUILDBOT_ALERTS_BY_PROMETHEUS the bot and the cron
    evaluate none of the rules Prometheus pages for; without it, all of theirs. Fails on the old
    code because there was no switch (both would page)."""
    assert set(local_rules(BOT_RULES, AlertThresholds())) == set(BOT_RULES)
    assert set(local_rules(CRON_RULES, AlertThresholds())) == set(CRON_RULES)
    owned = AlertThresholds(by_prometheus=True)
    assert local_rules(BOT_RULES, owned) == {} and local_rules(CRON_RULES, owned) == {}
    assert set(BOT_RULES) | set(CRON_RULES) == PROMETHEUS_RULES
    assert load_settings({"GUILDBOT_ALERTS_BY_PROMETHEUS": "true"}).alerts.by_prometheus
    assert not load_settings({}).alerts.by_prometheus


def test_check_resources_pages_nothing_where_prometheus_does(hook, tmp_path, clock, capsys):
    """Regression (issue 16, item 4): check-resources on a stage where Prometheus pages fires no
    alert however high the readings; fails on the old code because it fired memory and disk."""
    settings = cron_settings(tmp_path)
    settings = replace(settings, alerts=AlertThresholds(by_prometheus=True))
    code = resources.main(settings, argparse.Namespace(dry_run=True), clock=clock,
                          measure=fake_measure([{"memory": 99.0, "disk": 99.0,
                                                 "service_down": 1.0}]))
    assert code == 0
    assert json.loads(capsys.readouterr().out)["firing"] == []


def test_the_off_host_age_is_prometheus_s_where_it_pages(tmp_path, capsys):
    """Regression (issue 16, merge of offsite into main): check-resources leaves the off-host
    backup age (nothing pushed, a push error: its "never") to Prometheus's
    GuildbotOffsiteBackupTooOld where Prometheus pages, and still fires it where it does not.
    Fails with offsite_age left out of PROMETHEUS_RULES (both would page: seen by taking it out
    of the set)."""
    from bot.storage import offsite

    env = {"GUILDBOT_STATE_DIR": str(tmp_path), "GUILDBOT_DATABASE": str(tmp_path / "g.db"),
           "GUILDBOT_HEALTH_PORT": "0", "GUILDBOT_OFFSITE_REPOSITORY": "/srv/restic"}
    offsite.write_status(tmp_path, pushed=None, error="restic backup failed: no route")
    for by_prometheus, firing in (("true", False), ("false", True)):
        settings = load_settings({**env, "GUILDBOT_ALERTS_BY_PROMETHEUS": by_prometheus})
        assert resources.main(settings, argparse.Namespace(dry_run=True)) == 0
        out = json.loads(capsys.readouterr().out)
        assert ("offsite_age" in out["firing"]) is firing, out["firing"]


async def test_the_bots_alerts_page_nothing_where_prometheus_does(tmp_path, clock, probe):
    """Regression (issue 16, item 4): the in-process error-rate rule stays quiet when Prometheus
    pages; fails on the old code because it fired."""
    settings = Settings(database=tmp_path / "g.db", state_dir=tmp_path, health_port=0,
                        alerts=AlertThresholds(by_prometheus=True))
    mon = Monitoring(settings, clock=clock, intervals=QUIET, environ={})
    await mon.start(probe)
    try:
        mon.notify_ready()
        for _ in range(100):
            mon.observe_command("daily", 1, "failure", 0.01)
        assert await mon.alerts.run_once() == []
        clock.advance(30)
        assert await mon.alerts.run_once() == []
    finally:
        await mon.stop()


async def test_an_address_not_allowed_gets_403_even_with_the_token(monitoring):
    """Regression (issue 16, item 1): with GUILDBOT_METRICS_ALLOW, only the listed scrapers are
    served; another host with the right token gets 403 and no metric. Fails on the old code
    because there was no listener and no allowlist."""
    for allow, expected in ((frozenset({"10.88.112.10"}), 403),
                            (frozenset({"10.88.112.10", "127.0.0.1"}), 200)):
        listener = MetricsServer(monitoring, "127.0.0.1", 0, TOKEN, allow)
        port = await listener.start()
        try:
            status, body = await fetch(f"http://127.0.0.1:{port}/metrics",
                                       {"Authorization": f"Bearer {TOKEN}"})
        finally:
            await listener.stop()
        assert status == expected
        assert ("guildbot_commands_all_total" in body) == (expected == 200)


def test_the_allowlist_takes_ip_addresses_only():
    """Regression (issue 16, item 1): GUILDBOT_METRICS_ALLOW is a list of IP addresses; a name
    is a configuration error. Fails on the old code because the setting did not exist."""
    settings = load_settings({"GUILDBOT_METRICS_ALLOW": "10.88.112.10, fd00::0:5"})
    assert settings.metrics_allow == {"10.88.112.10", "fd00::5"}
    with pytest.raises(ConfigError, match="not an IP address"):
        load_settings({"GUILDBOT_METRICS_ALLOW": "prometheus.internal"})
