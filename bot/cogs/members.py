"""/register, /login and /profile."""

from __future__ import annotations

from datetime import UTC, datetime

import discord
from discord import app_commands
from discord.ext import commands

from bot.cogs._common import Person, actor, now_of, repo_for
from bot.domain import members as rules
from bot.responses import Reply, send_reply
from bot.storage.base import GuildRepository


async def do_register(repo: GuildRepository, who: Person, now: float) -> Reply:
    rules.check_can_register(who.bot)
    return Reply(rules.welcome_message(await repo.register(who.id, who.name, now)))


async def do_login(repo: GuildRepository, who: Person, now: float) -> Reply:
    result, settings = await repo.daily_login(who.id, now)
    return Reply(rules.login_message(result, settings.daily_reward, settings.day_boundary),
                 ephemeral=result.already_claimed)


async def do_profile(repo: GuildRepository, who: Person, target: Person | None) -> Reply:
    subject = target or who
    found, rank = await repo.profile(subject.id) or (None, 0)
    member = rules.require_profile(found, subject.id == who.id, subject.name)
    embed = discord.Embed(title=f"Profile of {member.display_name}", colour=0x5865F2)
    embed.add_field(name="Points", value=f"{member.points:,}")
    embed.add_field(name="Rank", value=f"#{rank}")
    embed.add_field(name="Streak", value=f"{member.streak} (best {member.best_streak})")
    embed.add_field(name="Check-ins", value=str(member.total_logins))
    embed.add_field(name="Challenges", value=f"{member.wins} won, {member.losses} lost")
    since = datetime.fromtimestamp(member.registered_at, UTC).date().isoformat()
    embed.set_footer(text=f"Registered {since}")
    return Reply(embed=embed)


class Members(commands.Cog):
    @app_commands.command(name="register", description="Join the game in this server")
    @app_commands.guild_only()
    async def register(self, interaction: discord.Interaction) -> None:
        await send_reply(interaction, do_register(repo_for(interaction), actor(interaction),
                                                  now_of(interaction)))
        interaction.client.monitoring.registration(  # type: ignore[attr-defined]
            interaction.guild_id)

    @app_commands.command(name="login", description="Daily check-in: points and streaks")
    @app_commands.guild_only()
    async def login(self, interaction: discord.Interaction) -> None:
        await send_reply(interaction, do_login(repo_for(interaction), actor(interaction),
                                               now_of(interaction)))

    @app_commands.command(name="profile", description="Show your profile or another member's")
    @app_commands.describe(member="Whose profile to show (default: yours)")
    @app_commands.guild_only()
    async def profile(self, interaction: discord.Interaction,
                      member: discord.Member | None = None) -> None:
        target = Person.of(member) if member is not None else None
        await send_reply(interaction, do_profile(repo_for(interaction), actor(interaction), target))


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Members())
