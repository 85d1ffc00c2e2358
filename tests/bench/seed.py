"""Seed the benchmark database: the project's migrations, then bulk inserts of the same rows
into either backend.

SQLite: the seeded file is cached under build/bench/cache, keyed by size, schema version and a
digest of the migrations and of this seeder, and copied for every run (a bot run writes to its
copy). PostgreSQL: the bench's own throwaway cluster is seeded on every run with COPY (about as
fast as copying the cached SQLite file's worth of rows can be).
"""

from __future__ import annotations

import hashlib
import random
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from bot.storage.sqlite import schema
from tests.bench.world import LOAD_MEMBERS, Size, guild_id, member_name, user_id

SEED_FORMAT = 1  # bump when the seeded content changes
BATCH_GUILDS = 500
LOAD_MEMBER_POINTS = 1_000_000  # members the load acts as can stake for the whole run
RANDOM_SEED = 20260101
MEMBER_COLUMNS = ("guild_id", "user_id", "display_name", "registered_at", "points", "streak",
                  "best_streak", "last_login_day", "total_logins", "wins", "losses")


def cache_key(size: Size) -> str:
    digest = hashlib.sha256()
    for migration in schema.migrations():
        digest.update(migration.sql.encode())
    digest.update(f"seed-format-{SEED_FORMAT}".encode())
    return f"seed-{size.key}-v{schema.LATEST_VERSION}-{digest.hexdigest()[:10]}.db"


def _guild_rows(first: int, last: int, now: float) -> list[tuple]:
    return [(guild_id(g), f"bench-guild-{g}", now - 86400 * 30) for g in range(first, last)]


def _member_rows(g: int, size: Size, rng: random.Random, now: float) -> Iterator[tuple]:
    gid = guild_id(g)
    for m in range(size.members_per_guild):
        load = m < LOAD_MEMBERS
        points = LOAD_MEMBER_POINTS if load else rng.randrange(0, 50_000)
        streak = rng.randrange(0, 30)
        yield (gid, user_id(g, m, size.members_per_guild), member_name(g, m),
               now - rng.randrange(86400, 400 * 86400), points, streak,
               streak + rng.randrange(0, 10), None, rng.randrange(0, 400),
               rng.randrange(0, 50), rng.randrange(0, 50))


def seed(path: Path, size: Size) -> dict:
    """Create ``path`` from scratch; return timing figures."""
    started = time.perf_counter()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    conn = schema.connect(path)
    try:
        schema.apply_pending(conn)
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA cache_size = -200000")
        # Build the points index once at the end (same definition as the migration made it).
        (index_sql,) = conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = 'members_by_points'"
        ).fetchone()
        conn.execute("DROP INDEX members_by_points")
        rng = random.Random(RANDOM_SEED)
        now = time.time()
        for first in range(0, size.guilds, BATCH_GUILDS):
            last = min(first + BATCH_GUILDS, size.guilds)
            conn.execute("BEGIN")
            conn.executemany(
                "INSERT INTO guilds (guild_id, name, joined_at) VALUES (?, ?, ?)",
                _guild_rows(first, last, now),
            )
            conn.executemany(
                f"INSERT INTO members ({', '.join(MEMBER_COLUMNS)}) "  # noqa: S608 - constants
                f"VALUES ({', '.join('?' * len(MEMBER_COLUMNS))})",
                (row for g in range(first, last) for row in _member_rows(g, size, rng, now)),
            )
            conn.execute("COMMIT")
        conn.execute(index_sql)
        conn.execute("ANALYZE")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        members = conn.execute("SELECT COUNT(*) FROM members").fetchone()[0]
    finally:
        conn.close()
    return {"seconds": round(time.perf_counter() - started, 2), "members": members,
            "bytes": path.stat().st_size}


def prepare(cache_dir: Path, size: Size, dest: Path, log=print) -> dict:
    """A fresh copy of the seeded database at ``dest``, seeding the cache first if needed."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    cached = cache_dir / cache_key(size)
    info: dict = {"cache": str(cached), "cached": cached.exists()}
    if not cached.exists():
        log(f"seeding {size.guilds:,} guilds x {size.members_per_guild} members "
            f"into {cached.name} (cached for later runs)")
        tmp = cached.with_suffix(".tmp")
        figures = seed(tmp, size)
        for stale in cache_dir.glob(f"seed-{size.key}-*.db"):
            stale.unlink()
        tmp.replace(cached)
        info.update(seed_seconds=figures["seconds"])
        log(f"seeded {figures['members']:,} members in {figures['seconds']} s "
            f"({figures['bytes'] / 2**20:.0f} MB)")
    started = time.perf_counter()
    shutil.copyfile(cached, dest)
    info.update(copy_seconds=round(time.perf_counter() - started, 2),
                bytes=dest.stat().st_size)
    return info


async def seed_postgres(dsn: str, password: str, size: Size) -> dict:
    """Give the empty PostgreSQL database at ``dsn`` the bot's schema (its own migrations) and
    the same guilds and members as :func:`seed`, with COPY; return timing figures."""
    import asyncpg

    from bot.storage.postgres import schema as pg_schema

    started = time.perf_counter()
    conn = await asyncpg.connect(dsn, password=password)
    try:
        await pg_schema.apply_pending(conn)
        # Build the points index once at the end (same definition as the migration made it).
        index_sql = await conn.fetchval(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'members_by_points'")
        await conn.execute("DROP INDEX members_by_points")
        rng = random.Random(RANDOM_SEED)
        now = time.time()
        await conn.copy_records_to_table("guilds", records=_guild_rows(0, size.guilds, now),
                                         columns=("guild_id", "name", "joined_at"))
        await conn.copy_records_to_table(
            "members", columns=MEMBER_COLUMNS,
            records=(row for g in range(size.guilds) for row in _member_rows(g, size, rng, now)))
        await conn.execute(index_sql)
        # A long-lived database's state: hint bits set, visibility map built, statistics
        # known, so the first reads of the run do not write. The guild tables only (the whole
        # database would warn about every shared catalog the bot's role does not own).
        await conn.execute(f"VACUUM (FREEZE, ANALYZE) {', '.join(pg_schema.GUILD_TABLES)}")
        members = await conn.fetchval("SELECT COUNT(*) FROM members")
        size_bytes = await conn.fetchval("SELECT pg_database_size(current_database())")
    finally:
        await conn.close()
    return {"seconds": round(time.perf_counter() - started, 2), "members": members,
            "bytes": size_bytes}
