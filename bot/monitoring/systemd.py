"""systemd integration: sd_notify over $NOTIFY_SOCKET and a watchdog that pings only when healthy.

Outside systemd (no $NOTIFY_SOCKET) every call is a silent no-op. The watchdog is an asyncio task
on the bot's own loop, never a thread: a blocked loop therefore sends no ``WATCHDOG=1`` and
systemd restarts the process after ``WatchdogSec=``. It also stops pinging once the gateway has
been unhealthy (not READY, or a shard without a finite heartbeat latency) for longer than a grace
period, so a bot that lost Discord for good is restarted too. Each such give-up is reported
(``on_gateway_give_up``) so the next process can wait longer (bot.monitoring: the grace doubles
per recent gateway restart), which keeps a long Discord outage from exhausting the unit's
StartLimitBurst and leaving it failed.

``NOTIFY_SOCKET`` is left in ``os.environ`` (libraries may read it), but child processes must not
inherit it: start them with ``env=child_env()``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
from collections.abc import Callable, Mapping

log = logging.getLogger("guildbot.monitoring.systemd")

SYSTEMD_ENV = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID",
               "LISTEN_FDNAMES")


def child_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of the environment for a child process, without the systemd notification variables."""
    env = dict(os.environ if environ is None else environ)
    for name in SYSTEMD_ENV:
        env.pop(name, None)
    return env


class Notifier:
    """Sends sd_notify datagrams. Supports path and abstract (``@name``) sockets."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        raw = env.get("NOTIFY_SOCKET", "")
        self._address: str | bytes | None = None
        self._sock: socket.socket | None = None
        if raw.startswith("@"):
            self._address = b"\0" + raw[1:].encode()
        elif raw.startswith("/"):
            self._address = raw
        elif raw:
            log.warning("NOTIFY_SOCKET=%r is not a unix socket address; sd_notify disabled", raw)
        self.watchdog_interval = self._watchdog_interval(env)

    @staticmethod
    def _watchdog_interval(env: Mapping[str, str]) -> float | None:
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        if not usec.isdigit() or int(usec) <= 0:
            return None
        if pid and (not pid.isdigit() or int(pid) != os.getpid()):
            return None  # the watchdog is meant for another process
        return int(usec) / 1_000_000 / 2

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def notify(self, *assignments: str) -> bool:
        """Send ``KEY=value`` lines in one datagram; False when not under systemd or on error."""
        if self._address is None:
            return False
        payload = "\n".join(assignments).encode("utf-8", "replace")
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)  # not inheritable
                self._sock.setblocking(False)
            self._sock.sendto(payload, self._address)
            return True
        except OSError as exc:
            log.debug("sd_notify failed: %s", exc)
            return False

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class Watchdog:
    """Pings ``WATCHDOG=1`` every ``interval`` seconds while the loop and the gateway are healthy.

    ``healthy()`` reports the gateway (READY and every shard with a finite, bounded heartbeat
    latency); ``status()`` gives the ``STATUS=`` text sent along with each ping.
    """

    def __init__(self, notifier: Notifier, healthy: Callable[[], bool], status: Callable[[], str],
                 *, interval: float | None = None, gateway_grace: float = 60.0,
                 max_lag: float | None = None,
                 on_gateway_give_up: Callable[[], None] | None = None) -> None:
        self.notifier = notifier
        self.healthy = healthy
        self.status = status
        self.interval = interval if interval is not None else notifier.watchdog_interval
        self.gateway_grace = gateway_grace
        # A wake-up later than this means the loop was blocked: skip that ping.
        self.max_lag = max_lag if max_lag is not None else (self.interval or 0.0)
        self.pings = 0
        self.skipped = 0
        self.on_gateway_give_up = on_gateway_give_up
        self._unhealthy_since: float | None = None
        self._gave_up = False
        self._task: asyncio.Task[None] | None = None

    @property
    def active(self) -> bool:
        return self.notifier.enabled and bool(self.interval)

    def tick(self, now: float, lag: float = 0.0) -> bool:
        """One check: ping if the loop was responsive (``lag``) and the gateway is healthy."""
        try:
            healthy = bool(self.healthy())
        except Exception:
            log.exception("watchdog health check raised")
            healthy = False
        if healthy:
            self._unhealthy_since = None
            self._gave_up = False
        elif self._unhealthy_since is None:
            self._unhealthy_since = now
        unhealthy_for = 0.0 if self._unhealthy_since is None else now - self._unhealthy_since
        gateway_ok = healthy or unhealthy_for < self.gateway_grace
        if not gateway_ok and not self._gave_up:
            self._gave_up = True
            log.error("watchdog: the gateway has been unhealthy for %.0f s (grace %.0f s); no "
                      "more pings, systemd will restart the bot", unhealthy_for,
                      self.gateway_grace)
            if self.on_gateway_give_up is not None:
                try:
                    self.on_gateway_give_up()
                except Exception:
                    log.exception("watchdog give-up hook raised")
        if lag > self.max_lag or not gateway_ok:
            self.skipped += 1
            if self.skipped in (1, 10) or self.skipped % 100 == 0:
                log.warning("watchdog: not pinging systemd (loop lag %.2fs, gateway healthy %s)",
                            lag, healthy)
            return False
        try:
            status = self.status()
        except Exception:
            status = "running"
        sent = self.notifier.notify("WATCHDOG=1", f"STATUS={status}")
        if sent:
            self.pings += 1
            self.skipped = 0
        return sent

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        interval = float(self.interval or 0)
        expected = loop.time() + interval
        while True:
            await asyncio.sleep(max(0.0, expected - loop.time()))
            now = loop.time()
            lag = now - expected
            expected = now + interval
            self.tick(now, lag)

    def start(self) -> None:
        if self.active and self._task is None:
            loop = asyncio.get_running_loop()
            self._task = loop.create_task(self.run(), name="guildbot-watchdog")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None


def gateway_healthy(ready: bool, latencies: list[tuple[int, float]], max_latency: float) -> bool:
    """READY, at least one shard, and every shard's heartbeat latency finite and below the bound."""
    if not ready or not latencies:
        return False
    return all(math.isfinite(lat) and 0 <= lat <= max_latency for _, lat in latencies)
