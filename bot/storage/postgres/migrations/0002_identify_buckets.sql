-- expand-only
-- Discord accepts one IDENTIFY per 5 s per bucket (shard_id % max_concurrency) across every
-- connection of the bot. Each process's before_identify_hook takes the bucket's advisory lock,
-- waits until this time plus the interval (both on the server's clock, so the hosts' clocks do
-- not matter), records its own IDENTIFY here and commits (PostgresStorage.take_identify_turn).
CREATE TABLE identify_buckets (
    bucket INTEGER PRIMARY KEY CHECK (bucket >= 0),
    identified_at DOUBLE PRECISION NOT NULL
);
