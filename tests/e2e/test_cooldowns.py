"""Per-member cooldowns through the real bot process (issue 14, part 2)."""

from __future__ import annotations

import re

from tests.e2e.harness import answer, counted, metric, text

TOO_OFTEN = re.compile(r"You're doing that too often — try again in (\d+) s\.")


async def test_a_member_over_a_cooldown_is_told_when_and_another_member_is_not(world, make_bot):
    """Ann may create two challenges a minute (GUILDBOT_COOLDOWNS) and export once in five
    minutes (the default): past that she gets an ephemeral "try again in N s", the command does
    not run, and the refusal is counted as `cooldown`, not as an error. Bob, the same moment, is
    unaffected. Fails on the old code because Ann's third challenge was created."""
    w = world
    bot = await make_bot(cooldowns="challenge create=2/60")
    try:
        _, slo = await bot.get("/slo")
        start = slo["commands"]
        for member in (w.ann, w.bob):
            assert "Welcome" in (await answer(w.fake, w.alpha, member, "register")).content
            assert "+100 points" in (await answer(w.fake, w.alpha, member, "login")).content
        for _ in range(2):
            made = await answer(w.fake, w.alpha, w.ann, "challenge create",
                                {"opponent": w.bob, "stake": 1})
            assert "challenges you for" in made.content
        refused = await answer(w.fake, w.alpha, w.ann, "challenge create",
                               {"opponent": w.bob, "stake": 1})
        assert refused.ephemeral, refused.content
        wait = TOO_OFTEN.fullmatch(refused.content)
        assert wait is not None, refused.content
        assert 1 <= int(wait.group(1)) <= 30
        bob = await answer(w.fake, w.alpha, w.bob, "challenge create",
                           {"opponent": w.ann, "stake": 1})
        assert "challenges you for" in bob.content
        listed = await answer(w.fake, w.alpha, w.ann, "challenge list", {"member": w.ann})
        assert "#3" in text(listed) and "#4" not in text(listed)  # Ann's third never ran

        assert (await answer(w.fake, w.alpha, w.ann, "admin export")).attachments
        again = await answer(w.fake, w.alpha, w.ann, "admin export")
        assert again.ephemeral and TOO_OFTEN.fullmatch(again.content), again.content

        await counted(bot, start + 11)  # the eleven commands above
        _, metrics = await bot.get("/metrics")
        assert metric(metrics, "guildbot_commands_total", command="challenge create",
                       outcome="cooldown") == 1
        assert metric(metrics, "guildbot_commands_total", command="admin export",
                       outcome="cooldown") == 1
        assert metric(metrics, "guildbot_commands_failed_total") == 0
        _, slo = await bot.get("/slo")
        assert slo["window"]["errors"] == 0
    finally:
        assert await bot.stop() == 0, bot.log_tail()
