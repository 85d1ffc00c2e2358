"""Buttons, select menus, modals and autocomplete (issue 14) through the real bot process, the
real discord.py and the fake Discord: every click is decided again for the member and the guild
it comes from, and a replayed or forged ``custom_id`` changes nothing."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import ON_BOTH_BACKENDS
from tests.e2e.harness import answer, eventually, text

pytestmark = ON_BOTH_BACKENDS


def custom_ids(message) -> list[str]:
    return [c["custom_id"] for row in message.components for c in row["components"]
            if not c.get("disabled")]


def cid(action: str, guild, number: int) -> str:
    return f"gb1:ch:{action}:{guild.id}:{number}"


async def click(fake, member, message, custom_id):
    return await (await fake.click(member, message, custom_id)).wait_response()


async def players(w, *members, guild=None):
    for member in members:
        await answer(w.fake, guild or w.alpha, member, "register")
        await answer(w.fake, guild or w.alpha, member, "login")


async def points(w, member, guild=None) -> str:
    return text(await answer(w.fake, guild or w.alpha, member, "profile"))


async def test_challenge_buttons_accept_report_and_strangers(world, bot):
    """Accept by the opponent only (a stranger's click is refused, ephemeral, and changes
    nothing); the accepted message offers the result report; a claim and a concession by
    buttons settle it, and the settled message has no buttons left. Usage is recorded under
    the buttons' names."""
    w = world
    await players(w, w.ann, w.bob, w.cid)
    create = await answer(w.fake, w.alpha, w.ann, "challenge create",
                          {"opponent": w.bob, "stake": 40})
    post = create.message
    assert custom_ids(post) == [cid(a, w.alpha, 1) for a in ("accept", "decline", "cancel")]

    stranger = await click(w.fake, w.cid, post, cid("accept", w.alpha, 1))
    assert stranger.ephemeral and "Only the challenged member" in stranger.content
    challenger = await click(w.fake, w.ann, post, cid("accept", w.alpha, 1))
    assert challenger.ephemeral and "Only the challenged member" in challenger.content
    assert "open" in text(await answer(w.fake, w.alpha, w.cid, "challenge list"))

    accepted = await click(w.fake, w.bob, post, cid("accept", w.alpha, 1))
    assert accepted.type == 7 and accepted.message is post
    assert "accepted" in post.content
    assert custom_ids(post) == [cid(a, w.alpha, 1) for a in ("claim", "concede")]

    outsider = await click(w.fake, w.cid, post, cid("concede", w.alpha, 1))
    assert outsider.ephemeral and "not your challenge" in outsider.content
    claimed = await click(w.fake, w.bob, post, cid("claim", w.alpha, 1))
    assert claimed.type == 7 and "claims to have won challenge #1" in post.content
    assert custom_ids(post) == [cid(a, w.alpha, 1) for a in ("concede", "dispute")]
    settled = await click(w.fake, w.ann, post, cid("concede", w.alpha, 1))
    assert settled.type == 7 and "settled" in post.content
    assert f"<@{w.bob.user.id}> won 80" in post.content
    assert post.components == []
    assert "Points: 140" in await points(w, w.bob)
    with pytest.raises((KeyError, ValueError)):
        await w.fake.click(w.bob, post, cid("accept", w.alpha, 1))  # no buttons any more

    stats = text(await answer(w.fake, w.alpha, w.ann, "stats"))
    assert "`button:challenge-accept` 3 calls, 0 failed" in stats, stats
    assert "`button:challenge-concede` 2 calls" in stats
    status, data = await bot.get("/dashboard/data")  # the dashboard counts them too
    calls = {c["command"]: c["calls"] for c in data["commands"]}
    assert status == 200 and calls["button:challenge-accept"] == 3, calls


async def test_decline_cancel_and_commands_edit_the_message(world, bot):
    """Decline by button; cancel and accept by slash command edit the public message too; a
    deleted post costs a warning in the log, never the command. Fails on the old code, which
    posted no buttons and never edited a challenge's message."""
    w = world
    await players(w, w.ann, w.bob)
    first = (await answer(w.fake, w.alpha, w.ann, "challenge create",
                          {"opponent": w.bob, "stake": 10})).message
    declined = await click(w.fake, w.bob, first, cid("decline", w.alpha, 1))
    assert declined.type == 7 and "declined" in first.content and first.components == []

    second = (await answer(w.fake, w.alpha, w.ann, "challenge create",
                           {"opponent": w.bob, "stake": 10})).message
    await answer(w.fake, w.alpha, w.ann, "challenge cancel", {"challenge": 2})
    await eventually(lambda: "cancelled" in (second.content or ""), "#2's post cancelled")
    assert second.components == []

    third = (await answer(w.fake, w.alpha, w.ann, "challenge create",
                          {"opponent": w.bob, "stake": 10})).message
    await answer(w.fake, w.alpha, w.bob, "challenge accept", {"challenge": 3})
    await eventually(lambda: "accepted" in (third.content or ""), "#3's post accepted")
    assert custom_ids(third) == [cid(a, w.alpha, 3) for a in ("claim", "concede")]

    # A post someone deleted: the command still works, the failed edit is only logged.
    fourth = (await answer(w.fake, w.alpha, w.ann, "challenge create",
                           {"opponent": w.bob, "stake": 10})).message
    fourth.deleted = True
    gone = await answer(w.fake, w.alpha, w.ann, "challenge cancel", {"challenge": 4})
    assert "cancelled" in gone.content and "10 points are back" in gone.content
    await eventually(lambda: any("could not be edited" in r.get("msg", "")
                                 for r in bot.log_records()), "the failed edit logged")
    assert "Points: 90" in await points(w, w.ann)  # 100, minus #3's stake, #4's back


async def test_expiry_edits_the_message(world, make_bot):
    """The expiry job resolves a due challenge and edits its message: buttons gone. Fails on
    the old code, whose expiry never touched a message (none was recorded)."""
    w = world
    bot = await make_bot(expiry_interval_seconds="1")
    try:
        await players(w, w.ann, w.bob)
        post = (await answer(w.fake, w.alpha, w.ann, "challenge create",
                             {"opponent": w.bob, "stake": 10})).message
        await bot.db.rows("UPDATE challenges SET expires_at = 0 WHERE status = 'open'")
        await eventually(lambda: "expired" in (post.content or ""), "the post shows the expiry")
        assert post.components == []
        assert "Points: 100" in await points(w, w.ann)  # the stake went back
    finally:
        assert await bot.stop() == 0


async def test_replayed_and_forged_custom_ids_change_nothing(world, bot):
    """Regression guard (issue 14): a custom_id of guild A replayed in guild B, and a forged
    one for a settled challenge, change nothing. Beta has its own challenge #1 (Dan vs Bob), so
    acting on the number in Beta without checking the custom_id's guild would accept it."""
    w = world
    await players(w, w.ann, w.bob)
    await players(w, w.dan_b, w.bob_b, guild=w.beta)
    alpha_post = (await answer(w.fake, w.alpha, w.ann, "challenge create",
                               {"opponent": w.bob, "stake": 10})).message
    beta_post = (await answer(w.fake, w.beta, w.dan_b, "challenge create",
                              {"opponent": w.bob_b, "stake": 10})).message
    # The forgery: Beta's message made to carry Alpha's accept button (a client cannot do it).
    beta_post.components[0]["components"][0]["custom_id"] = cid("accept", w.alpha, 1)
    replay = await click(w.fake, w.bob_b, beta_post, cid("accept", w.alpha, 1))
    assert replay.ephemeral and "another server" in replay.content
    beta_list = text(await answer(w.fake, w.beta, w.bob_b, "challenge list"))
    assert "open" in beta_list and "accepted" not in beta_list
    alpha_list = text(await answer(w.fake, w.alpha, w.bob, "challenge list"))
    assert "open" in alpha_list and "accepted" not in alpha_list

    await click(w.fake, w.bob, alpha_post, cid("decline", w.alpha, 1))  # settled: declined
    alpha_post.components = [{"type": 1, "id": 1, "components": [
        {"type": 2, "id": 2, "style": 3, "label": "Accept",
         "custom_id": cid("accept", w.alpha, 1)}]}]
    forged = await click(w.fake, w.bob, alpha_post, cid("accept", w.alpha, 1))
    assert forged.ephemeral and "declined" in forged.content
    assert "Points: 100" in await points(w, w.bob)  # no stake taken
    assert "No active challenges" in (await answer(w.fake, w.alpha, w.bob,
                                                   "challenge list")).content


async def test_a_click_after_a_restart_still_works(world, make_bot):
    """Nothing of a button lives in the process: a new process acts on the old message. Fails
    with discord.py's usual views, which live in the memory of the process that sent them."""
    w = world
    first = await make_bot()
    await players(w, w.ann, w.bob)
    post = (await answer(w.fake, w.alpha, w.ann, "challenge create",
                         {"opponent": w.bob, "stake": 10})).message
    assert await first.stop() == 0
    second = await make_bot(**first.db.settings())  # the same database, a new process
    try:
        accepted = await click(w.fake, w.bob, post, cid("accept", w.alpha, 1))
        assert accepted.type == 7 and "accepted" in post.content
    finally:
        assert await second.stop() == 0


async def test_list_select_acts_on_a_challenge(world, bot):
    """/challenge list offers a select; the pick shows the member's own buttons, which act and
    edit the public message; then a claim and a dispute by the post's buttons."""
    w = world
    await players(w, w.ann, w.bob)
    post = (await answer(w.fake, w.alpha, w.ann, "challenge create",
                         {"opponent": w.bob, "stake": 10})).message
    listing = await answer(w.fake, w.alpha, w.bob, "challenge list")
    select_id = f"gb1:ch:pick:{w.alpha.id}"
    assert custom_ids(listing.message) == [select_id]
    picked = await (await w.fake.select(w.bob, listing.message, select_id, ["1"])).wait_response()
    assert picked.ephemeral and "#1" in picked.content
    assert custom_ids(picked.message) == [cid("accept", w.alpha, 1), cid("decline", w.alpha, 1)]
    done = await click(w.fake, w.bob, picked.message, cid("accept", w.alpha, 1))
    assert done.type == 7 and "accepted" in done.content
    await eventually(lambda: "accepted" in (post.content or ""), "the post accepted")
    # The post got the report buttons: Bob claims, Ann disputes; a disputed game has none.
    await eventually(lambda: cid("claim", w.alpha, 1) in custom_ids(post),
                     "the post's report buttons")
    await click(w.fake, w.bob, post, cid("claim", w.alpha, 1))
    disputed = await click(w.fake, w.ann, post, cid("dispute", w.alpha, 1))
    assert disputed.type == 7 and "is disputed" in post.content and post.components == []


async def test_leaderboard_buttons_and_go_to_page(world, bot):
    """First / previous / next / last and the 'go to page' modal (a bad page: a clear error)."""
    w = world
    await bot.db.seed_guild(w.alpha.id, 35)  # 4 pages of 10
    board = await answer(w.fake, w.alpha, w.cid, "leaderboard")
    message = board.message
    lb = f"gb1:lb:%s:{w.alpha.id}:0:%d"  # board 0: points
    assert "Page 1/4" in text(board)
    assert custom_ids(message) == [lb % ("next", 2), lb % ("last", 4),
                                   f"gb1:lb:goto:{w.alpha.id}:0"]
    await click(w.fake, w.bob, message, lb % ("last", 4))
    assert "Page 4/4" in message.embeds[0]["footer"]["text"]
    await click(w.fake, w.bob, message, lb % ("prev", 3))
    assert "Page 3/4" in message.embeds[0]["footer"]["text"]
    await click(w.fake, w.bob, message, lb % ("first", 1))
    assert "Page 1/4" in message.embeds[0]["footer"]["text"]

    opened = await w.fake.click(w.bob, message, f"gb1:lb:goto:{w.alpha.id}:0")
    assert (await opened.wait_response()).type == 9
    bad = await (await w.fake.submit_modal(w.bob, opened, {"page": "nine"})).wait_response()
    assert bad.ephemeral and "`nine` is not a page number" in bad.content
    opened = await w.fake.click(w.bob, message, f"gb1:lb:goto:{w.alpha.id}:0")
    await opened.wait_response()
    far = await (await w.fake.submit_modal(w.bob, opened, {"page": "9"})).wait_response()
    assert far.ephemeral and "pick a page from 1 to 4" in far.content
    assert "Page 1/4" in message.embeds[0]["footer"]["text"]
    opened = await w.fake.click(w.bob, message, f"gb1:lb:goto:{w.alpha.id}:0")
    await opened.wait_response()
    jumped = await (await w.fake.submit_modal(w.bob, opened, {"page": "2"})).wait_response()
    assert jumped.type == 7 and "Page 2/4" in message.embeds[0]["footer"]["text"]


async def test_purge_is_confirmed_in_a_modal(world, bot):
    """/admin purge asks for the server's name in a modal; a wrong name deletes nothing. The
    submit that purges records the new trail's first audit entry (merge of privacy-audit:
    fails on the components branch's modal, which recorded nothing)."""
    w = world
    await players(w, w.bob)
    denied = await answer(w.fake, w.alpha, w.bob, "admin purge")
    assert denied.ephemeral and "Manage Server" in denied.content
    opened = await w.fake.invoke(w.alpha, w.ann, "admin purge")
    assert (await opened.wait_response()).type == 9
    kept = await (await w.fake.submit_modal(w.ann, opened, {"confirm": "alpha"})).wait_response()
    assert kept.ephemeral and "Nothing was deleted" in kept.content
    assert "Points: 100" in await points(w, w.bob)
    opened = await w.fake.invoke(w.alpha, w.ann, "admin purge")
    await opened.wait_response()
    purged = await (await w.fake.submit_modal(w.ann, opened, {"confirm": "Alpha"})).wait_response()
    assert purged.ephemeral and "has been deleted" in purged.content
    assert "not registered" in (await answer(w.fake, w.alpha, w.bob, "profile")).content
    assert await bot.db.rows(f"SELECT action, actor_id FROM audit_log WHERE guild_id = "
                             f"{w.alpha.id}") == [("purge", w.ann.user.id)]


async def test_autocomplete_challenge_numbers_and_time_zones(world, bot):
    """Challenge numbers: the member's own active ones, this guild's only; time zones filtered
    by what is typed."""
    w = world
    await players(w, w.ann, w.bob, w.cid)
    await players(w, w.dan_b, w.bob_b, guild=w.beta)
    for member, opponent in ((w.ann, w.bob), (w.cid, w.ann), (w.bob, w.cid)):
        await answer(w.fake, w.alpha, member, "challenge create",
                     {"opponent": opponent, "stake": 5})
    await answer(w.fake, w.beta, w.dan_b, "challenge create", {"opponent": w.bob_b, "stake": 5})
    typing = await w.fake.autocomplete(w.alpha, w.ann, "challenge accept", {"challenge": ""},
                                       "challenge")
    choices = (await typing.wait_response()).choices
    assert [c["value"] for c in choices] == [2, 1]
    assert "challenges you" in choices[0]["name"] and "you challenged" in choices[1]["name"]
    typing = await w.fake.autocomplete(w.beta, w.bob_b, "challenge decline", {"challenge": ""},
                                       "challenge")
    assert [c["value"] for c in (await typing.wait_response()).choices] == [1]

    typing = await w.fake.autocomplete(w.alpha, w.ann, "admin settings",
                                       {"day_boundary": "berl"}, "day_boundary")
    zones = [c["value"] for c in (await typing.wait_response()).choices]
    assert zones == ["Europe/Berlin"]
    typing = await w.fake.autocomplete(w.alpha, w.ann, "admin settings",
                                       {"day_boundary": "america"}, "day_boundary")
    assert len((await typing.wait_response()).choices) == 25
