"""The PostgreSQL backend (asyncpg): schema and migrations, the pool, the guild repository."""
