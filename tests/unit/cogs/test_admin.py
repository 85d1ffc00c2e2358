"""Unsetting the announcement and audit channels (/admin settings clear:<channel>)."""

from __future__ import annotations

import pytest

from bot.cogs import admin
from bot.domain.errors import InvalidInput
from tests.unit.cogs.test_commands import ANN, NOW, repo  # noqa: F401 (fixture)


@pytest.mark.parametrize(("choice", "name"), [("announcement channel", "announcement_channel_id"),
                                             ("audit channel", "audit_channel_id")])
async def test_a_channel_setting_can_be_cleared_and_the_audit_says_old_to_none(repo,  # noqa: F811
                                                                               choice, name):
    """Regression (issue 14, loose ends): once set, the announcement or audit channel could not
    be unset (a channel option can only name a channel; leaving it out changes nothing). Now
    ``clear`` unsets it and the audit trail records old -> none. Fails on the old code because
    ``do_settings`` took no ``clear`` (TypeError) and nothing could store None there."""
    await admin.do_settings(repo, ANN, now=NOW, **{name: 42})
    reply = await admin.do_settings(repo, ANN, now=NOW + 1, clear=choice)
    assert getattr(await repo.settings(), name) is None
    assert f"{choice.capitalize()}: not set" in reply.content
    entries, _ = await repo.audit(0, 10)
    assert entries[0].action == "settings" and entries[0].details == {name: [42, None]}

    # Setting and clearing the same channel at once is refused, and changes nothing.
    with pytest.raises(InvalidInput, match="not both"):
        await admin.do_settings(repo, ANN, now=NOW + 2, clear=choice, **{name: 7})
    assert getattr(await repo.settings(), name) is None
    # Clearing what is not set changes nothing and records nothing.
    await admin.do_settings(repo, ANN, now=NOW + 3, clear=choice)
    assert (await repo.audit(0, 10))[1] == 2
