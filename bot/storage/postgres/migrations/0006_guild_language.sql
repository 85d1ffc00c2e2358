-- expand-only
-- The language of a guild's public messages (challenge posts and their edits; bot/i18n.py),
-- set with /admin settings language. Existing guilds keep English; a release from before this
-- migration ignores the new column.
ALTER TABLE guilds ADD COLUMN language TEXT NOT NULL DEFAULT 'en';
