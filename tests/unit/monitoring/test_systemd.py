"""sd_notify and the watchdog against a real AF_UNIX datagram socket standing in for systemd."""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
import time
from collections.abc import Iterator

import pytest

from bot.monitoring import Intervals, Monitoring
from bot.monitoring.systemd import Notifier, Watchdog, child_env

WATCHDOG_USEC = 200_000  # ping interval 0.1 s


@pytest.fixture
def notify_socket() -> Iterator[tuple[socket.socket, str]]:
    # A short directory: AF_UNIX paths are limited to 107 bytes.
    directory = tempfile.mkdtemp(prefix="gb-notify-", dir="/tmp")
    path = os.path.join(directory, "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.setblocking(False)
    try:
        yield sock, path
    finally:
        sock.close()
        os.unlink(path)
        os.rmdir(directory)


def drain(sock: socket.socket) -> list[str]:
    out = []
    while True:
        try:
            out.append(sock.recv(4096).decode())
        except BlockingIOError:
            return out


async def receive(sock: socket.socket, wanted: str, limit: float = 5.0) -> str:
    """The next datagram containing ``wanted`` (other datagrams are skipped)."""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(limit):
        while True:
            msg = (await loop.sock_recv(sock, 4096)).decode()
            if wanted in msg.splitlines():
                return msg


def make(settings, probe, path: str, intervals: Intervals, **env: str) -> Monitoring:
    environ = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": str(WATCHDOG_USEC), **env}
    return Monitoring(settings, clock=time.time, intervals=intervals, environ=environ)


def test_notifier_is_a_no_op_outside_systemd():
    n = Notifier({})
    assert not n.enabled
    assert n.notify("READY=1") is False
    assert n.watchdog_interval is None


def test_watchdog_interval_is_half_of_watchdog_usec():
    assert Notifier({"WATCHDOG_USEC": "30000000"}).watchdog_interval == 15.0
    assert Notifier({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}).watchdog_interval is None
    env = {"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}
    assert Notifier(env).watchdog_interval == 15.0


def test_child_env_drops_the_notify_socket():
    env = child_env({"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "1", "PATH": "/bin"})
    assert env == {"PATH": "/bin"}


def test_abstract_socket():
    name = f"guildbot-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(5)
    try:
        assert Notifier({"NOTIFY_SOCKET": "@" + name}).notify("READY=1", "STATUS=hi")
        assert sock.recv(4096) == b"READY=1\nSTATUS=hi"
    finally:
        sock.close()


async def test_ready_status_watchdog_and_stopping(notify_socket, settings, probe, intervals):
    sock, path = notify_socket
    mon = make(settings, probe, path, intervals)
    await mon.start(probe)
    try:
        mon.notify_ready()
        msg = await receive(sock, "READY=1")
        assert "STATUS=guilds 3, latency 42 ms" in msg.splitlines()
        msg = await receive(sock, "WATCHDOG=1")
        assert any(line.startswith("STATUS=guilds 3") for line in msg.splitlines())
    finally:
        await mon.stop()
    assert "STOPPING=1" in "\n".join(drain(sock)).splitlines()


async def test_no_watchdog_ping_while_the_loop_is_blocked(notify_socket, settings, probe,
                                                          intervals):
    sock, path = notify_socket
    mon = make(settings, probe, path, intervals)
    await mon.start(probe)
    try:
        await receive(sock, "WATCHDOG=1")
        drain(sock)
        # Block the event loop for five ping intervals. The watchdog runs on this loop, so
        # nothing can be sent meanwhile; anything queued in the socket afterwards was sent by
        # something that pings while the loop hangs (e.g. a thread), which must never happen.
        time.sleep(5 * WATCHDOG_USEC / 1e6)  # noqa: ASYNC251 - blocking the loop is the point
        assert [m for m in drain(sock) if "WATCHDOG=1" in m.splitlines()] == []
        # Once the loop runs again, so do the pings.
        await receive(sock, "WATCHDOG=1")
    finally:
        await mon.stop()


async def test_pings_stop_when_the_gateway_is_unhealthy(notify_socket, settings, probe):
    sock, path = notify_socket
    intervals = Intervals(sample=3600, dashboard=3600, alerts=3600, flush=3600, gateway_grace=0)
    mon = make(settings, probe, path, intervals)
    await mon.start(probe)
    try:
        await receive(sock, "WATCHDOG=1")
        probe.ready = False
        await asyncio.sleep(0)
        drain(sock)
        skipped = mon.watchdog.skipped
        pings = mon.watchdog.pings
        # Wait until the watchdog has made several checks, then look at what it sent.
        async with asyncio.timeout(5):
            while mon.watchdog.skipped < skipped + 3:
                await asyncio.sleep(0.02)
        assert mon.watchdog.pings == pings
        assert [m for m in drain(sock) if "WATCHDOG=1" in m.splitlines()] == []
        probe.ready = True
        await receive(sock, "WATCHDOG=1")
    finally:
        await mon.stop()


def test_watchdog_tick_rules(notify_socket):
    sock, path = notify_socket
    state = {"healthy": True}
    dog = Watchdog(Notifier({"NOTIFY_SOCKET": path}), lambda: state["healthy"], lambda: "ok",
                   interval=1.0, gateway_grace=30.0)
    assert dog.tick(now=100.0) is True
    assert drain(sock) == ["WATCHDOG=1\nSTATUS=ok"]
    # A wake-up much later than planned: the loop was blocked, no ping for that round.
    assert dog.tick(now=101.0, lag=5.0) is False
    # The gateway goes bad: pings continue through the grace period, then stop.
    state["healthy"] = False
    assert dog.tick(now=102.0) is True
    assert dog.tick(now=131.0) is True
    assert dog.tick(now=132.0) is False
    assert dog.tick(now=200.0) is False
    state["healthy"] = True
    assert dog.tick(now=201.0) is True


def test_gateway_health_needs_finite_heartbeat(probe):
    from bot.monitoring.systemd import gateway_healthy

    assert gateway_healthy(True, [(0, 0.05)], 60)
    assert not gateway_healthy(False, [(0, 0.05)], 60)
    assert not gateway_healthy(True, [(0, 0.05), (1, float("inf"))], 60)
    assert not gateway_healthy(True, [(0, float("nan"))], 60)
    assert not gateway_healthy(True, [(0, 120.0)], 60)
    assert not gateway_healthy(True, [], 60)



def test_the_watchdog_reports_each_gateway_give_up_once(notify_socket):
    sock, path = notify_socket
    state = {"healthy": False}
    gave_up: list[bool] = []
    dog = Watchdog(Notifier({"NOTIFY_SOCKET": path}), lambda: state["healthy"], lambda: "ok",
                   interval=1.0, gateway_grace=30.0,
                   on_gateway_give_up=lambda: gave_up.append(True))
    assert dog.tick(now=100.0) is True
    assert dog.tick(now=131.0) is False
    assert dog.tick(now=132.0, lag=5.0) is False
    assert gave_up == [True]  # once per outage, not per tick
    state["healthy"] = True
    assert dog.tick(now=140.0) is True
    state["healthy"] = False
    dog.tick(now=141.0)
    assert dog.tick(now=172.0) is False
    assert gave_up == [True, True]  # a new outage, a new give-up
    assert dog.tick(now=173.0, lag=5.0) is False  # a blocked loop alone is not a gateway give-up
    assert len(gave_up) == 2


def test_gateway_grace_doubles_per_recent_gateway_restart_up_to_the_cap(tmp_path):
    from bot.statefiles import GatewayRestarts

    restarts = GatewayRestarts(tmp_path / "gateway-restarts.json")
    t = 1_700_000_000.0
    assert restarts.grace(300.0, t) == 300.0
    restarts.record(t)
    assert restarts.grace(300.0, t + 400) == 600.0
    restarts.record(t + 1000)
    restarts.record(t + 2300)
    assert restarts.grace(300.0, t + 2400) == 2400.0
    restarts.record(t + 4700)
    assert restarts.grace(300.0, t + 4800) == GatewayRestarts.CAP  # 4800 capped at an hour
    # Give-ups older than two hours are forgotten.
    assert restarts.grace(300.0, t + 4700 + GatewayRestarts.MEMORY + 1) == 300.0
    (tmp_path / "gateway-restarts.json").write_text("{broken")
    assert restarts.grace(300.0, t) == 300.0


async def test_a_process_after_a_gateway_restart_waits_longer(tmp_path, probe):
    from bot.config import Settings
    from bot.statefiles import GatewayRestarts

    settings = Settings(database=tmp_path / "guildbot.db", state_dir=tmp_path / "state",
                        backup_dir=tmp_path / "backups", health_port=0)
    first = Monitoring(settings, intervals=Intervals(gateway_grace=300.0), environ={})
    await first.start(probe)
    assert first.watchdog.gateway_grace == 300.0
    first.watchdog.on_gateway_give_up()  # what tick() calls when it stops pinging
    await first.stop()
    GatewayRestarts(settings.state_dir / "gateway-restarts.json").record(time.time())
    second = Monitoring(settings, intervals=Intervals(gateway_grace=300.0), environ={})
    await second.start(probe)
    try:
        assert second.watchdog.gateway_grace == 1200.0
    finally:
        await second.stop()
