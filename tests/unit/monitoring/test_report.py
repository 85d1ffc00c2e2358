"""format_report: the plain table of `python -m bot report`."""

from __future__ import annotations

from bot.monitoring.report import format_report
from bot.storage.base import UsageSummary


def test_table_is_sorted_and_totalled():
    text = format_report([
        UsageSummary("profile", 10, 0, 2, 3.0),
        UsageSummary("daily", 30, 3, 1, 5.0),
    ])
    lines = text.splitlines()
    assert lines[0].split() == ["command", "calls", "failures", "fail", "%", "user", "errors",
                                "avg", "ms"]
    assert lines[2].split() == ["daily", "30", "3", "10.0", "1", "5.0"]
    assert lines[3].split() == ["profile", "10", "0", "0.0", "2", "3.0"]
    assert lines[-1].split() == ["TOTAL", "40", "3", "7.5", "3", "4.5"]
    widths = {len(line) for line in lines if not line.startswith("-")}
    assert max(widths) < 80


def test_empty_report():
    assert format_report([]) == "no command usage recorded in this period"
