"""Backend-neutral storage contracts.

Cogs and services depend only on these protocols and value types, so a PostgreSQL backend (an
asyncpg pool behind the same protocols) can be added without touching a cog. Every method that
reads or writes guild data lives on :class:`GuildRepository`, which is bound to one guild when it
is created: there is no call that reaches guild data without naming the guild it acts for.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.domain.announcements import Announcement, Progress


class StorageUnavailable(Exception):
    """The database failed for a technical reason (locked past its busy timeout, I/O error,
    disk full): nothing the member did. The tree answers "temporarily unavailable". What a
    member can cause is a ``bot.domain.errors.UserError``, raised by backends as is."""


class SchemaError(RuntimeError):
    """The database's schema cannot be used by this release (behind: run ``migrate``; newer
    and incompatible); the message says what to do. The CLI exits 78 on it."""


@dataclass(frozen=True, slots=True)
class GuildSettings:
    guild_id: int
    maintenance: bool = False
    daily_reward: int = 100
    challenge_expiry_hours: int = 24
    day_boundary: str = "UTC"  # IANA time zone whose midnight starts a new day
    announcement_channel_id: int | None = None
    audit_channel_id: int | None = None  # receives each audit entry (bot/domain/audit.py)
    language: str = "en"  # of the guild's public messages (bot/i18n.py)


@dataclass(frozen=True, slots=True)
class Member:
    guild_id: int
    user_id: int
    display_name: str
    registered_at: float
    points: int
    streak: int
    best_streak: int
    last_login_day: str | None
    total_logins: int
    wins: int
    losses: int


@dataclass(frozen=True, slots=True)
class LoginResult:
    member: Member
    awarded: int
    already_claimed: bool
    streak_broken: bool


@dataclass(frozen=True, slots=True)
class Challenge:
    guild_id: int
    challenge_id: int
    challenger_id: int
    opponent_id: int
    stake: int
    status: str  # open, accepted, declined, completed, cancelled, expired
    created_at: float
    expires_at: float  # the current deadline: accept, play, claim or dispute window (see rules)
    resolved_at: float | None
    winner_id: int | None
    accepted_at: float | None = None
    claimant_id: int | None = None  # a player who claims to have won, pending confirmation
    claimed_at: float | None = None
    disputed_at: float | None = None  # the other player disputed the claim


@dataclass(frozen=True, slots=True)
class Forgotten:
    """What deleting a member did in one guild (bot.domain.privacy): the refunds paid to the
    other players ``((user_id, points), ...)``, the challenges deleted and the points that left
    with the member (balance plus own escrowed stakes)."""

    user_id: int
    refunds: tuple[tuple[int, int], ...]
    challenges: int
    points: int


AUDIT_ACTIONS = ("settings", "maintenance", "export", "purge", "settle", "forget")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One admin action in one guild's audit trail (bot.domain.audit): who acted
    (``actor_id``; 0 is the operator's CLI), the action (:data:`AUDIT_ACTIONS`), its details
    (JSON-able) and when."""

    guild_id: int
    actor_id: int
    action: str
    details: dict[str, Any] = field(default_factory=dict)
    at: float = 0.0

    def __post_init__(self) -> None:
        if self.action not in AUDIT_ACTIONS:
            raise ValueError(f"unknown audit action {self.action!r}")


@dataclass(frozen=True, slots=True)
class LeaderboardEntry:
    rank: int
    user_id: int
    display_name: str
    points: int
    streak: int


def leaderboard_page(rows: Sequence[Sequence[Any]],
                     offset: int) -> tuple[list[LeaderboardEntry], int]:
    """The entries and the member count from the rows of a backend's ``leaderboard`` statement:
    ``(count, user_id, display_name, points, streak)`` per entry, or one row ``(count, NULL,
    ...)`` for a page past the end (no rows at all: no member)."""
    total = rows[0][0] if rows else 0
    entries = [LeaderboardEntry(offset + i + 1, *row[1:]) for i, row in enumerate(rows)
               if row[1] is not None]
    return entries, total


@dataclass(frozen=True, slots=True)
class GuildStats:
    members: int
    total_points: int  # balances plus the stakes held in active challenges
    logins_today: int
    open_challenges: int
    completed_challenges: int
    best_streak: int


@dataclass(frozen=True, slots=True)
class StorageSize:
    """What the database takes, for monitoring (``guildbot_database_*size_bytes``, dashboard).
    Each backend measures its own: SQLite its file and ``-wal`` file, PostgreSQL
    ``pg_database_size()`` of its database (its write-ahead log is the server's, not the
    database's: ``wal`` None)."""

    database: int
    wal: int | None = None


@dataclass(frozen=True, slots=True)
class UsageRow:
    """One command invocation, buffered by monitoring and written in batches."""

    ts: float
    guild_id: int | None
    command: str
    outcome: str  # success, user_error, failure, busy, maintenance, refused (guild_id None)
    latency_ms: float


@dataclass(frozen=True, slots=True)
class UsageSummary:
    command: str
    calls: int
    failures: int
    user_errors: int
    avg_latency_ms: float


def audit_row(row: Sequence[Any]) -> AuditEntry:
    """An audit entry from its stored columns ``(guild_id, actor_id, action, details, at)``,
    ``details`` being JSON text (both backends store it so)."""
    return AuditEntry(row[0], row[1], row[2], json.loads(row[3]), row[4])


def audit_values(entry: AuditEntry) -> dict[str, Any]:
    """The statement values of ``record_audit`` for ``entry``."""
    return {"at": entry.at, "actor_id": entry.actor_id, "action": entry.action,
            "details": json.dumps(entry.details, sort_keys=True)}


class Writable(Protocol):
    """Where a guild's export is written (a file, a :class:`bot.storage.export.BoundedBuffer`)."""

    def write(self, data: bytes, /) -> int: ...


class GuildRepository(Protocol):
    """Everything the bot may do with one guild's data."""

    guild_id: int

    async def ensure(self, name: str, now: float) -> GuildSettings: ...
    async def known(self) -> bool: ...
    async def settings(self) -> GuildSettings: ...
    async def update_settings(self, **changes: Any) -> GuildSettings: ...
    async def mark_left(self, now: float) -> None: ...
    async def register(self, user_id: int, display_name: str, now: float) -> Member: ...
    async def member(self, user_id: int) -> Member | None: ...
    async def daily_login(self, user_id: int, now: float) -> tuple[LoginResult, GuildSettings]:
        """The check-in at ``now`` (its day in the guild's day boundary), and the guild's
        settings it used (the reward and the day boundary the answer names)."""
    async def create_challenge(self, challenger_id: int, opponent_id: int, stake: int,
                               now: float, expires_at: float) -> Challenge: ...
    async def accept_challenge(self, challenge_id: int, user_id: int, now: float) -> Challenge: ...
    async def decline_challenge(self, challenge_id: int, user_id: int, now: float) -> Challenge: ...
    async def cancel_challenge(self, challenge_id: int, user_id: int, now: float) -> Challenge: ...
    async def complete_challenge(self, challenge_id: int, reporter_id: int, winner_id: int,
                                 now: float, reporter_is_admin: bool = False) -> Challenge: ...
    async def dispute_challenge(self, challenge_id: int, user_id: int,
                                now: float) -> Challenge: ...
    async def challenge(self, challenge_id: int) -> Challenge:
        """The challenge; ``ChallengeNotFound`` when this guild has no such number."""
    async def set_challenge_message(self, challenge_id: int, channel_id: int,
                                    message_id: int) -> None:
        """Record where the challenge's public message is (see :meth:`challenge_message`)."""
    async def challenge_message(self, challenge_id: int) -> tuple[int, int] | None:
        """(channel id, message id) of the challenge's public message; None when none was
        recorded (or no such challenge in this guild)."""
    async def challenges(self, user_id: int | None = None, active_only: bool = True,
                         limit: int = 25) -> list[Challenge]: ...
    async def expire_challenges(self, now: float) -> list[Challenge]:
        """Resolve the challenges due at ``now``; returns them as they became."""
    async def stats(self, today: str) -> GuildStats: ...
    async def leaderboard(self, offset: int, limit: int) -> tuple[list[LeaderboardEntry], int]: ...
    async def profile(self, user_id: int) -> tuple[Member, int] | None:
        """The member and its rank (1 + the members with more points, or as many and a
        smaller user id), read together; None when the user is not a member."""
    async def usage(self, since: float) -> list[UsageSummary]: ...
    async def export_counts(self) -> dict[str, int]: ...
    async def export_to(self, out: Writable, exported_at: str) -> dict[str, int]: ...
    async def purge(self, left_before: float | None = None) -> bool:
        """Delete the guild's data; with ``left_before``, only if it still left before then
        (checked in the deleting transaction). True when deleted."""
    async def forget_member(self, user_id: int) -> Forgotten | None:
        """Delete one member's data in this guild (bot.domain.privacy), refunding the other
        players' stakes in their active challenges, in one transaction; None when the guild
        has no data of that member."""
    async def member_challenges(self, user_id: int) -> list[Challenge]:
        """Every challenge the member played in, oldest first (for /privacy)."""
    async def record_audit(self, entry: AuditEntry) -> None: ...
    async def audit(self, offset: int, limit: int) -> tuple[list[AuditEntry], int]:
        """The audit entries, newest first, from ``offset``; and how many there are."""


class Storage(Protocol):
    """A database backend: guild-scoped repositories plus operator-level bookkeeping."""

    def guild(self, guild_id: int) -> GuildRepository: ...
    async def close(self) -> None: ...
    async def writable(self) -> bool: ...
    async def size(self) -> StorageSize:
        """The database's size now (:class:`StorageSize`); raises ``StorageUnavailable`` when
        the database cannot be reached."""
    async def guilds_left_before(self, cutoff: float) -> list[int]: ...
    async def known_guilds(self) -> dict[int, float | None]:
        """Every guild with a row: its id -> when it left (None while the bot is in it)."""
    async def guilds_with_due_challenges(self, now: float) -> list[int]: ...
    async def guilds_in_maintenance(self) -> list[int]: ...
    async def announcement_channels(self) -> list[tuple[int, int]]: ...
    # Operator announcements (bot/domain/announcements.py), sent by the fleet.
    async def create_announcement(self, message: str, now: float) -> int:
        """Record an announcement for every guild; its id."""
    async def announcements_since(self, since: float) -> list[Announcement]: ...
    async def announcement_targets(self, announcement_id: int) -> list[tuple[int, int]]:
        """(guild id, channel id) of every present guild with an announcement channel that has
        no delivery row for the announcement yet."""
    async def claim_announcement(self, announcement_id: int, guild_id: int, channel_id: int,
                                 now: float, process: str) -> bool:
        """Take the guild's delivery (status ``sending``) for this process; False when any
        process (this one included) took it before: then it must not be sent."""
    async def finish_announcement(self, announcement_id: int, guild_id: int, status: str,
                                  detail: str | None) -> None: ...
    async def announcement_progress(self, since: float) -> list[Progress]: ...
    async def write_usage(self, rows: Sequence[UsageRow]) -> None: ...
    async def prune_usage(self, before: float) -> int: ...
    async def prune_audit(self, before: float) -> int:
        """Delete every guild's audit entries older than ``before``; how many."""
    async def prune_announcements(self, before: float) -> int:
        """Delete the operator announcements recorded before ``before`` and their delivery rows
        (every guild's); how many announcements."""
    async def usage_summary(self, since: float) -> list[UsageSummary]: ...
    async def get_meta(self, key: str) -> str | None: ...
    async def set_meta(self, key: str, value: str) -> None: ...
    async def take_identify_turn(self, bucket: int, interval: float) -> None:
        """Return when a shard of IDENTIFY ``bucket`` may IDENTIFY: no process of the
        deployment identified a shard of the bucket in the last ``interval`` seconds; the turn
        is taken (recorded) when it returns. SQLite: this process only (it is the only one);
        PostgreSQL: every process on the database."""
