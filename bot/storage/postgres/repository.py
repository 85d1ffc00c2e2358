"""The guild-scoped repository of the PostgreSQL backend.

A repository is created for exactly one guild and binds that guild's id into every statement it
runs (:meth:`PostgresGuildRepository._bind`); no method takes a guild id from its caller. The
rules are ``bot.domain``'s, the same calls as the SQLite repository makes: a write loads what a
rule needs, applies the rule's decision and commits.

Concurrency: several processes write to one database, so no decision may rest on a row another
transaction can change before the commit. Transactions run at READ COMMITTED, and each decision
is protected by the row it is about:

- a challenge transition (accept, decline, cancel, report, dispute, expiry) loads the challenge
  ``FOR UPDATE``: a second transition of the same challenge waits for the first to commit and
  then sees its result (the expiry job's ``FOR UPDATE`` re-checks "still due" on the new row);
- points are spent with a conditional debit (``points = points - n WHERE ... AND points >= n``):
  the row lock of the UPDATE serializes concurrent debits and each re-checks the balance it
  finds, so 0 rows changed is "not enough points" and no balance is ever spent twice;
- a challenge number comes from ``guilds.last_challenge_number`` bumped with ``UPDATE ...
  RETURNING``, which row-locks the guild until commit: concurrent creators in any process take
  turns and never draw the same number (a ``MAX(number) + 1`` would race);
- a settings change locks the guild row (``FOR NO KEY UPDATE``) before it reads, applies and
  writes, so two admins' changes to different settings both stay.

SERIALIZABLE would give the same answers and abort more (every conflicting pair), for no rule
these locks do not already cover. Deadlocks are possible (two settlements between the same two
players, debiting and crediting them in opposite orders) and rare: PostgreSQL aborts one
transaction and :meth:`Pool.transaction` runs it again.

The hot path takes few round trips (an asyncpg primary-key read costs ~0.3 ms, a one-row UPDATE
in its own transaction ~0.5 ms; the pool sends nothing on release, see pool.py): ``member``,
``settings``, ``profile`` (the member and its rank) and ``leaderboard`` (the page and the member
count) are one read; ``register`` is one INSERT ... RETURNING (plus one to create the guild's row
for its first member); ``daily_login`` is one read (the guild's settings and the member) and one
conditional UPDATE ... RETURNING that only applies while the member's check-in state is still the
one the rule decided on; when another check-in won the race, the rule decides again on what it
wrote.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, fields, replace
from typing import Any

import asyncpg

from bot.domain import challenges as challenge_rules
from bot.domain import members as member_rules
from bot.domain import privacy as privacy_rules
from bot.domain import settings as setting_rules
from bot.domain.audit import AuditEntry
from bot.storage import challenge_verbs as verbs
from bot.storage.base import (
    Challenge,
    GuildSettings,
    LoginResult,
    Member,
    StorageUnavailable,
    audit_values,
)
from bot.storage.challenge_verbs import ChallengeVerbs
from bot.storage.export import Document, Writable, exported, exported_audit, header
from bot.storage.guild_reads import guild_settings, present, settings_or_default
from bot.storage.postgres import queries as q
from bot.storage.postgres.pool import Pool, rowcount
from bot.storage.statements import PURGE

LOGIN_ATTEMPTS = 5  # check-ins of one member racing each other; each loss means another won
SETTINGS_WIDTH = len(fields(GuildSettings))  # the settings' columns lead settings_and_member


class PostgresGuildRepository(ChallengeVerbs):
    __slots__ = ("_pool",)

    def __init__(self, pool: Pool, guild_id: int) -> None:
        super().__init__(guild_id)
        self._pool = pool

    def _bind(self, query: str, params: dict[str, Any]) -> tuple[str, list[Any]]:
        params["guild_id"] = self.guild_id
        return q.bind(q.GUILD[query], params)

    # -- inside a transaction -----------------------------------------------------------------
    async def _one(self, conn: asyncpg.Connection, query: str,
                   **params: Any) -> asyncpg.Record | None:
        sql, args = self._bind(query, params)
        return await conn.fetchrow(sql, *args)

    async def _only(self, conn: asyncpg.Connection, query: str, **params: Any) -> asyncpg.Record:
        return present(await self._one(conn, query, **params), query)

    async def _all(self, conn: asyncpg.Connection, query: str,
                   **params: Any) -> list[asyncpg.Record]:
        sql, args = self._bind(query, params)
        return await conn.fetch(sql, *args)

    async def _run(self, conn: asyncpg.Connection, query: str, **params: Any) -> int:
        sql, args = self._bind(query, params)
        return rowcount(await conn.execute(sql, *args))

    # -- one statement, its own transaction ----------------------------------------------------
    async def _fetchall(self, query: str, **params: Any) -> list[asyncpg.Record]:
        return await self._pool.fetch(*self._bind(query, params))

    async def _fetchone(self, query: str, **params: Any) -> asyncpg.Record | None:
        return await self._pool.fetchrow(*self._bind(query, params))

    async def _execute(self, query: str, **params: Any) -> int:
        return await self._pool.execute(*self._bind(query, params))

    # -- guild ------------------------------------------------------------------------------
    async def ensure(self, name: str, now: float) -> GuildSettings:
        return guild_settings(await self._fetchonly("ensure_guild", name=name, now=now))

    async def update_settings(self, **changes: Any) -> GuildSettings:
        """Validate ``changes`` (bot.domain.settings: InvalidInput when a value is not allowed,
        ValueError for an unknown name) and store them."""
        changes = setting_rules.validate(changes)

        async def work(conn: asyncpg.Connection) -> GuildSettings:
            await self._run(conn, "add_guild", now=0.0)
            updated = setting_rules.apply(
                guild_settings(await self._only(conn, "settings_for_update")), changes)
            values = asdict(updated)
            del values["guild_id"]
            await self._run(conn, "update_settings", **values)
            return updated
        return await self._pool.transaction(work)

    async def mark_left(self, now: float) -> None:
        await self._execute("mark_left", now=now)

    # -- members ----------------------------------------------------------------------------
    async def register(self, user_id: int, display_name: str, now: float) -> Member:
        values = {"user_id": user_id, "display_name": display_name, "now": now}
        try:
            row = await self._fetchone("register", **values)
        except asyncpg.ForeignKeyViolationError:  # the guild's first member: its row first
            await self._execute("add_guild", now=now)
            row = await self._fetchone("register", **values)
        member_rules.check_first_registration(row is not None)
        return Member(*present(row, "register"))

    async def daily_login(self, user_id: int, now: float) -> tuple[LoginResult, GuildSettings]:
        for _ in range(LOGIN_ATTEMPTS):
            row = await self._fetchone("settings_and_member", user_id=user_id)
            settings = settings_or_default(self.guild_id, row and row[:SETTINGS_WIDTH])
            member = Member(*row[SETTINGS_WIDTH:]) if row and row["user_id"] is not None \
                else None
            day, yesterday = member_rules.local_days(now, settings.day_boundary)
            result = member_rules.login(member, day, yesterday, settings.daily_reward)
            if result.already_claimed or member is None:
                return result, settings
            stored = await self._fetchone(
                "record_login", user_id=user_id, award=result.awarded,
                streak=result.member.streak, day=day, seen_streak=member.streak,
                seen_day=member.last_login_day)
            if stored is not None:
                return replace(result, member=Member(*stored)), settings
        raise StorageUnavailable(f"check-in of member {user_id} lost {LOGIN_ATTEMPTS} races")

    # -- challenges -------------------------------------------------------------------------
    async def _write_all(self, conn: asyncpg.Connection, writes: Iterable[verbs.Write]) -> None:
        """Run a decision's statements (bot.storage.challenge_verbs), in order."""
        for write in writes:
            verbs.check_debit(write, await self._run(conn, write[0], **write[1]))

    async def _apply(self, conn: asyncpg.Connection, before: Challenge,
                     after: Challenge) -> Challenge:
        """Store a rule's decision and move the escrowed points it implies."""
        await self._write_all(conn, verbs.decision_writes(before, after))
        return after

    async def _transition(self, challenge_id: int,
                          judge: Callable[[Challenge], verbs.Verdict]) -> verbs.Verdict:
        """The challenge is loaded ``FOR UPDATE``: a second transition of it waits for this one."""
        async def work(conn: asyncpg.Connection) -> verbs.Verdict:
            row = await self._one(conn, "challenge_for_update", number=challenge_id)
            if row is None:
                raise challenge_rules.not_found(challenge_id)
            challenge = Challenge(*row)
            after, refusal = judge(challenge)
            return await self._apply(conn, challenge, after), refusal
        return await self._pool.transaction(work)

    async def create_challenge(self, challenger_id: int, opponent_id: int, stake: int,
                               now: float, expires_at: float) -> Challenge:
        challenge_rules.check_new(challenger_id, opponent_id, stake)

        async def work(conn: asyncpg.Connection) -> Challenge:
            present = {row[0] for row in await self._all(
                conn, "registered", challenger_id=challenger_id, opponent_id=opponent_id)}
            challenge_rules.check_registered(challenger_id in present, opponent_id in present)
            number = (await self._only(conn, "next_challenge_number"))[0]
            challenge = challenge_rules.new(self.guild_id, number, challenger_id, opponent_id,
                                            stake, now, expires_at)
            await self._write_all(conn,
                                  verbs.escrow_writes(challenge_rules.escrow(None, challenge)))
            await self._run(conn, "insert_challenge", number=number, challenger_id=challenger_id,
                            opponent_id=opponent_id, stake=stake, now=now, expires_at=expires_at)
            return challenge
        return await self._pool.transaction(work)

    async def set_challenge_message(self, challenge_id: int, channel_id: int,
                                    message_id: int) -> None:
        async def work(conn: asyncpg.Connection) -> None:
            await self._run(conn, "set_challenge_message", number=challenge_id,
                            channel_id=channel_id, message_id=message_id)
        await self._pool.transaction(work)

    async def expire_challenges(self, now: float) -> list[Challenge]:
        async def work(conn: asyncpg.Connection) -> list[Challenge]:
            due = [Challenge(*row) for row in
                   await self._all(conn, "due_challenges", now=now)]
            return [await self._apply(conn, challenge, challenge_rules.resolve_due(challenge, now))
                    for challenge in due]
        return await self._pool.transaction(work)

    # -- export and purge -----------------------------------------------------------------------
    async def export_to(self, out: Writable, exported_at: str) -> dict[str, int]:
        """Write the guild's export document (bot.storage.export) to ``out`` as the rows are
        read through a cursor, in one REPEATABLE READ read-only transaction (one snapshot: the
        sections agree with each other). Returns the row count of each section; an exception
        from ``out.write`` (ExportTooLarge) stops the reading and propagates."""
        async with self._pool.snapshot() as conn:
            settings = settings_or_default(self.guild_id, await self._one(conn, "settings"))
            document = Document(out, header(settings, exported_at))
            for section, query, export_row in (
                    ("members", "export_members", lambda r: exported(Member, r)),
                    ("challenges", "export_challenges", lambda r: exported(Challenge, r)),
                    ("audit", "export_audit", exported_audit)):
                document.section(section)
                sql, args = self._bind(query, {})
                async for found in conn.cursor(sql, *args):
                    document.add(export_row(found))
            return document.finish()

    async def purge(self, left_before: float | None = None) -> bool:
        """Delete all of this guild's data; True when it did.

        With ``left_before`` (the retention purge) the guild must still have left before that
        time, checked (and the guild's row locked) inside the deleting transaction: a guild that
        came back, or left again later, since it was listed keeps its data."""
        async def work(conn: asyncpg.Connection) -> bool:
            if left_before is not None and \
                    await self._one(conn, "left_before", cutoff=left_before) is None:
                return False
            for name in PURGE:
                await self._run(conn, name)
            return True
        return await self._pool.transaction(work)

    # -- members' data and the audit trail --------------------------------------------------
    async def forget_member(self, user_id: int) -> privacy_rules.Forgotten | None:
        """Delete the member's data (bot.domain.privacy) in one transaction. The member's row
        is locked first (a challenge created against them waits on its foreign key), then
        their active challenges ``FOR UPDATE``: a concurrent accept, decline or expiry either
        committed before (its result is what is refunded) or waits and finds no challenge."""
        async def work(conn: asyncpg.Connection) -> privacy_rules.Forgotten | None:
            row = await self._one(conn, "member_for_forget", user_id=user_id)
            if row is None:
                return None
            active = [Challenge(*r) for r in
                      await self._all(conn, "active_challenges_of", user_id=user_id)]
            refunds = privacy_rules.refunds(user_id, active)
            for who, amount in refunds:
                await self._run(conn, "add_points", user_id=who, amount=amount)
            played = await self._run(conn, "forget_challenges", user_id=user_id)
            await self._run(conn, "forget_member", user_id=user_id)
            return privacy_rules.forget(Member(*row), active, played)
        return await self._pool.transaction(work)

    async def record_audit(self, entry: AuditEntry) -> None:
        await self._execute("record_audit", **audit_values(entry))
