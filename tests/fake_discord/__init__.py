"""A protocol-faithful fake Discord (REST + gateway) for testing an unmodified discord.py bot.

See ``server.FakeDiscord``; ``python -m tests.fake_discord --help`` for the standalone server.
"""

from tests.fake_discord.interactions import FakeInteraction, Reply
from tests.fake_discord.server import FakeDiscord, FakeError, IncomingWebhook
from tests.fake_discord.state.model import Attachment, Channel, Guild, Member, Message, Role, User

__all__ = [
    "Attachment",
    "Channel",
    "FakeDiscord",
    "FakeError",
    "FakeInteraction",
    "Guild",
    "IncomingWebhook",
    "Member",
    "Message",
    "Reply",
    "Role",
    "User",
]
