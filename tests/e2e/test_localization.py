"""Localization (issue 14) through the real bot process and the fake Discord: a reply follows
the member's locale (English for any locale without a catalog), a challenge's public post and
its edits follow the guild's language setting, the commands are synced with their
descriptions' localizations, and a guild turned away is told in its preferred locale."""

from __future__ import annotations

from tests.e2e.conftest import ON_BOTH_BACKENDS
from tests.e2e.harness import eventually, text

pytestmark = ON_BOTH_BACKENDS


async def say(fake, guild, member, command, options=None, *, locale="en-US"):
    inter = await fake.invoke(guild, member, command, options or {}, locale=locale)
    return await inter.wait_final(timeout=10.0)


async def test_a_reply_follows_the_members_locale(world, bot):
    """German for ``de``, Spanish for ``es-419``, English for a locale with no catalog; errors
    (a domain rule's) and embeds too, numbers written as the language writes them.
    Regression (issue 14, localization): on SQLite, the "already registered" error is raised
    on the writer thread; it fails without ``SqliteConnections.write`` running the work in the
    caller's context (the answer was English)."""
    w = world
    welcome = await say(w.fake, w.alpha, w.ann, "register", locale="de")
    assert welcome.content.startswith(f"Willkommen, <@{w.ann.user.id}>!")
    again = await say(w.fake, w.alpha, w.ann, "register", locale="es-419")
    assert again.ephemeral and again.content == "Ya estás registrado en este servidor."
    japanese = await say(w.fake, w.alpha, w.bob, "register", locale="ja")
    assert japanese.content.startswith("Welcome, ")
    await say(w.fake, w.alpha, w.ann, "admin settings", {"daily_reward": 1500})
    login = await say(w.fake, w.alpha, w.ann, "login", locale="de")
    assert login.content.startswith("Eingecheckt: +1.500 Punkte.")
    profile = await say(w.fake, w.alpha, w.ann, "profile", locale="es-ES")
    assert "Perfil de ann" in text(profile) and "Puntos: 1.500" in text(profile)
    english = await say(w.fake, w.alpha, w.ann, "profile")
    assert "Profile of ann" in text(english) and "Points: 1,500" in text(english)


async def test_a_challenge_post_follows_the_guild_setting(world, bot):
    """The post (the reply to /challenge create), its edits (a click, a command) and the audit
    channel's posts are in the guild's language whatever the locale of who acts; what a member
    alone sees stays in theirs."""
    w = world
    await say(w.fake, w.alpha, w.ann, "admin settings", {"daily_reward": 2000})
    for member in (w.ann, w.bob, w.cid):
        await say(w.fake, w.alpha, member, "register")
        await say(w.fake, w.alpha, member, "login")  # 2,000 points each
    general = w.alpha.channel("general")
    settings = await say(w.fake, w.alpha, w.ann, "admin settings",
                         {"language": "de", "audit_channel": general}, locale="es-ES")
    assert "Idioma de los mensajes públicos: Deutsch" in settings.content
    # The audit channel is public too: the entry of this very change is posted in German.
    (audit,) = w.fake.channel_messages[general.id]
    assert audit.content.endswith("änderte audit_channel_id: nicht gesetzt → "
                                  f"{general.id}, language: en → de")

    created = await say(w.fake, w.alpha, w.ann, "challenge create",
                        {"opponent": w.bob, "stake": 1000}, locale="en-US")
    post = created.message
    assert f"<@{w.ann.user.id}> fordert dich um 1.000 Punkte heraus!" in post.content
    labels = [c["label"] for row in post.components for c in row["components"]]
    assert labels == ["Annehmen", "Ablehnen", "Zurückziehen"]

    stranger = await (await w.fake.click(w.cid, post, f"gb1:ch:accept:{w.alpha.id}:1",
                                         locale="en-US")).wait_response()
    assert stranger.ephemeral and "Only the challenged member" in stranger.content
    accepted = await (await w.fake.click(w.bob, post, f"gb1:ch:accept:{w.alpha.id}:1",
                                         locale="es-ES")).wait_response()
    assert accepted.type == 7
    assert post.content.startswith("Herausforderung #1 angenommen: Je 1.000 Punkte")
    # A command's own answer is the member's; the post it edits is the guild's.
    claim = await say(w.fake, w.alpha, w.bob, "challenge complete",
                      {"challenge": 1, "winner": w.bob}, locale="es-ES")
    assert "dice haber ganado el desafío #1" in claim.content
    await eventually(lambda: "beansprucht den Sieg in Herausforderung #1" in post.content,
                     "the post shows the claim in German")

    back = await say(w.fake, w.alpha, w.ann, "admin settings", {"language": "en"})
    assert "Language of public messages: English" in back.content
    await say(w.fake, w.alpha, w.ann, "challenge complete", {"challenge": 1, "winner": w.bob})
    settled = f"Challenge #1 is settled: <@{w.bob.user.id}> won 2,000 points."
    await eventually(lambda: post.content == settled, "the post settled, in English")


async def test_descriptions_reach_discord_with_their_localizations(world, bot):
    """Every description of every synced command, option and subcommand carries German and
    both Spanish locales; names stay English (no name localizations)."""
    commands = world.fake.synced_commands["global"]
    assert {c["name"] for c in commands} >= {"challenge", "admin", "leaderboard", "register"}
    seen = 0

    def check(node):
        nonlocal seen
        assert "name_localizations" not in node or not node["name_localizations"], node["name"]
        localized = node.get("description_localizations") or {}
        assert {"de", "es-ES", "es-419"} <= set(localized), node["name"]
        assert localized["es-ES"] == localized["es-419"]
        seen += 1
        for option in node.get("options") or []:
            check(option)

    for command in commands:
        check(command)
    assert seen > 40
    board = next(c for c in commands if c["name"] == "leaderboard")
    assert board["description_localizations"]["de"] == "Die besten Mitglieder nach Punkten"


async def test_a_turned_away_guild_is_told_in_its_preferred_locale(world, make_bot):
    """Regression (issue 14, item 3), through the gateway: a guild that joins while the bot is
    closed to new guilds gets its farewell in its preferred locale (German here), and a guild
    whose locale we do not ship gets English. Fails on the old code because the farewell was
    English only."""
    w = world
    bot = await make_bot(closed_to_new_guilds="true")
    german = w.fake.add_guild("Gamma", joined=False, locale="de")
    await w.fake.add_guild_live(german)
    farewell = await w.fake.wait_channel_message(german.channel("general"), timeout=10)
    assert farewell.content.startswith("Danke für die Einladung von guildbot!")
    assert "(closed to new guilds)" in farewell.content  # the operator's reason, as written
    japanese = w.fake.add_guild("Delta", joined=False, locale="ja")
    await w.fake.add_guild_live(japanese)
    farewell = await w.fake.wait_channel_message(japanese.channel("general"), timeout=10)
    assert farewell.content.startswith("Thanks for inviting guildbot!")
    await eventually(lambda: {german.id, japanese.id} <= set(w.fake.left_guilds),
                     "the bot left both guilds")
    assert await bot.stop() == 0
