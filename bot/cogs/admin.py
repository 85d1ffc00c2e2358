"""/admin: maintenance, settings, export and purge (Manage Server permission)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.cogs._common import Person, actor, repo_for
from bot.domain.rules import (
    MAX_DAILY_REWARD,
    MAX_EXPIRY_HOURS,
    clean_text,
    validate_daily_reward,
    validate_expiry_hours,
    validate_time_zone,
)
from bot.responses import Reply, UserError, send_reply
from bot.storage.base import GuildRepository, GuildSettings

if TYPE_CHECKING:
    from bot.monitoring import Monitoring, NullMonitoring

EXPORT_LIMIT_BYTES = 8 * 1024 * 1024  # Discord's smallest attachment limit


def require_admin(who: Person) -> None:
    if not who.admin:
        raise UserError("You need the Manage Server permission for this command.")


def describe_settings(s: GuildSettings) -> str:
    channel = f"<#{s.announcement_channel_id}>" if s.announcement_channel_id else "not set"
    return (f"Maintenance: {'on' if s.maintenance else 'off'}\n"
            f"Daily reward: {s.daily_reward:,} points\n"
            f"Challenge expiry: {s.challenge_expiry_hours} hours\n"
            f"Day boundary: midnight {s.day_boundary}\n"
            f"Announcement channel: {channel}")


async def do_maintenance(repo: GuildRepository, who: Person, on: bool) -> Reply:
    require_admin(who)
    await repo.update_settings(maintenance=on)
    state = "on: members get a maintenance notice" if on else "off: commands are open again"
    return Reply(f"Maintenance is {state}.", ephemeral=True)


async def do_settings(repo: GuildRepository, who: Person, *, daily_reward: int | None = None,
                      challenge_expiry_hours: int | None = None, day_boundary: str | None = None,
                      announcement_channel_id: int | None = None) -> Reply:
    require_admin(who)
    changes: dict = {}
    if daily_reward is not None:
        changes["daily_reward"] = validate_daily_reward(daily_reward)
    if challenge_expiry_hours is not None:
        changes["challenge_expiry_hours"] = validate_expiry_hours(challenge_expiry_hours)
    if day_boundary is not None:
        changes["day_boundary"] = validate_time_zone(day_boundary)
    if announcement_channel_id is not None:
        changes["announcement_channel_id"] = announcement_channel_id
    if changes:
        settings = await repo.update_settings(**changes)
        return Reply("Settings updated.\n" + describe_settings(settings), ephemeral=True)
    return Reply("Current settings:\n" + describe_settings(await repo.settings()), ephemeral=True)


async def do_export(repo: GuildRepository, who: Person, now: float) -> Reply:
    require_admin(who)
    data = await repo.export()
    data["exported_at"] = datetime.fromtimestamp(now, UTC).isoformat()
    blob = json.dumps(data, indent=1, ensure_ascii=False).encode()
    if len(blob) > EXPORT_LIMIT_BYTES:
        raise UserError("This server's data is larger than Discord's attachment limit; ask the "
                        "bot operator for an export (`python -m bot export`).")
    return Reply(f"Export of {len(data['members']):,} members and {len(data['challenges']):,} "
                 "challenges.", file=(f"guildbot-export-{repo.guild_id}.json", blob),
                 ephemeral=True)


async def do_purge(repo: GuildRepository, who: Person, guild_name: str, confirm: str,
                   monitoring: Monitoring | NullMonitoring) -> Reply:
    require_admin(who)
    if confirm.strip() != guild_name:
        raise UserError("Nothing was deleted. To delete ALL of this server's guildbot data, run "
                        f"the command again with confirm set to the server's exact name: "
                        f"`{clean_text(guild_name, 100)}`.")
    await monitoring.purge_guild(repo)  # the usage rows not yet written go too
    return Reply("All of this server's guildbot data has been deleted.", ephemeral=True)


@app_commands.default_permissions(manage_guild=True)
class Admin(commands.GroupCog, group_name="admin", group_description="Server administration"):
    @app_commands.command(name="maintenance", description="Turn maintenance mode on or off")
    async def maintenance(self, interaction: discord.Interaction,
                          state: Literal["on", "off"]) -> None:
        reply = await send_reply(interaction, do_maintenance(repo_for(interaction),
                                                             actor(interaction), state == "on"))
        if reply is not None and interaction.guild_id is not None:
            interaction.client.set_guild_maintenance(  # type: ignore[attr-defined]
                interaction.guild_id, state == "on")

    @app_commands.command(name="settings", description="Show or change this server's settings")
    @app_commands.describe(
        daily_reward="Points per daily check-in",
        challenge_expiry_hours="Hours before an unanswered challenge expires",
        day_boundary="Time zone whose midnight starts a new day, e.g. UTC or Europe/Berlin",
        announcement_channel="Where operator announcements are posted")
    async def settings(
        self, interaction: discord.Interaction,
        daily_reward: app_commands.Range[int, 1, MAX_DAILY_REWARD] | None = None,
        challenge_expiry_hours: app_commands.Range[int, 1, MAX_EXPIRY_HOURS] | None = None,
        day_boundary: app_commands.Range[str, 1, 64] | None = None,
        announcement_channel: discord.TextChannel | None = None,
    ) -> None:
        channel_id = announcement_channel.id if announcement_channel is not None else None
        await send_reply(interaction, do_settings(
            repo_for(interaction), actor(interaction), daily_reward=daily_reward,
            challenge_expiry_hours=challenge_expiry_hours, day_boundary=day_boundary,
            announcement_channel_id=channel_id), ephemeral_hint=True)

    @app_commands.command(name="export", description="Download this server's data as JSON")
    async def export(self, interaction: discord.Interaction) -> None:
        await send_reply(interaction, do_export(repo_for(interaction), actor(interaction),
                                                interaction.client.clock()),  # type: ignore[attr-defined]
                         ephemeral_hint=True)

    @app_commands.command(name="purge", description="Delete ALL of this server's data")
    @app_commands.describe(confirm="Type the server's exact name to confirm")
    async def purge(self, interaction: discord.Interaction,
                    confirm: app_commands.Range[str, 1, 100]) -> None:
        name = interaction.guild.name if interaction.guild else ""
        await send_reply(interaction, do_purge(
            repo_for(interaction), actor(interaction), name, confirm,
            interaction.client.monitoring),  # type: ignore[attr-defined]
            ephemeral_hint=True)


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Admin())
