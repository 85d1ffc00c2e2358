"""The audit trail's retention: the hourly retention job prunes entries past
GUILDBOT_AUDIT_RETENTION_DAYS in every guild (issue 14, part 3)."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, load_settings
from bot.domain.audit import AuditEntry
from tests.unit import test_admission
from tests.unit.test_admission import DAY, NOW, A, B

make_bot = test_admission.make_bot  # the fixture: the real bot class on the test's storage


async def test_the_retention_job_prunes_old_audit_entries_of_every_guild(storage, make_bot):
    client = await make_bot(audit_retention_days="10")
    for guild in (A, B):
        repo = storage.guild(guild)
        await repo.ensure("g", NOW - 20 * DAY)
        await repo.record_audit(AuditEntry(guild, 1, "export", {}, NOW - 11 * DAY))
        await repo.record_audit(AuditEntry(guild, 1, "export", {}, NOW - 9 * DAY))
    assert await client.purge_departed_guilds() == 0  # no departed guild; the trail pruned
    for guild in (A, B):
        entries, total = await storage.guild(guild).audit(0, 10)
        assert total == 1 and entries[0].at == NOW - 9 * DAY


def test_the_retention_is_a_setting_with_bounds(tmp_path):
    base = {"GUILDBOT_DATABASE": str(tmp_path / "db")}
    assert load_settings(base).audit_retention_days == 365
    with pytest.raises(ConfigError, match="AUDIT_RETENTION_DAYS"):
        load_settings({**base, "GUILDBOT_AUDIT_RETENTION_DAYS": "0"})
