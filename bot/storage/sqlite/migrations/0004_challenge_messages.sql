-- Where a challenge's public message is (issue 14, components): the channel and message ids of
-- the post /challenge create made, so whichever process settles, declines, cancels or expires the
-- challenge edits that message (its buttons go). NULL for challenges made before this migration
-- or whose post could not be recorded: nothing is edited then.
ALTER TABLE challenges ADD COLUMN message_channel_id INTEGER;
ALTER TABLE challenges ADD COLUMN message_id INTEGER;
-- A release from before this migration can still run on its result (it never names them).
-- expand-only
