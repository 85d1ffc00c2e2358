-- expand-only
-- Operator announcements (issue 12): `guildbot-cli announce` records one here, and every bot
-- process sends it to the guilds of its own shards (bot/app.py). A guild's delivery row is
-- claimed (INSERT OR IGNORE on its key) before the message goes out, so each guild gets it once
-- however many processes run or restart; the row then says sent or failed (never retried).
CREATE TABLE announcements (
    announcement_id INTEGER PRIMARY KEY AUTOINCREMENT,
    message TEXT NOT NULL,
    created_at REAL NOT NULL
);

CREATE TABLE announcement_deliveries (
    announcement_id INTEGER NOT NULL REFERENCES announcements (announcement_id) ON DELETE CASCADE,
    guild_id INTEGER NOT NULL,
    channel_id INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('sending', 'sent', 'failed')),
    claimed_at REAL NOT NULL,
    process TEXT NOT NULL,
    detail TEXT,
    PRIMARY KEY (announcement_id, guild_id)
);
