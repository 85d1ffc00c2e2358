"""/stats, /leaderboard and /status."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import __version__
from bot.cogs._common import Person, actor, now_of, repo_for
from bot.domain import members as rules
from bot.responses import Reply, send_reply
from bot.storage.base import GuildRepository

if TYPE_CHECKING:
    from bot.app import GuildBot
    from bot.monitoring import Monitoring, NullMonitoring

USAGE_WINDOW_DAYS = 7


async def do_stats(repo: GuildRepository, who: Person, now: float,
                   monitoring: Monitoring | NullMonitoring) -> Reply:
    settings = await repo.settings()
    today, _ = rules.local_days(now, settings.day_boundary)
    s = await repo.stats(today)
    embed = discord.Embed(title="Server statistics", colour=0x57F287)
    embed.add_field(name="Members", value=f"{s.members:,}")
    embed.add_field(name="Points in play", value=f"{s.total_points:,}")
    embed.add_field(name="Check-ins today", value=f"{s.logins_today:,}")
    embed.add_field(name="Active challenges", value=f"{s.open_challenges:,}")
    embed.add_field(name="Completed challenges", value=f"{s.completed_challenges:,}")
    embed.add_field(name="Best streak", value=f"{s.best_streak} day(s)")
    if who.admin:
        # Through monitoring: the commands just run still wait in its analytics batch.
        usage = await monitoring.command_usage(repo, now - USAGE_WINDOW_DAYS * 86400)
        lines = [f"`/{u.command}` {u.calls:,} calls, {u.failures} failed, "
                 f"{u.avg_latency_ms:.0f} ms avg" for u in usage[:10]]
        embed.add_field(name=f"Command usage, last {USAGE_WINDOW_DAYS} days (admins only)",
                        value="\n".join(lines) or "No commands recorded yet.", inline=False)
    return Reply(embed=embed, ephemeral=who.admin)


async def do_leaderboard(repo: GuildRepository, page: int) -> Reply:
    entries, total = await repo.leaderboard(rules.page_offset(page), rules.LEADERBOARD_PAGE_SIZE)
    if total == 0:
        return Reply(rules.EMPTY_LEADERBOARD)
    rules.validate_page(page, total)
    pages = rules.page_count(total)
    lines = [f"**{e.rank}.** {discord.utils.escape_markdown(e.display_name)}: {e.points:,} "
             f"points (streak {e.streak})" for e in entries]
    embed = discord.Embed(title="Leaderboard", description="\n".join(lines), colour=0xFEE75C)
    hint = f" · /leaderboard page:{page + 1} for more" if page < pages else ""
    embed.set_footer(text=f"Page {page}/{pages} · {total:,} members{hint}")
    return Reply(embed=embed)


def status_reply(bot: GuildBot) -> Reply:
    latencies = [lat for _, lat in bot.shard_latencies()]
    latency = f"{max(latencies) * 1000:.0f} ms" if latencies else "n/a"
    uptime = int(bot.clock() - bot.started_at)
    hours, rest = divmod(uptime, 3600)
    embed = discord.Embed(title="guildbot status", colour=0x5865F2)
    embed.add_field(name="Version", value=__version__)
    embed.add_field(name="Uptime", value=f"{hours}h {rest // 60}m {rest % 60}s")
    embed.add_field(name="Gateway latency", value=latency)
    embed.add_field(name="Servers", value=f"{len(bot.guilds):,}")
    embed.add_field(name="Stage", value=bot.settings.stage)
    return Reply(embed=embed, ephemeral=True)


class Stats(commands.Cog):
    def __init__(self, bot: GuildBot) -> None:
        self.bot = bot

    @app_commands.command(name="stats", description="Statistics of this server")
    @app_commands.guild_only()
    async def stats(self, interaction: discord.Interaction) -> None:
        await send_reply(interaction, do_stats(repo_for(interaction), actor(interaction),
                                               now_of(interaction), self.bot.monitoring))

    @app_commands.command(name="leaderboard", description="Top members by points")
    @app_commands.describe(page="Page number (10 members per page)")
    @app_commands.guild_only()
    async def leaderboard(self, interaction: discord.Interaction,
                          page: app_commands.Range[int, 1, 100_000] = 1) -> None:
        await send_reply(interaction, do_leaderboard(repo_for(interaction), page))

    @app_commands.command(name="status", description="Bot uptime, latency and version")
    async def status(self, interaction: discord.Interaction) -> None:
        reply = status_reply(self.bot)
        await interaction.response.send_message(ephemeral=True, **reply.kwargs())


async def setup(bot: GuildBot) -> None:
    await bot.add_cog(Stats(bot))
