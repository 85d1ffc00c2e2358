"""The PostgreSQL backend (asyncpg): schema and migrations, a pool shared by every process's
guild repositories, locking that keeps concurrent writers from several processes correct."""

from bot.storage.postgres.database import PostgresStorage

__all__ = ["PostgresStorage"]
