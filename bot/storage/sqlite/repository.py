"""The guild-scoped repository of the SQLite backend.

A repository is created for exactly one guild and binds that guild's id into every statement it
runs (see :meth:`SQLiteGuildRepository._p`); no method takes a guild id from its caller.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, fields, replace
from typing import TYPE_CHECKING, Any

import aiosqlite

from bot.domain import challenges as challenge_rules
from bot.domain.rules import InvalidInput, login_award
from bot.storage.base import (
    AlreadyRegistered,
    Challenge,
    ChallengeNotFound,
    GuildSettings,
    GuildStats,
    InsufficientPoints,
    LeaderboardEntry,
    LoginResult,
    Member,
    NotRegistered,
    UsageSummary,
)
from bot.storage.export import Writable, write_document
from bot.storage.sqlite import queries as q

if TYPE_CHECKING:
    from bot.storage.sqlite.database import SQLiteStorage

SETTING_NAMES = frozenset(
    {"maintenance", "daily_reward", "challenge_expiry_hours", "day_boundary",
     "announcement_channel_id"}
)


def _member(row: tuple) -> Member:
    return Member(*row)


def _challenge(row: tuple) -> Challenge:
    return Challenge(*row)


def _settings(row: tuple) -> GuildSettings:
    return GuildSettings(row[0], bool(row[1]), row[2], row[3], row[4], row[5])


class SQLiteGuildRepository:
    __slots__ = ("_db", "guild_id")

    def __init__(self, db: SQLiteStorage, guild_id: int) -> None:
        if not isinstance(guild_id, int) or guild_id <= 0:
            raise ValueError(f"a guild repository needs a positive guild id, got {guild_id!r}")
        self._db = db
        self.guild_id = guild_id

    def _p(self, **params: Any) -> dict[str, Any]:
        params["guild_id"] = self.guild_id
        return params

    async def _one(self, conn: aiosqlite.Connection, query: str, **params: Any) -> tuple | None:
        cursor = await conn.execute(q.GUILD[query], self._p(**params))
        row = await cursor.fetchone()
        await cursor.close()
        return row

    async def _run(self, conn: aiosqlite.Connection, query: str, **params: Any) -> int:
        cursor = await conn.execute(q.GUILD[query], self._p(**params))
        return cursor.rowcount

    # -- guild ------------------------------------------------------------------------------
    async def ensure(self, name: str, now: float) -> GuildSettings:
        async def work(conn: aiosqlite.Connection) -> GuildSettings:
            await self._run(conn, "ensure_guild", name=name, now=now)
            return _settings(await self._one(conn, "settings"))
        return await self._db.write(work)

    async def known(self) -> bool:
        """True when the bot has served this guild before (it has a row, even if it left)."""
        return await self._db.fetchone(q.GUILD["known"], self._p()) is not None

    async def settings(self) -> GuildSettings:
        row = await self._db.fetchone(q.GUILD["settings"], self._p())
        return _settings(row) if row else GuildSettings(self.guild_id)

    async def update_settings(self, **changes: Any) -> GuildSettings:
        unknown = set(changes) - SETTING_NAMES
        if unknown:
            raise ValueError(f"unknown guild settings: {sorted(unknown)}")

        async def work(conn: aiosqlite.Connection) -> GuildSettings:
            row = await self._one(conn, "settings")
            if row is None:
                await self._run(conn, "ensure_guild", name="", now=0.0)
                row = await self._one(conn, "settings")
            updated = replace(_settings(row), **changes)
            values = asdict(updated)
            values["maintenance"] = int(values["maintenance"])
            del values["guild_id"]
            await self._run(conn, "update_settings", **values)
            return updated
        return await self._db.write(work)

    async def mark_left(self, now: float) -> None:
        async def work(conn: aiosqlite.Connection) -> None:
            await self._run(conn, "mark_left", now=now)
        await self._db.write(work)

    # -- members ----------------------------------------------------------------------------
    async def register(self, user_id: int, display_name: str, now: float) -> Member:
        async def work(conn: aiosqlite.Connection) -> Member:
            if await self._one(conn, "settings") is None:
                await self._run(conn, "ensure_guild", name="", now=now)
            inserted = await self._run(conn, "register", user_id=user_id,
                                       display_name=display_name, now=now)
            if not inserted:
                raise AlreadyRegistered("You are already registered in this server.")
            return _member(await self._one(conn, "member", user_id=user_id))
        return await self._db.write(work)

    async def member(self, user_id: int) -> Member | None:
        row = await self._db.fetchone(q.GUILD["member"], self._p(user_id=user_id))
        return _member(row) if row else None

    async def daily_login(self, user_id: int, day: str, yesterday: str) -> LoginResult:
        async def work(conn: aiosqlite.Connection) -> LoginResult:
            row = await self._one(conn, "member", user_id=user_id)
            if row is None:
                raise NotRegistered("Register first with /register.")
            member = _member(row)
            if member.last_login_day == day:
                return LoginResult(member, 0, True, False)
            continued = member.last_login_day == yesterday
            streak = member.streak + 1 if continued else 1
            reward = (await self._one(conn, "settings"))[2]
            award = login_award(reward, streak)
            await self._run(conn, "record_login", user_id=user_id, award=award, streak=streak,
                            day=day)
            updated = _member(await self._one(conn, "member", user_id=user_id))
            return LoginResult(updated, award, False, member.streak > 0 and not continued)
        return await self._db.write(work)

    # -- challenges -------------------------------------------------------------------------
    async def _load_challenge(self, conn: aiosqlite.Connection, number: int) -> Challenge:
        row = await self._one(conn, "challenge", number=number)
        if row is None:
            raise ChallengeNotFound(f"There is no challenge #{number} in this server.")
        return _challenge(row)

    async def _spend(self, conn: aiosqlite.Connection, user_id: int, amount: int,
                     who: str) -> None:
        if not await self._run(conn, "spend_points", user_id=user_id, amount=amount):
            raise InsufficientPoints(f"{who} not have {amount:,} points to stake.")

    async def _apply(self, conn: aiosqlite.Connection, before: Challenge,
                     after: Challenge) -> Challenge:
        """Store a rule's decision and move the escrowed points it implies: the opponent's stake
        in on acceptance; on closing, the pot to the winner or every stake back."""
        if before.status == "open" and after.status == "accepted":
            await self._spend(conn, after.opponent_id, after.stake, "You do")
        if after.status == "completed":
            loser_id = (after.opponent_id if after.winner_id == after.challenger_id
                        else after.challenger_id)
            await self._run(conn, "add_points", user_id=after.winner_id, amount=2 * after.stake)
            await self._run(conn, "record_result", user_id=after.winner_id, won=1, lost=0)
            await self._run(conn, "record_result", user_id=loser_id, won=0, lost=1)
        elif after.status not in challenge_rules.ACTIVE:
            await self._run(conn, "add_points", user_id=after.challenger_id, amount=after.stake)
            if before.status == "accepted":
                await self._run(conn, "add_points", user_id=after.opponent_id,
                                amount=after.stake)
        await self._run(conn, "update_challenge", number=after.challenge_id, status=after.status,
                        expires_at=after.expires_at, resolved_at=after.resolved_at,
                        winner_id=after.winner_id, accepted_at=after.accepted_at,
                        claimant_id=after.claimant_id, claimed_at=after.claimed_at,
                        disputed_at=after.disputed_at)
        return after

    async def _act(self, challenge_id: int, now: float,
                   decide: Callable[[Challenge], Challenge]) -> Challenge:
        """Load the challenge, apply the rule ``decide`` and commit, in one transaction.

        A challenge whose deadline has passed is first resolved as the expiry job would resolve
        it; that is committed, and the member gets the reason as an error."""
        async def work(conn: aiosqlite.Connection) -> Challenge | InvalidInput:
            challenge = await self._load_challenge(conn, challenge_id)
            if challenge_rules.is_due(challenge, now):
                resolved = await self._apply(conn, challenge,
                                             challenge_rules.resolve_due(challenge, now))
                return InvalidInput(challenge_rules.due_message(resolved))
            return await self._apply(conn, challenge, decide(challenge))
        result = await self._db.write(work)
        if isinstance(result, InvalidInput):
            raise result
        return result

    async def create_challenge(self, challenger_id: int, opponent_id: int, stake: int,
                               now: float, expires_at: float) -> Challenge:
        challenge_rules.check_players(challenger_id, opponent_id)

        async def work(conn: aiosqlite.Connection) -> Challenge:
            if await self._one(conn, "member", user_id=challenger_id) is None:
                raise NotRegistered("Register first with /register.")
            if await self._one(conn, "member", user_id=opponent_id) is None:
                raise NotRegistered("Your opponent has not registered in this server yet.")
            await self._spend(conn, challenger_id, stake, "You do")
            number = (await self._one(conn, "next_challenge_number"))[0]
            await self._run(conn, "insert_challenge", number=number, challenger_id=challenger_id,
                            opponent_id=opponent_id, stake=stake, now=now, expires_at=expires_at)
            return await self._load_challenge(conn, number)
        return await self._db.write(work)

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
            name, params = f"challenges_{suffix}", self._p(limit=limit)
        else:
            name, params = f"challenges_of_user_{suffix}", self._p(user_id=user_id, limit=limit)
        return [_challenge(row) for row in await self._db.fetchall(q.GUILD[name], params)]

    async def expire_challenges(self, now: float) -> int:
        async def work(conn: aiosqlite.Connection) -> int:
            cursor = await conn.execute(q.GUILD["due_challenges"], self._p(now=now))
            due = [_challenge(row) for row in await cursor.fetchall()]
            for challenge in due:
                await self._apply(conn, challenge, challenge_rules.resolve_due(challenge, now))
            return len(due)
        return await self._db.write(work)

    # -- statistics -------------------------------------------------------------------------
    async def stats(self, today: str) -> GuildStats:
        members, points, best, logins = await self._db.fetchone(
            q.GUILD["stats_members"], self._p(today=today))
        active, completed, escrow = await self._db.fetchone(q.GUILD["stats_challenges"],
                                                            self._p())
        return GuildStats(members, points + escrow, logins, active, completed, best)

    async def leaderboard(self, offset: int, limit: int) -> tuple[list[LeaderboardEntry], int]:
        rows = await self._db.fetchall(q.GUILD["leaderboard"], self._p(offset=offset, limit=limit))
        total = (await self._db.fetchone(q.GUILD["member_count"], self._p()))[0]
        entries = [LeaderboardEntry(offset + i + 1, *row) for i, row in enumerate(rows)]
        return entries, total

    async def rank(self, user_id: int) -> int | None:
        member = await self.member(user_id)
        if member is None:
            return None
        row = await self._db.fetchone(
            q.GUILD["rank"], self._p(points=member.points, user_id=user_id))
        return row[0]

    async def usage(self, since: float) -> list[UsageSummary]:
        rows = await self._db.fetchall(q.GUILD["usage"], self._p(since=since))
        return [UsageSummary(r[0], r[1], r[2], r[3], round(r[4] or 0.0, 2)) for r in rows]

    # -- export and purge -------------------------------------------------------------------
    async def export_counts(self) -> dict[str, int]:
        """The row count of each section of the export (cheap: no row is read)."""
        members = (await self._db.fetchone(q.GUILD["member_count"], self._p()))[0]
        challenges = (await self._db.fetchone(q.GUILD["challenge_count"], self._p()))[0]
        return {"members": members, "challenges": challenges}

    async def export_to(self, out: Writable, exported_at: str) -> dict[str, int]:
        """Write the guild's export document (bot.storage.export) to ``out`` as the rows are
        read, on a worker thread with its own read connection (never the event loop, never the
        writer), from one snapshot. Returns the row count of each section; an exception from
        ``out.write`` (ExportTooLarge) stops the reading and propagates."""
        return await asyncio.to_thread(self._export_to, out, exported_at)

    def _export_to(self, out: Writable, exported_at: str) -> dict[str, int]:
        conn = self._db.snapshot_reader()
        try:
            conn.execute("BEGIN")  # one snapshot: the sections agree with each other
            row = conn.execute(q.GUILD["settings"], self._p()).fetchone()
            settings = _settings(row) if row else GuildSettings(self.guild_id)
            header = {"guild_id": str(self.guild_id), "exported_at": exported_at,
                      "settings": {k: v for k, v in asdict(settings).items() if k != "guild_id"}}
            members = conn.execute(q.GUILD["export_members"], self._p())
            challenges = conn.execute(q.GUILD["export_challenges"], self._p())
            return write_document(out, header, {"members": _exported(Member, members),
                                                "challenges": _exported(Challenge, challenges)})
        finally:
            conn.close()

    async def purge(self, left_before: float | None = None) -> bool:
        """Delete all of this guild's data; True when it did.

        With ``left_before`` (the retention purge) the guild must still have left before that
        time, checked inside the deleting transaction: a guild that came back, or left again
        later, since it was listed keeps its data."""
        async def work(conn: aiosqlite.Connection) -> bool:
            if left_before is not None and \
                    await self._one(conn, "left_before", cutoff=left_before) is None:
                return False
            for name in ("purge_usage", "purge_challenges", "purge_members", "purge_guild"):
                await self._run(conn, name)
            return True
        return await self._db.write(work)


def _exported(row_type: type, rows: Iterable[tuple]) -> Iterator[dict[str, Any]]:
    """Rows of ``row_type``'s columns as the export's objects: no guild id, and the ids
    (``*_id``: snowflakes) as strings (JavaScript readers lose precision past 2**53)."""
    keys = [f.name for f in fields(row_type)]
    ids = frozenset(k for k in keys if k.endswith("_id"))
    for row in rows:
        yield {key: str(value) if key in ids and value is not None else value
               for key, value in zip(keys, row, strict=True) if key != "guild_id"}
