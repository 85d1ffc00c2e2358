"""/register, /login and /profile."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import i18n
from bot.cogs._common import Person, actor, repo_for
from bot.domain import members as rules
from bot.i18n import N_, _
from bot.responses import Reply, send_reply
from bot.storage.base import GuildRepository

if TYPE_CHECKING:
    from bot.app import GuildBot


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
    embed = discord.Embed(title=_("Profile of {name}", name=member.display_name),
                          colour=0x5865F2)
    embed.add_field(name=_("Points"), value=i18n.number(member.points))
    embed.add_field(name=_("Rank"), value=f"#{rank}")
    embed.add_field(name=_("Streak"), value=_("{streak} (best {best})", streak=member.streak,
                                               best=member.best_streak))
    embed.add_field(name=_("Check-ins"), value=i18n.number(member.total_logins))
    embed.add_field(name=_("Challenges"), value=_("{wins} won, {losses} lost", wins=member.wins,
                                                  losses=member.losses))
    embed.set_footer(text=_("Registered {day}", day=i18n.day(member.registered_at)))
    return Reply(embed=embed)


class Members(commands.Cog):
    def __init__(self, bot: GuildBot) -> None:
        self.bot = bot

    @app_commands.command(name="register", description=N_("Join the game in this server"))
    @app_commands.guild_only()
    async def register(self, interaction: discord.Interaction) -> None:
        repo = repo_for(self.bot, interaction)
        await send_reply(interaction, do_register(repo, actor(interaction), self.bot.clock()))
        self.bot.monitoring.registration(repo.guild_id)

    @app_commands.command(name="login", description=N_("Daily check-in: points and streaks"))
    @app_commands.guild_only()
    async def login(self, interaction: discord.Interaction) -> None:
        await send_reply(interaction, do_login(repo_for(self.bot, interaction), actor(interaction),
                                               self.bot.clock()))

    @app_commands.command(name="profile", description=N_("Show your profile or another member's"))
    @app_commands.describe(member=N_("Whose profile to show (default: yours)"))
    @app_commands.guild_only()
    async def profile(self, interaction: discord.Interaction,
                      member: discord.Member | None = None) -> None:
        target = Person.of(member) if member is not None else None
        await send_reply(interaction, do_profile(repo_for(self.bot, interaction),
                                                 actor(interaction), target))


async def setup(bot: GuildBot) -> None:
    await bot.add_cog(Members(bot))
