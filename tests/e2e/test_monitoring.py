"""Monitoring seen from outside the real bot process: metrics, /slo, analytics, sd_notify."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys

from tests.e2e.harness import REPO, BotProcess, answer, counted, eventually, metric


async def test_commands_move_metrics_slo_and_persisted_analytics(world, bot):
    w = world
    _, before = await bot.get("/metrics")
    _, slo = await bot.get("/slo")
    await answer(w.fake, w.alpha, w.ann, "register")
    await answer(w.fake, w.alpha, w.ann, "register")  # user error
    await answer(w.fake, w.alpha, w.ann, "profile")
    await answer(w.fake, w.beta, w.dan_b, "profile")  # user error: not registered
    await counted(bot, slo["commands"] + 4)
    _, after = await bot.get("/metrics")
    for command, outcome, delta in (("register", "success", 1), ("register", "user_error", 1),
                                    ("profile", "success", 1), ("profile", "user_error", 1)):
        grew = metric(after, "guildbot_commands_total", command=command,
                       outcome=outcome) - metric(before, "guildbot_commands_total",
                                                  command=command, outcome=outcome)
        assert grew == delta, (command, outcome, after)
    assert metric(after, "guildbot_command_latency_seconds_count", command="profile") >= 2
    assert metric(after, "guildbot_registrations_total") >= 1

    _, slo = await bot.get("/slo")
    assert slo["window"]["commands"] >= 4
    assert slo["window"]["error_rate"] == 0  # user errors are not service errors
    assert slo["ready"] is True

    # Stopping flushes the analytics batch; the operator report reads it from the database.
    assert await bot.stop() == 0
    report = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "bot", "report"], env=bot.env, cwd=REPO,
        capture_output=True, text=True, timeout=60)
    assert report.returncode == 0, report.stderr
    assert "register" in report.stdout
    assert "profile" in report.stdout


async def test_sd_notify_ready_watchdog_and_stopping(world, tmp_path):
    sock_path = tmp_path / "notify.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(str(sock_path))
    server.setblocking(False)
    bot = BotProcess(tmp_path, world.fake)
    bot.env.update(NOTIFY_SOCKET=str(sock_path), WATCHDOG_USEC="1000000")
    messages: list[str] = []

    async def collect_until(predicate, what: str) -> None:
        def collected() -> bool:
            try:
                while True:
                    messages.extend(server.recv(4096).decode().splitlines())
            except BlockingIOError:
                pass
            assert predicate(), f"sd_notify messages so far: {messages}"
            return True
        await eventually(collected, what, 30)

    try:
        await bot.start()
        await collect_until(lambda: "READY=1" in messages, "READY=1")
        await bot.wait_ready()
        assert any(m.startswith("STATUS=") for m in messages)
        await collect_until(lambda: messages.count("WATCHDOG=1") >= 2, "two WATCHDOG=1")
        bot.proc.send_signal(15)
        await collect_until(lambda: "STOPPING=1" in messages, "STOPPING=1")
        assert await asyncio.wait_for(bot.proc.wait(), 30) == 0
    finally:
        if bot.proc.returncode is None:
            bot.proc.kill()
            await bot.proc.wait()
        server.close()
