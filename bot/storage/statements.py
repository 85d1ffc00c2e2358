"""The SQL statements both backends run as they are, written once (the reads are
``bot.storage.guild_reads.READS``).

Each backend's ``queries`` module builds its ``GUILD``, ``OPERATOR`` and ``META`` groups from
these and adds only what its dialect writes differently (PostgreSQL's ``RETURNING`` and row
locks, SQLite's challenge numbering), so a difference between the backends is a statement of its
own there, never a second copy of one that is the same. Statements use ``:name`` parameters
(``sqlite3`` takes them as they are; PostgreSQL's ``queries.bind`` turns them into ``$n``) and
SQL both engines speak (``COUNT(*) FILTER (WHERE ...)``, ``ON CONFLICT ... DO NOTHING``).
The guild-scope checks (tests/unit/storage/test_guild_scope.py) see them through each backend's
groups.
"""

from __future__ import annotations

from typing import Any

from bot.storage.base import UsageRow
from bot.storage.guild_reads import CHALLENGE_COLUMNS, MEMBER_COLUMNS

# GUILD: acts for one guild (see each backend's queries module).
WRITES: dict[str, str] = {
    "update_settings": (
        "UPDATE guilds SET maintenance = :maintenance, daily_reward = :daily_reward, "
        "challenge_expiry_hours = :challenge_expiry_hours, day_boundary = :day_boundary, "
        "announcement_channel_id = :announcement_channel_id, "
        "audit_channel_id = :audit_channel_id, language = :language WHERE guild_id = :guild_id"
    ),
    "mark_left": "UPDATE guilds SET left_at = :now WHERE guild_id = :guild_id",
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
    "insert_challenge": (
        f"INSERT INTO challenges ({CHALLENGE_COLUMNS}) VALUES (:guild_id, :number, "
        ":challenger_id, :opponent_id, :stake, 'open', :now, :expires_at, NULL, NULL, NULL, NULL, "
        "NULL, NULL)"
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
    "purge_usage": "DELETE FROM command_usage WHERE guild_id = :guild_id",
    "purge_challenges": "DELETE FROM challenges WHERE guild_id = :guild_id",
    "purge_members": "DELETE FROM members WHERE guild_id = :guild_id",
    "purge_guild": "DELETE FROM guilds WHERE guild_id = :guild_id",
    "purge_audit": "DELETE FROM audit_log WHERE guild_id = :guild_id",
    # The guild's rows of operator announcements' deliveries (its channel id, the outcome).
    "purge_deliveries": "DELETE FROM announcement_deliveries WHERE guild_id = :guild_id",
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

# What a guild's purge runs, in this order, in one transaction.
PURGE = ("purge_usage", "purge_challenges", "purge_members", "purge_guild", "purge_audit",
         "purge_deliveries")

# GUILD reads a write transaction decides on. SQLite runs them as they are (``BEGIN IMMEDIATE``
# already holds its one write lock); PostgreSQL appends ``FOR UPDATE`` (the row locks its
# repository's docstring explains).
LOCKING_READS: dict[str, str] = {
    "due_challenges": (
        f"SELECT {CHALLENGE_COLUMNS} FROM challenges WHERE guild_id = :guild_id "
        "AND status IN ('open', 'accepted') AND expires_at <= :now ORDER BY number"
    ),
    "left_before": "SELECT 1 FROM guilds WHERE guild_id = :guild_id AND left_at < :cutoff",
    # Deleting one member (bot/domain/privacy.py): the member, their active challenges, then
    # their challenges and their row go.
    "member_for_forget": (
        f"SELECT {MEMBER_COLUMNS} FROM members "
        "WHERE guild_id = :guild_id AND user_id = :user_id"
    ),
    "active_challenges_of": (
        f"SELECT {CHALLENGE_COLUMNS} FROM challenges WHERE guild_id = :guild_id "
        "AND status IN ('open', 'accepted') "
        "AND (challenger_id = :user_id OR opponent_id = :user_id) ORDER BY number"
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
    # ``maintenance`` is a boolean in PostgreSQL, 0 or 1 in SQLite: both take it as a condition.
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
        "VALUES (:announcement_id, :guild_id, :channel_id, 'sending', :now, :process) "
        "ON CONFLICT DO NOTHING",
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



def usage_values(row: UsageRow) -> dict[str, Any]:
    """``insert_usage``'s values for one row (a command outside any guild is stored as 0).
    Its fields named one by one: ``dataclasses.asdict`` deep-copies each value, a cost on
    every interaction (issue 17); tests/unit/storage/test_statements.py fails if UsageRow
    gains a field this leaves out."""
    return {"ts": row.ts, "guild_id": row.guild_id or 0, "command": row.command,
            "outcome": row.outcome, "latency_ms": row.latency_ms}


# No guild's data.
META: dict[str, str] = {
    "get_meta": "SELECT value FROM meta WHERE key = :key",
    "set_meta": (
        "INSERT INTO meta (key, value) VALUES (:key, :value) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
    ),
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
}
