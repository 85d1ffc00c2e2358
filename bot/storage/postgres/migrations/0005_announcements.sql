-- expand-only
-- Operator announcements (issue 12): `guildbot-cli announce` records one here, and every bot
-- process sends it to the guilds of its own shards (bot/app.py). A guild's delivery row is
-- claimed (INSERT ... ON CONFLICT DO NOTHING on its key) before the message goes out, so each
-- guild gets it once however many processes run or restart; the row then says sent or failed
-- (never retried).
CREATE TABLE announcements (
    announcement_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL
);

CREATE TABLE announcement_deliveries (
    announcement_id BIGINT NOT NULL REFERENCES announcements (announcement_id) ON DELETE CASCADE,
    guild_id BIGINT NOT NULL,
    channel_id BIGINT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('sending', 'sent', 'failed')),
    claimed_at DOUBLE PRECISION NOT NULL,
    process TEXT NOT NULL,
    detail TEXT,
    PRIMARY KEY (announcement_id, guild_id)
);
