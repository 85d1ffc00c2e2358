"""The guild reads every backend's guild repository shares (a mixin of both repositories, the
base of :class:`bot.storage.challenge_verbs.ChallengeVerbs`), and their SQL, written once.

Whether the guild is known, its settings, a member, statistics, the leaderboard, a profile, the
usage report, the export's counts and the audit trail are each one or a few statements read
outside any write transaction. What differs between the backends is only how a statement is
read (:meth:`GuildReads._fetchall`, :meth:`GuildReads._fetchone`: SQLite's reader connections,
PostgreSQL's pool); each repository implements those two.

:data:`READS` holds the statements, in the ``:name`` form both backends' ``GUILD`` groups use
(PostgreSQL's ``queries.bind`` turns them into ``$n``; ``sqlite3`` takes them as they are); each
backend's ``queries.GUILD`` includes them, so the guild-scope checks cover them there. They are
written in the SQL both engines speak: counts by condition are ``COUNT(*) FILTER (WHERE ...)``
(SQLite 3.30 and later), not SQLite's ``SUM(condition)``, which PostgreSQL refuses on booleans.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, TypeVar

from bot.storage.base import (
    AuditEntry,
    GuildSettings,
    GuildStats,
    LeaderboardEntry,
    Member,
    UsageSummary,
    audit_row,
    leaderboard_page,
)

Row = TypeVar("Row", bound=Sequence[Any])

# The columns the value types are read from, in their fields' order.
MEMBER_COLUMNS = (
    "guild_id, user_id, display_name, registered_at, points, streak, best_streak, "
    "last_login_day, total_logins, wins, losses"
)
CHALLENGE_COLUMNS = (
    "guild_id, number, challenger_id, opponent_id, stake, status, created_at, expires_at, "
    "resolved_at, winner_id, accepted_at, claimant_id, claimed_at, disputed_at"
)
SETTINGS_COLUMNS = (
    "guild_id, maintenance, daily_reward, challenge_expiry_hours, day_boundary, "
    "announcement_channel_id, audit_channel_id, language"
)

READS: dict[str, str] = {
    "known": "SELECT 1 FROM guilds WHERE guild_id = :guild_id",
    "settings": f"SELECT {SETTINGS_COLUMNS} FROM guilds WHERE guild_id = :guild_id",
    "member": (
        f"SELECT {MEMBER_COLUMNS} FROM members WHERE guild_id = :guild_id AND user_id = :user_id"
    ),
    "stats_members": (
        "SELECT COUNT(*), COALESCE(SUM(points), 0), COALESCE(MAX(best_streak), 0), "
        "COUNT(*) FILTER (WHERE last_login_day = :today) FROM members WHERE guild_id = :guild_id"
    ),
    "stats_challenges": (
        "SELECT COUNT(*) FILTER (WHERE status IN ('open', 'accepted')), "
        "COUNT(*) FILTER (WHERE status = 'completed'), "
        "COALESCE(SUM(CASE status WHEN 'open' THEN stake WHEN 'accepted' THEN 2 * stake "
        "ELSE 0 END), 0) FROM challenges WHERE guild_id = :guild_id"
    ),
    # A page and the guild's member count in one trip: one row per entry, each with the count
    # first; a page past the end is one row of the count and NULLs.
    "leaderboard": (
        "SELECT total.n, page.user_id, page.display_name, page.points, page.streak FROM "
        "(SELECT COUNT(*) AS n FROM members WHERE guild_id = :guild_id) AS total LEFT JOIN "
        "(SELECT user_id, display_name, points, streak FROM members WHERE guild_id = :guild_id "
        "ORDER BY points DESC, user_id ASC LIMIT :limit OFFSET :offset) AS page ON TRUE "
        "ORDER BY page.points DESC, page.user_id ASC"
    ),
    "member_count": "SELECT COUNT(*) FROM members WHERE guild_id = :guild_id",
    "challenge_count": "SELECT COUNT(*) FROM challenges WHERE guild_id = :guild_id",
    # A member and its rank (1 + the members ahead of it: more points, or as many and a smaller
    # user id) in one trip; no row when the user is not a member.
    "profile": (
        f"SELECT {MEMBER_COLUMNS}, (SELECT COUNT(*) + 1 FROM members AS ahead "
        "WHERE ahead.guild_id = :guild_id AND (ahead.points > member.points "
        "OR (ahead.points = member.points AND ahead.user_id < member.user_id))) "
        "FROM members AS member WHERE guild_id = :guild_id AND user_id = :user_id"
    ),
    "usage": (
        "SELECT command, COUNT(*), COUNT(*) FILTER (WHERE outcome = 'failure'), "
        "COUNT(*) FILTER (WHERE outcome = 'user_error'), AVG(latency_ms) FROM command_usage "
        "WHERE guild_id = :guild_id AND ts >= :since GROUP BY command ORDER BY COUNT(*) DESC"
    ),
    "audit_count": "SELECT COUNT(*) FROM audit_log WHERE guild_id = :guild_id",
    "audit_page": (
        "SELECT guild_id, actor_id, action, details, at FROM audit_log "
        "WHERE guild_id = :guild_id ORDER BY at DESC, id DESC LIMIT :limit OFFSET :offset"
    ),
    # ChallengeVerbs' reads (bot/storage/challenge_verbs.py); ``challenge`` is also what SQLite's
    # write transactions load a challenge with.
    "challenge": (
        f"SELECT {CHALLENGE_COLUMNS} FROM challenges "
        "WHERE guild_id = :guild_id AND number = :number"
    ),
    "challenge_message": (
        "SELECT message_channel_id, message_id FROM challenges "
        "WHERE guild_id = :guild_id AND number = :number AND message_id IS NOT NULL"
    ),
    "challenges_active": (
        f"SELECT {CHALLENGE_COLUMNS} FROM challenges WHERE guild_id = :guild_id "
        "AND status IN ('open', 'accepted') ORDER BY number DESC LIMIT :limit"
    ),
    "challenges_all": (
        f"SELECT {CHALLENGE_COLUMNS} FROM challenges WHERE guild_id = :guild_id "
        "ORDER BY number DESC LIMIT :limit"
    ),
    "challenges_of_user_active": (
        f"SELECT {CHALLENGE_COLUMNS} FROM challenges WHERE guild_id = :guild_id "
        "AND (challenger_id = :user_id OR opponent_id = :user_id) "
        "AND status IN ('open', 'accepted') ORDER BY number DESC LIMIT :limit"
    ),
    "challenges_of_user_all": (
        f"SELECT {CHALLENGE_COLUMNS} FROM challenges WHERE guild_id = :guild_id "
        "AND (challenger_id = :user_id OR opponent_id = :user_id) "
        "ORDER BY number DESC LIMIT :limit"
    ),
    "member_challenges": (
        f"SELECT {CHALLENGE_COLUMNS} FROM challenges WHERE guild_id = :guild_id "
        "AND (challenger_id = :user_id OR opponent_id = :user_id) ORDER BY number"
    ),
    # The export's sections (each backend's ``export_to`` reads them from one snapshot).
    "export_members": (
        f"SELECT {MEMBER_COLUMNS} FROM members WHERE guild_id = :guild_id ORDER BY user_id"
    ),
    "export_challenges": (
        f"SELECT {CHALLENGE_COLUMNS} FROM challenges WHERE guild_id = :guild_id ORDER BY number"
    ),
    "export_audit": (
        "SELECT guild_id, actor_id, action, details, at FROM audit_log "
        "WHERE guild_id = :guild_id ORDER BY at, id"
    ),
}


def guild_settings(row: Sequence[Any]) -> GuildSettings:
    """The settings from their stored columns (:data:`SETTINGS_COLUMNS`); SQLite stores the
    maintenance flag as 0 or 1."""
    return GuildSettings(row[0], bool(row[1]), *row[2:])


def settings_or_default(guild_id: int, row: Sequence[Any] | None) -> GuildSettings:
    """The guild's settings from their stored row; the defaults when it has no row yet."""
    return guild_settings(row) if row else GuildSettings(guild_id)


def usage_summaries(rows: Sequence[Sequence[Any]]) -> list[UsageSummary]:
    """The ``usage`` (one guild) and ``usage_summary`` (all) rows, average latency rounded."""
    return [UsageSummary(r[0], r[1], r[2], r[3], round(r[4] or 0.0, 2)) for r in rows]


def present(row: Row | None, query: str) -> Row:
    """A row the statement always yields (an aggregate; a row written earlier in the same
    transaction): its absence is a bug, said as such rather than a TypeError further on."""
    if row is None:
        raise RuntimeError(f"query {query!r} returned no row")
    return row


class GuildReads(ABC):
    __slots__ = ("guild_id",)

    def __init__(self, guild_id: int) -> None:
        """Bind the repository to its one guild (every statement it runs binds this id)."""
        if not isinstance(guild_id, int) or guild_id <= 0:
            raise ValueError(f"a guild repository needs a positive guild id, got {guild_id!r}")
        self.guild_id = guild_id

    @abstractmethod
    async def _fetchall(self, query: str, **params: Any) -> Sequence[Sequence[Any]]:
        """The rows of the backend's guild-scoped statement ``query`` (its own transaction)."""

    @abstractmethod
    async def _fetchone(self, query: str, **params: Any) -> Sequence[Any] | None:
        """The first row of ``query`` (its own transaction), None when it yields none."""

    async def _fetchonly(self, query: str, **params: Any) -> Sequence[Any]:
        """The row ``query`` always yields (an aggregate: see :func:`present`)."""
        return present(await self._fetchone(query, **params), query)

    async def known(self) -> bool:
        """True when the bot has served this guild before (it has a row, even if it left)."""
        return await self._fetchone("known") is not None

    async def settings(self) -> GuildSettings:
        return settings_or_default(self.guild_id, await self._fetchone("settings"))

    async def member(self, user_id: int) -> Member | None:
        row = await self._fetchone("member", user_id=user_id)
        return Member(*row) if row else None

    async def stats(self, today: str) -> GuildStats:
        members, points, best, logins = await self._fetchonly("stats_members", today=today)
        active, completed, escrow = await self._fetchonly("stats_challenges")
        # PostgreSQL's SUM of BIGINT is NUMERIC (a Decimal): the total is an int either way.
        return GuildStats(members, int(points + escrow), logins, active, completed, best)

    async def leaderboard(self, offset: int, limit: int) -> tuple[list[LeaderboardEntry], int]:
        return leaderboard_page(await self._fetchall("leaderboard", offset=offset, limit=limit),
                                offset)

    async def profile(self, user_id: int) -> tuple[Member, int] | None:
        row = await self._fetchone("profile", user_id=user_id)
        return (Member(*row[:-1]), row[-1]) if row else None

    async def usage(self, since: float) -> list[UsageSummary]:
        return usage_summaries(await self._fetchall("usage", since=since))

    async def export_counts(self) -> dict[str, int]:
        """The row count of each section of the export (cheap: no row is read)."""
        return {section: (await self._fetchonly(query))[0] for section, query in (
            ("members", "member_count"), ("challenges", "challenge_count"),
            ("audit", "audit_count"))}

    async def audit(self, offset: int, limit: int) -> tuple[list[AuditEntry], int]:
        total = (await self._fetchonly("audit_count"))[0]
        rows = await self._fetchall("audit_page", offset=offset, limit=limit)
        return [audit_row(row) for row in rows], total
