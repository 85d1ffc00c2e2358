"""A cluster end to end (issue 12, the bot's half): two real bot processes with disjoint shard ids
(0-1 and 2-3 of 4) on one real PostgreSQL database, against the fake Discord enforcing Discord's
shard rules (IDENTIFY once per 5 s per bucket across both processes, max_concurrency 2, guilds
and interactions routed to the owning shard's session only).

One world for every check (starting two processes costs one IDENTIFY window): both start
together without a refused IDENTIFY; every guild's commands are answered once, by the process
owning its shard; both run their expiry job over due challenges and the points are conserved;
a maintenance switch made through one process reaches the other; an operator announcement
reaches every guild once, from the process owning its shard (issue 12, cluster-gaps item 1:
regression, fails on the old code because the CLI sent every message itself); `health --all`
lists both; a `kill -9` of one process drops only its shards' guilds, which come back when it
restarts (and sends no announcement twice).
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from collections import defaultdict

import pytest

from tests.e2e.harness import REPO, BotProcess, PostgresDatabase, answer, counted, eventually, text
from tests.fake_discord import FakeDiscord
from tests.pgserver import BOT_PASSWORD

pytestmark = pytest.mark.e2e

TOKEN = "MTE4NzY1NDMyMTA5ODc2NTQzMg.GhIjKl.s3cr3t-t0k3n-Abcdefghijklmnopqrstuvwxyz012"
SHARDS = 4
PROCESSES = {"a": (0, (0, 1)), "b": (1, (2, 3))}  # name -> (instance, shard ids)
STAKE = 40


def _shard(guild) -> int:
    return guild.shard_id(SHARDS)


async def _metric(bot: BotProcess, name: str) -> float | None:
    _, body = await bot.get("/metrics")
    for line in str(body).splitlines():
        if line.startswith((name + " ", name + "{")):
            return float(line.rsplit(" ", 1)[1])
    return None


def _cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=60)


async def test_two_processes_share_the_shards_of_one_bot(postgres_server, pg_template, tmp_path):
    fake = FakeDiscord(token=TOKEN, validate=True, shard_count=SHARDS, max_concurrency=2,
                       identify_window=5.0)
    guilds = [fake.add_guild(f"g{i}") for i in range(8)]
    assert {_shard(g) for g in guilds} == set(range(SHARDS))
    members = {g.id: (g.add_member("ann", permissions="manage_guild"), g.add_member("bob"))
               for g in guilds}
    await fake.start()
    # One migrated database for both processes (a copy of the session's template).
    db = PostgresDatabase(postgres_server, postgres_server.new_database(
        "cluster", template=pg_template), tmp_path)
    bots: dict[str, BotProcess] = {}
    for name, (instance, shard_ids) in PROCESSES.items():
        workdir = tmp_path / name
        workdir.mkdir()
        bots[name] = BotProcess(
            workdir, fake, db, shard_count=str(SHARDS),
            shard_ids=",".join(map(str, shard_ids)), instance=str(instance),
            expiry_interval_seconds="1")
    ports = ",".join(str(b.health_port) for b in bots.values())
    for bot in bots.values():
        bot.env["GUILDBOT_FLEET_HEALTH_PORTS"] = ports
    owner = {g.id: next(n for n, (_, ids) in PROCESSES.items() if _shard(g) in ids)
             for g in guilds}
    try:
        # Both start at the same moment: shards 0 and 2 share bucket 0, 1 and 3 bucket 1.
        await asyncio.gather(*(b.start() for b in bots.values()))
        await asyncio.gather(*(b.wait_ready(60) for b in bots.values()))
        gateway = fake.gateway
        assert gateway.identify_refusals == [], "an IDENTIFY broke the bucket's rate"
        assert sorted(r.shard for r in gateway.identify_log) == [0, 1, 2, 3]
        _assert_rate_kept(gateway)

        # Every guild's commands: answered once each, by the process that owns its shard.
        sent: defaultdict[str, int] = defaultdict(int)
        posts = {}  # guild id -> its challenge's public message
        for guild in guilds:
            ann, bob = members[guild.id]
            for member in (ann, bob):
                assert "Welcome" in (await answer(fake, guild, member, "register")).content
                assert "+100 points" in (await answer(fake, guild, member, "login")).content
            created = await answer(fake, guild, ann, "challenge create",
                                   {"opponent": bob, "stake": STAKE})
            assert "challenge:1`" in text(created), text(created)
            posts[guild.id] = created.message
            sent[owner[guild.id]] += 5
        for name, bot in bots.items():
            await counted(bot, sent[name])
            _, slo = await bot.get("/slo")
            assert slo["commands"] == sent[name], (name, slo["commands"], dict(sent))
            assert slo["process"]["shards"] == ("0-1" if name == "a" else "2-3")

        # Both processes run their expiry job (every second) over due challenges: each guild's
        # stakes come back once, so the points are conserved.
        before = await _total_points(db)
        assert before == len(guilds) * 200
        await db.rows("UPDATE challenges SET expires_at = 0 WHERE status = 'open'")

        async def all_expired() -> bool:
            return await db.rows("SELECT count(*) FROM challenges "
                                 "WHERE status <> 'expired'") == [(0,)]
        await eventually(all_expired, "the due challenges expired", 20)
        assert await _total_points(db) == before
        assert await db.rows("SELECT sum(points) FROM members") == [(before,)]

        # Each guild's owner edited its expired challenge's post (issue 14): buttons gone.
        async def posts_closed() -> bool:
            return all("expired" in p.content and p.components == [] for p in posts.values())
        await eventually(posts_closed, "the owners edited the expired challenges' posts", 20)
        # New posts, clicked after process b was killed and restarted (below).
        for guild in guilds:
            ann, bob = members[guild.id]
            posts[guild.id] = (await answer(fake, guild, ann, "challenge create",
                                            {"opponent": bob, "stake": STAKE})).message

        # A maintenance switch made through process a reaches process b within seconds.
        in_a = next(g for g in guilds if owner[g.id] == "a")
        ann, bob = members[in_a.id]
        switched = await answer(fake, in_a, ann, "admin maintenance", {"state": "on"})
        assert "Maintenance is on" in switched.content
        assert "maintenance" in (await answer(fake, in_a, bob, "profile")).content

        async def b_sees(count: int):
            async def check() -> bool:
                return await _metric(bots["b"], "guildbot_guilds_in_maintenance") == count
            return check
        await eventually(await b_sees(1), "process b saw the maintenance switch", 10)
        await answer(fake, in_a, ann, "admin maintenance", {"state": "off"})
        await eventually(await b_sees(0), "process b saw the switch back", 10)

        # An operator announcement: the CLI records it, each process sends it to the guilds of
        # its own shards, each guild once (one send refused with 403: recorded, not retried).
        for guild in guilds:
            ann, _ = members[guild.id]
            await answer(fake, guild, ann, "admin settings",
                         {"announcement_channel": guild.channel("general")})
        fake.fail_next("POST", "/channels/{id}/messages", 403)
        recorded = await asyncio.to_thread(_cli, bots["a"].env, "announce", "Upgrade at 22:00")
        assert recorded.returncode == 0, recorded.stderr
        announcement = json.loads(recorded.stdout)["announcement_id"]

        async def delivered() -> bool:
            status = json.loads((await asyncio.to_thread(
                _cli, bots["b"].env, "announce", "--status")).stdout)["announcements"]
            return [(p["sent"], p["failed"], p["sending"], p["pending"]) for p in status] == \
                [(len(guilds) - 1, 1, 0, 0)]
        await eventually(delivered, "the announcement reached every guild", 30)
        by_process = dict(await db.rows(
            "SELECT guild_id, process FROM announcement_deliveries WHERE announcement_id = ?",
            announcement))
        for guild in guilds:
            instance = PROCESSES[owner[guild.id]][0]
            assert f"process {instance} (shards " in by_process[guild.id], by_process
        [(failed_guild, detail)] = await db.rows(
            "SELECT guild_id, detail FROM announcement_deliveries WHERE status = 'failed'")
        assert detail.startswith("403")
        announced = {g.id: [m.content for m in fake.channel_messages.get(
            g.channel("general").id, [])] for g in guilds}
        assert announced == {g.id: [] if g.id == failed_guild else ["Upgrade at 22:00"]
                             for g in guilds}

        # health --all lists both processes of the host, with their shards.
        health = await asyncio.to_thread(_cli, bots["a"].env, "health", "--all")
        report = json.loads(health.stdout)
        assert health.returncode == 0, health.stdout
        assert [(p["shards"], p["ready"]) for p in report["processes"]] == \
            [("0-1", True), ("2-3", True)]

        # kill -9 of process b: only its shards' guilds go silent; a keeps answering.
        assert await bots["b"].stop(signal.SIGKILL) == -signal.SIGKILL
        for guild in guilds:
            ann, _ = members[guild.id]
            inter = await fake.invoke(guild, ann, "profile")
            if owner[guild.id] == "a":
                assert "Profile of ann" in text(await inter.wait_final(timeout=10))
            else:
                await asyncio.sleep(1.0)
                assert not inter.responded, "a guild of the killed process was answered"
        down = await asyncio.to_thread(_cli, bots["a"].env, "health", "--all")
        assert down.returncode == 1
        assert [p["ready"] for p in json.loads(down.stdout)["processes"]] == [True, False]

        # ... and come back when it restarts (its IDENTIFYs wait their turn again).
        await bots["b"].start()
        await bots["b"].wait_ready(60)
        for guild in guilds:
            ann, _ = members[guild.id]
            assert "Profile of ann" in text(await answer(fake, guild, ann, "profile"))
        assert gateway.identify_refusals == []
        assert sorted(r.shard for r in gateway.identify_log) == [0, 1, 2, 2, 3, 3]
        # The restarted process took the announcement up again and sent it to nobody twice.
        async def b_took_it_up() -> bool:
            return (f"announcement {announcement}: sent to this process's 0 guild(s)"
                    in bots["b"].log_path.read_text())
        await eventually(b_took_it_up, "the restarted process looked at the announcement", 10)
        assert {g.id: len(fake.channel_messages.get(g.channel("general").id, []))
                for g in guilds} == {g.id: 0 if g.id == failed_guild else 1 for g in guilds}
        _assert_rate_kept(gateway)

        # A button posted before the kill works in whichever process owns its guild now: its
        # custom_id carries the guild and the challenge, nothing was kept in memory (issue 14).
        for guild in guilds:
            _, bob = members[guild.id]
            click = await fake.click(bob, posts[guild.id], f"gb1:ch:accept:{guild.id}:2")
            accepted = await click.wait_response(timeout=10)
            assert accepted.type == 7 and "Challenge #2 accepted" in posts[guild.id].content
        assert await db.rows("SELECT count(*) FROM challenges WHERE status = 'accepted'") == \
            [(len(guilds),)]
    finally:
        for bot in bots.values():
            if bot.proc is not None and bot.proc.returncode is None:
                assert await bot.stop() == 0, bot.log_tail()
        await fake.stop()
        postgres_server.drop_database(db.name)
    for bot in bots.values():
        log = bot.log_path.read_text()
        assert TOKEN not in log and BOT_PASSWORD not in log
    fake.assert_no_errors()


async def _total_points(db: PostgresDatabase) -> int:
    """Balances plus the stakes the open and accepted challenges hold."""
    rows = await db.rows("SELECT (SELECT COALESCE(sum(points), 0) FROM members) + (SELECT "
                         "COALESCE(sum(CASE status WHEN 'open' THEN stake WHEN 'accepted' "
                         "THEN 2 * stake ELSE 0 END), 0) FROM challenges)")
    return int(rows[0][0])


def _assert_rate_kept(gateway) -> None:
    """No two accepted IDENTIFYs of one bucket closer than the window (the fake's own log)."""
    by_bucket: defaultdict[int, list[float]] = defaultdict(list)
    for record in gateway.identify_log:
        by_bucket[record.bucket].append(record.at)
    for times in by_bucket.values():
        gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
        assert all(gap >= gateway.identify_window for gap in gaps), gaps
