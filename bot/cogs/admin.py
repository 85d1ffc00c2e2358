"""/admin: maintenance, settings, export, purge, forget and audit (Manage Server permission).

Every admin action is recorded in the guild's audit trail (bot/domain/audit.py) through an
``Auditor``: the cogs pass the bot's (stored, then posted to the audit channel)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot import components as ui
from bot import i18n
from bot.cogs._common import (
    Auditor,
    Person,
    actor,
    repo_for,
)
from bot.domain import audit as audit_rules
from bot.domain import privacy as privacy_rules
from bot.domain import settings as rules
from bot.domain.audit import AuditEntry
from bot.domain.errors import InvalidInput, UserError
from bot.domain.settings import MAX_DAILY_REWARD, MAX_EXPIRY_HOURS
from bot.i18n import N_, _, n_
from bot.responses import Reply, direct_choices, send_reply, update_message
from bot.storage.base import GuildRepository, GuildSettings
from bot.storage.export import BoundedBuffer, ExportTooLarge, size_floor

if TYPE_CHECKING:
    from bot.app import GuildBot
    from bot.monitoring.hooks import MonitoringHooks

MIB = 1024 * 1024
EXPORT_LIMIT_BYTES = 8 * MIB  # Discord's smallest attachment limit (a bot's default)
# Whatever a guild's attachment limit (boosts raise it), an export is built in memory: cap it.
EXPORT_MAX_BYTES = 25 * MIB
PURGE_FIELD = "confirm"  # the purge modal's text input
# One /admin export at a time in the process; a second one is answered "busy" at once.
_export_running = asyncio.Lock()


def require_admin(who: Person) -> None:
    rules.require_admin(who.admin)


# /admin settings clear:<choice> -> the setting it unsets (a channel option cannot be emptied).
CLEARABLE = {N_("announcement channel"): "announcement_channel_id",
             N_("audit channel"): "audit_channel_id"}


def _channel(channel_id: int | None) -> str:
    return f"<#{channel_id}>" if channel_id else _("not set")


def describe_settings(s: GuildSettings) -> str:
    return "\n".join((
        _("Maintenance: {state}", state=_("on") if s.maintenance else _("off")),
        n_("Daily reward: {points} point", "Daily reward: {points} points", s.daily_reward,
           points=i18n.number(s.daily_reward)),
        n_("Challenge expiry: {hours} hour", "Challenge expiry: {hours} hours",
           s.challenge_expiry_hours, hours=i18n.number(s.challenge_expiry_hours)),
        _("Day boundary: midnight {zone}", zone=s.day_boundary),
        _("Announcement channel: {channel}", channel=_channel(s.announcement_channel_id)),
        _("Audit channel: {channel}", channel=_channel(s.audit_channel_id)),
        _("Language of public messages: {language}",
          language=i18n.LANGUAGE_NAMES.get(s.language, s.language))))


async def _change_settings(repo: GuildRepository, who: Person, action: str, now: float,
                           audit: Auditor | None, **changes: object) -> GuildSettings:
    """Apply ``changes`` and record them (old -> new) in the audit trail when any changed."""
    old = await repo.settings()
    new = await repo.update_settings(**changes)
    diff = audit_rules.settings_changes(old, new)
    if diff:
        await (audit or repo.record_audit)(AuditEntry(repo.guild_id, who.id, action, diff, now))
    return new


async def do_maintenance(repo: GuildRepository, who: Person, on: bool, now: float,
                         audit: Auditor | None = None) -> Reply:
    require_admin(who)
    await _change_settings(repo, who, "maintenance", now, audit, maintenance=on)
    return Reply(_("Maintenance is on: members get a maintenance notice.") if on
                 else _("Maintenance is off: commands are open again."), ephemeral=True)


async def do_settings(repo: GuildRepository, who: Person, *, now: float,
                      daily_reward: int | None = None,
                      challenge_expiry_hours: int | None = None, day_boundary: str | None = None,
                      announcement_channel_id: int | None = None,
                      audit_channel_id: int | None = None, language: str | None = None,
                      clear: str | None = None,
                      audit: Auditor | None = None) -> Reply:
    """Show or change the settings; ``clear`` (a key of :data:`CLEARABLE`) unsets a channel."""
    require_admin(who)
    given = {"daily_reward": daily_reward, "challenge_expiry_hours": challenge_expiry_hours,
             "day_boundary": day_boundary, "announcement_channel_id": announcement_channel_id,
             "audit_channel_id": audit_channel_id, "language": language}
    changes: dict[str, object] = {name: value for name, value in given.items()
                                  if value is not None}
    if clear is not None:
        if CLEARABLE[clear] in changes:
            raise InvalidInput(_("Set the {setting} or clear it, not both; nothing was changed.",
                                 setting=_(clear)))
        changes[CLEARABLE[clear]] = None
    if changes:  # validated by the repository (bot.domain.settings)
        settings = await _change_settings(repo, who, "settings", now, audit, **changes)
        return Reply(_("Settings updated.") + "\n" + describe_settings(settings), ephemeral=True)
    return Reply(_("Current settings:") + "\n" + describe_settings(await repo.settings()),
                 ephemeral=True)


async def do_export(repo: GuildRepository, who: Person, now: float,
                    attachment_limit: int = EXPORT_LIMIT_BYTES,
                    audit: Auditor | None = None) -> Reply:
    """The guild's data as a JSON attachment, one export at a time in the whole process.

    A guild whose row counts alone show it cannot fit is refused before a row is read; any other
    is streamed, off the event loop, into a buffer that refuses to grow past the limit."""
    require_admin(who)
    if _export_running.locked():
        raise UserError(_("An export is already running; try again in a minute."))
    limit = min(attachment_limit, EXPORT_MAX_BYTES)
    too_large = UserError(_(
        "This server's data is larger than the {size} MiB I can attach here. Ask the bot "
        "operator for an export: `guildbot-cli export --guild-id {guild} --out FILE`.",
        size=i18n.number(limit / MIB), guild=repo.guild_id))
    async with _export_running:
        if size_floor(await repo.export_counts()) > limit:
            raise too_large
        buffer = BoundedBuffer(limit)
        try:
            counts = await repo.export_to(buffer, datetime.fromtimestamp(now, UTC).isoformat())
        except ExportTooLarge:
            raise too_large from None
    await (audit or repo.record_audit)(AuditEntry(repo.guild_id, who.id, "export", counts, now))
    members, challenges = counts["members"], counts["challenges"]
    return Reply(_("Export: {members}, {challenges}.",
                   members=n_("{count} member", "{count} members", members,
                              count=i18n.number(members)),
                   challenges=n_("{count} challenge", "{count} challenges", challenges,
                                 count=i18n.number(challenges))),
                 file=(f"guildbot-export-{repo.guild_id}.json", buffer.getvalue()),
                 ephemeral=True)


async def do_purge(repo: GuildRepository, who: Person, guild_name: str, confirm: str,
                   monitoring: MonitoringHooks, now: float,
                   audit: Auditor | None = None) -> Reply:
    require_admin(who)
    rules.confirm_purge(confirm, guild_name)
    await monitoring.purge_guild(repo)  # the usage rows not yet written go too
    # After the purge (which deletes the trail too): the first entry of the new trail.
    await (audit or repo.record_audit)(AuditEntry(repo.guild_id, who.id, "purge", {}, now))
    return Reply(_("All of this server's guildbot data has been deleted."), ephemeral=True)


@ui.handler("ad", "purge")
async def on_purge(bot: ui.ComponentBot, interaction: discord.Interaction,
                   cid: ui.ComponentId) -> None:
    """The purge modal submitted: the admin check again (the member submitting it, now), the
    name typed against the server's, then the purge."""
    name = interaction.guild.name if interaction.guild else ""
    confirm = ui.modal_values(interaction).get(PURGE_FIELD, "")
    await send_reply(interaction, do_purge(
        repo_for(bot, interaction), actor(interaction), name, confirm,
        bot.monitoring,
        bot.clock(), bot.audit),
        ephemeral_hint=True)


async def time_zone_choices(interaction: discord.Interaction,
                            current: str) -> list[app_commands.Choice[str]]:
    """Autocomplete of the day boundary: IANA time zones containing what is typed (no query)."""
    return [app_commands.Choice(name=z, value=z) for z in rules.time_zones_like(current)]


async def do_forget(repo: GuildRepository, who: Person, member: str, now: float,
                    audit: Auditor | None = None) -> Reply:
    """An admin deletes a member's data (one who left, usually): bot.domain.privacy. The audit
    entry keeps who asked, when, and the forgotten user id (the request's subject), nothing
    of the deleted data."""
    require_admin(who)
    user_id = privacy_rules.parse_user_id(member)
    forgotten = await repo.forget_member(user_id)
    if forgotten is None:
        raise UserError(_("guildbot has no data of user {user} in this server.", user=user_id))
    await (audit or repo.record_audit)(AuditEntry(
        repo.guild_id, who.id, "forget", privacy_rules.audit_details(forgotten), now))
    return Reply(privacy_rules.forgotten_message(forgotten), ephemeral=True)


async def do_audit(repo: GuildRepository, who: Person,
                   page: int = 0) -> Reply:
    """One page of the audit trail, newest first, with Newer/Older buttons carrying the
    page to show (``gb1:ad:audit:<guild>:<page>``; the admin check runs again on every click,
    see on_audit_page). A disabled Newer on the first page carries page 0: Discord wants the
    custom_ids of a message distinct, and Older carries 1 there."""
    require_admin(who)
    size = audit_rules.AUDIT_PAGE_SIZE
    total = (await repo.audit(0, 0))[1]
    page = audit_rules.clamp_page(page, total)
    entries, total = await repo.audit(page * size, size)
    pages = audit_rules.page_count(total)
    lines = [audit_rules.describe(e) for e in entries] or [_("No admin action recorded yet.")]
    embed = discord.Embed(title=_("Audit trail (page {page} of {pages})", page=page + 1,
                                  pages=pages),
                          description="\n".join(lines))
    buttons = [ui.button(label, ui.make_id("ad", "audit", repo.guild_id, max(target, 0)),
                         disabled=not 0 <= target < pages)
               for label, target in ((_("Newer"), page - 1), (_("Older"), page + 1))]
    return Reply(embed=embed, view=ui.frozen(*(buttons if pages > 1 else [])), ephemeral=True)


@ui.handler("ad", "audit")
async def on_audit_page(bot: ui.ComponentBot, interaction: discord.Interaction,
                        cid: ui.ComponentId) -> None:
    """A Newer/Older click of /admin audit, on any message, also after a restart: its page in
    place, for an admin only (maintenance does not stop it: the admin family is exempt)."""
    reply = await do_audit(repo_for(bot, interaction), actor(interaction), ui.number(cid))
    await update_message(interaction, reply)


@app_commands.default_permissions(manage_guild=True)
class Admin(commands.GroupCog, group_name="admin",
            group_description=N_("Server administration")):
    def __init__(self, bot: GuildBot) -> None:
        self.bot = bot

    @app_commands.command(name="maintenance",
                          description=N_("Turn maintenance mode on or off"))
    @app_commands.describe(state=N_("On: members get a maintenance notice; off: open again"))
    async def maintenance(self, interaction: discord.Interaction,
                          state: Literal["on", "off"]) -> None:
        reply = await send_reply(interaction, do_maintenance(
            repo_for(self.bot, interaction), actor(interaction), state == "on", self.bot.clock(),
            self.bot.audit))
        if reply is not None and interaction.guild_id is not None:
            self.bot.set_guild_maintenance(interaction.guild_id, state == "on")

    @app_commands.command(name="settings",
                          description=N_("Show or change this server's settings"))
    @app_commands.describe(
        daily_reward=N_("Points per daily check-in"),
        challenge_expiry_hours=N_("Hours before an unanswered challenge expires"),
        day_boundary=N_("Time zone whose midnight starts a new day, e.g. UTC or Europe/Berlin"),
        announcement_channel=N_("Where operator announcements are posted"),
        audit_channel=N_("Where each admin action of the audit trail is posted"),
        language=N_("The language of public messages: challenge posts and their updates"),
        clear=N_("Unset a channel setting"))
    @app_commands.autocomplete(day_boundary=direct_choices(time_zone_choices))
    @app_commands.choices(language=[app_commands.Choice(name=i18n.LANGUAGE_NAMES[code],
                                                        value=code) for code in i18n.LANGUAGES])
    async def settings(
        self, interaction: discord.Interaction,
        daily_reward: app_commands.Range[int, 1, MAX_DAILY_REWARD] | None = None,
        challenge_expiry_hours: app_commands.Range[int, 1, MAX_EXPIRY_HOURS] | None = None,
        day_boundary: app_commands.Range[str, 1, 64] | None = None,
        announcement_channel: discord.TextChannel | None = None,
        audit_channel: discord.TextChannel | None = None,
        language: app_commands.Choice[str] | None = None,
        clear: Literal["announcement channel", "audit channel"] | None = None,
    ) -> None:
        channel_id = announcement_channel.id if announcement_channel is not None else None
        await send_reply(interaction, do_settings(
            repo_for(self.bot, interaction), actor(interaction), daily_reward=daily_reward,
            challenge_expiry_hours=challenge_expiry_hours, day_boundary=day_boundary,
            announcement_channel_id=channel_id,
            audit_channel_id=audit_channel.id if audit_channel is not None else None,
            language=language.value if language is not None else None,
            clear=clear, now=self.bot.clock(), audit=self.bot.audit),
            ephemeral_hint=True)

    @app_commands.command(name="export",
                          description=N_("Download this server's data as JSON"))
    async def export(self, interaction: discord.Interaction) -> None:
        await send_reply(interaction, do_export(repo_for(self.bot, interaction), actor(interaction),
                                                self.bot.clock(),
                                                interaction.filesize_limit,
                                                self.bot.audit),
                         ephemeral_hint=True)

    @app_commands.command(name="purge", description=N_("Delete ALL of this server's data"))
    async def purge(self, interaction: discord.Interaction) -> None:
        """Asks for the server's name in a modal (``gb1:ad:purge:<guild>``): see on_purge."""
        require_admin(actor(interaction))
        guild_id = repo_for(self.bot, interaction).guild_id
        await interaction.response.send_modal(ui.text_modal(
            _("Delete ALL of this server's data"), ui.make_id("ad", "purge", guild_id),
            PURGE_FIELD, _("Type the server's exact name to confirm")))

    @app_commands.command(name="forget",
                          description=N_("Delete a member's guildbot data (e.g. one who left)"))
    @app_commands.describe(member=N_("The member: a mention or a user id"))
    async def forget(self, interaction: discord.Interaction,
                     member: app_commands.Range[str, 1, 40]) -> None:
        await send_reply(interaction, do_forget(repo_for(self.bot, interaction), actor(interaction),
                                                member, self.bot.clock(),
                                                self.bot.audit), ephemeral_hint=True)

    @app_commands.command(name="audit", description=N_("The latest admin actions in this server"))
    async def audit(self, interaction: discord.Interaction) -> None:
        await send_reply(interaction, do_audit(repo_for(self.bot, interaction), actor(interaction)))


async def setup(bot: GuildBot) -> None:
    await bot.add_cog(Admin(bot))
