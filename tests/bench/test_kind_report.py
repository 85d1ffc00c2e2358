"""The commands' CPU target of issue 14 judged on made-up results (no bench run): the ratio to
the documented run, PASS/MISS within the tolerance, N/A for quick runs and for a step the bot did
not answer in full."""

from __future__ import annotations

from tests.bench import report

CLICKS = report.CPU_BASELINES[1]


def results(mode: str, cpu: float, busy: int = 0) -> dict:
    step = {"sent": 3000, "busy": busy, "errors": 0, "bot_cpu_ms_per_interaction": cpu,
            "other_cpu_percent": 12.0}
    return {"mode": mode, "bots": {"postgres": {"steps": {report.COMMANDS_STEP: step}}}}


def judged(r: dict) -> dict:
    [found] = [t for t in report.targets(r) if t["target"] == CLICKS.title]
    return found


def test_the_commands_cpu_is_judged_against_the_documented_run_with_its_ratio():
    baseline = CLICKS.ms["postgres"]
    within = judged(results("full", round(baseline * 1.09, 3)))
    assert within["status"] == "PASS" and "1.09x" in within["measured"]
    assert CLICKS.run in within["measured"] and report.COMMANDS_STEP in within["measured"]
    over = judged(results("full", round(baseline * 1.2, 3)))
    assert over["status"] == "MISS" and "+20.0%" in over["why"]
    assert judged(results("quick", baseline))["status"] == "N/A"
    shed = judged(results("full", baseline * 0.5, busy=31))  # busy answers are cheap ones
    assert shed["status"] == "N/A" and "not comparable" in shed["measured"]
    assert judged(results("full", baseline, busy=30))["status"] == "PASS"
