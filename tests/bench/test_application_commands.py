"""The bench's fakes keep each application's slash commands apart: guildbot's (shared by every
fake that serves guildbot in a run) and the bare bot's, without running a benchmark."""

from __future__ import annotations

import aiohttp
import pytest

from tests.bench import run
from tests.bench.run import Subject, build_plan, parse_args
from tests.fake_discord import FakeDiscord
from tests.fake_discord.testing import serving

CHALLENGE = {  # the part of guildbot's tree the bench's autocomplete types into
    "name": "challenge",
    "description": "Challenges",
    "options": [{
        "type": 1, "name": "accept", "description": "Accept a challenge",
        "options": [{"type": 4, "name": "challenge", "description": "Challenge",
                     "required": True, "autocomplete": True}],
    }],
}
PING = {"name": "ping", "description": "Answers pong"}  # the bare bot's whole tree


async def sync_globally(fake: FakeDiscord, commands: list[dict]) -> None:
    """PUT /applications/{id}/commands, as a bot's ``tree.sync()`` does."""
    url = f"{fake.api_base}/applications/{fake.state.application_id}/commands"
    headers = {"Authorization": f"Bot {fake.token}"}
    async with aiohttp.ClientSession() as session, session.put(
            url, json=commands, headers=headers) as response:
        assert response.status == 200, await response.text()


async def test_the_bare_bots_sync_leaves_guildbots_commands(tmp_path, monkeypatch):
    """Regression (issue 14/17, bench autocomplete errors): every main-steps bench run recorded
    hundreds of fake errors "data.choices.0.value: not a value of option type 3" on
    ``/challenge accept``'s autocomplete. guildbot synced its tree, then the bare bot (started
    after it) synced its /ping globally into the same shared registry, replacing guildbot's
    commands: the autocomplete then went out for a command the fake did not know, its option
    typed as a string. Fails on the old code because every subject's fake, the bare bot's
    included, used the run's one registry."""
    monkeypatch.setattr(run, "APPLICATION_COMMANDS", {})
    args = parse_args(["--guilds", "2", "--members-per-guild", "2", "--out-dir", str(tmp_path)])
    plan = build_plan(args)
    guildbot = Subject("sqlite", plan, tmp_path, args, database=tmp_path / "guildbot.db")
    bare = Subject("bare", plan, tmp_path, args)
    async with serving(guildbot.fake), serving(bare.fake):
        await sync_globally(guildbot.fake, [CHALLENGE])
        await sync_globally(bare.fake, [PING])
    guild = guildbot.world[0][0]
    synced = guildbot.fake.state.find_command(guild.id, "challenge")
    assert synced is not None, "the bare bot's sync replaced guildbot's commands"
    assert synced["options"][0]["options"][0]["type"] == 4
    assert bare.fake.state.find_command(bare.world[0][0].id, "challenge") is None
    assert bare.fake.state.find_command(bare.world[0][0].id, "ping") is not None


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_guildbots_fakes_share_the_runs_commands(tmp_path, monkeypatch, kind):
    """Every fake serving guildbot (each backend, the cluster step's) knows the commands it
    synced once: a bot that finds its tree's hash in its database does not sync again."""
    shared: dict = {}
    monkeypatch.setattr(run, "APPLICATION_COMMANDS", shared)
    args = parse_args(["--guilds", "1", "--members-per-guild", "2", "--out-dir", str(tmp_path)])
    subject = Subject(kind, build_plan(args), tmp_path, args, database=tmp_path / "guildbot.db")
    assert subject.fake.state.commands is shared
