-- Fair challenges (bot/domain/challenges.py): the play deadline is counted from acceptance, and
-- a player's claimed win is pending until the other confirms, disputes, or the window ends.
-- expires_at stays "the current deadline"; these record when and by whom each step happened.
ALTER TABLE challenges ADD COLUMN accepted_at REAL;
ALTER TABLE challenges ADD COLUMN claimant_id INTEGER;
ALTER TABLE challenges ADD COLUMN claimed_at REAL;
ALTER TABLE challenges ADD COLUMN disputed_at REAL;
-- A release from before this migration can still run on its result (it reads and writes the
-- columns it names and ignores these four); it sees a pending claim or dispute as a game in play.
-- expand-only
