"""Alert rules with hysteresis, one message per incident, and rate-limited webhook delivery.

Used by the bot (``BotAlerts``: error rate, latency, gateway down, evaluated every 30 s) and by the
cron job ``python -m bot check-resources`` (bot.monitoring.resources: CPU, memory, disk, backup
age, service down/restarting), which is short-lived and keeps its rule state in
``$STATE_DIR/alerts-state.json``.

Pipeline: measurements -> :class:`AlertEngine` (hysteresis: a rule fires after its condition held
for ``fire_after`` evaluations and resolves after the value stayed below a lower ``clear_below``
for ``clear_after`` evaluations; one FIRING and one RESOLVED transition per incident) ->
:class:`AlertDelivery` (every transition is logged; a webhook message batches the pending ones).

The webhook is guarded by :class:`WebhookLimiter`, whose state (``$STATE_DIR/alerts-webhook.json``,
under an flock) is shared by the bot and the cron job:
- a hard cap: at most ``alerts.webhook_max_per_hour`` calls in any sliding hour (stricter than a
  token bucket, which would allow twice that across an hour boundary), and one call per
  ``min_spacing`` seconds (Discord allows about 5 webhook calls per 2 s);
- HTTP 429: no call before ``retry_after`` (JSON body, else the Retry-After header) has passed; the
  messages stay queued;
- HTTP 401/403/404: the webhook is dead or the URL wrong; these answers count toward Discord's
  invalid-request IP ban, so delivery stops for this URL (until the URL changes or the state file
  is deleted) and the queue is dropped. Alerts still go to the log.
The URL is a Secret: it is never logged (errors are logged by type, redacted).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import hashlib
import json
import logging
import math
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp

from bot import statefiles
from bot.config import AlertThresholds, Secret, Settings
from bot.monitoring.logs import Redactor, one_line
from bot.statefiles import BACKUP_STATUS_FILE

if TYPE_CHECKING:
    from bot.monitoring.facade import Monitoring

log = logging.getLogger("guildbot.alerts")

WEBHOOK_STATE_FILE = "alerts-webhook.json"
CRON_STATE_FILE = "alerts-state.json"
BOT_STATE_FILE = "alerts-state-bot.json"

BOT_RULES = ("error_rate", "latency", "gateway_down")
CRON_RULES = ("cpu", "memory", "disk", "backup_age", "offsite_age", "service_down",
              "service_restarting")
# The rules Prometheus owns where it pages (GUILDBOT_ALERTS_BY_PROMETHEUS; the alerting rules in
# roles/guildbot_prometheus/files/rules/, each labelled with the rule it replaces): all of them.
PROMETHEUS_RULES = frozenset(BOT_RULES + CRON_RULES)
MIN_COMMANDS = 20          # error rate / latency are judged only with this many commands in 5 min
MESSAGE_LIMIT = 1900       # Discord allows 2000 characters of content
MAX_PENDING = 100
MAX_ATTEMPTS = 5
DEAD_STATUSES = (401, 403, 404)


# --- rules ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    name: str
    title: str
    fire_above: float
    clear_below: float
    fire_after: int = 1
    clear_after: int = 1
    unit: str = ""
    scale: float = 1.0      # display factor (a rate of 0.012 shows as 1.2 %)
    digits: int = 1

    def show(self, value: float | None) -> str:
        if value is None:
            return "unknown"
        if math.isinf(value):
            return "never" if self.name in ("backup_age", "offsite_age") else "infinite"
        return f"{value * self.scale:.{self.digits}f}{self.unit}"


def default_rules(t: AlertThresholds) -> dict[str, Rule]:
    rules = [
        Rule("error_rate", "error rate over 5 min", t.error_rate, t.error_rate / 2,
             fire_after=2, clear_after=2, unit=" %", scale=100, digits=2),
        Rule("latency", "average command latency over 5 min", t.latency_seconds,
             t.latency_seconds * 0.75, fire_after=2, clear_after=2, unit=" s", digits=2),
        Rule("gateway_down", "gateway disconnected", t.gateway_down_minutes, 0.01,
             unit=" min"),
        Rule("cpu", "host CPU", t.cpu_percent, max(0.0, t.cpu_percent - 10), fire_after=2,
             unit=" %"),
        Rule("memory", "memory (host, or the bot unit's MemoryMax)", t.memory_percent,
             max(0.0, t.memory_percent - 5), fire_after=2, unit=" %"),
        Rule("disk", "disk of the database", t.disk_percent, max(0.0, t.disk_percent - 5),
             unit=" %"),
        Rule("backup_age", "age of the newest backup", t.backup_max_age_hours,
             t.backup_max_age_hours, unit=" h"),
        Rule("offsite_age", "age of the newest off-host backup", t.backup_max_age_hours,
             t.backup_max_age_hours, unit=" h"),
        Rule("service_down", "bot service down", 0.5, 0.5, unit="", digits=0),
        Rule("service_restarting", "bot service restarted (crash) since the last check", 0.5,
             0.5, clear_after=2, unit=" restarts", digits=0),
    ]
    return {r.name: r for r in rules}


def local_rules(names: tuple[str, ...], t: AlertThresholds) -> dict[str, Rule]:
    """The rules of ``names`` this process evaluates: none that Prometheus owns where it pages
    (one source per alert, no double pages)."""
    owned = PROMETHEUS_RULES if t.by_prometheus else frozenset()
    return {n: r for n, r in default_rules(t).items() if n in names and n not in owned}


@dataclass(frozen=True)
class Transition:
    rule: Rule
    kind: str               # "firing" or "resolved"
    value: float | None
    at: float
    since: float | None = None
    detail: str = ""

    def text(self, host: str) -> str:
        r = self.rule
        if self.kind == "firing":
            line = (f"\N{LARGE RED CIRCLE} FIRING [{host}] {r.title}: {r.show(self.value)} "
                    f"(threshold {r.show(r.fire_above)})")
        else:
            took = _duration(self.at - self.since) if self.since is not None else "?"
            line = (f"\N{WHITE HEAVY CHECK MARK} RESOLVED [{host}] {r.title}: now "
                    f"{r.show(self.value)} (was firing for {took})")
        # The detail may carry state-file text (backup-status.json's last_error): one line.
        return f"{line} - {one_line(self.detail)}" if self.detail else line


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds / 3600:.1f} h"


def _json_number(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


class AlertEngine:
    """Hysteresis and de-duplication over explicit evaluation steps (state is JSON-able)."""

    def __init__(self, rules: Mapping[str, Rule], state: Mapping[str, Any] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.rules = dict(rules)
        self.clock = clock
        self.state: dict[str, dict[str, Any]] = {}
        for name, st in (state or {}).items():
            if name in self.rules and isinstance(st, dict):
                self.state[name] = dict(st)

    def evaluate(self, values: Mapping[str, float | None],
                 details: Mapping[str, str] | None = None) -> list[Transition]:
        now = self.clock()
        details = details or {}
        out: list[Transition] = []
        for name, value in values.items():
            rule = self.rules.get(name)
            if rule is None or value is None or (isinstance(value, float) and math.isnan(value)):
                continue  # unknown rule, or no data: the state stays as it is
            st = self.state.setdefault(name, {"state": "ok", "breaches": 0, "clears": 0})
            st["value"] = _json_number(value)
            detail = details.get(name, "")
            if value > rule.fire_above:
                st["clears"] = 0
                st["breaches"] = st.get("breaches", 0) + 1
                if st["state"] != "firing":
                    if st["breaches"] >= rule.fire_after:
                        st["state"] = "firing"
                        st["since"] = now
                        out.append(Transition(rule, "firing", value, now, now, detail))
                    else:
                        st["state"] = "pending"
            elif value < rule.clear_below:
                st["breaches"] = 0
                if st["state"] == "firing":
                    st["clears"] = st.get("clears", 0) + 1
                    if st["clears"] >= rule.clear_after:
                        out.append(Transition(rule, "resolved", value, now, st.get("since"),
                                              detail))
                        st.update(state="ok", clears=0, since=None)
                else:
                    st["state"] = "ok"
            else:  # inside the hysteresis band: a firing alert stays, a pending one starts over
                st["breaches"] = 0
                st["clears"] = 0
                if st["state"] == "pending":
                    st["state"] = "ok"
        return out

    def firing(self) -> list[str]:
        return sorted(n for n, st in self.state.items() if st.get("state") == "firing")


# --- webhook limiter ----------------------------------------------------------------------------
def url_key(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:16]


class WebhookLimiter:
    """Hard cap, 429 back-off and the dead-webhook stop, optionally shared through a file."""

    def __init__(self, max_per_hour: int, path: Path | None = None,
                 clock: Callable[[], float] = time.time, min_spacing: float = 1.0) -> None:
        self.max_per_hour = max(1, int(max_per_hour))
        self.path = path
        self.clock = clock
        self.min_spacing = min_spacing
        self._memory: dict[str, Any] = {}
        self._file_ok = path is not None

    @contextlib.contextmanager
    def _state(self) -> Iterator[dict[str, Any]]:
        if not self._file_ok or self.path is None:
            yield self._memory
            return
        with contextlib.ExitStack() as stack:
            try:
                stack.enter_context(statefiles.exclusive(
                    self.path.with_name(self.path.name + ".lock"), wait=True))
            except OSError as exc:
                log.warning("alert webhook state %s unusable (%s); limiting in memory only",
                            self.path, exc)
                self._file_ok = False
                yield self._memory
                return
            state = statefiles.read(self.path, "alert webhook state")
            before = json.dumps(state, sort_keys=True)
            yield state
            if json.dumps(state, sort_keys=True) != before:
                try:
                    statefiles.write(self.path, state)
                except OSError as exc:
                    log.warning("cannot save alert webhook state %s: %s", self.path, exc)
            self._memory = state

    def acquire(self, key: str) -> str | None:
        """Take one call from the budget; None if allowed, else why not."""
        now = self.clock()
        with self._state() as st:
            dead = st.get("disabled")
            if isinstance(dead, dict) and dead.get("url") == key:
                return f"disabled after HTTP {dead.get('status')}"
            if now < float(st.get("blocked_until") or 0):
                return "rate limited (429 retry_after)"
            calls = [float(t) for t in st.get("calls", []) if now - 3600 < float(t) <= now]
            if len(calls) >= self.max_per_hour:
                st["calls"] = calls
                return f"hourly cap of {self.max_per_hour} calls reached"
            if calls and now - max(calls) < self.min_spacing:
                return "spacing"
            calls.append(now)
            st["calls"] = calls
            return None

    def block(self, seconds: float) -> None:
        until = self.clock() + max(0.0, min(seconds, 3600.0))
        with self._state() as st:
            st["blocked_until"] = max(until, float(st.get("blocked_until") or 0))

    def disable(self, key: str, status: int) -> None:
        with self._state() as st:
            st["disabled"] = {"url": key, "status": status, "at": self.clock()}

    def calls_last_hour(self) -> int:
        now = self.clock()
        with self._state() as st:
            return sum(1 for t in st.get("calls", []) if now - 3600 < float(t) <= now)


def retry_after(status_body: object, headers: Mapping[str, str], now: float) -> float:
    """Seconds to wait after a 429: JSON ``retry_after``, else Retry-After (seconds or a date)."""
    if isinstance(status_body, dict):
        try:
            value = float(status_body["retry_after"])
            if math.isfinite(value) and value >= 0:
                return value
        except (KeyError, TypeError, ValueError):
            pass
    header = headers.get("Retry-After") or headers.get("X-RateLimit-Reset-After")
    if header:
        try:
            return max(0.0, float(header))
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(header)
                return max(0.0, when.timestamp() - now)
            except (TypeError, ValueError):
                pass
    return 5.0


# --- delivery -----------------------------------------------------------------------------------
class AlertDelivery:
    """Logs every transition and delivers queued messages to the webhook within the limits."""

    def __init__(self, webhook: Secret | None, limiter: WebhookLimiter, *,
                 clock: Callable[[], float] = time.time, host: str | None = None,
                 max_pending: int = MAX_PENDING, timeout: float = 10.0,
                 on_call: Callable[[str], None] | None = None) -> None:
        self.webhook = webhook
        self.limiter = limiter
        self.clock = clock
        self.host = host or socket.gethostname()
        self.max_pending = max_pending
        self.timeout = timeout
        self.on_call = on_call
        self.pending: list[dict[str, Any]] = []
        self.dropped = 0
        self.calls = 0
        self._session: aiohttp.ClientSession | None = None
        url = webhook.reveal() if webhook is not None else ""
        self._key = url_key(url) if url else ""
        self._redact = Redactor([url] if url else [])

    # state for the short-lived cron process
    def load_state(self, state: Mapping[str, Any] | None) -> None:
        if not state:
            return
        pending = state.get("pending") or []
        valid = [p for p in pending if isinstance(p, dict) and "text" in p]
        self.pending = valid[-self.max_pending:]
        self.dropped = int(state.get("dropped") or 0)

    def dump_state(self) -> dict[str, Any]:
        return {"pending": self.pending, "dropped": self.dropped}

    def enqueue(self, transitions: list[Transition]) -> None:
        for tr in transitions:
            text = tr.text(self.host)
            extra = {"alert": tr.rule.name, "alert_state": tr.kind,
                     "value": _json_number(tr.value)}
            if tr.kind == "firing":
                log.warning("alert: %s", text, extra=extra)
            else:
                log.info("alert: %s", text, extra=extra)
            if self.webhook is not None:
                self.pending.append({"text": text, "at": tr.at, "attempts": 0})
        overflow = len(self.pending) - self.max_pending
        if overflow > 0:
            del self.pending[:overflow]
            self.dropped += overflow

    async def deliver(self, transitions: list[Transition]) -> bool:
        self.enqueue(transitions)
        return await self.flush()

    def _batch(self) -> tuple[str, int]:
        lines: list[str] = []
        size = 0
        for item in self.pending:
            text = item["text"]
            if len(text) > MESSAGE_LIMIT // 2:
                text = text[: MESSAGE_LIMIT // 2 - 3] + "..."
            if lines and size + len(text) + 1 > MESSAGE_LIMIT - 80:
                break
            lines.append(text)
            size += len(text) + 1
        taken = len(lines)
        left = len(self.pending) - taken + self.dropped
        if left:
            lines.append(f"(+{left} more alert message(s) held back by the webhook limits; "
                         "see the bot log)")
        return "\n".join(lines), taken

    async def flush(self) -> bool:
        """Send at most one webhook message; True when one was delivered."""
        if not self.pending or self.webhook is None:
            return False
        why = self.limiter.acquire(self._key)
        if why is not None:
            if why.startswith("disabled"):
                log.debug("alert webhook %s: %d queued messages dropped", why, len(self.pending))
                self.pending.clear()
            else:
                log.debug("alert webhook call deferred: %s", why)
            return False
        content, taken = self._batch()
        batch, self.pending = self.pending[:taken], self.pending[taken:]
        payload = {"content": content, "allowed_mentions": {"parse": []}}
        self.calls += 1
        try:
            status, body, headers = await self._post(payload)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            self._count("error")
            log.warning("alert webhook unreachable: %s: %s", type(exc).__name__,
                        self._redact(str(exc)))
            self._requeue(batch)
            return False
        now = self.clock()
        if headers.get("X-RateLimit-Remaining") == "0":
            with contextlib.suppress(ValueError):
                self.limiter.block(float(headers.get("X-RateLimit-Reset-After") or 0))
        if 200 <= status < 300:
            self._count("ok")
            self.dropped = 0
            return True
        if status == 429:
            wait = retry_after(body, headers, now)
            self._count("429")
            self.limiter.block(wait)
            log.warning("alert webhook rate limited: next call in %.1f s", wait)
            self.pending[:0] = batch
            return False
        if status in DEAD_STATUSES:
            self._count(str(status))
            self.limiter.disable(self._key, status)
            log.error("alert webhook answered HTTP %d: delivery to Discord stopped (invalid "
                      "answers count toward Discord's IP ban). Fix the webhook credential; "
                      "delivery resumes when the URL changes or %s is deleted. Alerts still go "
                      "to this log.", status, WEBHOOK_STATE_FILE)
            self.pending.clear()
            self.dropped = 0
            return False
        self._count(str(status))
        if 400 <= status < 500:
            log.error("alert webhook refused the message (HTTP %d); dropped", status)
            return False
        log.warning("alert webhook answered HTTP %d; will retry", status)
        self._requeue(batch)
        return False

    def _requeue(self, batch: list[dict[str, Any]]) -> None:
        kept = []
        for item in batch:
            item["attempts"] = int(item.get("attempts", 0)) + 1
            if item["attempts"] < MAX_ATTEMPTS:
                kept.append(item)
            else:
                self.dropped += 1
        self.pending[:0] = kept

    def _count(self, result: str) -> None:
        if self.on_call is not None:
            self.on_call(result)

    async def _post(self, payload: dict[str, Any]) -> tuple[int, Any, Mapping[str, str]]:
        assert self.webhook is not None
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout))
        async with self._session.post(self.webhook.reveal(), json=payload,
                                      params={"wait": "true"}) as resp:
            try:
                body = await resp.json(content_type=None)
            except (ValueError, aiohttp.ClientError):
                body = None
            return resp.status, body, dict(resp.headers)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


# --- state files ----------------------------------------------------------------------------------
def read_backup_status(state_dir: Path) -> dict[str, Any] | None:
    """``$STATE_DIR/backup-status.json`` as written by ``python -m bot backup``, or None."""
    data = statefiles.read(Path(state_dir) / BACKUP_STATUS_FILE, "backup status file")
    return data or None


def backup_age_hours(status: Mapping[str, Any] | None, now: float) -> tuple[float, str]:
    """Hours since the last successful backup (inf when there is none) and a detail text."""
    if not status:
        return math.inf, f"no {BACKUP_STATUS_FILE} (has a backup ever run?)"
    try:
        last = float(status.get("last_success") or 0)
    except (TypeError, ValueError):
        last = 0.0
    detail = ""
    if status.get("last_error"):
        detail = f"last error: {str(status['last_error'])[:200]}"
    if last <= 0:
        return math.inf, detail or "no successful backup recorded"
    return max(0.0, (now - last) / 3600), detail


def offsite_age_hours(state_dir: Path, now: float) -> tuple[float, str]:
    """Hours since the newest backup pushed off-host was taken (inf when none was) and the
    last push error, from offsite-status.json."""
    from bot.storage import offsite

    status = offsite.summary(state_dir, now)
    detail = f"last error: {str(status['last_error'])[:200]}" if status["last_error"] else ""
    if status["age_seconds"] is None:
        return math.inf, detail or "nothing pushed off-host yet"
    return max(0.0, status["age_seconds"] / 3600), detail


def make_limiter(settings: Settings, clock: Callable[[], float] = time.time) -> WebhookLimiter:
    return WebhookLimiter(settings.alerts.webhook_max_per_hour,
                          settings.state_dir / WEBHOOK_STATE_FILE, clock)


# --- the bot's own alerts ------------------------------------------------------------------------
class BotAlerts:
    """Evaluates the in-process rules every ``Intervals.alerts`` seconds."""

    def __init__(self, settings: Settings, monitoring: Monitoring,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.monitoring = monitoring
        self.clock = clock
        rules = local_rules(BOT_RULES, settings.alerts)
        self.state_path = settings.state_dir / BOT_STATE_FILE
        saved = statefiles.read(self.state_path, "alert state")
        self.engine = AlertEngine(rules, saved.get("rules"), clock)
        metrics = monitoring.metrics
        self.delivery = AlertDelivery(
            settings.alert_webhook_url, make_limiter(settings, clock), clock=clock,
            on_call=lambda result: metrics.webhook_calls.labels(result).inc())
        self.delivery.load_state(saved)

    def measure(self) -> tuple[dict[str, float | None], dict[str, str]]:
        now = self.clock()
        window = self.monitoring.metrics.slo.totals(now)
        enough = window.count >= MIN_COMMANDS
        values: dict[str, float | None] = {
            "error_rate": window.error_rate if enough else 0.0,
            "latency": window.avg_latency if enough else 0.0,
            "gateway_down": self.monitoring.timeline.down_seconds(now) / 60,
        }
        details = {
            "error_rate": f"{window.errors} of {window.count} commands failed",
            "latency": f"{window.count} commands",
        }
        return values, details

    async def run_once(self) -> list[Transition]:
        values, details = self.measure()
        transitions = self.engine.evaluate(values, details)
        for name in self.engine.rules:
            firing = self.engine.state.get(name, {}).get("state") == "firing"
            self.monitoring.metrics.alerts_firing.labels(name).set(1 if firing else 0)
        self.delivery.enqueue(transitions)
        await self.delivery.flush()
        # The write (with fsync) runs in a thread, on a snapshot: the loop never waits on disk.
        await asyncio.to_thread(self.save, self._snapshot())
        return transitions

    def _snapshot(self) -> dict[str, Any]:
        return json.loads(json.dumps({"rules": self.engine.state, **self.delivery.dump_state()}))

    def save(self, snapshot: dict[str, Any] | None = None) -> None:
        try:
            statefiles.write(self.state_path, snapshot or self._snapshot())
        except OSError as exc:
            log.warning("cannot save alert state %s: %s", self.state_path, exc)

    async def close(self) -> None:
        await asyncio.to_thread(self.save, self._snapshot())
        await self.delivery.close()


# --- one-off alerts from CLI commands ----------------------------------------------------------
def send_one_off(settings: Settings, key: str, text: str) -> bool:
    """Log ``text`` and post it to the webhook (within the shared limits). Synchronous: for CLI
    commands such as ``backup``; do not call it from a running event loop."""
    text = one_line(text)  # e.g. a backup error naming a file of the bot's directories
    log.error("alert (%s): %s", key, text, extra={"alert": key, "alert_state": "firing"})
    if settings.alert_webhook_url is None:
        return False
    delivery = AlertDelivery(settings.alert_webhook_url, make_limiter(settings))
    delivery.pending.append({"text": f"\N{LARGE RED CIRCLE} [{delivery.host}] {text}",
                             "at": time.time(), "attempts": 0})

    async def go() -> bool:
        try:
            return await delivery.flush()
        finally:
            await delivery.close()

    return asyncio.run(go())
