"""Helpers shared by the cogs: who is acting, and the guild-scoped repository.

Every cog is made by its module's ``setup(bot)`` with the :class:`bot.app.GuildBot` and
reaches the bot through ``self.bot`` (typed), never through ``interaction.client``; a
component handler (bot.components) is handed the bot by the command tree."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import discord

from bot.domain.errors import UserError
from bot.domain.text import display_name
from bot.i18n import _

if TYPE_CHECKING:
    from bot.components import ComponentBot
    from bot.domain.audit import AuditEntry
    from bot.storage.base import GuildRepository

# Records an audit entry (bot.domain.audit). The cogs pass the bot's (GuildBot.audit: stored,
# then posted to the guild's audit channel); without one, a do_* function stores it in its repo.
Auditor = Callable[["AuditEntry"], Awaitable[None]]


@dataclass(frozen=True)
class Person:
    id: int
    name: str
    bot: bool = False
    admin: bool = False

    @classmethod
    def of(cls, user: discord.abc.User | discord.Member) -> Person:
        perms = getattr(user, "guild_permissions", None)
        return cls(user.id, display_name(getattr(user, "display_name", None) or user.name),
                   bool(user.bot), bool(perms and perms.manage_guild))

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"


def actor(interaction: discord.Interaction) -> Person:
    person = Person.of(interaction.user)
    perms = interaction.permissions
    return Person(person.id, person.name, person.bot, bool(perms.manage_guild))


def repo_for(bot: ComponentBot, interaction: discord.Interaction) -> GuildRepository:
    """The bot's repository of the guild the interaction came from; commands are guild-only."""
    if interaction.guild_id is None:
        raise UserError(_("This command only works inside a server."))
    return bot.storage.guild(interaction.guild_id)
