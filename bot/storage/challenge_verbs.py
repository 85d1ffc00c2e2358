"""The challenge verbs and reads every backend's guild repository shares (a mixin of both
repositories, over :class:`bot.storage.guild_reads.GuildReads`).

Accept, decline, cancel, report (``complete_challenge``) and dispute are each one rule of
``bot.domain.challenges`` applied to one challenge; the reads (one challenge, its public message,
the listings, a member's challenges) are each one statement. What differs between the backends is
how a transition runs (:meth:`ChallengeVerbs._transition`: SQLite's write transaction on its
writer thread, PostgreSQL's row lock) and how a statement is read (``_fetchall``, ``_fetchone``,
declared by :class:`~bot.storage.guild_reads.GuildReads`); each repository implements only those
three. What a decision writes is :func:`escrow_writes` and :func:`decision_writes`, the same
statements in the same order on both backends; each repository only runs them.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterator
from typing import Any

from bot.domain import challenges as challenge_rules
from bot.domain.errors import InvalidInput
from bot.storage.base import Challenge
from bot.storage.guild_reads import GuildReads

Write = tuple[str, dict[str, Any]]  # a GUILD statement's name and its values (not the guild's)
Verdict = tuple[Challenge, InvalidInput | None]  # the challenge to store; the error to raise


def escrow_writes(escrow: challenge_rules.Escrow) -> Iterator[Write]:
    """The statements that move the points of the domain's escrow decision, in order. The debit
    (``spend_points``) comes first and must change a row: see :func:`check_debit`."""
    if escrow.debit is not None:
        user_id, amount = escrow.debit
        yield "spend_points", {"user_id": user_id, "amount": amount}
    for user_id, amount in escrow.credits:
        yield "add_points", {"user_id": user_id, "amount": amount}
    if escrow.winner_id is not None:
        yield "record_result", {"user_id": escrow.winner_id, "won": 1, "lost": 0}
        yield "record_result", {"user_id": escrow.loser_id, "won": 0, "lost": 1}


def decision_writes(before: Challenge, after: Challenge) -> Iterator[Write]:
    """Store a rule's decision ``after`` about ``before``: the escrowed points it moves, then the
    challenge's new state."""
    yield from escrow_writes(challenge_rules.escrow(before, after))
    yield "update_challenge", {
        "number": after.challenge_id, "status": after.status, "expires_at": after.expires_at,
        "resolved_at": after.resolved_at, "winner_id": after.winner_id,
        "accepted_at": after.accepted_at, "claimant_id": after.claimant_id,
        "claimed_at": after.claimed_at, "disputed_at": after.disputed_at}


def verdict(challenge: Challenge, now: float,
            decide: Callable[[Challenge], Challenge]) -> Verdict:
    """What a verb decides about ``challenge``: the rule ``decide``'s decision, or, for a
    challenge whose deadline has passed, its resolution as the expiry job would make it (stored
    too) and the reason the member gets as an error."""
    if challenge_rules.is_due(challenge, now):
        resolved = challenge_rules.resolve_due(challenge, now)
        return resolved, InvalidInput(challenge_rules.due_message(resolved))
    return decide(challenge), None


def check_debit(write: Write, changed: int) -> None:
    """A debit that changed no row found the member short of points: the domain's error."""
    query, params = write
    if query == "spend_points" and not changed:
        raise challenge_rules.short_of(params["amount"])


class ChallengeVerbs(GuildReads):
    __slots__ = ()

    @abstractmethod
    async def _transition(self, challenge_id: int,
                          judge: Callable[[Challenge], Verdict]) -> Verdict:
        """In one transaction: load the challenge (``not_found`` when there is none), ``judge``
        it, store the decision with the points it moves (:func:`decision_writes`) and commit;
        the verdict."""

    async def _act(self, challenge_id: int, now: float,
                   decide: Callable[[Challenge], Challenge]) -> Challenge:
        """Apply the rule ``decide`` to the challenge in one transaction (:func:`verdict`); a
        challenge found past its deadline is resolved and committed, then refused."""
        after, refusal = await self._transition(challenge_id,
                                                lambda challenge: verdict(challenge, now, decide))
        if refusal is not None:
            raise refusal
        return after

    async def accept_challenge(self, challenge_id: int, user_id: int, now: float) -> Challenge:
        return await self._act(challenge_id, now,
                               lambda c: challenge_rules.accept(c, user_id, now))

    async def decline_challenge(self, challenge_id: int, user_id: int, now: float) -> Challenge:
        return await self._act(challenge_id, now,
                               lambda c: challenge_rules.decline(c, user_id, now))

    async def cancel_challenge(self, challenge_id: int, user_id: int, now: float) -> Challenge:
        return await self._act(challenge_id, now,
                               lambda c: challenge_rules.cancel(c, user_id, now))

    async def complete_challenge(self, challenge_id: int, reporter_id: int, winner_id: int,
                                 now: float, reporter_is_admin: bool = False) -> Challenge:
        """A result: settled at once, or a pending claim (see bot.domain.challenges)."""
        return await self._act(challenge_id, now, lambda c: challenge_rules.report(
            c, reporter_id, winner_id, reporter_is_admin, now))

    async def dispute_challenge(self, challenge_id: int, user_id: int, now: float) -> Challenge:
        return await self._act(challenge_id, now,
                               lambda c: challenge_rules.dispute(c, user_id, now))

    async def challenges(self, user_id: int | None = None, active_only: bool = True,
                         limit: int = 25) -> list[Challenge]:
        suffix = "active" if active_only else "all"
        if user_id is None:
            rows = await self._fetchall(f"challenges_{suffix}", limit=limit)
        else:
            rows = await self._fetchall(f"challenges_of_user_{suffix}", user_id=user_id,
                                        limit=limit)
        return [Challenge(*row) for row in rows]

    async def member_challenges(self, user_id: int) -> list[Challenge]:
        return [Challenge(*row) for row in
                await self._fetchall("member_challenges", user_id=user_id)]

    async def challenge(self, challenge_id: int) -> Challenge:
        row = await self._fetchone("challenge", number=challenge_id)
        if row is None:
            raise challenge_rules.not_found(challenge_id)
        return Challenge(*row)

    async def challenge_message(self, challenge_id: int) -> tuple[int, int] | None:
        """The (channel id, message id) of the challenge's public message, None when unposted."""
        row = await self._fetchone("challenge_message", number=challenge_id)
        return (row[0], row[1]) if row else None
