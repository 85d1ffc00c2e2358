"""/challenge create | accept | decline | complete | dispute | cancel | list | rules.

Stakes are escrowed: the challenger's points leave their balance when the challenge is made and
the opponent's when it is accepted, inside one write transaction each, so two commands running at
once can never spend the same points twice. The rules of the game (deadlines, claims, disputes,
who settles) are bot.domain.challenges; ``/challenge rules`` shows them to the players.
"""

from __future__ import annotations

from datetime import UTC, datetime

import discord
from discord import app_commands
from discord.ext import commands

from bot.cogs._common import Person, actor, now_of, repo_for
from bot.domain import challenges as rules
from bot.responses import Reply, send_reply
from bot.storage.base import Challenge, GuildRepository

_STATUS_ICON = {"open": "🟡", "playing": "🟢", "claimed": "🔵", "disputed": "🟠",
                "completed": "🏁", "declined": "⚪", "cancelled": "⚪", "expired": "⌛"}


def _when(ts: float) -> str:
    return f"<t:{int(ts)}:R>"


def _utc(ts: float) -> str:
    return f"{datetime.fromtimestamp(ts, UTC):%Y-%m-%d %H:%M} UTC"


def describe(c: Challenge) -> str:
    phase = rules.phase(c)
    text = (f"{_STATUS_ICON.get(phase, '')} #{c.challenge_id}: <@{c.challenger_id}> vs "
            f"<@{c.opponent_id}> for {c.stake:,} points ({c.status}")
    if phase == "open":
        text += f", accept by {_when(c.expires_at)}"
    elif phase == "playing":
        text += f", report by {_when(c.expires_at)}"
    elif phase == "claimed":
        text += (f", <@{c.claimant_id}> claims the win, settles {_when(c.expires_at)} "
                 "unless disputed")
    elif phase == "disputed":
        text += f", disputed: an admin who is not playing settles it by {_when(c.expires_at)}"
    if c.winner_id:
        text += f", won by <@{c.winner_id}>"
    return text + ")"


async def do_create(repo: GuildRepository, who: Person, opponent: Person, stake: int,
                    now: float) -> Reply:
    rules.check_opponent(opponent.bot)
    settings = await repo.settings()
    expires = rules.deadline(now, settings.challenge_expiry_hours)
    c = await repo.create_challenge(who.id, opponent.id, stake, now, expires)
    return Reply(f"{opponent.mention}, {who.mention} challenges you for {stake:,} points! "
                 f"Accept with `/challenge accept challenge:{c.challenge_id}` or decline with "
                 f"`/challenge decline challenge:{c.challenge_id}` before {_utc(expires)}.")


async def do_accept(repo: GuildRepository, who: Person, number: int, now: float) -> Reply:
    c = await repo.accept_challenge(number, who.id, now)
    return Reply(f"Challenge #{c.challenge_id} accepted: {c.stake:,} points each are at stake. "
                 f"Report the result with `/challenge complete` before {_utc(c.expires_at)}: "
                 "name your opponent to concede, or yourself to claim the win. "
                 "`/challenge rules` explains the rest.")


async def do_decline(repo: GuildRepository, who: Person, number: int, now: float) -> Reply:
    c = await repo.decline_challenge(number, who.id, now)
    return Reply(f"Challenge #{c.challenge_id} declined; <@{c.challenger_id}> got "
                 f"{c.stake:,} points back.")


async def do_cancel(repo: GuildRepository, who: Person, number: int, now: float) -> Reply:
    c = await repo.cancel_challenge(number, who.id, now)
    return Reply(f"Challenge #{c.challenge_id} cancelled; your {c.stake:,} points are back.",
                 ephemeral=True)


async def do_complete(repo: GuildRepository, who: Person, number: int, winner: Person,
                      now: float) -> Reply:
    c = await repo.complete_challenge(number, who.id, winner.id, now, reporter_is_admin=who.admin)
    if c.status == "completed":
        return Reply(f"Challenge #{c.challenge_id} is settled: {winner.mention} wins "
                     f"{2 * c.stake:,} points!")
    other = c.opponent_id if c.claimant_id == c.challenger_id else c.challenger_id
    return Reply(f"<@{other}>, {who.mention} claims to have won challenge #{c.challenge_id}. "
                 f"Confirm with `/challenge complete challenge:{c.challenge_id}` naming them "
                 f"as the winner, or `/challenge dispute challenge:{c.challenge_id}`, before "
                 f"{_utc(c.expires_at)}; otherwise the claim stands and they win "
                 f"{2 * c.stake:,} points.")


async def do_dispute(repo: GuildRepository, who: Person, number: int, now: float) -> Reply:
    c = await repo.dispute_challenge(number, who.id, now)
    return Reply(f"Challenge #{c.challenge_id} is disputed. An admin who is not one of the "
                 f"players settles it with `/challenge complete` before {_utc(c.expires_at)}; "
                 "if none does, both stakes go back.")


async def do_rules() -> Reply:
    return Reply(rules.RULES, ephemeral=True)


async def do_list(repo: GuildRepository, who: Person, member: Person | None,
                  include_closed: bool) -> Reply:
    subject = member.id if member is not None else None
    found = await repo.challenges(subject, active_only=not include_closed, limit=15)
    if not found:
        scope = "active " if not include_closed else ""
        return Reply(f"No {scope}challenges found.", ephemeral=True)
    embed = discord.Embed(title="Challenges", description="\n".join(map(describe, found)))
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
                                                  now_of(interaction)))

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
