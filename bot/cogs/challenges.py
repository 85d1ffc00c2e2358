"""/challenge create | accept | decline | complete | dispute | cancel | list | rules.

A thin adapter: every rule (who may do what, deadlines, claims, disputes, escrow) and every reply
that states one is bot.domain.challenges, applied by the repository in one write transaction per
command, so two commands running at once can never spend the same points twice.
``/challenge rules`` shows the rules to the players.
"""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.cogs._common import Auditor, Person, actor, auditor_of, now_of, repo_for
from bot.domain import challenges as rules
from bot.domain.audit import AuditEntry
from bot.responses import Reply, send_reply
from bot.storage.base import GuildRepository


async def do_create(repo: GuildRepository, who: Person, opponent: Person, stake: int,
                    now: float) -> Reply:
    rules.check_opponent(opponent.bot)
    settings = await repo.settings()
    expires = rules.deadline(now, settings.challenge_expiry_hours)
    c = await repo.create_challenge(who.id, opponent.id, stake, now, expires)
    return Reply(rules.created_message(c))


async def do_accept(repo: GuildRepository, who: Person, number: int, now: float) -> Reply:
    return Reply(rules.accepted_message(await repo.accept_challenge(number, who.id, now)))


async def do_decline(repo: GuildRepository, who: Person, number: int, now: float) -> Reply:
    return Reply(rules.declined_message(await repo.decline_challenge(number, who.id, now)))


async def do_cancel(repo: GuildRepository, who: Person, number: int, now: float) -> Reply:
    return Reply(rules.cancelled_message(await repo.cancel_challenge(number, who.id, now)),
                 ephemeral=True)


async def do_complete(repo: GuildRepository, who: Person, number: int, winner: Person,
                      now: float, audit: Auditor | None = None) -> Reply:
    c = await repo.complete_challenge(number, who.id, winner.id, now, reporter_is_admin=who.admin)
    if who.id not in (c.challenger_id, c.opponent_id):  # an admin settled it: audit trail
        await (audit or repo.record_audit)(AuditEntry(
            repo.guild_id, who.id, "settle",
            {"challenge": c.challenge_id, "winner_id": str(c.winner_id)}, now))
    return Reply(rules.reported_message(c))


async def do_dispute(repo: GuildRepository, who: Person, number: int, now: float) -> Reply:
    return Reply(rules.disputed_message(await repo.dispute_challenge(number, who.id, now)))


async def do_rules() -> Reply:
    return Reply(rules.RULES, ephemeral=True)


async def do_list(repo: GuildRepository, who: Person, member: Person | None,
                  include_closed: bool) -> Reply:
    subject = member.id if member is not None else None
    found = await repo.challenges(subject, active_only=not include_closed, limit=15)
    if not found:
        scope = "active " if not include_closed else ""
        return Reply(f"No {scope}challenges found.", ephemeral=True)
    embed = discord.Embed(title="Challenges",
                          description="\n".join(map(rules.describe, found)))
    return Reply(embed=embed, ephemeral=True)


Stake = app_commands.Range[int, 1, rules.MAX_STAKE]
Number = app_commands.Range[int, 1, 1_000_000_000]


class Challenges(commands.Cog):
    challenge = app_commands.Group(name="challenge", description="Challenges between members",
                                   guild_only=True)

    @challenge.command(name="create",
                       description="Challenge a member for points; they have the server's expiry "
                                   "time to accept")
    @app_commands.describe(opponent="Who you challenge", stake="Points each side puts in")
    async def create(self, interaction: discord.Interaction, opponent: discord.Member,
                     stake: Stake) -> None:
        await send_reply(interaction, do_create(repo_for(interaction), actor(interaction),
                                                Person.of(opponent), stake, now_of(interaction)))

    @challenge.command(name="accept",
                       description="Accept a challenge made to you; the time to play starts now")
    @app_commands.describe(challenge="The challenge number")
    async def accept(self, interaction: discord.Interaction, challenge: Number) -> None:
        await send_reply(interaction, do_accept(repo_for(interaction), actor(interaction),
                                                challenge, now_of(interaction)))

    @challenge.command(name="decline", description="Decline a challenge made to you")
    @app_commands.describe(challenge="The challenge number")
    async def decline(self, interaction: discord.Interaction, challenge: Number) -> None:
        await send_reply(interaction, do_decline(repo_for(interaction), actor(interaction),
                                                 challenge, now_of(interaction)))

    @challenge.command(name="complete",
                       description="Report a result: name your opponent to concede, yourself "
                                   "to claim; admins settle others' games")
    @app_commands.describe(challenge="The challenge number",
                           winner="Who won (yourself: a claim your opponent may dispute)")
    async def complete(self, interaction: discord.Interaction, challenge: Number,
                       winner: discord.Member) -> None:
        await send_reply(interaction, do_complete(repo_for(interaction), actor(interaction),
                                                  challenge, Person.of(winner),
                                                  now_of(interaction), auditor_of(interaction)))

    @challenge.command(name="dispute",
                       description="Dispute your opponent's claim; an admin who is not playing "
                                   "settles it")
    @app_commands.describe(challenge="The challenge number")
    async def dispute(self, interaction: discord.Interaction, challenge: Number) -> None:
        await send_reply(interaction, do_dispute(repo_for(interaction), actor(interaction),
                                                 challenge, now_of(interaction)))

    @challenge.command(name="rules", description="How challenges work: deadlines, claims, "
                                                 "disputes, who settles")
    async def rules_(self, interaction: discord.Interaction) -> None:
        await send_reply(interaction, do_rules())

    @challenge.command(name="cancel", description="Cancel a challenge you made (until accepted)")
    @app_commands.describe(challenge="The challenge number")
    async def cancel(self, interaction: discord.Interaction, challenge: Number) -> None:
        await send_reply(interaction, do_cancel(repo_for(interaction), actor(interaction),
                                                challenge, now_of(interaction)))

    @challenge.command(name="list", description="List challenges")
    @app_commands.describe(member="Only this member's challenges",
                           include_closed="Also show finished challenges")
    async def list_(self, interaction: discord.Interaction, member: discord.Member | None = None,
                   include_closed: bool = False) -> None:
        person = Person.of(member) if member is not None else None
        await send_reply(interaction, do_list(repo_for(interaction), actor(interaction), person,
                                              include_closed))


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Challenges())
