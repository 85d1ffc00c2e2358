"""Monitoring per process of a cluster (issue 12, item 4): metrics labelled with the process's
shards, /slo naming them with each shard's session, and `health --all` over the host's
processes."""

from __future__ import annotations

import asyncio
import json
import socket
from dataclasses import replace

import aiohttp
import pytest

from bot import cli
from bot.config import ConfigError, Settings, load_settings
from bot.monitoring import Monitoring
from tests.unit.monitoring.conftest import QUIET, FakeProbe
from tests.unit.monitoring.test_server import get_json, metric_value


class TwoShards(FakeProbe):
    """A process running shards 2 and 3 of 4; ``down`` lists the shards without a session."""

    def __init__(self) -> None:
        super().__init__()
        self.down: set[int] = set()
        self.latencies = [(2, 0.040), (3, 0.055)]

    def gateway_ready(self) -> bool:
        return not self.down

    def shards_ready(self) -> dict[int, bool]:
        return {2: 2 not in self.down, 3: 3 not in self.down}

    def maintenance_guild_count(self) -> int:
        return 2


@pytest.fixture
def cluster_settings(settings: Settings) -> Settings:
    return replace(settings, shard_count=4, shard_ids=(2, 3), instance=1)


@pytest.fixture
async def process(cluster_settings: Settings):
    probe = TwoShards()
    mon = Monitoring(cluster_settings, health_port=0, intervals=QUIET, environ={})
    await mon.start(probe)
    try:
        yield mon, probe
    finally:
        await mon.stop()


async def test_metrics_and_slo_carry_the_process_and_its_shards(process):
    """Regression (issue 12, item 4): /metrics has guildbot_process_info{shards, process,
    shard_count} and a ready gauge per shard read at each scrape; /slo names the process, its
    shards and each shard's session; /readyz says which shard is down. Fails on the old code
    because a process's metrics did not say which shards it runs."""
    mon, probe = process
    async with aiohttp.ClientSession() as session:
        await _check_process_views((session, f"http://127.0.0.1:{mon.health_port}"), probe)


async def _check_process_views(http, probe: TwoShards) -> None:
    session, base = http
    text = await (await session.get(f"{base}/metrics")).text()
    assert metric_value(text, "guildbot_process_info", shards="2-3", process="1",
                        shard_count="4") == 1
    assert metric_value(text, "guildbot_shard_ready", shard="3") == 1
    assert metric_value(text, "guildbot_guilds_in_maintenance") == 2
    probe.down = {3}
    text = await (await session.get(f"{base}/metrics")).text()
    assert metric_value(text, "guildbot_shard_ready", shard="3") == 0
    assert metric_value(text, "guildbot_shard_ready", shard="2") == 1
    status, body = await get_json(http, "/readyz")
    assert (status, body["reasons"]) == (503, ["gateway not ready (shards 3 down)"])
    _, slo = await get_json(http, "/slo")
    assert slo["process"] == {
        "instance": 1, "shards": "2-3", "shard_count": 4,
        "shard_states": [{"shard": 2, "ready": True, "latency_ms": 40.0},
                         {"shard": 3, "ready": False, "latency_ms": 55.0}]}


async def test_health_all_lists_every_process_of_the_host(process, cluster_settings, capsys):
    """Regression (issue 12, item 4): `health --all` asks every port of
    GUILDBOT_FLEET_HEALTH_PORTS and prints each process's shards, readiness, latency and error
    rate; a process that does not answer is not ready, and the exit status is then 1. Fails on
    the old code because `health` knew one port only (and had no --all)."""
    mon, probe = process
    with socket.socket() as sock:  # a port nothing listens on: a process that is down
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    fleet = replace(cluster_settings, fleet_health_ports=(mon.health_port, dead))
    args = cli.build_parser().parse_args(["health", "--all"])
    code = await asyncio.to_thread(cli.cmd_health, fleet, args)
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    assert (report["ready"], report["processes_total"]) == (1, 2)
    first, second = report["processes"]
    assert (first["port"], first["ready"], first["shards"], first["instance"]) == \
        (mon.health_port, True, "2-3", 1)
    assert first["latency_ms"] == 55.0 and first["error_rate_5m"] == 0
    assert (second["port"], second["ready"]) == (dead, False)
    assert second["reasons"][0].startswith("no answer")

    alone = replace(cluster_settings, health_port=mon.health_port)
    assert await asyncio.to_thread(cli.cmd_health, alone, args) == 0  # default: its own port
    probe.down = {2}
    assert await asyncio.to_thread(cli.cmd_health, alone, args) == 1
    report = json.loads(capsys.readouterr().out.split("\n}\n", 1)[1])
    assert report["processes"][0]["reasons"] == ["gateway not ready (shards 2 down)"]


def test_fleet_ports_and_instance_settings():
    settings = load_settings({"GUILDBOT_FLEET_HEALTH_PORTS": "8710, 8711",
                              "GUILDBOT_INSTANCE": "1"})
    assert (settings.fleet_health_ports, settings.instance) == ((8710, 8711), 1)
    assert load_settings({}).fleet_health_ports == ()
    with pytest.raises(ConfigError, match="GUILDBOT_FLEET_HEALTH_PORTS: 'x' is not a TCP port"):
        load_settings({"GUILDBOT_FLEET_HEALTH_PORTS": "8710,x"})
