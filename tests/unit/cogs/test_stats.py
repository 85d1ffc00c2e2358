"""One latency formatter for /status and the sd_notify STATUS line (issue 15, one helper per
job: the three latency formatters)."""

from __future__ import annotations

import math
from types import SimpleNamespace

from bot.cogs.stats import status_reply
from bot.monitoring.stats import latency_text, ms


def _bot(latencies: list[tuple[int, float]]) -> SimpleNamespace:
    return SimpleNamespace(shard_latencies=lambda: latencies, clock=lambda: 100.0,
                           started_at=0.0, guilds=[], settings=SimpleNamespace(stage="local"))


def _latency_field(latencies: list[tuple[int, float]]) -> str:
    embed = status_reply(_bot(latencies)).embed
    assert embed is not None
    return next(field.value for field in embed.fields if field.name == "Gateway latency")


def test_status_shows_no_latency_before_the_first_heartbeat():
    """Regression (issue 15, one helper per job): /status had its own latency formatter, which
    did not drop discord.py's ``inf`` (a shard before its first heartbeat). Fails on the old code
    because /status then showed "inf ms" where the sd_notify STATUS line showed "n/a"."""
    assert _latency_field([(0, math.inf)]) == "n/a"
    assert _latency_field([(0, math.inf), (1, 0.0421)]) == "42 ms"
    assert _latency_field([]) == "n/a"


def test_the_formatters():
    assert latency_text([0.0104, math.nan, 0.2]) == "200 ms"
    assert ms(None) is None
    assert ms(0.0123456) == 12.346
    assert ms(0.0123456, 1) == 12.3
