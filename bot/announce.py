"""Operator announcements: one message to every guild's configured announcement channel.

Messages go out one at a time with a pause between them, well inside Discord's global limit of
50 requests/s; discord.py's HTTP client also honours every 429 it receives. A channel that fails
(deleted, no permission) is reported and skipped, never retried in a loop: 401/403 answers count
toward Discord's invalid-request ban.
"""

from __future__ import annotations

import asyncio
import logging

import discord

from bot.app import configure_endpoints
from bot.config import Settings
from bot.storage.backends import open_storage

log = logging.getLogger("guildbot.announce")
PAUSE_SECONDS = 0.25


async def announce(settings: Settings, token: str, message: str, *, dry_run: bool = False,
                   pause: float = PAUSE_SECONDS) -> dict:
    storage = await open_storage(settings, 1)
    try:
        targets = await storage.announcement_channels()
    finally:
        await storage.close()
    result: dict = {"channels": len(targets), "sent": 0, "failed": [], "dry_run": dry_run}
    if dry_run or not targets:
        return result
    configure_endpoints(settings)
    client = discord.Client(intents=discord.Intents.none())
    try:
        await client.login(token)
        for guild_id, channel_id in targets:
            try:
                await client.get_partial_messageable(channel_id, guild_id=guild_id).send(
                    message, allowed_mentions=discord.AllowedMentions.none())
                result["sent"] += 1
            except discord.HTTPException as exc:
                log.warning("announcement to guild %s channel %s failed: %s", guild_id,
                            channel_id, exc)
                result["failed"].append({"guild_id": str(guild_id), "channel_id": str(channel_id),
                                         "status": exc.status})
            await asyncio.sleep(pause)
    finally:
        await client.close()
    return result
