"""/privacy show | export | delete: a member's rights over their data in this server.

``delete`` answers with a button whose custom_id carries the guild and the member
(``privacy:delete:<guild>:<member>``); the click is checked again (:func:`do_confirm_delete`):
only that member, in that guild, deletes; anything else does nothing. A member deleting their
own data is not an admin action and leaves no audit entry (it would keep the id they asked to
be forgotten); an admin's ``/admin forget`` and the operator's ``forget`` do (bot.cogs.admin,
bot.cli).
"""

from __future__ import annotations

import json
import re
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.cogs._common import Person, actor, click_admitted, now_of, repo_for, run_click
from bot.domain import privacy as rules
from bot.domain.errors import NotAllowed
from bot.responses import Reply, send_reply
from bot.storage.base import Challenge, GuildRepository, Member
from bot.storage.export import exported

NOTHING_STORED = "guildbot stores nothing about you in this server."
DELETE_PREFIX = "privacy:delete:"  # + guild id + ":" + member id


async def do_show(repo: GuildRepository, who: Person) -> Reply:
    member = await repo.member(who.id)
    if member is None:
        return Reply(NOTHING_STORED, ephemeral=True)
    return Reply(rules.show(member, await repo.member_challenges(who.id)), ephemeral=True)


async def do_export(repo: GuildRepository, who: Person, now: float) -> Reply:
    """The member's own data in this server as a JSON attachment (the same row shapes as the
    guild export: ids as strings, no guild id in the rows)."""
    member = await repo.member(who.id)
    if member is None:
        return Reply(NOTHING_STORED, ephemeral=True)
    document = {"guild_id": str(repo.guild_id), "user_id": str(who.id),
                "exported_at": datetime.fromtimestamp(now, UTC).isoformat(),
                "member": exported(Member, tuple(_values(member))),
                "challenges": [exported(Challenge, tuple(_values(c)))
                               for c in await repo.member_challenges(who.id)]}
    data = json.dumps(document, ensure_ascii=False, indent=1).encode()
    return Reply("Your guildbot data in this server.", ephemeral=True,
                 file=(f"guildbot-my-data-{repo.guild_id}.json", data))


def _values(row: Member | Challenge) -> list[object]:
    return [getattr(row, f.name) for f in fields(row)]


def confirm_view(guild_id: int, member_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(ConfirmDelete(guild_id, member_id))
    return view


async def do_confirm_delete(repo: GuildRepository, who: Person, guild_id: int,
                            member_id: int) -> Reply:
    """The click on a delete button: only the member it was made for, in its guild, deletes."""
    if repo.guild_id != guild_id:
        raise NotAllowed("This button belongs to another server; nothing was deleted.")
    if who.id != member_id:
        raise NotAllowed("Only the member who asked can confirm this; nothing was deleted.")
    forgotten = await repo.forget_member(member_id)
    if forgotten is None:
        return Reply(NOTHING_STORED, ephemeral=True)
    return Reply("Your guildbot data in this server is deleted. "
                 + rules.forgotten_message(forgotten).split(": ", 1)[1], ephemeral=True)


class ConfirmDelete(discord.ui.DynamicItem[discord.ui.Button],
                    template=DELETE_PREFIX + r"(?P<guild>[0-9]{1,20}):(?P<member>[0-9]{1,20})"):
    def __init__(self, guild_id: int, member_id: int) -> None:
        super().__init__(discord.ui.Button(
            label="Delete my data", style=discord.ButtonStyle.danger,
            custom_id=f"{DELETE_PREFIX}{guild_id}:{member_id}"))
        self.guild_id = guild_id
        self.member_id = member_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction,
                             item: discord.ui.Item[Any], match: re.Match[str]) -> ConfirmDelete:
        return cls(int(match["guild"]), int(match["member"]))

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return await click_admitted(interaction)

    async def callback(self, interaction: discord.Interaction) -> None:
        await run_click(interaction, self._confirm(interaction))

    async def _confirm(self, interaction: discord.Interaction) -> None:
        reply = await do_confirm_delete(repo_for(interaction), actor(interaction),
                                        self.guild_id, self.member_id)
        await interaction.response.edit_message(content=reply.content, view=None)


class Privacy(commands.Cog):
    privacy = app_commands.Group(name="privacy", description="Your data in this server",
                                 guild_only=True)

    @privacy.command(name="show", description="What guildbot stores about you in this server")
    async def show(self, interaction: discord.Interaction) -> None:
        await send_reply(interaction, do_show(repo_for(interaction), actor(interaction)))

    @privacy.command(name="export", description="Your data in this server as a JSON file")
    async def export(self, interaction: discord.Interaction) -> None:
        await send_reply(interaction, do_export(repo_for(interaction), actor(interaction),
                                                now_of(interaction)), ephemeral_hint=True)

    @privacy.command(name="delete", description="Delete your data in this server (asks first)")
    async def delete(self, interaction: discord.Interaction) -> None:
        repo, who = repo_for(interaction), actor(interaction)
        if await repo.member(who.id) is None:
            await interaction.response.send_message(NOTHING_STORED, ephemeral=True)
            return
        await interaction.response.send_message(
            rules.DELETE_WARNING, ephemeral=True, view=confirm_view(repo.guild_id, who.id))


async def setup(bot: commands.Bot) -> None:
    bot.add_dynamic_items(ConfirmDelete)
    await bot.add_cog(Privacy())
