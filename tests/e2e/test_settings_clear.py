"""/admin settings clear:<channel> through the real command tree and the fake Discord."""

from __future__ import annotations

from tests.e2e.harness import answer, text


async def test_the_audit_channel_is_cleared_with_the_clear_choice(world, bot):
    """Regression (issue 14, loose ends): an admin unsets the audit channel with
    ``clear:audit channel`` (a choice of the synced command): settings say "not set", later
    admin actions are no longer posted there, and the trail has the change as old -> not set.
    Fails on the old code because /admin settings had no ``clear`` option: the option was
    ignored and the settings came back unchanged, the audit channel still set."""
    w = world
    general = w.alpha.channel("general")
    await answer(w.fake, w.alpha, w.ann, "admin settings", {"audit_channel": general})
    posted = len(w.fake.channel_messages.get(general.id, []))
    assert posted == 1

    cleared = await answer(w.fake, w.alpha, w.ann, "admin settings", {"clear": "audit channel"})
    assert "Audit channel: not set" in cleared.content
    await answer(w.fake, w.alpha, w.ann, "admin settings", {"daily_reward": 7})
    assert len(w.fake.channel_messages.get(general.id, [])) == posted  # nothing more posted
    trail = text(await answer(w.fake, w.alpha, w.ann, "admin audit"))
    assert f"audit_channel_id: {general.id} → not set" in trail
