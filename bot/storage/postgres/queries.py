"""Every SQL statement of the PostgreSQL backend, in the same groups as SQLite's.

``GUILD`` statements act for one guild: each reference to a guild table is filtered by
``guild_id = :guild_id`` (or inserts that value), and the repository always binds the guild it was
created for. ``OPERATOR`` statements span guilds on purpose; each says why, none returns another
guild's data to a guild. ``tests/unit/storage/test_guild_scope.py`` checks both rules over this
module and SQLite's alike, which is why the statements are written with ``:name`` parameters:
:func:`positional` turns one into asyncpg's ``$n`` form, once per statement text. Most
statements are the ones both backends run, written once (``bot.storage.guild_reads.READS``,
``bot.storage.statements``); this module adds only those PostgreSQL writes its own way: the
writes that return their row, the row locks (``FOR UPDATE``), the check-in's conditional write
and the challenge number.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from bot.storage import statements
from bot.storage.guild_reads import MEMBER_COLUMNS, READS, SETTINGS_COLUMNS
from bot.storage.postgres.schema import GUILD_TABLES

__all__ = ["GUILD", "GUILD_TABLES", "META", "OPERATOR", "bind", "positional"]

_PARAMETER = re.compile(r"(?<!:):([a-z_][a-z0-9_]*)")


def _qualified(table: str, columns: str) -> str:
    """``columns`` (a comma-separated list) each prefixed with ``table.``."""
    return ", ".join(f"{table}.{column.strip()}" for column in columns.split(","))


@functools.cache
def positional(sql: str) -> tuple[str, tuple[str, ...]]:
    """``sql`` with each ``:name`` replaced by ``$n`` (one number per distinct name), and the
    names in the order asyncpg takes their values."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match[1] not in names:
            names.append(match[1])
        return f"${names.index(match[1]) + 1}"
    return _PARAMETER.sub(number, sql), tuple(names)


def bind(sql: str, params: dict[str, Any]) -> tuple[str, list[Any]]:
    """The compiled statement and its values in order; a missing value is a bug (KeyError)."""
    text, names = positional(sql)
    return text, [params[name] for name in names]


GUILD: dict[str, str] = {
    **READS,
    **statements.WRITES,
    **{name: f"{sql} FOR UPDATE" for name, sql in statements.LOCKING_READS.items()},
    "challenge_for_update": f"{READS['challenge']} FOR UPDATE",
    "ensure_guild": (
        "INSERT INTO guilds (guild_id, name, joined_at) VALUES (:guild_id, :name, :now) "
        "ON CONFLICT (guild_id) DO UPDATE SET name = excluded.name, left_at = NULL "
        f"RETURNING {SETTINGS_COLUMNS}"
    ),
    # A guild row for a guild first met through a member or a setting (nothing to update).
    "add_guild": (
        "INSERT INTO guilds (guild_id, name, joined_at) VALUES (:guild_id, '', :now) "
        "ON CONFLICT (guild_id) DO NOTHING"
    ),
    "settings_for_update": f"{READS['settings']} FOR NO KEY UPDATE",
    "register": (
        "INSERT INTO members (guild_id, user_id, display_name, registered_at) "
        "VALUES (:guild_id, :user_id, :display_name, :now) ON CONFLICT DO NOTHING "
        f"RETURNING {MEMBER_COLUMNS}"
    ),
    # The check-in's read: the guild's settings and the member in one trip (no row without the
    # guild's row, which every member has: a foreign key).
    "settings_and_member": (
        f"SELECT {_qualified('guild', SETTINGS_COLUMNS)}, {_qualified('member', MEMBER_COLUMNS)} "
        "FROM guilds AS guild LEFT JOIN members AS member ON member.guild_id = :guild_id "
        "AND member.user_id = :user_id WHERE guild.guild_id = :guild_id"
    ),
    # The check-in's write, taken only if the member's check-in state is still the one the rule
    # decided on (0 rows: another check-in won the race, decide again).
    "record_login": (
        "UPDATE members SET points = points + :award, streak = :streak, "
        "best_streak = GREATEST(best_streak, :streak), last_login_day = :day, "
        "total_logins = total_logins + 1 WHERE guild_id = :guild_id AND user_id = :user_id "
        "AND streak = :seen_streak AND last_login_day IS NOT DISTINCT FROM :seen_day "
        f"RETURNING {MEMBER_COLUMNS}"
    ),
    "registered": (
        "SELECT user_id FROM members WHERE guild_id = :guild_id "
        "AND user_id IN (:challenger_id, :opponent_id)"
    ),
    # Row-locks the guild until commit: concurrent creators (any process) take turns.
    "next_challenge_number": (
        "UPDATE guilds SET last_challenge_number = last_challenge_number + 1 "
        "WHERE guild_id = :guild_id RETURNING last_challenge_number"
    ),
}

OPERATOR = statements.OPERATOR

META: dict[str, str] = {
    **statements.META,
    # Discord's IDENTIFY limit across processes (PostgresStorage.take_identify_turn): the
    # bucket's lock, how long until its next IDENTIFY may go (server clock), and this one's time.
    "identify_lock": "SELECT pg_advisory_xact_lock(:lock_class, :bucket)",
    "identify_wait": (
        "SELECT GREATEST(0, identified_at + :interval "
        "- extract(epoch FROM clock_timestamp())::double precision) "
        "FROM identify_buckets WHERE bucket = :bucket"
    ),
    "identify_record": (
        "INSERT INTO identify_buckets (bucket, identified_at) "
        "VALUES (:bucket, extract(epoch FROM clock_timestamp())::double precision) "
        "ON CONFLICT (bucket) DO UPDATE SET identified_at = excluded.identified_at"
    ),
    # Analytics pruning is not per guild: one process at a time prunes (the others skip).
    "prune_lock": "SELECT pg_try_advisory_xact_lock(:lock_class, 0)",
}
