-- Audit trail of admin actions (bot/domain/audit.py): who did what, when, in which guild.
-- details is the entry's JSON (a settings change as {name: [old, new]}); never deleted data.
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    guild_id INTEGER NOT NULL,
    at REAL NOT NULL,
    actor_id INTEGER NOT NULL,
    action TEXT NOT NULL,
    details TEXT NOT NULL DEFAULT '{}'
);

CREATE INDEX audit_log_by_guild ON audit_log (guild_id, at);
CREATE INDEX audit_log_by_time ON audit_log (at);

-- The optional channel that receives each audit entry as it is recorded.
ALTER TABLE guilds ADD COLUMN audit_channel_id INTEGER;
-- The guild's highest challenge number handed out (as on PostgreSQL): deleting a member deletes
-- their challenges, and numbers must not be handed out again. A new number is the greater of it
-- and MAX(number), so challenges made by a release from before this migration count too.
ALTER TABLE guilds ADD COLUMN last_challenge_number INTEGER NOT NULL DEFAULT 0;
-- A release from before this migration ignores the new table and columns.
-- expand-only
