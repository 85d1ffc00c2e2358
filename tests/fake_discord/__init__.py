"""A protocol-faithful fake Discord (REST + gateway) for testing an unmodified discord.py bot.

    fake = FakeDiscord(token="fake-token", validate=True)   # validate: OpenAPI checks -> errors
    g = fake.add_guild("Alpha"); alice = g.add_member("alice", permissions="manage_guild")
    await fake.start()            # 127.0.0.1, port 0 -> fake.port, fake.api_base, fake.gateway_url
    # point the bot at fake.api_base / fake.gateway_url (tests.fake_discord.testing.pointed_at)
    await fake.wait_guilds_sent()
    inter = await fake.invoke(g, alice, "challenge create", {"opponent": g.member("bob")})
    reply = await inter.wait_response(); final = await inter.wait_final()
    fake.assert_no_errors()       # unknown routes, schema violations, protocol misuse

Components, modals, autocomplete (as ``member``, on the guild's shard; see ``interactions``):
    click = await fake.click(alice, reply.message, "accept")      # type 3, a button
    pick = await fake.select(alice, reply.message, "menu", ["a"])  # type 3, a string select
    sent = await fake.submit_modal(alice, click, {"field": "text"})  # type 5 (click got a modal)
    typed = await fake.autocomplete(g, alice, "fruit", {"name": "ap"}, focused="name")  # type 4
    # (only for a synced command's autocomplete option, as Discord: ValueError otherwise)
    (await typed.wait_response()).choices                          # callback type 8

Sharding, as Discord enforces it across ALL connections on the token (several processes):
    fake = FakeDiscord(max_concurrency=1, identify_window=5.0, max_guilds_per_session=2500,
                       session_start_total=1000, shard_count=None)
- ``GET /gateway/bot``: ``shards`` = ``shard_count`` if given, else one per 1,000 joined guilds
  (at least 1); ``session_start_limit`` {total, remaining (counts down per session start),
  reset_after, max_concurrency}. Past ``session_start_total`` the token is reset, every session
  ends (close 4004) and an error is recorded.
- At most one IDENTIFY per ``identify_window`` seconds per bucket ``shard_id % max_concurrency``;
  a faster one gets op 9 Invalid Session (``d: false``). ``fake.gateway.identify_log`` (accepted)
  and ``fake.gateway.identify_refusals`` hold ``IdentifyRecord(at, shard, bucket)``: assert
  ``identify_refusals == []`` for "the IDENTIFY rate was never broken".
- A shard count that disagrees with another connected session: close 4010 Invalid shard. A
  session over ``max_guilds_per_session`` guilds (``None``: no limit): close 4011 Sharding
  required. A client's own close with 1000/1001 ends its session (not resumable).
- Guild events (``invoke``, ``add_guild_live``, ``dispatch(guild_id=...)``) go only to the session
  of shard ``(guild_id >> 22) % shard_count``; with none there nothing is sent and
  ``gateway.Undelivered`` (a RuntimeError) is raised and kept in ``fake.gateway.undelivered``.
- ``fake.wait_guilds_sent(shard_ids=[2, 3])`` waits for one process's shards only;
  ``GET /_fake/gateway`` reports all of the above (see ``control``).

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
