"""``python -m bot check-resources``: the cron job's resource, service and backup checks.

Each run samples the host (CPU as the average since the previous run, from /proc/stat counters kept
in the state file; memory; the disk holding the database), asks systemd about the service
(``systemctl show $GUILDBOT_SERVICE_NAME``, default ``guildbot``; without systemctl, e.g. on a
supervisor host, it asks the bot's /healthz instead), reads the backup status, evaluates the cron
rules with hysteresis and delivers transitions through bot.monitoring.alerting. Rule state,
queued messages and the counters live in ``$STATE_DIR/alerts-state.json``.

Exit status: 0 whether or not alerts fire (cron must not mail on every alert), 1 only when the
check itself failed. Nothing is printed unless ``--dry-run`` (which prints the evaluation as JSON
and neither delivers nor saves state).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from bot import statefiles
from bot.config import Settings
from bot.monitoring.alerting import (
    CRON_RULES,
    CRON_STATE_FILE,
    AlertDelivery,
    AlertEngine,
    backup_age_hours,
    local_rules,
    make_limiter,
    offsite_age_hours,
    read_backup_status,
)
from bot.monitoring.metrics import existing_dir
from bot.monitoring.systemd import child_env
from bot.statefiles import STARTS_FILE, StartsFile

log = logging.getLogger("guildbot.alerts.cron")

SERVICE_ENV = "GUILDBOT_SERVICE_NAME"
HOST_CHECKED_ELSEWHERE = "host-wide, checked by process 0 (GUILDBOT_ALERT_HOST_RESOURCES=false)"
EMERGENCY_STOP = "emergency-stop"


# --- measurements ---------------------------------------------------------------------------------
def cpu_percent(state: dict[str, Any], now: float) -> tuple[float | None, str]:
    """Average host CPU since the previous run (counters in ``state``), else a 1 s sample."""
    try:
        times = psutil.cpu_times()
    except (psutil.Error, OSError) as exc:
        return None, f"cpu unavailable: {exc}"
    busy = sum(times) - times.idle - getattr(times, "iowait", 0.0)
    total = sum(times)
    previous = state.get("cpu")
    state["cpu"] = {"busy": busy, "total": total, "at": now}
    if isinstance(previous, dict) and now - float(previous.get("at", 0)) < 3 * 3600:
        d_total = total - float(previous.get("total", 0))
        d_busy = busy - float(previous.get("busy", 0))
        if d_total > 0 and d_busy >= 0:
            minutes = (now - float(previous["at"])) / 60
            return 100.0 * d_busy / d_total, f"average over the last {minutes:.0f} min"
    try:
        return psutil.cpu_percent(interval=1.0), "1 s sample (first run)"
    except (psutil.Error, OSError) as exc:
        return None, f"cpu unavailable: {exc}"


def memory_percent() -> float | None:
    try:
        return psutil.virtual_memory().percent
    except (psutil.Error, OSError):
        return None


def disk_percent(database: Path) -> tuple[float | None, str]:
    where = existing_dir(database)
    try:
        usage = psutil.disk_usage(str(where))
    except (psutil.Error, OSError) as exc:
        return None, f"disk unavailable: {exc}"
    return usage.percent, f"{where}: {usage.free / 2**30:.1f} GiB free"


def systemctl_show(unit: str, runner: Callable[..., Any] = subprocess.run
                   ) -> dict[str, str] | None:
    """``systemctl show UNIT`` as a dict, or None when systemd is not there to ask."""
    try:
        proc = runner(["systemctl", "show", unit, "--no-pager",
                       "-p", "LoadState,ActiveState,SubState,NRestarts,MemoryCurrent,MemoryMax"],
                      capture_output=True, text=True, timeout=15, env=child_env(), check=False)
    except FileNotFoundError:
        return None
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("systemctl show %s failed: %s", unit, exc)
        return None
    if proc.returncode != 0:
        log.info("systemctl show %s: exit %s (%s); service checks use /healthz", unit,
                 proc.returncode, (proc.stderr or "").strip()[:200])
        return None
    out = {}
    for line in proc.stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


def health_request(settings: Settings, path: str, port: int | None = None
                   ) -> urllib.request.Request:
    """A request to the bot's own health server (or, with ``port``, another process's on this
    host). It names ``localhost`` in its Host header, which the server requires (see
    bot.monitoring.server), whatever address it is bound to."""
    port = settings.health_port if port is None else port
    url = f"http://{settings.health_host}:{port}{path}"
    return urllib.request.Request(url, headers={"Host": f"localhost:{port}"})


def healthz_answers(settings: Settings, timeout: float = 5.0) -> bool | None:
    if settings.health_port == 0:
        return None
    try:
        with urllib.request.urlopen(health_request(settings, "/healthz"),  # noqa: S310 - loopback
                                    timeout=timeout) as resp:
            return resp.status == 200
    except urllib.error.HTTPError:
        return False
    except OSError:
        return False


def service_values(settings: Settings, state: dict[str, Any], now: float,
                   show: Callable[[str], dict[str, str] | None] = systemctl_show,
                   healthz: Callable[[Settings], bool | None] = healthz_answers,
                   ) -> tuple[dict[str, float | None], dict[str, str]]:
    unit = os.environ.get(SERVICE_ENV, "guildbot") or "guildbot"
    values: dict[str, float | None] = {"service_down": None, "service_restarting": None}
    details: dict[str, str] = {}
    stopped_on_purpose = (settings.state_dir / EMERGENCY_STOP).exists()
    info = show(unit)
    if info is not None and info.get("LoadState") == "not-found":
        details["service_down"] = f"unit {unit} is not installed"
        info = None
        if not stopped_on_purpose:
            values["service_down"] = 1.0
    elif info is not None:
        active = info.get("ActiveState", "unknown")
        sub = info.get("SubState", "")
        down = active in ("inactive", "failed")
        values["service_down"] = 1.0 if down and not stopped_on_purpose else 0.0
        details["service_down"] = f"{unit}: {active}/{sub}"
        if stopped_on_purpose:
            details["service_down"] += f" (emergency stop: {EMERGENCY_STOP} marker present)"
        restarts = info.get("NRestarts", "")
        if restarts.isdigit():
            count = int(restarts)
            previous = state.get("nrestarts")
            state["nrestarts"] = count
            if isinstance(previous, int) and count >= previous:
                values["service_restarting"] = float(count - previous)
            else:
                values["service_restarting"] = 0.0  # first run, or the counter was reset
            details["service_restarting"] = f"{unit}: NRestarts={count}"
        current, limit = info.get("MemoryCurrent", ""), info.get("MemoryMax", "")
        if current.isdigit() and limit.isdigit() and int(limit) > 0:  # "infinity", "[not set]"
            values["unit_memory"] = round(100.0 * int(current) / int(limit), 1)
            details["unit_memory"] = (f"{unit}: {int(current) / 2**20:.0f} MiB of its MemoryMax "
                                      f"{int(limit) / 2**20:.0f} MiB")
        return values, details

    # No systemd to ask (supervisor host, container): the bot's own health endpoint and its
    # starts file tell whether it runs and whether it restarted.
    answer = healthz(settings)
    if answer is not None:
        values["service_down"] = 0.0 if answer or stopped_on_purpose else 1.0
        details["service_down"] = "/healthz " + ("answers" if answer else "does not answer")
    record = StartsFile(settings.state_dir / STARTS_FILE).read()
    last_check = state.get("last_check")
    if isinstance(last_check, (int, float)):
        new = sum(1 for t in record["starts"] if last_check < t <= now)
        if record["marked"]:
            # The bot marks its clean stops: a start after an unmarked one followed a crash.
            crashes = sum(1 for t in record["crashes"] if last_check < t <= now)
            values["service_restarting"] = float(crashes)
            details["service_restarting"] = (f"{new} start(s) recorded by the bot since the last "
                                             f"check, {crashes} after a crash")
        else:
            # A release that does not mark clean stops: one start between two checks is a
            # deploy or a manual restart; more is a crash loop.
            values["service_restarting"] = float(max(0, new - 1))
            details["service_restarting"] = f"{new} starts recorded by the bot since the last check"
    return values, details


def combine_memory(host: float | None, unit: float | None, unit_detail: str | None,
                   host_text: str | None = None) -> tuple[float | None, str]:
    """The memory figure alerted on: the host's, or the bot unit's share of its MemoryMax when
    that is higher (the kernel kills the unit at its MemoryMax whatever the host has left).
    ``host_text`` says why the host's figure is missing when it was not measured."""
    host_text = host_text or ("host unavailable" if host is None else f"host {host:.1f} %")
    if unit is not None and (host is None or unit > host):
        return unit, f"{unit_detail} ({host_text})"
    return host, host_text + (f"; {unit_detail} ({unit:.1f} %)" if unit is not None else "")


def collect(settings: Settings, state: dict[str, Any], now: float
            ) -> tuple[dict[str, float | None], dict[str, str]]:
    values: dict[str, float | None] = {}
    details: dict[str, str] = {}
    if settings.alerts.host_resources_watched:
        values["cpu"], details["cpu"] = cpu_percent(state, now)
        values["memory"] = memory_percent()
        values["disk"], details["disk"] = disk_percent(settings.database)
    else:
        values["cpu"] = values["memory"] = values["disk"] = None
        details["cpu"] = details["disk"] = HOST_CHECKED_ELSEWHERE
    if settings.alerts.backup_age_watched:
        values["backup_age"], details["backup_age"] = backup_age_hours(
            read_backup_status(settings.state_dir), now)
    else:
        values["backup_age"] = None
        details["backup_age"] = "not watched here (GUILDBOT_ALERT_BACKUP_AGE=false)"
    if settings.offsite is not None and settings.alerts.backup_age_watched:
        values["offsite_age"], details["offsite_age"] = offsite_age_hours(settings.state_dir, now)
    else:
        values["offsite_age"] = None
        details["offsite_age"] = "off-host backups are off or not watched here"
    svc_values, svc_details = service_values(settings, state, now)
    values["memory"], details["memory"] = combine_memory(
        values["memory"], svc_values.pop("unit_memory", None), svc_details.pop("unit_memory", None),
        None if settings.alerts.host_resources_watched else HOST_CHECKED_ELSEWHERE)
    values.update(svc_values)
    details.update(svc_details)
    return values, details


# --- the command ----------------------------------------------------------------------------------
def main(settings: Settings, args: argparse.Namespace | None = None, *,
         clock: Callable[[], float] = time.time,
         measure: Callable[[Settings, dict[str, Any], float],
                           tuple[dict[str, float | None], dict[str, str]]] = collect) -> int:
    dry_run = bool(getattr(args, "dry_run", False))
    if not logging.getLogger().handlers:
        from bot.monitoring.logs import configure_logging
        configure_logging(settings)
    state_path = settings.state_dir / CRON_STATE_FILE
    with contextlib.ExitStack() as stack:
        try:
            held = stack.enter_context(statefiles.exclusive(
                state_path.with_name(state_path.name + ".lock")))
        except OSError as exc:
            log.error("check-resources: cannot use the state directory %s: %s",
                      settings.state_dir, exc)
            return 1
        if not held:
            log.warning("check-resources: another check is still running; skipped")
            return 0
        try:
            return _run(settings, state_path, dry_run, clock, measure)
        except Exception:
            log.exception("check-resources failed")
            return 1


def _run(settings: Settings, state_path: Path, dry_run: bool, clock: Callable[[], float],
         measure: Callable[..., tuple[dict[str, float | None], dict[str, str]]]) -> int:
    now = clock()
    saved = statefiles.read(state_path, "alert state")
    host_state = dict(saved.get("host") or {})
    host_state.setdefault("last_check", saved.get("last_check"))
    values, details = measure(settings, host_state, now)
    rules = local_rules(CRON_RULES, settings.alerts)
    engine = AlertEngine(rules, saved.get("rules"), clock)
    transitions = engine.evaluate(values, details)
    if dry_run:
        print(json.dumps({
            "values": {k: (v if v is None or math.isfinite(v) else str(v))
                       for k, v in values.items()},
            "details": details,
            "transitions": [{"rule": t.rule.name, "kind": t.kind, "text": t.text("dry-run")}
                            for t in transitions],
            "firing": engine.firing(),
        }, indent=2))
        return 0
    delivery = AlertDelivery(settings.alert_webhook_url, make_limiter(settings, clock),
                             clock=clock)
    delivery.load_state(saved)

    async def deliver() -> None:
        try:
            delivery.enqueue(transitions)
            await delivery.flush()
        finally:
            await delivery.close()

    asyncio.run(deliver())
    host_state["last_check"] = now
    statefiles.write(state_path, {"rules": engine.state, "host": host_state,
                                   "last_check": now, **delivery.dump_state()})
    if engine.firing():
        log.info("check-resources: firing: %s", ", ".join(engine.firing()))
    return 0
