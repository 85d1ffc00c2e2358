"""Every SQL statement of the SQLite backend, in two groups (and ``META``, no guild's data).

``GUILD`` statements act for one guild: each reference to a guild table is filtered by
``guild_id = :guild_id`` (or inserts that value), and the repository always binds the guild it was
created for. ``OPERATOR`` statements span guilds on purpose; each says why, none returns another
guild's data to a guild. ``tests/unit/storage/test_guild_scope.py`` checks both rules structurally.
Most statements are the ones both backends run, written once (``bot.storage.guild_reads.READS``,
``bot.storage.statements``); this module adds only those SQLite writes its own way.
"""

from __future__ import annotations

from bot.storage import statements
from bot.storage.guild_reads import READS

GUILD_TABLES = ("guilds", "members", "challenges", "command_usage", "audit_log",
                "announcement_deliveries")

GUILD: dict[str, str] = {
    **READS,
    **statements.WRITES,
    # One write lock (BEGIN IMMEDIATE) serializes every write transaction: nothing to lock.
    **statements.LOCKING_READS,
    "ensure_guild": (
        "INSERT INTO guilds (guild_id, name, joined_at) VALUES (:guild_id, :name, :now) "
        "ON CONFLICT (guild_id) DO UPDATE SET name = excluded.name, left_at = NULL"
    ),
    "register": (
        "INSERT INTO members (guild_id, user_id, display_name, registered_at) "
        "VALUES (:guild_id, :user_id, :display_name, :now) ON CONFLICT DO NOTHING"
    ),
    "record_login": (
        "UPDATE members SET points = points + :award, streak = :streak, "
        "best_streak = MAX(best_streak, :streak), last_login_day = :day, "
        "total_logins = total_logins + 1 WHERE guild_id = :guild_id AND user_id = :user_id"
    ),
    # Never a number handed out before, even if its challenge was deleted with a member
    # (guilds.last_challenge_number), nor one below a challenge an older release made (MAX).
    "next_challenge_number": (
        "SELECT MAX(COALESCE((SELECT MAX(number) FROM challenges WHERE guild_id = :guild_id), 0), "
        "COALESCE((SELECT last_challenge_number FROM guilds WHERE guild_id = :guild_id), 0)) + 1"
    ),
    "took_challenge_number": (
        "UPDATE guilds SET last_challenge_number = :number WHERE guild_id = :guild_id"
    ),
}

OPERATOR = statements.OPERATOR
META = statements.META
