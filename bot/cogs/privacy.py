"""/privacy show | export | delete: a member's rights over their data in this server.

``delete`` answers with a button whose custom_id carries the guild and the member
(``gb1:pv:delete:<guild>:<member>``, bot.components); the click goes through the tree's
``run_component`` (admission, maintenance, the guild check: a replay in another guild does
nothing) and :func:`do_confirm_delete` (only that member deletes). A member deleting their
own data is not an admin action and leaves no audit entry (it would keep the id they asked to
be forgotten); an admin's ``/admin forget`` and the operator's ``forget`` do (bot.cogs.admin,
bot.cli).
"""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import components as ui
from bot.cogs._common import Person, actor, repo_for
from bot.domain import privacy as rules
from bot.domain.errors import NotAllowed
from bot.i18n import N_, _
from bot.responses import Reply, send_reply, update_message
from bot.storage.base import Challenge, GuildRepository, Member
from bot.storage.export import exported

if TYPE_CHECKING:
    from bot.app import GuildBot

NOTHING_STORED = N_("guildbot stores nothing about you in this server.")


async def do_show(repo: GuildRepository, who: Person) -> Reply:
    member = await repo.member(who.id)
    if member is None:
        return Reply(_(NOTHING_STORED), ephemeral=True)
    return Reply(rules.show(member, await repo.member_challenges(who.id)), ephemeral=True)


async def do_export(repo: GuildRepository, who: Person, now: float) -> Reply:
    """The member's own data in this server as a JSON attachment (the same row shapes as the
    guild export: ids as strings, no guild id in the rows)."""
    member = await repo.member(who.id)
    if member is None:
        return Reply(_(NOTHING_STORED), ephemeral=True)
    document = {"guild_id": str(repo.guild_id), "user_id": str(who.id),
                "exported_at": datetime.fromtimestamp(now, UTC).isoformat(),
                "member": exported(Member, tuple(_values(member))),
                "challenges": [exported(Challenge, tuple(_values(c)))
                               for c in await repo.member_challenges(who.id)]}
    data = json.dumps(document, ensure_ascii=False, indent=1).encode()
    return Reply(_("Your guildbot data in this server."), ephemeral=True,
                 file=(f"guildbot-my-data-{repo.guild_id}.json", data))


def _values(row: Member | Challenge) -> list[object]:
    return [getattr(row, f.name) for f in fields(row)]


def confirm_view(guild_id: int, member_id: int) -> discord.ui.View:
    return ui.frozen(ui.button(_("Delete my data"), ui.make_id("pv", "delete", guild_id, member_id),
                               style=discord.ButtonStyle.danger))


async def do_delete(repo: GuildRepository, who: Person) -> Reply:
    """/privacy delete: the warning and the button that confirms it (nothing deleted yet)."""
    if await repo.member(who.id) is None:
        return Reply(_(NOTHING_STORED), ephemeral=True)
    return Reply(_(rules.DELETE_WARNING), ephemeral=True,
                 view=confirm_view(repo.guild_id, who.id))


async def do_confirm_delete(repo: GuildRepository, who: Person, member_id: int) -> Reply:
    """The click on a delete button (its guild already checked): only the member it was made
    for deletes."""
    if who.id != member_id:
        raise NotAllowed(_("Only the member who asked can confirm this; nothing was deleted."))
    forgotten = await repo.forget_member(member_id)
    if forgotten is None:
        return Reply(_(NOTHING_STORED), ephemeral=True)
    return Reply(_("Your guildbot data in this server is deleted. {details}",
                   details=rules.forgotten_message(forgotten).split(": ", 1)[1]),
                 ephemeral=True)


@ui.handler("pv", "delete")
async def on_confirm_delete(bot: ui.ComponentBot, interaction: discord.Interaction,
                            cid: ui.ComponentId) -> None:
    reply = await do_confirm_delete(repo_for(bot, interaction), actor(interaction),
                                    ui.number(cid))
    await update_message(interaction, reply)


class Privacy(commands.Cog):
    def __init__(self, bot: GuildBot) -> None:
        self.bot = bot

    privacy = app_commands.Group(name="privacy", description=N_("Your data in this server"),
                                 guild_only=True)

    @privacy.command(name="show", description=N_("What guildbot stores about you in this server"))
    async def show(self, interaction: discord.Interaction) -> None:
        await send_reply(interaction, do_show(repo_for(self.bot, interaction), actor(interaction)))

    @privacy.command(name="export", description=N_("Your data in this server as a JSON file"))
    async def export(self, interaction: discord.Interaction) -> None:
        await send_reply(interaction, do_export(repo_for(self.bot, interaction), actor(interaction),
                                                self.bot.clock()), ephemeral_hint=True)

    @privacy.command(name="delete", description=N_("Delete your data in this server (asks first)"))
    async def delete(self, interaction: discord.Interaction) -> None:
        await send_reply(interaction, do_delete(repo_for(self.bot, interaction),
                                                actor(interaction)))


async def setup(bot: GuildBot) -> None:
    await bot.add_cog(Privacy(bot))
