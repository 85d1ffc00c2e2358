-- Command usage analytics, written in batches by monitoring and pruned by retention.
CREATE TABLE command_usage (
    id INTEGER PRIMARY KEY,
    guild_id INTEGER NOT NULL,
    ts REAL NOT NULL,
    command TEXT NOT NULL,
    outcome TEXT NOT NULL,
    latency_ms REAL NOT NULL
);

CREATE INDEX command_usage_by_guild ON command_usage (guild_id, ts);
CREATE INDEX command_usage_by_time ON command_usage (ts);

CREATE INDEX guilds_by_left_at ON guilds (left_at) WHERE left_at IS NOT NULL;
