"""The dashboard in a real headless Chromium: every chart is drawn, with data points.

The page is served by the real health server (aiohttp, ephemeral port) with recorded data. Chromium
runs twice: ``--dump-dom`` (the page's script sets ``data-plotted="N"`` on each canvas after
drawing N points or bars) and ``--screenshot``. The screenshot is kept in the pytest tmp dir and
copied to build/test-artifacts/dashboard.png for the lead to collect.

Needs Debian's ``chromium`` package. Without it the test is skipped, unless $CI is set: in CI it
fails, so a missing browser can not silently turn the check off.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import shutil
import struct
import zlib
from pathlib import Path

import pytest

from bot.config import Settings
from bot.monitoring import Intervals, Monitoring
from bot.storage.base import StorageSize

REPO = Path(__file__).resolve().parents[2]
ARTIFACT = REPO / "build" / "test-artifacts" / "dashboard.png"
CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
POINTS = 24
COMMANDS = ("daily", "profile", "leaderboard", "challenge")


def chromium() -> str:
    for path in CHROMIUM_PATHS:
        if os.access(path, os.X_OK):
            return path
    found = shutil.which("chromium")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("chromium is required in CI (Debian package: chromium) but was not found")
    pytest.skip("chromium not installed (apt-get install chromium); set CI=1 to make this fail")


class Clock:
    def __init__(self) -> None:
        self.t = 1_700_000_000.0

    def __call__(self) -> float:
        return self.t


class Probe:
    def __init__(self) -> None:
        self.guilds = 10

    def gateway_ready(self) -> bool:
        return True

    def shards_ready(self) -> dict[int, bool]:
        return {0: True}

    def maintenance_guild_count(self) -> int:
        return 0

    def shard_latencies(self) -> list[tuple[int, float]]:
        return [(0, 0.04)]

    def guild_count(self) -> int:
        return self.guilds

    async def database_writable(self) -> bool:
        return True

    async def database_size(self) -> StorageSize:
        return StorageSize(12 * 2**20)  # as PostgreSQL reports it: no file, no WAL


def record_traffic(mon: Monitoring, clock: Clock, probe: Probe) -> None:
    """POINTS dashboard samples, 5 s apart, with varying latency, usage, errors and guilds."""
    for i in range(POINTS):
        for k in range(20 + 5 * (i % 7)):
            command = COMMANDS[k % len(COMMANDS) if k % 3 else 0]
            latency = 0.002 + 0.0005 * (k % 10) + (0.05 if k % 17 == 0 else 0.0) * (i % 3)
            outcome = "failure" if (k + i) % 23 == 0 else "success"
            mon.observe_command(command, 1000 + k % 5, outcome, latency)
        if i % 4 == 0:
            try:
                raise RuntimeError(f"simulated failure {i}")
            except RuntimeError as exc:
                mon.record_error(exc, command="daily", guild_id=1000)
        probe.guilds = 10 + i // 3
        clock.t += 5
        mon.dashboard.sample()


async def run_chromium(binary: str, url: str, profile: Path, *extra: str) -> str:
    args = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
            "--window-size=1200,900", *extra, url]
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "HOME": str(profile)})
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 120)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail("chromium did not finish within 120 s")
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
    return out.decode(errors="replace")


def png_stats(data: bytes) -> tuple[int, int, int]:
    """(width, height, number of distinct colours in a sample of rows) of an 8-bit RGB(A) PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, channels = 8, b"", 0, 0, 4
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8
            channels = {2: 3, 6: 4}[colour]
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    prev = bytearray(stride)
    colours: set[bytes] = set()
    for y in range(height):
        start = y * (stride + 1)
        ftype, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for x in range(stride):
            a = line[x - channels] if x >= channels else 0
            b = prev[x]
            c = prev[x - channels] if x >= channels else 0
            if ftype == 1:
                line[x] = (line[x] + a) & 0xFF
            elif ftype == 2:
                line[x] = (line[x] + b) & 0xFF
            elif ftype == 3:
                line[x] = (line[x] + (a + b) // 2) & 0xFF
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[x] = (line[x] + pred) & 0xFF
        if y % 8 == 0:
            for x in range(0, stride, channels):
                colours.add(bytes(line[x:x + 3]))
        prev = line
    return width, height, len(colours)


async def test_dashboard_draws_every_chart_with_data(tmp_path):
    binary = chromium()
    clock, probe = Clock(), Probe()
    settings = Settings(database=tmp_path / "guildbot.db", state_dir=tmp_path, health_port=0)
    quiet = Intervals(sample=3600, dashboard=3600, loop_lag=3600, alerts=3600, flush=3600)
    mon = Monitoring(settings, clock=clock, health_port=0, intervals=quiet, environ={})
    await mon.start(probe)
    try:
        mon.notify_ready()
        record_traffic(mon, clock, probe)
        url = f"http://127.0.0.1:{mon.health_port}/dashboard"

        # 25 s of virtual time: the page refreshes from /dashboard/data (every 10 s at most).
        dom = await run_chromium(binary, url, tmp_path / "profile-dom", "--dump-dom",
                                 "--virtual-time-budget=25000")
        assert 'data-rendered="1"' in dom, dom[:2000]
        assert re.search(r'data-refreshed="[1-9]', dom), "the page never fetched /dashboard/data"
        plotted = {m.group(1): int(m.group(2)) for m in re.finditer(
            r'<canvas id="plot-(\w+)" data-plotted="(\d+)"', dom)}
        # Every sample had commands, so both latency lines have a point per sample; the usage
        # chart has one bar per command; errors and guilds a point per sample.
        assert plotted == {"latency": 2 * POINTS, "usage": len(COMMANDS),
                           "errors": 2 * POINTS, "guilds": POINTS}, plotted
        assert "error rate (5 min)" in dom
        assert "database: 12.0 MiB" in dom  # the backend's figure (Storage.size)

        shot = tmp_path / "dashboard.png"
        await run_chromium(binary, url, tmp_path / "profile-shot", f"--screenshot={shot}",
                           "--hide-scrollbars", "--virtual-time-budget=3000")
    finally:
        await mon.stop()

    data = shot.read_bytes()
    width, height, colours = png_stats(data)
    assert (width, height) == (1200, 900)
    # A blank or unstyled page has a handful of colours; four drawn charts have many.
    assert colours > 20, f"the screenshot looks empty ({colours} colours)"
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, ARTIFACT)
    assert math.isclose(ARTIFACT.stat().st_size, len(data))
