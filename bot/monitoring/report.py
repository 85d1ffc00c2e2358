"""``python -m bot report``: command usage analytics as a plain text table."""

from __future__ import annotations

from collections.abc import Sequence

from bot.storage.base import UsageSummary

HEADERS = ("command", "calls", "failures", "fail %", "user errors", "avg ms")


def format_report(summaries: Sequence[UsageSummary], *, title: str | None = None) -> str:
    """One row per command, busiest first, and a total row; plain ASCII for terminals and mail."""
    if not summaries:
        return (title + "\n" if title else "") + "no command usage recorded in this period"
    rows = sorted(summaries, key=lambda s: (-s.calls, s.command))
    calls = sum(s.calls for s in rows)
    failures = sum(s.failures for s in rows)
    user_errors = sum(s.user_errors for s in rows)
    avg = sum(s.avg_latency_ms * s.calls for s in rows) / calls if calls else 0.0
    table = [_cells(s.command, s.calls, s.failures, s.user_errors, s.avg_latency_ms)
             for s in rows]
    total = _cells("TOTAL", calls, failures, user_errors, avg)
    widths = [max(len(h), *(len(r[i]) for r in [*table, total])) for i, h in enumerate(HEADERS)]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))
        return "  ".join([first, *rest]).rstrip()

    rule = "  ".join("-" * w for w in widths)
    out = [title] if title else []
    out += [line(HEADERS), rule, *(line(r) for r in table), rule, line(total)]
    return "\n".join(out)


def _cells(command: str, calls: int, failures: int, user_errors: int,
           avg_ms: float) -> tuple[str, ...]:
    rate = f"{100 * failures / calls:.1f}" if calls else "-"
    return (command, str(calls), str(failures), rate, str(user_errors), f"{avg_ms:.1f}")
