"""The in-process alert loop and the cron job (check-resources), with explicit evaluation steps."""

from __future__ import annotations

import argparse
import json
import subprocess
from typing import Any

import pytest

from bot.config import AlertThresholds, Secret, Settings
from bot.monitoring import Monitoring, resources
from bot.monitoring.alerting import BOT_STATE_FILE, CRON_STATE_FILE
from bot.statefiles import StartsFile


async def test_bot_alerts_fire_once_and_resolve(hook, tmp_path, clock, probe, intervals):
    settings = Settings(database=tmp_path / "g.db", state_dir=tmp_path,
                        alert_webhook_url=Secret(hook.url()), health_port=0)
    mon = Monitoring(settings, clock=clock, intervals=intervals, environ={})
    await mon.start(probe)
    try:
        mon.notify_ready()
        for i in range(100):
            mon.observe_command("daily", 1, "failure" if i % 10 == 0 else "success", 0.01)
        assert await mon.alerts.run_once() == []          # 1st breach: pending
        clock.advance(30)
        [fired] = await mon.alerts.run_once()               # 2nd: fires
        assert fired.rule.name == "error_rate"
        for _ in range(5):
            clock.advance(30)
            assert await mon.alerts.run_once() == []
        assert mon.metrics.alerts_firing.labels("error_rate")._value.get() == 1
        clock.advance(400)                                  # the bad window has passed
        for _ in range(100):
            mon.observe_command("daily", 1, "success", 0.01)
        assert await mon.alerts.run_once() == []
        clock.advance(30)
        [resolved] = await mon.alerts.run_once()
        assert resolved.kind == "resolved"
    finally:
        await mon.stop()
    assert len(hook.calls) == 2
    assert "FIRING" in hook.texts[0]
    assert "error rate over 5 min: 10.00 %" in hook.texts[0]
    assert "RESOLVED" in hook.texts[1]
    saved = json.loads((tmp_path / BOT_STATE_FILE).read_text())
    assert saved["rules"]["error_rate"]["state"] == "ok"


async def test_bot_alerts_gateway_down(tmp_path, clock, probe, intervals):
    settings = Settings(database=tmp_path / "g.db", state_dir=tmp_path, health_port=0,
                        alerts=AlertThresholds(gateway_down_minutes=5))
    mon = Monitoring(settings, clock=clock, intervals=intervals, environ={})
    await mon.start(probe)
    try:
        mon.gateway_event("ready")
        clock.advance(60)
        mon.gateway_event("disconnect")
        clock.advance(4 * 60)
        assert await mon.alerts.run_once() == []
        clock.advance(2 * 60)
        [fired] = await mon.alerts.run_once()
        assert fired.rule.name == "gateway_down"
        mon.gateway_event("resumed")
        [resolved] = await mon.alerts.run_once()
        assert resolved.kind == "resolved"
    finally:
        await mon.stop()


def test_few_commands_do_not_make_an_error_rate(tmp_path, clock, intervals):
    settings = Settings(database=tmp_path / "g.db", state_dir=tmp_path, health_port=0)
    mon = Monitoring(settings, clock=clock, intervals=intervals, environ={})
    from bot.monitoring.alerting import BotAlerts

    alerts = BotAlerts(settings, mon, clock)
    for _ in range(5):
        mon.observe_command("daily", 1, "failure", 0.01)
    values, _ = alerts.measure()
    assert values["error_rate"] == 0.0


# --- check-resources ---------------------------------------------------------------------------
def fake_measure(readings: list[dict[str, float | None]]):
    def measure(settings, state, now):
        return dict(readings.pop(0)), {"memory": "test reading"}
    return measure


def cron_settings(tmp_path, url: str | None = None) -> Settings:
    return Settings(database=tmp_path / "g.db", state_dir=tmp_path / "state", health_port=0,
                    alert_webhook_url=Secret(url) if url else None)


async def test_cron_keeps_state_between_runs(hook, tmp_path, clock):
    import asyncio

    settings = cron_settings(tmp_path, hook.url())
    readings = [{"memory": 85.0}, {"memory": 90.0}, {"memory": 91.0}, {"memory": 40.0}]
    measure = fake_measure(readings)
    args = argparse.Namespace(dry_run=False)
    codes = []
    for _ in range(4):
        # Each run is a fresh process in real life: main() keeps nothing in memory.
        codes.append(await asyncio.to_thread(resources.main, settings, args, clock=clock,
                                             measure=measure))
        clock.advance(300)
    assert codes == [0, 0, 0, 0]
    assert len(hook.calls) == 2
    assert "FIRING" in hook.texts[0]
    assert "memory (host, or the bot unit's MemoryMax): 90.0 %" in hook.texts[0]
    assert "RESOLVED" in hook.texts[1]
    state = json.loads((settings.state_dir / CRON_STATE_FILE).read_text())
    assert state["rules"]["memory"]["state"] == "ok"


def test_cron_dry_run_prints_and_keeps_nothing(tmp_path, clock, capsys):
    settings = cron_settings(tmp_path)
    code = resources.main(settings, argparse.Namespace(dry_run=True), clock=clock,
                          measure=fake_measure([{"memory": 99.0, "disk": 99.0}]))
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["values"]["disk"] == 99.0
    assert out["firing"] == ["disk"]
    assert not (settings.state_dir / CRON_STATE_FILE).exists()


def test_cron_exit_status_is_1_only_when_the_check_fails(tmp_path, clock):
    def broken(settings, state, now):
        raise RuntimeError("psutil exploded")

    assert resources.main(cron_settings(tmp_path), None, clock=clock, measure=broken) == 1


def test_cron_with_the_real_measurements_runs_here(tmp_path, capsys):
    settings = cron_settings(tmp_path)
    assert resources.main(settings, argparse.Namespace(dry_run=True)) == 0
    out = json.loads(capsys.readouterr().out)
    assert 0 <= out["values"]["memory"] <= 100
    assert 0 <= out["values"]["disk"] <= 100
    assert out["values"]["backup_age"] == "inf"


def show_returning(info: dict[str, str] | None):
    return lambda unit: info


@pytest.mark.parametrize(("info", "down"), [
    ({"LoadState": "loaded", "ActiveState": "active", "SubState": "running",
      "NRestarts": "0"}, 0.0),
    ({"LoadState": "loaded", "ActiveState": "failed", "SubState": "failed",
      "NRestarts": "5"}, 1.0),
    ({"LoadState": "loaded", "ActiveState": "activating", "SubState": "auto-restart",
      "NRestarts": "2"}, 0.0),
    ({"LoadState": "not-found", "ActiveState": "inactive"}, 1.0),
])
def test_service_values_from_systemctl(tmp_path, info, down):
    settings = cron_settings(tmp_path)
    values, details = resources.service_values(settings, {}, 0.0, show=show_returning(info))
    assert values["service_down"] == down


def test_service_restarts_are_counted_between_runs(tmp_path):
    settings = cron_settings(tmp_path)
    state: dict[str, Any] = {}
    info = {"LoadState": "loaded", "ActiveState": "active", "NRestarts": "3"}
    values, _ = resources.service_values(settings, state, 0.0, show=show_returning(info))
    assert values["service_restarting"] == 0.0  # first run: nothing to compare with
    info = {**info, "NRestarts": "5"}
    values, _ = resources.service_values(settings, state, 300.0, show=show_returning(info))
    assert values["service_restarting"] == 2.0


def test_without_systemd_crash_restarts_come_from_the_starts_file(tmp_path):
    settings = cron_settings(tmp_path)
    starts = StartsFile(settings.state_dir / "starts.json")
    state: dict[str, Any] = {"last_check": 1000.0}
    starts.record(1010.0)
    starts.stopped_cleanly(1020.0)  # a deploy
    StartsFile(starts.path).record(1030.0)
    values, details = resources.service_values(settings, state, 1100.0,
                                               show=show_returning(None), healthz=lambda s: True)
    assert values["service_restarting"] == 0.0, details
    StartsFile(starts.path).record(1040.0)  # the process of 1030 never stopped cleanly
    values, details = resources.service_values(settings, state, 1100.0,
                                               show=show_returning(None), healthz=lambda s: True)
    assert values["service_restarting"] == 1.0
    assert "1 after a crash" in details["service_restarting"]


def test_without_systemd_an_unmarked_starts_file_counts_extra_starts(tmp_path):
    settings = cron_settings(tmp_path)
    settings.state_dir.mkdir(parents=True)
    (settings.state_dir / "starts.json").write_text('{"starts": [1010.0, 1020.0, 1030.0]}')
    values, _ = resources.service_values(settings, {"last_check": 1000.0}, 1100.0,
                                         show=show_returning(None), healthz=lambda s: True)
    assert values["service_restarting"] == 2.0  # one start is a deploy, the others are not


def test_memory_is_the_units_share_of_its_memory_max_when_that_is_higher(tmp_path):
    settings = cron_settings(tmp_path)
    info = {"LoadState": "loaded", "ActiveState": "active", "NRestarts": "0",
            "MemoryCurrent": str(460 * 2**20), "MemoryMax": str(512 * 2**20)}
    values, details = resources.service_values(settings, {}, 0.0, show=show_returning(info))
    assert values["unit_memory"] == 89.8
    assert "460 MiB of its MemoryMax 512 MiB" in details["unit_memory"]
    memory, text = resources.combine_memory(30.0, values["unit_memory"], details["unit_memory"])
    assert memory == 89.8
    assert text.endswith("(host 30.0 %)")
    memory, text = resources.combine_memory(95.0, values["unit_memory"], details["unit_memory"])
    assert memory == 95.0
    assert text.startswith("host 95.0 %")
    # No limit (or no accounting): the host alone.
    info = {**info, "MemoryMax": "infinity"}
    values, _ = resources.service_values(settings, {}, 0.0, show=show_returning(info))
    assert "unit_memory" not in values
    assert resources.combine_memory(40.0, None, None) == (40.0, "host 40.0 %")


def test_emergency_stop_is_not_service_down(tmp_path):
    settings = cron_settings(tmp_path)
    settings.state_dir.mkdir(parents=True)
    (settings.state_dir / "emergency-stop").touch()
    info = {"LoadState": "masked", "ActiveState": "inactive", "NRestarts": "0"}
    values, details = resources.service_values(settings, {}, 0.0, show=show_returning(info))
    assert values["service_down"] == 0.0
    assert "emergency stop" in details["service_down"]


def test_without_systemctl_the_health_endpoint_decides(tmp_path):
    settings = cron_settings(tmp_path)
    values, _ = resources.service_values(settings, {}, 0.0, show=show_returning(None),
                                         healthz=lambda s: False)
    assert values["service_down"] == 1.0
    values, _ = resources.service_values(settings, {}, 0.0, show=show_returning(None),
                                         healthz=lambda s: None)
    assert values["service_down"] is None  # nothing to ask: no verdict, no alert


def test_systemctl_missing_or_failing():
    def missing(*args, **kwargs):
        raise FileNotFoundError("systemctl")

    assert resources.systemctl_show("guildbot", runner=missing) is None

    def offline(*args, **kwargs):
        return subprocess.CompletedProcess(args, 1, "", "System has not been booted with systemd")

    assert resources.systemctl_show("guildbot", runner=offline) is None

    def fine(cmd, **kwargs):
        assert "NOTIFY_SOCKET" not in kwargs["env"]
        return subprocess.CompletedProcess(cmd, 0, "ActiveState=active\nNRestarts=1\n", "")

    assert resources.systemctl_show("guildbot", runner=fine) == {"ActiveState": "active",
                                                                  "NRestarts": "1"}


async def test_a_hostile_last_error_stays_on_its_alert_line(hook, tmp_path, clock):
    """Regression (issue 13, item 3): the bot's user writes backup-status.json, and its last_error
    reached the alert (webhook and log line) verbatim, so a newline in it forged lines of its own;
    fails on the old code because the alert text carried the newlines."""
    import asyncio

    settings = cron_settings(tmp_path, hook.url())
    settings.state_dir.mkdir()
    (settings.state_dir / "backup-status.json").write_text(json.dumps(
        {"last_failure": clock() - 60, "last_error": "disk full\nINJECTED line\r\x1b[2Jmore"}))
    code = await asyncio.to_thread(resources.main, settings, argparse.Namespace(dry_run=False),
                                   clock=clock)
    assert code == 0
    backup_alerts = [line for text in hook.texts for line in text.splitlines()
                     if "newest backup" in line]
    assert len(backup_alerts) == 1
    assert "last error: disk full\\nINJECTED line\\r\\x1b[2Jmore" in backup_alerts[0]
    assert not any(line.startswith("INJECTED") for text in hook.texts
                   for line in text.splitlines())


def test_a_host_that_does_not_run_the_backups_leaves_the_backup_age_alone(tmp_path, capsys):
    """Regression (issue 12, cluster-ops item 3): on a PostgreSQL deployment the backups run once,
    on one host; the other hosts' and processes' check-resources (cron sets
    GUILDBOT_ALERT_BACKUP_AGE=false there) must not fire "no backup". Fails on the old code
    because the setting did not exist and every check read its own backup-status.json ("inf")."""
    from bot.config import load_settings

    settings = load_settings({"GUILDBOT_STATE_DIR": str(tmp_path),
                              "GUILDBOT_DATABASE": str(tmp_path / "g.db"),
                              "GUILDBOT_HEALTH_PORT": "0", "GUILDBOT_ALERT_BACKUP_AGE": "false"})
    assert resources.main(settings, argparse.Namespace(dry_run=True)) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["values"]["backup_age"] is None
    assert "backup_age" not in out["firing"]
    assert "not watched here" in out["details"]["backup_age"]


def test_only_one_process_per_host_checks_the_hosts_resources(tmp_path, capsys):
    """Regression (issue 12, cluster-gaps item 5): on a host with several processes, cron runs
    check-resources@N per process; all but process 0 get GUILDBOT_ALERT_HOST_RESOURCES=false and
    leave the host's CPU, memory and disk alone (one page per host-wide problem, not one per
    process), while their own service checks stay. Fails on the old code because the setting did
    not exist: every process measured the host and, over its threshold, fired."""
    from bot.config import load_settings

    settings = load_settings({"GUILDBOT_STATE_DIR": str(tmp_path),
                              "GUILDBOT_DATABASE": str(tmp_path / "g.db"),
                              "GUILDBOT_HEALTH_PORT": "0", "GUILDBOT_ALERT_BACKUP_AGE": "false",
                              "GUILDBOT_ALERT_DISK_PCT": "0.001",
                              "GUILDBOT_ALERT_HOST_RESOURCES": "false"})
    assert resources.main(settings, argparse.Namespace(dry_run=True)) == 0
    out = json.loads(capsys.readouterr().out)
    assert {k: out["values"][k] for k in ("cpu", "memory", "disk")} == {
        "cpu": None, "memory": None, "disk": None}
    assert "disk" not in out["firing"]
    assert "checked by process 0" in out["details"]["disk"]
    assert "checked by process 0" in out["details"]["memory"]
    # Its own unit's share of its MemoryMax is still its own to alert on.
    assert resources.combine_memory(None, 91.0, "guildbot@1.service: 466 MiB",
                                    resources.HOST_CHECKED_ELSEWHERE) == (
        91.0, f"guildbot@1.service: 466 MiB ({resources.HOST_CHECKED_ELSEWHERE})")
    assert "service_down" in out["values"]


def test_the_off_host_backup_age_alerts_like_the_local_one(tmp_path, capsys):
    """Regression (issue 16, item 1): with off-host backups on, check-resources fires when the
    newest pushed backup is older than GUILDBOT_BACKUP_MAX_AGE_HOURS (or none was pushed),
    naming the last push error, and clears on a fresh push. Fails on the old code because
    there was no off-host age to watch (no offsite_age value)."""
    import time

    from bot.config import load_settings
    from bot.storage import offsite

    settings = load_settings({"GUILDBOT_STATE_DIR": str(tmp_path),
                              "GUILDBOT_DATABASE": str(tmp_path / "g.db"),
                              "GUILDBOT_HEALTH_PORT": "0",
                              "GUILDBOT_OFFSITE_REPOSITORY": "/srv/restic"})
    offsite.write_status(tmp_path, pushed=None, error="restic backup failed: no route")
    assert resources.main(settings, argparse.Namespace(dry_run=True)) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["values"]["offsite_age"] == "inf"
    assert "offsite_age" in out["firing"]
    assert "no route" in out["details"]["offsite_age"]
    offsite.write_status(tmp_path, pushed={"time": time.time() - 3600, "snapshot": "ab",
                                           "kind": "scheduled", "seconds": 1.0}, error=None)
    assert resources.main(settings, argparse.Namespace(dry_run=True)) == 0
    out = json.loads(capsys.readouterr().out)
    assert 0.9 < out["values"]["offsite_age"] < 1.1
    assert "offsite_age" not in out["firing"]
