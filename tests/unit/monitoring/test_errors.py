"""How an error report names what failed: a slash command, a click, a modal, an autocomplete."""

from __future__ import annotations

import logging

from bot.monitoring.errors import ErrorTracker


def _boom() -> BaseException:
    try:
        raise RuntimeError("boom")
    except RuntimeError as exc:
        return exc


def test_an_error_names_a_click_as_a_click_and_a_command_with_its_slash(caplog):
    """Regression (issue 14, loose ends): a failing click is logged as what it is,
    ``in button:challenge-accept`` (the name its usage and metrics are recorded under: no
    ``custom_id`` numbers), and a slash command as ``in /daily``. Fails on the old code because
    every name got a slash: ``in /button:challenge-accept``, as if a member had typed it."""
    tracker = ErrorTracker()
    caplog.set_level(logging.ERROR, logger="guildbot.errors")
    names = ("button:challenge-accept", "select:challenge-pick", "modal:admin-purge",
             "autocomplete:challenge accept", "daily", "challenge create")
    for name in names:
        tracker.record(_boom(), command=name, guild_id=9)
    lines = [r.getMessage() for r in caplog.records]
    assert [line.split(" in ", 1)[1].split(" (guild", 1)[0] for line in lines] == [
        "button:challenge-accept", "select:challenge-pick", "modal:admin-purge",
        "autocomplete:challenge accept", "/daily", "/challenge create"]
    assert all("(guild 9)" in line for line in lines)
    assert [r.command for r in caplog.records] == list(names)  # the structured field unchanged
