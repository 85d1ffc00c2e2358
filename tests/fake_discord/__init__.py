"""A protocol-faithful fake Discord (REST + gateway) for testing an unmodified discord.py bot.

    fake = FakeDiscord(token="fake-token", validate=True)   # validate: OpenAPI checks -> errors
    g = fake.add_guild("Alpha"); alice = g.add_member("alice", permissions="manage_guild")
    await fake.start()            # 127.0.0.1, port 0 -> fake.port, fake.api_base, fake.gateway_url
    # point the bot at fake.api_base / fake.gateway_url (tests.fake_discord.testing.pointed_at)
    await fake.wait_guilds_sent()
    inter = await fake.invoke(g, alice, "challenge create", {"opponent": g.member("bob")})
    reply = await inter.wait_response(); final = await inter.wait_final()
    fake.assert_no_errors()       # unknown routes, schema violations, protocol misuse

Modules: ``server`` (FakeDiscord), ``rest`` (REST routes), ``gateway`` (sessions, shards,
resume), ``interactions`` (INTERACTION_CREATE, replies), ``state.model`` (guilds, members...),
``openapi`` (validator), ``control`` (``/_fake/...`` API), ``cli`` (``python -m
tests.fake_discord --help``), ``testing`` (pytest fixture ``fake_discord``, ``pointed_at``).
Runtime dependencies: aiohttp and the standard library (jsonschema only for validation).
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
