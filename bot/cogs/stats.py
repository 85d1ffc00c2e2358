"""/stats, /leaderboard and /status."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import __version__, i18n
from bot import components as ui
from bot.cogs._common import Person, actor, repo_for
from bot.domain import members as rules
from bot.domain.errors import InvalidInput
from bot.i18n import N_, _, n_
from bot.monitoring.stats import latency_text
from bot.responses import Reply, send_reply, update_message
from bot.storage.base import GuildRepository

if TYPE_CHECKING:
    from bot.app import GuildBot
    from bot.monitoring.hooks import MonitoringHooks

USAGE_WINDOW_DAYS = 7


async def do_stats(repo: GuildRepository, who: Person, now: float,
                   monitoring: MonitoringHooks) -> Reply:
    settings = await repo.settings()
    today = rules.local_days(now, settings.day_boundary)[0]
    s = await repo.stats(today)
    embed = discord.Embed(title=_("Server statistics"), colour=0x57F287)
    embed.add_field(name=_("Members"), value=i18n.number(s.members))
    embed.add_field(name=_("Points in play"), value=i18n.number(s.total_points))
    embed.add_field(name=_("Check-ins today"), value=i18n.number(s.logins_today))
    embed.add_field(name=_("Active challenges"), value=i18n.number(s.open_challenges))
    embed.add_field(name=_("Completed challenges"), value=i18n.number(s.completed_challenges))
    embed.add_field(name=_("Best streak"), value=i18n.days(s.best_streak))
    if who.admin:
        # Through monitoring: the commands just run still wait in its analytics batch.
        usage = await monitoring.command_usage(repo, now - USAGE_WINDOW_DAYS * 86400)
        lines = [n_("`{command}` {calls} call, {failures} failed, {latency} ms avg",
                    "`{command}` {calls} calls, {failures} failed, {latency} ms avg", u.calls,
                    command=ui.shown_name(u.command), calls=i18n.number(u.calls),
                   failures=i18n.number(u.failures), latency=i18n.number(round(u.avg_latency_ms)))
                 for u in usage[:10]]
        embed.add_field(name=_("Command usage, last {days} days (admins only)",
                               days=USAGE_WINDOW_DAYS),
                        value="\n".join(lines) or _("No commands recorded yet."), inline=False)
    return Reply(embed=embed, ephemeral=who.admin)


BOARD_POINTS = 0  # the leaderboard's sort key in its custom_ids (one board today: points)
_NAV = (("first", "«"), ("prev", "‹"), ("next", "›"), ("last", "»"))


def leaderboard_view(guild_id: int, page: int, pages: int) -> discord.ui.View | None:
    """First / previous / next / last (disabled where they lead nowhere) and "go to page";
    each custom_id carries the board and the page it shows (bot.components)."""
    if pages <= 1:
        return None
    targets = {"first": 1, "prev": max(1, page - 1), "next": min(pages, page + 1),
               "last": pages}
    buttons = [ui.button(label, ui.make_id("lb", action, guild_id, BOARD_POINTS,
                                           targets[action]),
                         disabled=targets[action] == page) for action, label in _NAV]
    buttons.append(ui.button(_("Go to page"), ui.make_id("lb", "goto", guild_id, BOARD_POINTS),
                             style=discord.ButtonStyle.blurple))
    return ui.frozen(*buttons)


async def do_leaderboard(repo: GuildRepository, page: int) -> Reply:
    entries, total = await repo.leaderboard(rules.page_offset(page), rules.LEADERBOARD_PAGE_SIZE)
    if total == 0:
        return Reply(_(rules.EMPTY_LEADERBOARD))
    rules.validate_page(page, total)
    pages = rules.page_count(total)
    lines = [n_("**{rank}.** {name}: {points} point (streak {streak})",
                "**{rank}.** {name}: {points} points (streak {streak})", e.points, rank=e.rank,
                name=discord.utils.escape_markdown(e.display_name),
                points=i18n.number(e.points), streak=e.streak) for e in entries]
    embed = discord.Embed(title=_("Leaderboard"), description="\n".join(lines), colour=0xFEE75C)
    embed.set_footer(text=n_("Page {page}/{pages} · {total} member",
                             "Page {page}/{pages} · {total} members", total, page=page,
                             pages=pages, total=i18n.number(total)))
    return Reply(embed=embed, view=leaderboard_view(repo.guild_id, page, pages))


def _board_arg(cid: ui.ComponentId, count: int) -> int:
    """The last of the ``count`` numbers after the guild (board, then page when there is one);
    a board this release does not know is refused."""
    if len(cid.args) != count or cid.args[0] != BOARD_POINTS:
        raise InvalidInput(_("This leaderboard is not one I know any more; run /leaderboard."))
    return cid.args[-1]


async def _show_page(bot: ui.ComponentBot, interaction: discord.Interaction,
                     page: int) -> None:
    reply = await do_leaderboard(repo_for(bot, interaction), page)
    await update_message(interaction, reply)


@ui.handler("lb", "first")
@ui.handler("lb", "prev")
@ui.handler("lb", "next")
@ui.handler("lb", "last")
async def on_page(bot: ui.ComponentBot, interaction: discord.Interaction,
                  cid: ui.ComponentId) -> None:
    """A page button: the page its custom_id names, read now (the board may have changed)."""
    await _show_page(bot, interaction, _board_arg(cid, 2))


@ui.handler("lb", "goto")
async def on_goto(bot: ui.ComponentBot, interaction: discord.Interaction,
                  cid: ui.ComponentId) -> None:
    _board_arg(cid, 1)
    await interaction.response.send_modal(ui.text_modal(
        _("Go to page"), ui.make_id("lb", "jump", cid.guild_id, BOARD_POINTS), "page",
        _("Page number"), placeholder="2", max_length=9))


@ui.handler("lb", "jump")
async def on_jump(bot: ui.ComponentBot, interaction: discord.Interaction,
                  cid: ui.ComponentId) -> None:
    """The "go to page" modal, submitted from the leaderboard's message: that page there."""
    _board_arg(cid, 1)
    page = rules.parse_page(ui.modal_values(interaction).get("page", ""))
    await _show_page(bot, interaction, page)


async def status_reply(bot: GuildBot) -> Reply:
    latency = latency_text((lat for _shard, lat in bot.shard_latencies()), _("n/a"))
    uptime = int(bot.clock() - bot.started_at)
    hours, rest = divmod(uptime, 3600)
    embed = discord.Embed(title=_("guildbot status"), colour=0x5865F2)
    embed.add_field(name=_("Version"), value=__version__)
    embed.add_field(name=_("Uptime"), value=f"{hours}h {rest // 60}m {rest % 60}s")
    embed.add_field(name=_("Gateway latency"), value=latency)
    embed.add_field(name=_("Servers"), value=i18n.number(len(bot.guilds)))
    embed.add_field(name=_("Stage"), value=bot.settings.stage)
    return Reply(embed=embed, ephemeral=True)


class Stats(commands.Cog):
    def __init__(self, bot: GuildBot) -> None:
        self.bot = bot

    @app_commands.command(name="stats", description=N_("Statistics of this server"))
    @app_commands.guild_only()
    async def stats(self, interaction: discord.Interaction) -> None:
        await send_reply(interaction, do_stats(repo_for(self.bot, interaction), actor(interaction),
                                               self.bot.clock(), self.bot.monitoring))

    @app_commands.command(name="leaderboard", description=N_("Top members by points"))
    @app_commands.describe(page=N_("Page number (10 members per page)"))
    @app_commands.guild_only()
    async def leaderboard(self, interaction: discord.Interaction,
                          page: app_commands.Range[int, 1, 100_000] = 1) -> None:
        await send_reply(interaction, do_leaderboard(repo_for(self.bot, interaction), page))

    @app_commands.command(name="status", description=N_("Bot uptime, latency and version"))
    async def status(self, interaction: discord.Interaction) -> None:
        await send_reply(interaction, status_reply(self.bot))


async def setup(bot: GuildBot) -> None:
    await bot.add_cog(Stats(bot))
