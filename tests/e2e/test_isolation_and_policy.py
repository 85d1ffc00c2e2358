"""Two guilds with overlapping members; maintenance; the rollout admission policy."""

from __future__ import annotations

import asyncio
import json

from tests.e2e.harness import answer, text


async def test_guilds_with_the_same_members_never_see_each_other(world, bot):
    w = world
    for member in (w.ann, w.bob):
        await answer(w.fake, w.alpha, member, "register")
        await answer(w.fake, w.alpha, member, "login")
    await answer(w.fake, w.alpha, w.ann, "challenge create", {"opponent": w.bob, "stake": 30})
    await answer(w.fake, w.alpha, w.ann, "admin settings", {"daily_reward": 500})

    # The same people in Beta start from nothing, with Beta's own settings and numbering.
    assert "not registered" in (await answer(w.fake, w.beta, w.ann_b, "profile")).content
    assert "Register first" in (await answer(w.fake, w.beta, w.ann_b, "login")).content
    assert "Nobody has registered" in (await answer(w.fake, w.beta, w.dan_b, "leaderboard")).content
    for member in (w.ann_b, w.bob_b, w.dan_b):
        await answer(w.fake, w.beta, member, "register")
    login = await answer(w.fake, w.beta, w.ann_b, "login")
    assert "+100 points" in login.content  # Alpha's reward of 500 does not apply here
    first = await answer(w.fake, w.beta, w.ann_b, "challenge create",
                         {"opponent": w.dan_b, "stake": 10})
    assert "challenge:1" in first.content  # numbering is per guild
    assert "No active challenges" in \
        (await answer(w.fake, w.beta, w.bob_b, "challenge list", {"member": w.bob_b})).content
    stats = text(await answer(w.fake, w.beta, w.dan_b, "stats"))
    assert "Members: 3" in stats and "Points in play: 100" in stats

    export = await answer(w.fake, w.beta, w.bob_b, "admin export")
    data = json.loads(export.attachments[0].data)
    assert sorted(m["display_name"] for m in data["members"]) == ["ann", "bob", "dan"]
    assert [c["stake"] for c in data["challenges"]] == [10]
    assert all(m["points"] <= 100 for m in data["members"])

    # And Alpha is untouched by Beta's activity.
    alpha = text(await answer(w.fake, w.alpha, w.ann, "profile"))
    assert "Points: 70" in alpha  # 100 - 30 escrowed


async def test_guild_maintenance_mode(world, bot):
    w = world
    await answer(w.fake, w.alpha, w.bob, "register")
    on = await answer(w.fake, w.alpha, w.ann, "admin maintenance", {"state": "on"})
    assert "Maintenance is on" in on.content
    notice = await answer(w.fake, w.alpha, w.bob, "profile")
    assert notice.ephemeral and "under maintenance" in notice.content
    assert "under maintenance" in (await answer(w.fake, w.alpha, w.ann, "login")).content
    # Admin commands still work, and other guilds are not affected.
    assert "Daily reward" in (await answer(w.fake, w.alpha, w.ann, "admin settings")).content
    assert "not registered" in (await answer(w.fake, w.beta, w.dan_b, "profile")).content
    await answer(w.fake, w.alpha, w.ann, "admin maintenance", {"state": "off"})
    assert "Profile of bob" in text(await answer(w.fake, w.alpha, w.bob, "profile"))


async def test_global_maintenance_switch_needs_no_restart(world, bot):
    w = world
    flag = bot.workdir / "maintenance"
    flag.touch()
    status_before = bot.proc.pid
    for _ in range(50):
        reply = await answer(w.fake, w.beta, w.dan_b, "stats")
        if "under maintenance" in (reply.content or ""):
            break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError("global maintenance never took effect")
    flag.unlink()
    for _ in range(50):
        reply = await answer(w.fake, w.beta, w.dan_b, "stats")
        if reply.embeds:
            break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError("global maintenance never ended")
    assert bot.proc.pid == status_before and bot.proc.returncode is None


async def test_a_guild_outside_the_allowlist_is_told_and_left(world, make_bot):
    w = world
    allow = f"{w.alpha.id},{w.beta.id}"
    bot = await make_bot(stage="beta", guild_allowlist=allow)
    gamma = w.fake.add_guild("Gamma", joined=False)
    await w.fake.add_guild_live(gamma)
    message = await w.fake.wait_channel_message(gamma.channel("general"), timeout=10)
    assert "rolling out gradually" in message.content
    assert "not on the beta allowlist" in message.content
    for _ in range(50):
        if gamma.id in w.fake.left_guilds:
            break
        await asyncio.sleep(0.1)
    assert gamma.id in w.fake.left_guilds
    assert w.alpha.id not in w.fake.left_guilds
    _, metrics = await bot.get("/metrics")
    rejected = [line for line in metrics.splitlines()
                if line.startswith("guildbot_guild_rejections_total")]
    assert rejected and rejected[0].endswith(" 1.0"), rejected
    assert "Welcome" in (await answer(w.fake, w.alpha, w.ann, "register")).content
    records = bot.log_records()
    assert any("leaving guild" in r.get("msg", "") and str(gamma.id) in r.get("msg", "")
               for r in records)
    assert await bot.stop() == 0


async def test_closed_to_new_guilds(world, make_bot):
    w = world
    bot = await make_bot(closed_to_new_guilds="true")
    delta = w.fake.add_guild("Delta", joined=False)
    await w.fake.add_guild_live(delta)
    message = await w.fake.wait_channel_message(delta.channel("general"), timeout=10)
    assert "closed to new guilds" in message.content
    # Guilds the bot already served keep working.
    assert "Welcome" in (await answer(w.fake, w.beta, w.dan_b, "register")).content
    assert await bot.stop() == 0
