"""/challenge create | accept | decline | complete | dispute | cancel | list | rules, and the
challenge's buttons.

A thin adapter: every rule (who may do what, deadlines, claims, disputes, escrow) and every reply
that states one is bot.domain.challenges, applied by the repository in one write transaction per
command, so two commands running at once can never spend the same points twice.
``/challenge rules`` shows the rules to the players.

``/challenge create`` posts the challenge with buttons (accept, decline, cancel; once accepted:
I won, I lost, dispute); its message is recorded with the challenge and edited by whichever
process changes the challenge (a click, a command, the expiry job): bot.posts. Clicks carry
``gb1:ch:<action>:<guild>:<number>`` (bot.components) and are decided by the same rules as the
commands, for the member who clicks, in the guild the click comes from.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot import components as ui
from bot import i18n
from bot.cogs._common import Auditor, Person, actor, repo_for
from bot.domain import challenges as rules
from bot.domain.audit import AuditEntry
from bot.domain.errors import InvalidInput
from bot.i18n import N_, _
from bot.posts import challenge_view, refresh
from bot.responses import Reply, direct_choices, send_reply, update_message
from bot.storage.base import Challenge, GuildRepository

if TYPE_CHECKING:
    from bot.app import GuildBot


def my_actions(c: Challenge, user_id: int) -> tuple[str, ...]:
    """The buttons worth showing ``user_id`` alone (the list's detail): what their role allows."""
    if user_id == c.opponent_id and rules.phase(c) == "open":
        return ("accept", "decline")
    if user_id == c.challenger_id and rules.phase(c) == "open":
        return ("cancel",)
    if user_id in (c.challenger_id, c.opponent_id):
        return ("claim", "concede") if c.claimant_id is None else \
            (("dispute",) if user_id != c.claimant_id else ())
    return ()


@dataclass
class ChallengeReply(Reply):
    """A reply about one challenge, which the command then shows on its public message."""

    challenge: Challenge | None = None


async def do_create(repo: GuildRepository, who: Person, opponent: Person, stake: int,
                    now: float) -> ChallengeReply:
    rules.check_opponent(opponent.bot)
    settings = await repo.settings()
    expires = rules.deadline(now, settings.challenge_expiry_hours)
    c = await repo.create_challenge(who.id, opponent.id, stake, now, expires)
    with i18n.use(settings.language):  # the reply is the challenge's public post
        return ChallengeReply(rules.created_message(c), view=challenge_view(c), challenge=c,
                              wants_message_id=True)


async def do_accept(repo: GuildRepository, who: Person, number: int,
                    now: float) -> ChallengeReply:
    c = await repo.accept_challenge(number, who.id, now)
    return ChallengeReply(rules.accepted_message(c), challenge=c)


async def do_decline(repo: GuildRepository, who: Person, number: int,
                     now: float) -> ChallengeReply:
    c = await repo.decline_challenge(number, who.id, now)
    return ChallengeReply(rules.declined_message(c), challenge=c)


async def do_cancel(repo: GuildRepository, who: Person, number: int,
                    now: float) -> ChallengeReply:
    c = await repo.cancel_challenge(number, who.id, now)
    return ChallengeReply(rules.cancelled_message(c), ephemeral=True, challenge=c)


async def do_complete(repo: GuildRepository, who: Person, number: int, winner: Person,
                      now: float, audit: Auditor | None = None) -> ChallengeReply:
    c = await repo.complete_challenge(number, who.id, winner.id, now, reporter_is_admin=who.admin)
    if who.id not in (c.challenger_id, c.opponent_id):  # an admin settled it: audit trail
        await (audit or repo.record_audit)(AuditEntry(
            repo.guild_id, who.id, "settle",
            {"challenge": c.challenge_id, "winner_id": str(c.winner_id)}, now))
    return ChallengeReply(rules.reported_message(c), challenge=c)


async def do_dispute(repo: GuildRepository, who: Person, number: int,
                     now: float) -> ChallengeReply:
    c = await repo.dispute_challenge(number, who.id, now)
    return ChallengeReply(rules.disputed_message(c), challenge=c)


async def do_rules() -> Reply:
    return Reply(rules.rules_text(), ephemeral=True)


async def do_list(repo: GuildRepository, who: Person, member: Person | None,
                  include_closed: bool) -> Reply:
    subject = member.id if member is not None else None
    found = await repo.challenges(subject, active_only=not include_closed, limit=15)
    if not found:
        return Reply(_("No challenges found.") if include_closed
                     else _("No active challenges found."), ephemeral=True)
    embed = discord.Embed(title=_("Challenges"),
                          description="\n".join(map(rules.describe, found)))
    options = [discord.SelectOption(label=rules.choice_label(c, who.id),
                                    value=str(c.challenge_id)) for c in found[:25]]
    pick: discord.ui.Select[Any] = discord.ui.Select(
        custom_id=ui.make_id("ch", "pick", repo.guild_id),
        placeholder=_("Act on one of these challenges"), options=options)
    return Reply(embed=embed, ephemeral=True, view=ui.frozen(pick))


# -- the buttons and the select -------------------------------------------------------------------
Action = Callable[[GuildRepository, Person, int, float], Awaitable[Challenge]]


async def _claim(repo: GuildRepository, who: Person, number: int, now: float) -> Challenge:
    return await repo.complete_challenge(number, who.id, who.id, now, reporter_is_admin=who.admin)


async def _concede(repo: GuildRepository, who: Person, number: int, now: float) -> Challenge:
    winner = rules.conceded_to(await repo.challenge(number), who.id)
    return await repo.complete_challenge(number, who.id, winner, now,
                                         reporter_is_admin=who.admin)


ACTIONS: dict[str, Action] = {
    "accept": lambda repo, who, n, now: repo.accept_challenge(n, who.id, now),
    "decline": lambda repo, who, n, now: repo.decline_challenge(n, who.id, now),
    "cancel": lambda repo, who, n, now: repo.cancel_challenge(n, who.id, now),
    "claim": _claim,
    "concede": _concede,
    "dispute": lambda repo, who, n, now: repo.dispute_challenge(n, who.id, now),
}


async def on_button(bot: ui.ComponentBot, interaction: discord.Interaction,
                    cid: ui.ComponentId) -> None:
    """A challenge's button, on its public message or on a list's detail: the action for the
    member who clicked, by the rules; then the public message shows the new state."""
    repo = repo_for(bot, interaction)
    number = ui.number(cid)
    c = await ACTIONS[cid.action](repo, actor(interaction), number, bot.clock())
    if interaction.message is not None and not interaction.message.flags.ephemeral:
        # The public post itself (the list's detail is ephemeral): updated in the answer, in
        # the guild's language.
        with i18n.use((await repo.settings()).language):
            content, view = rules.post_message(c), challenge_view(c)
        await update_message(interaction, Reply(content, view=view))
        return
    await update_message(interaction, Reply(rules.post_message(c)))
    await refresh(bot, repo, c)


for _action in ACTIONS:
    ui.handler("ch", _action)(on_button)


@ui.handler("ch", "pick")
async def on_pick(bot: ui.ComponentBot, interaction: discord.Interaction,
                  cid: ui.ComponentId) -> None:
    """A challenge picked in ``/challenge list``: it, with the buttons the member may use."""
    values = ui.selected(interaction)
    if len(values) != 1 or not values[0].isdigit():
        raise InvalidInput(_("Pick one challenge from the list."))
    await send_reply(interaction, do_pick(repo_for(bot, interaction), actor(interaction),
                                          int(values[0])))


async def do_pick(repo: GuildRepository, who: Person, number: int) -> Reply:
    c = await repo.challenge(number)
    view = challenge_view(c, my_actions(c, who.id))
    text = rules.describe(c) + ("" if view else
                                "\n" + _("There is nothing you can do with it now."))
    return Reply(text, ephemeral=True, view=view)


Stake = app_commands.Range[int, 1, rules.MAX_STAKE]
Number = app_commands.Range[int, 1, 1_000_000_000]


class Challenges(commands.Cog):
    challenge = app_commands.Group(name="challenge",
                                   description=N_("Challenges between members"),
                                   guild_only=True)

    def __init__(self, bot: GuildBot) -> None:
        self.bot = bot

    async def send_and_show(self, interaction: discord.Interaction, repo: GuildRepository,
                            work: Awaitable[ChallengeReply]) -> None:
        """Answer a challenge command, then show the challenge's state on its public message."""
        reply = await send_reply(interaction, work)
        if reply.challenge is not None:
            await refresh(self.bot, repo, reply.challenge)

    async def number_choices(self, interaction: discord.Interaction,
                             current: Any) -> list[app_commands.Choice[int]]:
        """Autocomplete of a challenge number: the member's own active challenges (one indexed
        read of at most 25), those whose number starts with what is typed."""
        typed = str(current or "").strip().lstrip("#")
        who = interaction.user.id
        found = await repo_for(self.bot, interaction).challenges(who, active_only=True,
                                                                 limit=25)
        return [app_commands.Choice(name=rules.choice_label(c, who), value=c.challenge_id)
                for c in found if str(c.challenge_id).startswith(typed)][:25]


    @challenge.command(name="create",
                       description=N_("Challenge a member for points; they have the server's "
                                      "expiry time to accept"))
    @app_commands.describe(opponent=N_("Who you challenge"), stake=N_("Points each side puts in"))
    async def create(self, interaction: discord.Interaction, opponent: discord.Member,
                     stake: Stake) -> None:
        repo = repo_for(self.bot, interaction)
        reply = await send_reply(interaction, do_create(repo, actor(interaction),
                                                        Person.of(opponent), stake,
                                                        self.bot.clock()))
        if reply.challenge and reply.message_id is not None and interaction.channel_id:
            await repo.set_challenge_message(reply.challenge.challenge_id,
                                             interaction.channel_id, reply.message_id)

    @challenge.command(name="accept",
                       description=N_("Accept a challenge made to you; the time to play "
                                      "starts now"))
    @app_commands.describe(challenge=N_("The challenge number"))
    @app_commands.autocomplete(challenge=direct_choices(number_choices))
    async def accept(self, interaction: discord.Interaction, challenge: Number) -> None:
        repo = repo_for(self.bot, interaction)
        await self.send_and_show(interaction, repo, do_accept(
            repo, actor(interaction), challenge, self.bot.clock()))

    @challenge.command(name="decline", description=N_("Decline a challenge made to you"))
    @app_commands.describe(challenge=N_("The challenge number"))
    @app_commands.autocomplete(challenge=direct_choices(number_choices))
    async def decline(self, interaction: discord.Interaction, challenge: Number) -> None:
        repo = repo_for(self.bot, interaction)
        await self.send_and_show(interaction, repo, do_decline(
            repo, actor(interaction), challenge, self.bot.clock()))

    @challenge.command(name="complete",
                       description=N_("Report a result: name your opponent to concede, "
                                      "yourself to claim; admins settle others' games"))
    @app_commands.autocomplete(challenge=direct_choices(number_choices))
    @app_commands.describe(challenge=N_("The challenge number"),
                           winner=N_("Who won (yourself: a claim your opponent may dispute)"))
    async def complete(self, interaction: discord.Interaction, challenge: Number,
                       winner: discord.Member) -> None:
        repo = repo_for(self.bot, interaction)
        await self.send_and_show(interaction, repo, do_complete(
            repo, actor(interaction), challenge, Person.of(winner), self.bot.clock(),
            self.bot.audit))

    @challenge.command(name="dispute",
                       description=N_("Dispute your opponent's claim; an admin who is not "
                                      "playing settles it"))
    @app_commands.describe(challenge=N_("The challenge number"))
    @app_commands.autocomplete(challenge=direct_choices(number_choices))
    async def dispute(self, interaction: discord.Interaction, challenge: Number) -> None:
        repo = repo_for(self.bot, interaction)
        await self.send_and_show(interaction, repo, do_dispute(
            repo, actor(interaction), challenge, self.bot.clock()))

    @challenge.command(name="rules", description=N_("How challenges work: deadlines, claims, "
                                                    "disputes, who settles"))
    async def rules_(self, interaction: discord.Interaction) -> None:
        await send_reply(interaction, do_rules())

    @challenge.command(name="cancel",
                       description=N_("Cancel a challenge you made (until accepted)"))
    @app_commands.describe(challenge=N_("The challenge number"))
    @app_commands.autocomplete(challenge=direct_choices(number_choices))
    async def cancel(self, interaction: discord.Interaction, challenge: Number) -> None:
        repo = repo_for(self.bot, interaction)
        await self.send_and_show(interaction, repo, do_cancel(
            repo, actor(interaction), challenge, self.bot.clock()))

    @challenge.command(name="list", description=N_("List challenges"))
    @app_commands.describe(member=N_("Only this member's challenges"),
                           include_closed=N_("Also show finished challenges"))
    async def list_(self, interaction: discord.Interaction, member: discord.Member | None = None,
                   include_closed: bool = False) -> None:
        person = Person.of(member) if member is not None else None
        await send_reply(interaction, do_list(repo_for(self.bot, interaction), actor(interaction),
                                              person, include_closed))


async def setup(bot: GuildBot) -> None:
    await bot.add_cog(Challenges(bot))
