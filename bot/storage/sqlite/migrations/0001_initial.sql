-- Multi-guild schema: every guild-owned row carries guild_id, and every key starts with it.
CREATE TABLE guilds (
    guild_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    joined_at REAL NOT NULL,
    left_at REAL,
    maintenance INTEGER NOT NULL DEFAULT 0,
    daily_reward INTEGER NOT NULL DEFAULT 100,
    challenge_expiry_hours INTEGER NOT NULL DEFAULT 24,
    day_boundary TEXT NOT NULL DEFAULT 'UTC',
    announcement_channel_id INTEGER
);

CREATE TABLE members (
    guild_id INTEGER NOT NULL REFERENCES guilds (guild_id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL,
    display_name TEXT NOT NULL,
    registered_at REAL NOT NULL,
    points INTEGER NOT NULL DEFAULT 0 CHECK (points >= 0),
    streak INTEGER NOT NULL DEFAULT 0,
    best_streak INTEGER NOT NULL DEFAULT 0,
    last_login_day TEXT,
    total_logins INTEGER NOT NULL DEFAULT 0,
    wins INTEGER NOT NULL DEFAULT 0,
    losses INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (guild_id, user_id)
) WITHOUT ROWID;

CREATE INDEX members_by_points ON members (guild_id, points DESC, user_id);

-- Challenge numbers count per guild, so not even an id sequence is shared between guilds.
CREATE TABLE challenges (
    guild_id INTEGER NOT NULL,
    number INTEGER NOT NULL,
    challenger_id INTEGER NOT NULL,
    opponent_id INTEGER NOT NULL,
    stake INTEGER NOT NULL CHECK (stake > 0),
    status TEXT NOT NULL CHECK (
        status IN ('open', 'accepted', 'declined', 'completed', 'cancelled', 'expired')
    ),
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    resolved_at REAL,
    winner_id INTEGER,
    PRIMARY KEY (guild_id, number),
    FOREIGN KEY (guild_id, challenger_id) REFERENCES members (guild_id, user_id) ON DELETE CASCADE,
    FOREIGN KEY (guild_id, opponent_id) REFERENCES members (guild_id, user_id) ON DELETE CASCADE
) WITHOUT ROWID;

CREATE INDEX challenges_by_status ON challenges (guild_id, status, expires_at);
CREATE INDEX challenges_by_challenger ON challenges (guild_id, challenger_id);
CREATE INDEX challenges_by_opponent ON challenges (guild_id, opponent_id);

CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
