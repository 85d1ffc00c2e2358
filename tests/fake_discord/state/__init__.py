"""In-memory state of the fake Discord (guilds, channels, members, messages, commands)."""

from tests.fake_discord.state.model import (
    Attachment,
    Channel,
    Guild,
    Member,
    Message,
    Role,
    SnowflakeGenerator,
    State,
    User,
    parse_permissions,
)

__all__ = [
    "Attachment",
    "Channel",
    "Guild",
    "Member",
    "Message",
    "Role",
    "SnowflakeGenerator",
    "State",
    "User",
    "parse_permissions",
]
