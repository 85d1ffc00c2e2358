"""Operator announcements, the CLI's half: record one, report progress.

``guildbot-cli announce MESSAGE`` records the announcement in the database; the running bot
processes send it, each to the guilds of its own shards, each guild once, paced within the fleet's
share of Discord's global rate limit (bot/app.py, rules in bot/domain/announcements.py). The CLI
neither needs the token nor talks to Discord. ``--dry-run`` counts the guilds with an announcement
channel and records nothing; ``--status`` reports every recent announcement's sent, failed,
sending (claimed by a process that stopped before Discord answered) and pending guilds.
"""

from __future__ import annotations

import time

from bot.config import Settings
from bot.domain.announcements import MAX_AGE_SECONDS
from bot.storage.backends import open_storage


async def announce(settings: Settings, message: str, *, dry_run: bool = False) -> dict:
    """Record ``message`` (already validated) for every guild; what it was addressed to."""
    storage = await open_storage(settings, 1)
    try:
        channels = len(await storage.announcement_channels())
        result: dict = {"channels": channels, "dry_run": dry_run}
        if not dry_run:
            result["announcement_id"] = await storage.create_announcement(message, time.time())
    finally:
        await storage.close()
    return result


async def progress(settings: Settings) -> dict:
    """Where each announcement of the last MAX_AGE_SECONDS stands (older ones are no longer
    sent)."""
    storage = await open_storage(settings, 1)
    try:
        found = await storage.announcement_progress(time.time() - MAX_AGE_SECONDS)
    finally:
        await storage.close()
    return {"announcements": [p.as_dict() for p in found]}
