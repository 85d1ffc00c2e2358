"""Process lifecycle: readiness through a gateway drop, SIGTERM with work in flight, bad config,
removal from a guild, and the operator CLI against the bot's own database."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
import sys

from tests.e2e.harness import REPO, BotProcess, answer, eventually, text


async def _wait_status(bot: BotProcess, path: str, status: int) -> dict:
    async def answers() -> dict:
        code, body = await bot.get(path)
        assert code == status, f"{path} is {code} ({body}), wanted {status}"
        assert isinstance(body, dict)
        return body
    return await eventually(answers, f"{path} answering {status}", 20)


async def test_readiness_follows_a_gateway_drop_and_resume(world, bot):
    w = world
    await answer(w.fake, w.alpha, w.ann, "register")
    identifies = len(w.fake.identifies)
    w.fake.delay_gateway(1.5)  # keep the reconnect slow enough to observe
    await w.fake.drop_gateway()
    body = await _wait_status(bot, "/readyz", 503)
    assert any("gateway" in reason for reason in body["reasons"]), body
    w.fake.delay_gateway(0)
    await _wait_status(bot, "/readyz", 200)
    assert len(w.fake.resumes) >= 1
    assert len(w.fake.identifies) == identifies  # resumed, not re-identified
    assert "Profile of ann" in text(await answer(w.fake, w.alpha, w.ann, "profile"))


async def test_sigterm_answers_the_command_in_flight_then_exits_0(world, make_bot):
    w = world
    bot = await make_bot()
    await answer(w.fake, w.alpha, w.ann, "register")
    # Hold the database's write lock from outside, so /login is stuck mid-transaction.
    blocker = sqlite3.connect(bot.workdir / "guildbot.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        inter = await w.fake.invoke(w.alpha, w.ann, "login")
        await asyncio.sleep(0.5)
        assert not inter.responded
        bot.proc.send_signal(15)
        await asyncio.sleep(0.5)
        assert bot.proc.returncode is None  # still draining
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    reply = await inter.wait_final(timeout=10)
    assert "+100 points" in reply.content
    assert await asyncio.wait_for(bot.proc.wait(), 20) == 0
    log = bot.log_path.read_text()
    assert "1 interaction(s) in flight" in log
    assert "stopped cleanly" in log
    # The database was closed cleanly: no WAL left, and the login is in it.
    assert not (bot.workdir / "guildbot.db-wal").exists()
    row = sqlite3.connect(bot.workdir / "guildbot.db").execute(
        "SELECT total_logins FROM members").fetchone()
    assert row == (1,)


async def _cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    """The CLI in a thread: the fake Discord shares this event loop and must keep answering."""
    return await asyncio.to_thread(_run_cli, env, *args)


def _run_cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=60)


def test_bad_configuration_exits_78_with_one_clear_line(tmp_path):
    base = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO),
            "GUILDBOT_DATABASE": str(tmp_path / "g.db")}
    cases = [
        ({}, "GUILDBOT_TOKEN: no Discord bot token was found"),
        ({"GUILDBOT_TOKEN": "x", "GUILDBOT_STAGE": "prod"}, "GUILDBOT_STAGE: 'prod' is not one"),
        ({"GUILDBOT_TOKEN": "x", "GUILDBOT_MAX_GUILDS": "ten"}, "GUILDBOT_MAX_GUILDS: 'ten'"),
        ({"GUILDBOT_TOKEN_FILE": str(tmp_path / "missing")}, "GUILDBOT_TOKEN_FILE: cannot read"),
        ({"GUILDBOT_TOKEN": "x", "GUILDBOT_STAGE": "beta"}, "GUILDBOT_GUILD_ALLOWLIST"),
        ({"GUILDBOT_TOKEN": "x", "GUILDBOT_API_BASE": "ftp://x"}, "GUILDBOT_API_BASE"),
    ]
    for extra, expected in cases:
        result = _run_cli({**base, **extra}, "run")
        assert result.returncode == 78, (extra, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("guildbot: configuration error: ")
        assert expected in lines[0]
        assert "Traceback" not in result.stderr


async def test_a_rejected_token_exits_78(world, tmp_path):
    bot = BotProcess(tmp_path, world.fake)
    (tmp_path / "token").write_text("not-the-token")
    await bot.start()
    assert await asyncio.wait_for(bot.proc.wait(), 30) == 78
    out = await bot.output()
    assert "Discord rejected the bot token" in out


async def test_removal_keeps_data_until_retention_and_rejoin_restores_it(world, bot):
    w = world
    await answer(w.fake, w.beta, w.dan_b, "register")
    await w.fake.remove_guild_live(w.beta)
    db = bot.workdir / "guildbot.db"

    def left() -> bool:
        row = sqlite3.connect(db).execute(
            "SELECT left_at FROM guilds WHERE guild_id = ?", (w.beta.id,)).fetchone()
        return bool(row and row[0])

    await eventually(left, "the bot recorded leaving the guild")
    assert sqlite3.connect(db).execute(
        "SELECT COUNT(*) FROM members WHERE guild_id = ?", (w.beta.id,)).fetchone() == (1,)
    await w.fake.add_guild_live(w.beta)
    await asyncio.sleep(0.5)
    assert "Profile of dan" in text(await answer(w.fake, w.beta, w.dan_b, "profile"))


async def test_operator_cli_on_a_live_database(world, bot):
    w = world
    for member in (w.ann, w.bob):
        await answer(w.fake, w.alpha, member, "register")
    env = dict(bot.env)
    backup = await _cli(env, "backup")
    assert backup.returncode == 0, backup.stderr
    assert json.loads(backup.stdout)["rows"]["members"] == 2
    verify = await _cli(env, "verify", json.loads(backup.stdout)["path"])
    assert verify.returncode == 0
    assert json.loads(verify.stdout)["rows"]["members"] == 2
    drill = await _cli(env, "drill")
    assert drill.returncode == 0, drill.stderr
    export = await _cli(env, "export", "--guild-id", str(w.alpha.id))
    assert sorted(m["display_name"] for m in json.loads(export.stdout)["members"]) == \
        ["ann", "bob"]
    health = await _cli(env, "health", "--ready")
    assert health.returncode == 0, health.stdout
    slo = await _cli(env, "health", "--slo")
    assert json.loads(slo.stdout)["body"]["window"]["commands"] >= 2
    restore = await _cli(env, "restore", json.loads(backup.stdout)["path"], "--yes")
    assert restore.returncode == 1
    assert "the bot is running" in restore.stderr
    report = await _cli(env, "report")
    assert report.returncode == 0


async def test_announce_posts_to_each_configured_channel_only(world, bot):
    """Regression (issue 12, cluster-gaps item 1), SQLite: the CLI records the announcement and
    the running bot (one process, every shard) sends it, mentions stripped, once to each guild
    with a channel; a second process start finds nothing left to send. Fails on the old code
    because the CLI sent the messages itself and printed no announcement id."""
    w = world
    general = w.alpha.channel("general")
    await answer(w.fake, w.alpha, w.ann, "admin settings", {"announcement_channel": general})
    dry = await _cli(bot.env, "announce", "Maintenance tonight at 22:00 UTC", "--dry-run")
    assert json.loads(dry.stdout) == {"channels": 1, "dry_run": True}
    assert json.loads((await _cli(bot.env, "announce", "--status")).stdout) == {
        "announcements": []}
    sent = await _cli(bot.env, "announce", "Maintenance tonight at 22:00 UTC @everyone")
    assert sent.returncode == 0, sent.stderr
    recorded = json.loads(sent.stdout)
    assert recorded["channels"] == 1 and not recorded["dry_run"]
    message = await w.fake.wait_channel_message(general, timeout=10)
    assert message.content.startswith("Maintenance tonight")
    assert not w.fake.requests or all(  # mentions stripped: nobody pinged
        body.get("allowed_mentions") == {"parse": []} for method, route, _, body
        in w.fake.requests if route == "/channels/{id}/messages")
    beta_channel = w.beta.channel("general")
    assert not w.fake.channel_messages.get(beta_channel.id)
    status = json.loads((await _cli(bot.env, "announce", "--status")).stdout)["announcements"]
    assert [(p["announcement_id"], p["sent"], p["failed"], p["sending"], p["pending"])
            for p in status] == [(recorded["announcement_id"], 1, 0, 0, 0)]
    # A restart takes the announcement up again and sends it to nobody twice.
    assert await bot.stop() == 0
    await bot.start()
    await bot.wait_ready()
    await eventually(lambda: "sent to this process's 0 guild(s)" in bot.log_path.read_text(),
                     "the restarted bot looked at the announcement")
    assert len(w.fake.channel_messages[general.id]) == 1


async def test_a_drained_stop_is_a_restart_and_a_kill_is_a_crash_restart(world, make_bot):
    bot = await make_bot()
    assert await bot.stop() == 0  # SIGTERM: a deploy or an operator's restart
    await bot.start()
    await bot.wait_ready()
    _, slo = await bot.get("/slo")
    assert (slo["restarts_24h"], slo["crash_restarts_24h"]) == (1, 0)
    await bot.stop(signal.SIGKILL)  # what the OOM killer or a segfault leaves behind
    await bot.start()
    await bot.wait_ready()
    _, slo = await bot.get("/slo")
    assert (slo["restarts_24h"], slo["crash_restarts_24h"]) == (2, 1)
    assert "did not stop cleanly" in bot.log_path.read_text()
    assert await bot.stop() == 0
