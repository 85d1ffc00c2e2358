"""The guild-scoped repository of the SQLite backend.

A repository is created for exactly one guild and binds that guild's id into every statement it
runs (see :meth:`SQLiteGuildRepository._p`); no method takes a guild id from its caller.

The rules are ``bot.domain``'s: a write loads what a rule needs, applies the rule's decision and
commits, in one trip to the writer thread (``BEGIN IMMEDIATE``): each write is a plain function
of the writer's ``sqlite3.Connection`` (``work``), run whole on that thread by
:meth:`Connections.write`. Errors a member causes are the domain's; SQLite's technical failures
become :class:`StorageUnavailable`.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict
from typing import Any, TypeVar

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
    Writable,
    audit_values,
)
from bot.storage.challenge_verbs import ChallengeVerbs
from bot.storage.export import exported, exported_audit, header, write_document
from bot.storage.guild_reads import guild_settings, present, settings_or_default
from bot.storage.sqlite import queries as q
from bot.storage.sqlite.connections import Connections
from bot.storage.statements import PURGE

T = TypeVar("T")


class SQLiteGuildRepository(ChallengeVerbs):
    __slots__ = ("_db",)

    def __init__(self, db: Connections, guild_id: int) -> None:
        super().__init__(guild_id)
        self._db = db

    def _p(self, **params: Any) -> dict[str, Any]:
        params["guild_id"] = self.guild_id
        return params

    # Inside a write transaction, on the writer thread (``conn`` is the writer connection).
    def _one(self, conn: sqlite3.Connection, query: str, **params: Any) -> Sequence[Any] | None:
        return conn.execute(q.GUILD[query], self._p(**params)).fetchone()

    def _only(self, conn: sqlite3.Connection, query: str, **params: Any) -> Sequence[Any]:
        """The row ``query`` always yields in this transaction (see :func:`present`)."""
        return present(self._one(conn, query, **params), query)

    def _run(self, conn: sqlite3.Connection, query: str, **params: Any) -> int:
        """Run a change; the number of rows it changed."""
        return conn.execute(q.GUILD[query], self._p(**params)).rowcount

    async def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work(conn)``, a plain function, in one write transaction (one trip to the writer
        thread); SQLite's operational failures become :class:`StorageUnavailable`."""
        try:
            return await self._db.write(work)
        except sqlite3.OperationalError as exc:
            raise StorageUnavailable(f"database write failed: {exc}") from exc

    async def _fetchall(self, query: str, **params: Any) -> list[tuple]:
        try:
            return await self._db.fetchall(q.GUILD[query], self._p(**params))
        except sqlite3.OperationalError as exc:
            raise StorageUnavailable(f"database read failed: {exc}") from exc

    async def _fetchone(self, query: str, **params: Any) -> Sequence[Any] | None:
        for row in await self._fetchall(query, **params):
            return row
        return None

    # -- guild ------------------------------------------------------------------------------
    async def ensure(self, name: str, now: float) -> GuildSettings:
        def work(conn: sqlite3.Connection) -> GuildSettings:
            self._run(conn, "ensure_guild", name=name, now=now)
            return guild_settings(self._only(conn, "settings"))
        return await self._write(work)

    async def update_settings(self, **changes: Any) -> GuildSettings:
        """Validate ``changes`` (bot.domain.settings: InvalidInput when a value is not allowed,
        ValueError for an unknown name) and store them."""
        changes = setting_rules.validate(changes)

        def work(conn: sqlite3.Connection) -> GuildSettings:
            row = self._one(conn, "settings")
            if row is None:
                self._run(conn, "ensure_guild", name="", now=0.0)
                row = self._only(conn, "settings")
            updated = setting_rules.apply(guild_settings(row), changes)
            values = asdict(updated)
            values["maintenance"] = int(values["maintenance"])
            del values["guild_id"]
            self._run(conn, "update_settings", **values)
            return updated
        return await self._write(work)

    async def mark_left(self, now: float) -> None:
        def work(conn: sqlite3.Connection) -> None:
            self._run(conn, "mark_left", now=now)
        await self._write(work)

    # -- members ----------------------------------------------------------------------------
    async def register(self, user_id: int, display_name: str, now: float) -> Member:
        def work(conn: sqlite3.Connection) -> Member:
            if self._one(conn, "settings") is None:
                self._run(conn, "ensure_guild", name="", now=now)
            inserted = self._run(conn, "register", user_id=user_id,
                                 display_name=display_name, now=now)
            member_rules.check_first_registration(bool(inserted))
            return Member(*self._only(conn, "member", user_id=user_id))
        return await self._write(work)

    async def daily_login(self, user_id: int, now: float) -> tuple[LoginResult, GuildSettings]:
        def work(conn: sqlite3.Connection) -> tuple[LoginResult, GuildSettings]:
            row = self._one(conn, "member", user_id=user_id)
            settings = settings_or_default(self.guild_id, self._one(conn, "settings"))
            day, yesterday = member_rules.local_days(now, settings.day_boundary)
            result = member_rules.login(Member(*row) if row else None, day, yesterday,
                                        settings.daily_reward)
            if not result.already_claimed:
                self._run(conn, "record_login", user_id=user_id, award=result.awarded,
                          streak=result.member.streak, day=day)
            return result, settings
        return await self._write(work)

    # -- challenges -------------------------------------------------------------------------
    def _load_challenge(self, conn: sqlite3.Connection, number: int) -> Challenge:
        row = self._one(conn, "challenge", number=number)
        if row is None:
            raise challenge_rules.not_found(number)
        return Challenge(*row)

    def _write_all(self, conn: sqlite3.Connection, writes: Iterable[verbs.Write]) -> None:
        """Run a decision's statements (bot.storage.challenge_verbs), in order."""
        for write in writes:
            verbs.check_debit(write, self._run(conn, write[0], **write[1]))

    def _apply(self, conn: sqlite3.Connection, before: Challenge, after: Challenge) -> Challenge:
        """Store a rule's decision and move the escrowed points it implies."""
        self._write_all(conn, verbs.decision_writes(before, after))
        return after

    async def _transition(self, challenge_id: int,
                          judge: Callable[[Challenge], verbs.Verdict]) -> verbs.Verdict:
        def work(conn: sqlite3.Connection) -> verbs.Verdict:
            challenge = self._load_challenge(conn, challenge_id)
            after, refusal = judge(challenge)
            return self._apply(conn, challenge, after), refusal
        return await self._write(work)

    async def create_challenge(self, challenger_id: int, opponent_id: int, stake: int,
                               now: float, expires_at: float) -> Challenge:
        challenge_rules.check_new(challenger_id, opponent_id, stake)

        def work(conn: sqlite3.Connection) -> Challenge:
            challenge_rules.check_registered(
                self._one(conn, "member", user_id=challenger_id) is not None,
                self._one(conn, "member", user_id=opponent_id) is not None)
            number = self._only(conn, "next_challenge_number")[0]
            challenge = challenge_rules.new(self.guild_id, number, challenger_id, opponent_id,
                                            stake, now, expires_at)
            self._write_all(conn, verbs.escrow_writes(challenge_rules.escrow(None, challenge)))
            self._run(conn, "took_challenge_number", number=number)
            self._run(conn, "insert_challenge", number=number, challenger_id=challenger_id,
                      opponent_id=opponent_id, stake=stake, now=now, expires_at=expires_at)
            return challenge
        return await self._write(work)

    async def set_challenge_message(self, challenge_id: int, channel_id: int,
                                    message_id: int) -> None:
        def work(conn: sqlite3.Connection) -> None:
            self._run(conn, "set_challenge_message", number=challenge_id, channel_id=channel_id,
                      message_id=message_id)
        await self._write(work)

    async def expire_challenges(self, now: float) -> list[Challenge]:
        def work(conn: sqlite3.Connection) -> list[Challenge]:
            due = [Challenge(*row) for row in
                   conn.execute(q.GUILD["due_challenges"], self._p(now=now)).fetchall()]
            return [self._apply(conn, challenge, challenge_rules.resolve_due(challenge, now))
                    for challenge in due]
        return await self._write(work)

    # -- export and purge -------------------------------------------------------------------
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
            settings = settings_or_default(self.guild_id, self._one(conn, "settings"))
            members = conn.execute(q.GUILD["export_members"], self._p())
            challenges = conn.execute(q.GUILD["export_challenges"], self._p())
            audit = conn.execute(q.GUILD["export_audit"], self._p())
            return write_document(out, header(settings, exported_at), {
                "members": _exported(Member, members),
                "challenges": _exported(Challenge, challenges),
                "audit": map(exported_audit, audit)})
        finally:
            conn.close()

    async def purge(self, left_before: float | None = None) -> bool:
        """Delete all of this guild's data; True when it did.

        With ``left_before`` (the retention purge) the guild must still have left before that
        time, checked inside the deleting transaction: a guild that came back, or left again
        later, since it was listed keeps its data."""
        def work(conn: sqlite3.Connection) -> bool:
            if left_before is not None and \
                    self._one(conn, "left_before", cutoff=left_before) is None:
                return False
            for name in PURGE:
                self._run(conn, name)
            return True
        return await self._write(work)

    # -- members' data and the audit trail --------------------------------------------------
    async def forget_member(self, user_id: int) -> privacy_rules.Forgotten | None:
        """Delete the member's data (bot.domain.privacy) in one write transaction: the other
        players' stakes go back, then the member's challenges and row go."""
        def work(conn: sqlite3.Connection) -> privacy_rules.Forgotten | None:
            row = self._one(conn, "member_for_forget", user_id=user_id)
            if row is None:
                return None
            active = [Challenge(*r) for r in conn.execute(
                q.GUILD["active_challenges_of"], self._p(user_id=user_id)).fetchall()]
            refunds = privacy_rules.refunds(user_id, active)
            for who, amount in refunds:
                self._run(conn, "add_points", user_id=who, amount=amount)
            played = self._run(conn, "forget_challenges", user_id=user_id)
            self._run(conn, "forget_member", user_id=user_id)
            return privacy_rules.forget(Member(*row), active, played)
        return await self._write(work)

    async def record_audit(self, entry: AuditEntry) -> None:
        def work(conn: sqlite3.Connection) -> None:
            self._run(conn, "record_audit", **audit_values(entry))
        await self._write(work)


def _exported(row_type: type, rows: Iterable[tuple]) -> Iterator[dict[str, Any]]:
    """Rows of ``row_type``'s columns as the export's objects (bot.storage.export.exported)."""
    for row in rows:
        yield exported(row_type, row)
