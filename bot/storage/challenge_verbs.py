"""The challenge verbs and reads every backend's guild repository shares (a mixin of both
repositories, over :class:`bot.storage.guild_reads.GuildReads`).

Accept, decline, cancel, report (``complete_challenge``) and dispute are each one rule of
``bot.domain.challenges`` applied to one challenge; the reads (one challenge, its public message,
the listings, a member's challenges) are each one statement. What differs between the backends is
how a transition runs (:meth:`ChallengeVerbs._act`: SQLite's write transaction on its writer
thread, PostgreSQL's row lock) and how a statement is read (``_fetchall``, ``_fetchone``,
declared by :class:`~bot.storage.guild_reads.GuildReads`); each repository implements only those
three.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable

from bot.domain import challenges as challenge_rules
from bot.storage.base import Challenge
from bot.storage.guild_reads import GuildReads


class ChallengeVerbs(GuildReads):
    __slots__ = ()

    @abstractmethod
    async def _act(self, challenge_id: int, now: float,
                   decide: Callable[[Challenge], Challenge]) -> Challenge:
        """Load the challenge, apply the rule ``decide`` and commit, in one transaction, the
        points its decision moves included. A challenge whose deadline has passed is first
        resolved as the expiry job would resolve it; that is committed, and the member gets the
        reason as an error (``InvalidInput``)."""

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
