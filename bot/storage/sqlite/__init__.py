"""The SQLite backend: one writer connection, a small pool of readers, WAL."""

from bot.storage.sqlite.database import SQLiteStorage

__all__ = ["SQLiteStorage"]
