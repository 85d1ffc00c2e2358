"""Import of the single-guild database the bot used before it went multi-guild.

The legacy schema had ``users``, ``profiles`` and ``challenges`` with no guild column. Every row is
imported into the multi-guild schema under the one guild it belonged to. The import runs in a
single transaction and records itself in ``meta``, so running it twice imports nothing twice.

A guild that already has members or challenges is refused (nothing is written) unless the
operator asks for a merge, whose rule is: a legacy user who is already registered keeps their
row, and the legacy points, wins, losses and check-ins are added to it (best streak: the higher
of the two; name, current streak and last check-in: the live ones; registered: the earlier);
legacy challenges are numbered after the guild's own.
"""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

from bot.domain.text import display_name

_STATUS = {"pending": "open", "open": "open", "accepted": "accepted", "declined": "declined",
           "done": "completed", "completed": "completed", "cancelled": "cancelled",
           "canceled": "cancelled", "expired": "expired"}


class LegacyImportError(Exception):
    pass


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')}


def _epoch(value: object, default: float) -> float:
    if value is None or value == "":
        return default
    if isinstance(value, int | float):
        return float(value)
    text = str(value).replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return default
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _day(value: object) -> str | None:
    if value in (None, ""):
        return None
    return datetime.fromtimestamp(_epoch(value, 0.0), UTC).date().isoformat()


def import_legacy(target: sqlite3.Connection, legacy_path: Path, guild_id: int,
                  now: float | None = None, merge: bool = False) -> dict[str, int]:
    """Copy a legacy database into ``guild_id``; returns counts (zeros if already imported).

    Refuses (LegacyImportError, nothing written) when the guild already has data, unless
    ``merge`` is true: then the merge rule of this module's docstring applies."""
    now = time.time() if now is None else now
    if not legacy_path.is_file():
        raise LegacyImportError(f"{legacy_path} does not exist")
    source = sqlite3.connect(f"file:{legacy_path}?mode=ro", uri=True)
    try:
        tables = {r[0] for r in source.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "users" not in tables:
            raise LegacyImportError(f"{legacy_path} has no users table: not a legacy database")
        users = _read(source, "users", "user_id")
        profiles = {row["user_id"]: row for row in _read(source, "profiles", "user_id")} \
            if "profiles" in tables else {}
        challenges = _read(source, "challenges", "id") if "challenges" in tables else []
    except sqlite3.DatabaseError as exc:
        raise LegacyImportError(f"cannot read {legacy_path}: {exc}") from None
    finally:
        source.close()

    marker = f"legacy_import:{guild_id}"
    target.execute("BEGIN IMMEDIATE")
    try:
        if target.execute("SELECT 1 FROM meta WHERE key = ?", (marker,)).fetchone():
            target.execute("ROLLBACK")
            return {"users": 0, "merged": 0, "challenges": 0, "already_imported": 1}
        registered = {r[0] for r in target.execute(
            "SELECT user_id FROM members WHERE guild_id = ?", (guild_id,))}
        last_number = target.execute("SELECT COALESCE(MAX(number), 0) FROM challenges "
                                     "WHERE guild_id = ?", (guild_id,)).fetchone()[0]
        if (registered or last_number) and not merge:
            raise LegacyImportError(
                f"guild {guild_id} already has data ({len(registered)} members, challenges up "
                f"to #{last_number}); nothing was imported. Import into a guild without data, "
                "or pass --merge to add the legacy balances to it (see docs/runbook.md)")
        target.execute("INSERT INTO guilds (guild_id, name, joined_at) VALUES (?, '', ?) "
                       "ON CONFLICT (guild_id) DO NOTHING", (guild_id, now))
        for user in users:
            profile = profiles.get(user["user_id"], {})
            target.execute(
                "INSERT INTO members (guild_id, user_id, display_name, registered_at, points, "
                "streak, best_streak, last_login_day, total_logins, wins, losses) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (guild_id, user_id) DO UPDATE SET "
                "points = points + excluded.points, wins = wins + excluded.wins, "
                "losses = losses + excluded.losses, "
                "total_logins = total_logins + excluded.total_logins, "
                "best_streak = MAX(best_streak, excluded.best_streak), "
                "registered_at = MIN(registered_at, excluded.registered_at)",
                (guild_id, int(user["user_id"]),
                 display_name(str(user.get("username") or user.get("name") or "member")),
                 _epoch(user.get("created_at") or user.get("registered_at"), now),
                 max(0, int(profile.get("points") or 0)), int(profile.get("streak") or 0),
                 int(profile.get("best_streak") or profile.get("streak") or 0),
                 _day(profile.get("last_login")), int(profile.get("total_logins") or 0),
                 int(profile.get("wins") or 0), int(profile.get("losses") or 0)))
        known = {int(u["user_id"]) for u in users}
        imported = 0
        for number, row in enumerate(challenges, start=last_number + 1):
            players = {int(row["challenger_id"]), int(row["opponent_id"])}
            if not players <= known or int(row.get("stake") or 0) <= 0:
                continue
            created = _epoch(row.get("created_at"), now)
            target.execute(
                "INSERT INTO challenges (guild_id, number, challenger_id, opponent_id, stake, "
                "status, created_at, expires_at, resolved_at, winner_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (guild_id, number, int(row["challenger_id"]), int(row["opponent_id"]),
                 int(row["stake"]), _STATUS.get(str(row.get("status")).lower(), "expired"),
                 created, created + 86400, None, row.get("winner_id")))
            imported += 1
        target.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (marker, str(now)))
        target.execute("COMMIT")
    except BaseException:
        target.execute("ROLLBACK")
        raise
    return {"users": len(users), "merged": len(known & registered), "challenges": imported,
            "already_imported": 0}


def _read(conn: sqlite3.Connection, table: str, order: str) -> list[dict]:
    names = _columns(conn, table)
    key = order if order in names else "rowid"
    cursor = conn.execute(f'SELECT * FROM "{table}" ORDER BY {key}')
    columns = [c[0] for c in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor]
