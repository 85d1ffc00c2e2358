"""Operator announcements' retention: the hourly retention job prunes the announcements (and
every guild's delivery rows of them) older than GUILDBOT_AUDIT_RETENTION_DAYS (issue 15)."""

from __future__ import annotations

from bot.domain.announcements import SENT
from tests.unit import test_admission
from tests.unit.test_admission import DAY, NOW, A

make_bot = test_admission.make_bot  # the fixture: the real bot class on the test's storage


async def test_the_retention_job_prunes_old_announcements(storage, make_bot):
    """Regression (issue 15, announcement deliveries): the retention job deletes an
    announcement older than the audit retention with its delivery rows and keeps a newer one.
    Fails on the old code because the job pruned only the audit trail: announcements and their
    deliveries were kept forever."""
    client = await make_bot(audit_retention_days="10")
    await storage.guild(A).ensure("g", NOW - 20 * DAY)
    for age in (11, 9):
        aid = await storage.create_announcement(f"{age} days old", NOW - age * DAY)
        assert await storage.claim_announcement(aid, A, 11, NOW - age * DAY, "process 0")
        await storage.finish_announcement(aid, A, SENT, None)
    assert await client.purge_departed_guilds() == 0  # no departed guild; announcements pruned
    [kept] = await storage.announcement_progress(0)
    assert (kept.created_at, kept.sent) == (NOW - 9 * DAY, 1)
