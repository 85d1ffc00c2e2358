"""Members' data and the audit trail through the real bot process, the real discord.py and the
fake Discord (issue 14, part 3): /privacy show|export|delete with a refund, /admin forget, the
operator's `forget`, an audit entry for each recorded action, /admin audit paging, the audit
channel and the export's audit section."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

from tests.e2e.conftest import ON_BOTH_BACKENDS
from tests.e2e.harness import REPO, answer, text

pytestmark = ON_BOTH_BACKENDS


async def click(fake, member, message, custom_id):
    inter = await fake.click(member, message, custom_id)
    return await inter.wait_final()


async def points_of(w, member) -> str:
    return text(await answer(w.fake, w.alpha, member, "profile"))


async def test_privacy_show_export_and_delete_with_a_refund(world, bot):
    w = world
    assert "stores nothing" in (await answer(w.fake, w.alpha, w.bob, "privacy show")).content
    for member in (w.ann, w.bob, w.cid):
        await answer(w.fake, w.alpha, member, "register")
        await answer(w.fake, w.alpha, member, "login")
    await answer(w.fake, w.alpha, w.cid, "challenge create", {"opponent": w.bob, "stake": 25})
    await answer(w.fake, w.alpha, w.bob, "challenge create", {"opponent": w.ann, "stake": 30})
    # Ann 100, Bob 70 + 30 staked, Cid 75 + 25 staked.
    assert "Points in play: 300" in text(await answer(w.fake, w.alpha, w.ann, "stats"))

    shown = await answer(w.fake, w.alpha, w.bob, "privacy show")
    assert shown.ephemeral and "Points: 70" in shown.content and "Challenges: 2" in shown.content
    exported = await answer(w.fake, w.alpha, w.bob, "privacy export")
    assert exported.ephemeral and len(exported.attachments) == 1
    mine = json.loads(exported.attachments[0].data)
    assert mine["user_id"] == str(w.bob.user.id) and mine["member"]["points"] == 70
    assert sorted(c["stake"] for c in mine["challenges"]) == [25, 30]

    asked = await answer(w.fake, w.alpha, w.bob, "privacy delete")
    assert asked.ephemeral and "Confirm with the button" in asked.content
    custom_id = f"gb1:pv:delete:{w.alpha.id}:{w.bob.user.id}"
    assert [b["custom_id"] for row in asked.components for b in row["components"]] == [custom_id]
    assert "Points: 70" in (await answer(w.fake, w.alpha, w.bob, "privacy show")).content

    # The same custom_id replayed in another guild (the component checks' guild) deletes
    # nothing: Bob's prompt in Beta made to carry Alpha's button.
    await answer(w.fake, w.beta, w.bob_b, "register")
    elsewhere = await answer(w.fake, w.beta, w.bob_b, "privacy delete")
    elsewhere.message.components[0]["components"][0]["custom_id"] = custom_id
    replay = await click(w.fake, w.bob_b, elsewhere.message, custom_id)
    assert replay.ephemeral and "another server" in replay.content
    assert "Points: 70" in (await answer(w.fake, w.alpha, w.bob, "privacy show")).content

    # A click passes the commands' admission: in maintenance it deletes nothing.
    await answer(w.fake, w.alpha, w.ann, "admin maintenance", {"state": "on"})
    paused = await click(w.fake, w.bob, asked.message, custom_id)
    assert paused.ephemeral and "maintenance" in paused.content.lower()
    await answer(w.fake, w.alpha, w.ann, "admin maintenance", {"state": "off"})
    assert "Points: 70" in (await answer(w.fake, w.alpha, w.bob, "privacy show")).content

    done = await click(w.fake, w.bob, asked.message, custom_id)
    assert "is deleted" in done.content and "25 points refunded" in done.content
    assert asked.message.components == []
    assert "stores nothing" in (await answer(w.fake, w.alpha, w.bob, "privacy show")).content
    assert "Points: 100" in await points_of(w, w.cid)  # Cid's stake came back, once
    assert "Points: 100" in await points_of(w, w.ann)
    # The guild held Bob's 70 points and his 30 staked: exactly 100 fewer, nothing else.
    assert "Points in play: 200" in text(await answer(w.fake, w.alpha, w.ann, "stats"))
    assert await bot.db.rows(f"SELECT COUNT(*) FROM challenges WHERE guild_id = {w.alpha.id}") \
        == [(0,)]
    # A member's own deletion is not an admin action: no audit entry keeps their id (the two
    # entries are the maintenance switches).
    assert await bot.db.rows("SELECT action FROM audit_log") == [("maintenance",)] * 2


async def test_admin_actions_are_audited_paged_posted_and_exported(world, bot):
    w = world
    general = w.alpha.channel("general")
    for member in (w.bob, w.cid):
        await answer(w.fake, w.alpha, member, "register")
        await answer(w.fake, w.alpha, member, "login")
    denied = await answer(w.fake, w.alpha, w.bob, "admin audit")
    assert denied.ephemeral and "Manage Server" in denied.content
    await answer(w.fake, w.alpha, w.ann, "admin settings", {"audit_channel": general})
    posted = w.fake.channel_messages.get(general.id, [])
    assert len(posted) == 1 and "audit_channel_id: not set →" in posted[0].content

    # A post the channel refuses is logged; the action is done and recorded all the same.
    w.fake.fail_next("POST", "/channels/{id}/messages", status=403)
    on = await answer(w.fake, w.alpha, w.ann, "admin maintenance", {"state": "on"})
    assert "Maintenance is on" in on.content
    assert any("not posted to channel" in r.get("msg", "") for r in bot.log_records())
    await answer(w.fake, w.alpha, w.ann, "admin maintenance", {"state": "off"})
    await answer(w.fake, w.alpha, w.bob, "challenge create", {"opponent": w.cid, "stake": 10})
    await answer(w.fake, w.alpha, w.cid, "challenge accept", {"challenge": 1})
    await answer(w.fake, w.alpha, w.bob, "challenge complete", {"challenge": 1, "winner": w.bob})
    await answer(w.fake, w.alpha, w.cid, "challenge dispute", {"challenge": 1})
    settled = await answer(w.fake, w.alpha, w.ann, "challenge complete",
                           {"challenge": 1, "winner": w.cid})
    assert "wins 20 points" in settled.content
    refused = await answer(w.fake, w.alpha, w.bob, "admin forget", {"member": str(w.cid.user.id)})
    assert refused.ephemeral and "Manage Server" in refused.content
    forgot = await answer(w.fake, w.alpha, w.ann, "admin forget",
                          {"member": f"<@{w.cid.user.id}>"})
    assert f"user {w.cid.user.id}" in forgot.content
    assert "not registered" in text(await answer(w.fake, w.alpha, w.ann, "profile",
                                                 {"member": w.cid}))
    for reward in range(1, 7):
        await answer(w.fake, w.alpha, w.ann, "admin settings", {"daily_reward": reward})
    export = await answer(w.fake, w.alpha, w.ann, "admin export")
    actions = [entry["action"] for entry in json.loads(export.attachments[0].data)["audit"]]
    assert actions == ["settings", "maintenance", "maintenance", "settle", "forget",
                       *["settings"] * 6]
    forget_entry = json.loads(export.attachments[0].data)["audit"][4]
    assert forget_entry["details"] == {"user_id": str(w.cid.user.id), "refunds": 0}
    assert forget_entry["actor_id"] == str(w.ann.user.id)

    # Every entry (the export's own too: 12) but the refused one reached the audit channel as
    # it happened.
    posted = w.fake.channel_messages[general.id]
    assert len(posted) == 11 and "exported the server's data" in posted[-1].content
    assert "maintenance: True → False" in posted[1].content
    assert "settled challenge #1" in posted[2].content

    first = await answer(w.fake, w.alpha, w.ann, "admin audit")
    assert first.ephemeral and "page 1 of 2" in text(first)
    assert "exported the server's data" in text(first)
    older = await click(w.fake, w.ann, first.message, f"gb1:ad:audit:{w.alpha.id}:1")
    assert "page 2 of 2" in text(older) and "audit_channel_id" in text(older)
    newer = await click(w.fake, w.ann, first.message, f"gb1:ad:audit:{w.alpha.id}:0")
    assert "page 1 of 2" in text(newer)


async def test_the_operator_forgets_a_user_in_every_guild(world, bot):
    w = world
    await answer(w.fake, w.alpha, w.bob, "register")
    await answer(w.fake, w.alpha, w.bob, "login")
    await answer(w.fake, w.beta, w.bob_b, "register")
    await answer(w.fake, w.alpha, w.ann, "register")
    await answer(w.fake, w.alpha, w.ann, "login")
    await answer(w.fake, w.alpha, w.ann, "challenge create", {"opponent": w.bob, "stake": 40})
    result = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "bot", "forget", "--user-id",
                         str(w.bob.user.id)], env=bot.env, cwd=REPO, capture_output=True,
        text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert sorted(out["guilds"]) == sorted([str(w.alpha.id), str(w.beta.id)])
    assert out["refunds"] == 1
    assert "not registered" in text(await answer(w.fake, w.alpha, w.bob, "profile"))
    assert "not registered" in text(await answer(w.fake, w.beta, w.bob_b, "profile"))
    assert "Points: 100" in await points_of(w, w.ann)  # Ann's stake came back
    trail = text(await answer(w.fake, w.alpha, w.ann, "admin audit"))
    assert f"the operator deleted the data of member {w.bob.user.id}" in trail
    again = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "bot", "forget", "--user-id",
                         str(w.bob.user.id)], env=bot.env, cwd=REPO, capture_output=True,
        text=True, timeout=60)
    assert json.loads(again.stdout)["guilds"] == []
