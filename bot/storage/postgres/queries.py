"""Every SQL statement of the PostgreSQL backend, in the same groups as SQLite's.

``GUILD`` statements act for one guild: each reference to a guild table is filtered by
``guild_id = :guild_id`` (or inserts that value), and the repository always binds the guild it was
created for. ``OPERATOR`` statements span guilds on purpose; each says why, none returns another
guild's data to a guild. ``tests/unit/storage/test_guild_scope.py`` checks both rules over this
module and SQLite's alike, which is why the statements are written with ``:name`` parameters:
:func:`positional` turns one into asyncpg's ``$n`` form, once per statement text. ``GUILD``
includes the reads both backends share, written once in ``bot.storage.guild_reads.READS``.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from bot.storage.guild_reads import CHALLENGE_COLUMNS, MEMBER_COLUMNS, READS, SETTINGS_COLUMNS
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
    "settings_for_update": (
        f"SELECT {SETTINGS_COLUMNS} FROM guilds WHERE guild_id = :guild_id FOR NO KEY UPDATE"
    ),
    "update_settings": (
        "UPDATE guilds SET maintenance = :maintenance, daily_reward = :daily_reward, "
        "challenge_expiry_hours = :challenge_expiry_hours, day_boundary = :day_boundary, "
        "announcement_channel_id = :announcement_channel_id, "
        "audit_channel_id = :audit_channel_id, language = :language WHERE guild_id = :guild_id"
    ),
    "mark_left": "UPDATE guilds SET left_at = :now WHERE guild_id = :guild_id",
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
    "spend_points": (
        "UPDATE members SET points = points - :amount "
        "WHERE guild_id = :guild_id AND user_id = :user_id AND points >= :amount"
    ),
    "add_points": (
        "UPDATE members SET points = points + :amount "
        "WHERE guild_id = :guild_id AND user_id = :user_id"
    ),
    "record_result": (
        "UPDATE members SET wins = wins + :won, losses = losses + :lost "
        "WHERE guild_id = :guild_id AND user_id = :user_id"
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
    "insert_challenge": (
        f"INSERT INTO challenges ({CHALLENGE_COLUMNS}) VALUES (:guild_id, :number, "
        ":challenger_id, :opponent_id, :stake, 'open', :now, :expires_at, NULL, NULL, NULL, NULL, "
        "NULL, NULL)"
    ),
    "challenge_for_update": (
        f"SELECT {CHALLENGE_COLUMNS} FROM challenges "
        "WHERE guild_id = :guild_id AND number = :number FOR UPDATE"
    ),
    "set_challenge_message": (
        "UPDATE challenges SET message_channel_id = :channel_id, message_id = :message_id "
        "WHERE guild_id = :guild_id AND number = :number"
    ),
    "update_challenge": (
        "UPDATE challenges SET status = :status, expires_at = :expires_at, "
        "resolved_at = :resolved_at, winner_id = :winner_id, accepted_at = :accepted_at, "
        "claimant_id = :claimant_id, claimed_at = :claimed_at, disputed_at = :disputed_at "
        "WHERE guild_id = :guild_id AND number = :number"
    ),
    "due_challenges_for_update": (
        f"SELECT {CHALLENGE_COLUMNS} FROM challenges WHERE guild_id = :guild_id "
        "AND status IN ('open', 'accepted') AND expires_at <= :now ORDER BY number FOR UPDATE"
    ),
    "left_before": (
        "SELECT 1 FROM guilds WHERE guild_id = :guild_id AND left_at < :cutoff FOR UPDATE"
    ),
    "purge_usage": "DELETE FROM command_usage WHERE guild_id = :guild_id",
    "purge_challenges": "DELETE FROM challenges WHERE guild_id = :guild_id",
    "purge_members": "DELETE FROM members WHERE guild_id = :guild_id",
    "purge_guild": "DELETE FROM guilds WHERE guild_id = :guild_id",
    "purge_audit": "DELETE FROM audit_log WHERE guild_id = :guild_id",
    # The guild's rows of operator announcements' deliveries (its channel id, the outcome).
    "purge_deliveries": "DELETE FROM announcement_deliveries WHERE guild_id = :guild_id",
    # Deleting one member (bot/domain/privacy.py): their active challenges (locked), then
    # their challenges and their row.
    "active_challenges_of": (
        f"SELECT {CHALLENGE_COLUMNS} FROM challenges WHERE guild_id = :guild_id "
        "AND status IN ('open', 'accepted') "
        "AND (challenger_id = :user_id OR opponent_id = :user_id) ORDER BY number FOR UPDATE"
    ),
    "member_for_forget": (
        f"SELECT {MEMBER_COLUMNS} FROM members "
        "WHERE guild_id = :guild_id AND user_id = :user_id FOR UPDATE"
    ),
    "forget_challenges": (
        "DELETE FROM challenges WHERE guild_id = :guild_id "
        "AND (challenger_id = :user_id OR opponent_id = :user_id)"
    ),
    "forget_member": "DELETE FROM members WHERE guild_id = :guild_id AND user_id = :user_id",
    "record_audit": (
        "INSERT INTO audit_log (guild_id, at, actor_id, action, details) "
        "VALUES (:guild_id, :at, :actor_id, :action, :details)"
    ),
}

# name -> (statement, why it may span guilds)
OPERATOR: dict[str, tuple[str, str]] = {
    "guilds_left_before": (
        "SELECT guild_id FROM guilds WHERE left_at IS NOT NULL AND left_at < :cutoff",
        "lists guild ids only, for the retention purge, which then acts per guild",
    ),
    "known_guilds": (
        "SELECT guild_id, left_at FROM guilds",
        "lists guild ids and when each left, for admitting the guilds READY delivers",
    ),
    "guilds_with_due_challenges": (
        "SELECT DISTINCT guild_id FROM challenges "
        "WHERE status IN ('open', 'accepted') AND expires_at <= :now",
        "lists guild ids only, for the expiry task, which then acts per guild",
    ),
    "announcement_channels": (
        "SELECT guild_id, announcement_channel_id FROM guilds "
        "WHERE announcement_channel_id IS NOT NULL AND left_at IS NULL",
        "operator announcements go to every guild's own configured channel",
    ),
    # Operator announcements (bot/domain/announcements.py): the guilds one has not reached yet;
    # each process then claims and sends to its own (claim_announcement, finish_announcement;
    # the announcements themselves are META: no guild's data).
    "announcement_targets": (
        "SELECT guild_id, announcement_channel_id FROM guilds "
        "WHERE announcement_channel_id IS NOT NULL AND left_at IS NULL "
        "AND NOT EXISTS (SELECT 1 FROM announcement_deliveries AS d "
        "WHERE d.announcement_id = :announcement_id AND d.guild_id = guilds.guild_id) "
        "ORDER BY guild_id",
        "lists guild and channel ids an announcement has not reached yet; each process then "
        "claims and sends to its own",
    ),
    "guilds_in_maintenance": (
        "SELECT guild_id FROM guilds WHERE maintenance",
        "lists guild ids only, so the bot can answer maintenance without a query per command",
    ),
    "insert_usage": (
        "INSERT INTO command_usage (guild_id, ts, command, outcome, latency_ms) "
        "VALUES (:guild_id, :ts, :command, :outcome, :latency_ms)",
        "monitoring writes a batch of rows, each carrying its own guild id",
    ),
    "prune_audit": (
        "DELETE FROM audit_log WHERE at < :before",
        "the audit trail's retention applies to every guild alike",
    ),
    "prune_announcements": (
        "DELETE FROM announcements WHERE created_at < :before",
        "announcements' retention applies to every guild alike; each one's delivery rows go "
        "with it (ON DELETE CASCADE)",
    ),
    "prune_usage": (
        "DELETE FROM command_usage WHERE ts < :before",
        "retention applies to every guild alike",
    ),
    "usage_summary": (
        "SELECT command, COUNT(*), COUNT(*) FILTER (WHERE outcome = 'failure'), "
        "COUNT(*) FILTER (WHERE outcome = 'user_error'), AVG(latency_ms) FROM command_usage "
        "WHERE ts >= :since GROUP BY command ORDER BY COUNT(*) DESC",
        "the operator's report aggregates over all guilds; it is never shown in a guild",
    ),
    "claim_announcement": (
        "INSERT INTO announcement_deliveries "
        "(announcement_id, guild_id, channel_id, status, claimed_at, process) "
        "VALUES (:announcement_id, :guild_id, :channel_id, 'sending', :now, :process)"
        " ON CONFLICT DO NOTHING",
        "the fleet claims each guild's delivery of an operator announcement (the guild "
        "and its channel named by the caller, from announcement_targets) before it sends",
    ),
    "finish_announcement": (
        "UPDATE announcement_deliveries SET status = :status, detail = :detail "
        "WHERE announcement_id = :announcement_id AND guild_id = :guild_id",
        "records the outcome of the one delivery the caller claimed, named by "
        "announcement and guild",
    ),
    "announcement_counts": (
        "SELECT a.announcement_id, a.created_at, "
        "(SELECT COUNT(*) FROM announcement_deliveries AS d "
        "WHERE d.announcement_id = a.announcement_id AND d.status = 'sent'), "
        "(SELECT COUNT(*) FROM announcement_deliveries AS d "
        "WHERE d.announcement_id = a.announcement_id AND d.status = 'failed'), "
        "(SELECT COUNT(*) FROM announcement_deliveries AS d "
        "WHERE d.announcement_id = a.announcement_id AND d.status = 'sending') "
        "FROM announcements AS a WHERE a.created_at >= :since ORDER BY a.announcement_id",
        "the operator's progress counts deliveries over all guilds; it is never shown in "
        "a guild",
    ),
}

META: dict[str, str] = {
    "get_meta": "SELECT value FROM meta WHERE key = :key",
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
    # Operator announcements (bot/domain/announcements.py): recorded by the CLI; each guild's
    # delivery row (OPERATOR: the guild's data) is claimed, its key taken once, before the
    # owning process sends.
    "create_announcement": (
        "INSERT INTO announcements (message, created_at) VALUES (:message, :now) "
        "RETURNING announcement_id"
    ),
    "announcements_since": (
        "SELECT announcement_id, message, created_at FROM announcements "
        "WHERE created_at >= :since ORDER BY announcement_id"
    ),
    "set_meta": (
        "INSERT INTO meta (key, value) VALUES (:key, :value) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
    ),
}
