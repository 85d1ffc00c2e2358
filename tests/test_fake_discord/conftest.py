"""A real, unmodified discord.py client with a handful of slash commands, driven by the fake."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.fake_discord import FakeDiscord
from tests.fake_discord.testing import serving

TOKEN = "fake-token"
# The fakes' IDENTIFY window in these tests, and what the test bots wait before a non-initial
# IDENTIFY: discord.py's own 5 s against Discord's 5 s, scaled down.
IDENTIFY_WINDOW = 0.2
FILE_BYTES = b"guild report\n\x00\x01binary-safe"


def bot_intents(members: bool = False) -> discord.Intents:
    """The project's intents: default minus members, presences and message content."""
    intents = discord.Intents.default()
    intents.members = members
    intents.presences = False
    intents.message_content = False
    return intents


def install_commands(tree: app_commands.CommandTree, guild: discord.abc.Snowflake | None) -> None:
    @tree.command(name="profile", description="Show your profile")
    async def profile(interaction: discord.Interaction) -> None:
        guild_name = interaction.guild.name if interaction.guild else "?"
        await interaction.response.send_message(
            f"profile of {interaction.user.name} in {guild_name} "
            f"(command id {interaction.data['id']})"
        )

    challenge = app_commands.Group(name="challenge", description="Challenges")

    @challenge.command(name="create", description="Challenge someone")
    async def create(
        interaction: discord.Interaction, opponent: discord.Member, stake: int
    ) -> None:
        kind = type(opponent).__name__
        manage = interaction.permissions.manage_guild
        await interaction.response.send_message(
            f"{interaction.user.name} challenges {opponent.name} ({kind}) for {stake} "
            f"[{type(stake).__name__}] manage_guild={manage}"
        )

    tree.add_command(challenge)

    admin = app_commands.Group(name="admin", description="Admin")
    config = app_commands.Group(name="config", description="Settings", parent=admin)

    @config.command(name="set", description="Set a value")
    async def config_set(interaction: discord.Interaction, key: str, value: float) -> None:
        await interaction.response.send_message(f"set {key}={value!r}", ephemeral=True)

    tree.add_command(admin)

    @tree.command(name="secret", description="Ephemeral answer")
    async def secret(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("only you can see this", ephemeral=True)

    @tree.command(name="slow", description="Deferred answer with a follow-up")
    async def slow(interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True, ephemeral=True)
        await asyncio.sleep(0.05)
        await interaction.followup.send("slow work done")

    @tree.command(name="think", description="Public deferral, then an 'ephemeral' follow-up")
    async def think(interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        await interaction.followup.send("meant to be private", ephemeral=True)
        await interaction.followup.send("second follow-up, really private", ephemeral=True)

    @tree.command(name="report", description="Answer with a file")
    async def report(interaction: discord.Interaction) -> None:
        await interaction.response.send_message(
            "your report", file=discord.File(io.BytesIO(FILE_BYTES), "report.txt")
        )

    @tree.command(name="lifecycle", description="Every webhook message route")
    async def lifecycle(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("v1")
        original = await interaction.original_response()  # GET @original
        await interaction.edit_original_response(content=f"v2 of {original.id}")  # PATCH @original
        follow = await interaction.followup.send("f1", wait=True)  # POST webhook
        await follow.edit(content="f2")  # PATCH /messages/{id}
        fetched = await interaction.followup.fetch_message(follow.id)  # GET /messages/{id}
        await interaction.followup.send(f"fetched {fetched.content}")
        await follow.delete()  # DELETE /messages/{id}
        await interaction.delete_original_response()  # DELETE @original

    @tree.command(name="announce", description="Post to the channel")
    async def announce(interaction: discord.Interaction, text: str) -> None:
        channel = interaction.channel
        assert isinstance(channel, discord.TextChannel)
        await channel.send(text)  # JSON body
        await channel.send("with a file", file=discord.File(io.BytesIO(FILE_BYTES), "a.bin"))
        await interaction.response.send_message("posted", ephemeral=True)

    @tree.command(name="leave", description="Make the bot leave this guild")
    async def leave(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("bye")
        assert interaction.guild is not None
        await interaction.guild.leave()

    @tree.command(name="guildonly", description="Only synced to one guild", guild=guild)
    async def guildonly(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("guild command")


class _Recorder:
    """Mixin: events the tests assert on, and an IDENTIFY_WINDOW pause (not 5 s) before a
    non-initial IDENTIFY."""

    identify_pause = IDENTIFY_WINDOW

    def _setup_recorder(self) -> None:
        self.ready_event = asyncio.Event()
        self.joined: list[discord.Guild] = []
        self.removed: list[discord.Guild] = []
        self.resumed = 0

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        # discord.py sleeps 5 s before every non-initial IDENTIFY, Discord's window per bucket.
        if not initial:
            await asyncio.sleep(self.identify_pause)

    async def on_ready(self) -> None:
        self.ready_event.set()

    async def on_guild_join(self, guild: discord.Guild) -> None:
        self.joined.append(guild)

    async def on_guild_remove(self, guild: discord.Guild) -> None:
        self.removed.append(guild)

    async def on_resumed(self) -> None:
        self.resumed += 1

    async def on_shard_resumed(self, shard_id: int) -> None:
        self.resumed += 1


def _bot_kwargs(members: bool) -> dict[str, Any]:
    return {
        "command_prefix": commands.when_mentioned,
        "intents": bot_intents(members),
        "guild_ready_timeout": 0.05,
        "chunk_guilds_at_startup": False,
        "member_cache_flags": discord.MemberCacheFlags.none(),
        "max_messages": None,
    }


class FakeTestBot(_Recorder, commands.Bot):
    def __init__(self, command_guild: int | None = None, members: bool = False, **kwargs: Any):
        super().__init__(**{**_bot_kwargs(members), **kwargs})
        self._setup_recorder()
        install_commands(self.tree, discord.Object(command_guild) if command_guild else None)


class ShardedTestBot(_Recorder, commands.AutoShardedBot):
    def __init__(self, **kwargs: Any):
        super().__init__(**{**_bot_kwargs(False), **kwargs})
        self._setup_recorder()
        install_commands(self.tree, None)


async def control(
    fake: FakeDiscord, method: str, path: str, body: Any = None, status: int = 200
) -> Any:
    """Call the fake's control API (``/_fake/...``) and check the status."""
    url = f"{fake.base_url}{path}"
    async with aiohttp.ClientSession() as http, http.request(method, url, json=body) as response:
        assert response.status == status, await response.text()
        return await response.json()


async def eventually(predicate: Callable[[], object], limit: float = 5.0) -> None:
    """Poll a condition the bot reaches asynchronously (no timing is asserted)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


class Running:
    """A bot connected to the fake, stopped cleanly at teardown."""

    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot
        self.task: asyncio.Task[None] | None = None

    async def start(
        self,
        fake: FakeDiscord,
        token: str = TOKEN,
        limit: float = 10.0,
        shard_ids: list[int] | None = None,
    ) -> None:
        """Connect and wait until ready; ``shard_ids``: only this process's shards are waited
        for (default: every shard of the identified shard count)."""
        await self.bot.login(token)
        self.task = asyncio.create_task(self.bot.connect(reconnect=True))
        await fake.wait_guilds_sent(limit, shard_ids)
        waiter = asyncio.ensure_future(self.bot.ready_event.wait())  # type: ignore[attr-defined]
        done, _ = await asyncio.wait(
            {waiter, self.task}, timeout=limit, return_when="FIRST_COMPLETED"
        )
        if waiter not in done:
            waiter.cancel()
            if self.task in done:
                self.task.result()  # re-raise the client's failure
            raise AssertionError("the bot never became ready")

    async def stop(self) -> None:
        await self.bot.close()
        if self.task is not None:
            await asyncio.wait_for(self.task, 10)


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    """A fake Discord validating all REST traffic (strictly) with two guilds and members."""
    fake = FakeDiscord(
        token=TOKEN, validate=True, strict_requests=True, identify_window=IDENTIFY_WINDOW
    )
    alpha = fake.add_guild("Alpha")
    alpha.add_member("alice", permissions="manage_guild")
    alpha.add_member("bob")
    beta = fake.add_guild("Beta")
    beta.add_member("carol")
    async with serving(fake):
        yield fake


@pytest.fixture
async def running(fake: FakeDiscord) -> AsyncIterator[Running]:
    runner = Running(FakeTestBot(command_guild=fake.guild("Alpha").id))
    await runner.start(fake)
    try:
        yield runner
    finally:
        await runner.stop()
