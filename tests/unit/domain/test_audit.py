"""The audit trail (bot.domain.audit): pure rules."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.domain import audit
from bot.domain.audit import OPERATOR, AuditEntry
from bot.storage.base import GuildSettings

ANN = 10


def test_settings_changes_are_old_to_new_and_only_what_changed():
    old = GuildSettings(1)
    new = replace(old, daily_reward=5, audit_channel_id=99)
    assert audit.settings_changes(old, new) == {"daily_reward": [100, 5],
                                                "audit_channel_id": [None, 99]}
    assert audit.settings_changes(old, old) == {}


def test_an_entry_names_its_action_and_describes_itself():
    with pytest.raises(ValueError, match="unknown audit action"):
        AuditEntry(1, ANN, "dance")
    line = audit.describe(AuditEntry(1, ANN, "settings", {"daily_reward": [100, 5]}, 60.0))
    assert line == "<t:60:f> <@10> changed daily_reward: 100 → 5"
    forget = audit.describe(AuditEntry(1, OPERATOR, "forget", {"user_id": "20", "refunds": 1}))
    assert "the operator deleted the data of member 20" in forget
    settle = audit.describe(AuditEntry(1, ANN, "settle", {"challenge": 3, "winner_id": "20"}))
    assert "settled challenge #3: <@20> won" in settle


def test_pages_are_clamped_to_those_that_exist():
    assert audit.page_count(0) == 1 and audit.page_count(10) == 1 and audit.page_count(11) == 2
    assert audit.clamp_page(5, 11) == 1 and audit.clamp_page(-1, 11) == 0
