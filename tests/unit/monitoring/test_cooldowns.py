"""The `cooldown` outcome (issue 14, part 2) in metrics, /slo and the dashboard's failed count."""

from __future__ import annotations

from bot.monitoring import Monitoring
from tests.unit.monitoring.test_server import get_json, get_text, metric_value


async def test_a_cooldown_is_counted_apart_and_never_as_an_error(monitoring: Monitoring, http):
    """A member over a cooldown was answered with when to come back: a distinct outcome, not a
    failure, so the error rate (/slo, the alert, the dashboard) does not move. Fails on the old
    code because `cooldown` was not among the outcomes every command exports (no zero series to
    graph or alert on) and no eviction metric existed."""
    monitoring.notify_ready()
    monitoring.observe_command("register", 1, "success", 0.010)
    for _ in range(9):
        monitoring.observe_command("challenge create", 1, "cooldown", 0.001)

    _, text = await get_text(http, "/metrics")
    assert metric_value(text, "guildbot_commands_total", command="challenge create",
                        outcome="cooldown") == 9
    assert metric_value(text, "guildbot_commands_total", command="register",
                        outcome="cooldown") == 0
    assert metric_value(text, "guildbot_commands_failed_total") == 0
    assert metric_value(text, "guildbot_cooldown_evictions_total") == 0
    monitoring.cooldown_evicted()
    _, text = await get_text(http, "/metrics")
    assert metric_value(text, "guildbot_cooldown_evictions_total") == 1

    _, slo = await get_json(http, "/slo")
    assert (slo["window"]["commands"], slo["window"]["errors"]) == (10, 0)
    assert slo["lifetime"]["error_rate"] == 0
    point = monitoring.dashboard.sample()
    assert (point["commands"], point["failed"]) == (10, 0)
