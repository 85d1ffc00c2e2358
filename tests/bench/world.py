"""The benchmark's world: deterministic guild and member ids shared by the seeded database and
the fake Discord, so every member the load uses is registered in the bot's database."""

from __future__ import annotations

from dataclasses import dataclass

DISCORD_EPOCH_MS = 1_420_070_400_000
# Fixed instants (2022 and 2021) keep the ids valid snowflakes and identical on every run.
_GUILD_MS = 1_650_000_000_000 - DISCORD_EPOCH_MS
_USER_MS = 1_610_000_000_000 - DISCORD_EPOCH_MS
LOAD_MEMBERS = 2  # members of each guild the fake knows and the load acts as
# A small community guild as GUILD_CREATE describes it: a few text channels, a category and a
# voice channel, and a few roles besides @everyone. With these the bare bot's RSS at 10,000 guilds
# (about 100 MB) and its full garbage collections (about 120 ms) match the floor measured in
# ENVIRONMENT.md (97 MB, 130-160 ms); with one channel and no roles both were understated.
TEXT_CHANNELS = ("general", "announcements", "bot-commands", "off-topic", "media", "help")
OTHER_CHANNELS = ((4, "Text Channels"), (2, "General"))  # (type, name): category, voice
ROLE_PERMISSIONS = (0x1, 0x2000, 0x8)  # an invite role, a moderator role, an admin role


@dataclass(frozen=True)
class Size:
    guilds: int
    members_per_guild: int

    @property
    def members(self) -> int:
        return self.guilds * self.members_per_guild

    @property
    def key(self) -> str:
        return f"{self.guilds}g-{self.members_per_guild}m"


def guild_id(index: int) -> int:
    # The millisecond advances per guild, like Discord's ids (and spreads guilds over shards).
    return ((_GUILD_MS + index) << 22) | (2 << 17)


def user_id(guild_index: int, member_index: int, members_per_guild: int) -> int:
    return ((_USER_MS + guild_index * members_per_guild + member_index) << 22) | (1 << 17)


def member_name(guild_index: int, member_index: int) -> str:
    return f"player-{guild_index}-{member_index}"


def populate(fake, size: Size) -> list:
    """Add the guilds to a FakeDiscord: the channels and roles above, LOAD_MEMBERS members each.

    Returns ``[(guild, [member, ...]), ...]`` in guild order."""
    world = []
    for g in range(size.guilds):
        guild = fake.add_guild(f"bench-guild-{g}", guild_id=guild_id(g), channels=TEXT_CHANNELS)
        for channel_type, channel_name in OTHER_CHANNELS:
            guild.add_channel(channel_name, type=channel_type)
        for bits in ROLE_PERMISSIONS:
            guild.role_for_permissions(bits)
        members = [
            guild.add_member(member_name(g, m), user_id=user_id(g, m, size.members_per_guild))
            for m in range(min(LOAD_MEMBERS, size.members_per_guild))
        ]
        world.append((guild, members))
    return world
