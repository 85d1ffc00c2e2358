-- expand-only
-- A guild's announcement delivery rows are deleted with the guild's data (its purge, issue 15):
-- the purge finds them through this index instead of scanning every guild's deliveries (the
-- primary key starts with the announcement). Old announcements go with their deliveries (ON
-- DELETE CASCADE, through the primary key) when the retention job prunes them.
CREATE INDEX announcement_deliveries_by_guild ON announcement_deliveries (guild_id);
