"""The `refused` outcome (issue 14, loose ends) in metrics, /slo and the dashboard."""

from __future__ import annotations

from bot.monitoring import Monitoring
from tests.unit.monitoring.test_server import get_json, get_text, metric_value


async def test_a_refused_interaction_is_a_first_class_outcome_not_an_error(monitoring: Monitoring,
                                                                           http):
    """Regression (issue 14, loose ends): an interaction from a guild the admission policy
    refuses (a command or a click) is answered and recorded as `refused`, under no guild. It is
    one of `OUTCOMES`, so every command exports its zero series (to graph and alert on before
    the first refusal), and it never counts toward the error rate. Fails on the old code because
    `refused` was not in `OUTCOMES`: a command with no refusal yet had no `refused` series."""
    monitoring.notify_ready()
    monitoring.observe_command("profile", 1, "success", 0.010)
    for _ in range(4):
        monitoring.observe_command("button:challenge-accept", None, "refused", 0.001)

    _, text = await get_text(http, "/metrics")
    assert metric_value(text, "guildbot_commands_total", command="button:challenge-accept",
                        outcome="refused") == 4
    assert metric_value(text, "guildbot_commands_total", command="profile",
                        outcome="refused") == 0
    assert metric_value(text, "guildbot_commands_failed_total") == 0

    _, slo = await get_json(http, "/slo")
    assert (slo["window"]["commands"], slo["window"]["errors"]) == (5, 0)
    point = monitoring.dashboard.sample()
    assert (point["commands"], point["failed"]) == (5, 0)
