"""Off-host backup growth over seven days (issue 16): what a daily push costs the repository.

    python -m tests.bench.offsite [--guilds 1000] [--members 500] [--days 7] [--change 0.01]
                                  [--pattern random|guilds]

Seeds a SQLite database with the bench's seeder (tests/bench/seed.py), then for each "day":
changes about ``--change`` of the member rows (points, streak, check-in; anywhere, or every
member of that share of the guilds), takes the real
``backup --kind scheduled`` path (verified copy, gzip, publish) with a push to a local restic
repository (bot.storage.offsite: what cron does, without the network), and prints the day's
``.gz`` size next to what the push added to the repository and the repository's size. Needs
restic (scripts/setup-dev.sh installs it). Everything lives in a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.config import OffsiteSettings, Secret
from bot.storage import offsite
from bot.storage.sqlite import backup
from tests.bench.seed import seed
from tests.bench.world import Size

DAY0 = datetime(2026, 11, 1, 3, 17, tzinfo=UTC)


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _change(db: Path, fraction: float, rng: random.Random, day: int, pattern: str) -> int:
    """Change ``fraction`` of the member rows: anywhere (``random``), or every member of that
    share of the guilds (``guilds``: the active guilds of the day; a guild's members are
    contiguous in the table, ordered by guild_id)."""
    conn = sqlite3.connect(db)
    try:
        keys = conn.execute("SELECT guild_id, user_id FROM members").fetchall()
        if pattern == "random":
            picked = rng.sample(keys, int(len(keys) * fraction))
        else:
            guilds = sorted({g for g, _ in keys})
            active = set(rng.sample(guilds, max(1, int(len(guilds) * fraction))))
            picked = [key for key in keys if key[0] in active]
        with conn:
            conn.executemany(
                "UPDATE members SET points = points + ?, streak = streak + 1, "
                "total_logins = total_logins + 1, last_login_day = ? "
                "WHERE guild_id = ? AND user_id = ?",
                [(rng.randrange(1, 100), f"2026-11-{day + 1:02d}", *key) for key in picked])
    finally:
        conn.close()
    return len(picked)


def run(size: Size, days: int, fraction: float, pattern: str) -> list[dict]:
    rng = random.Random(16)
    with tempfile.TemporaryDirectory(prefix="guildbot-bench-offsite-") as scratch:
        root = Path(scratch)
        db, backups_dir, repo_dir = root / "bench.db", root / "backups", root / "repo"
        seed(db, size)
        (root / "password").write_text("bench\n")
        repo = offsite.Repository(OffsiteSettings(str(repo_dir), Secret("bench"), "bench"),
                                  "local", "sqlite", root / "cache")
        offsite.initialise(repo)
        rows = []
        for day in range(days):
            changed = _change(db, fraction, rng, day, pattern) if day else 0
            taken = DAY0 + timedelta(days=day)
            pushed: dict = {}

            def push(plain: Path, published: Path, t: datetime = taken, out: dict = pushed) -> None:
                out.update(offsite.push(repo, plain, "scheduled", t))

            started = time.perf_counter()
            result = backup.create_backup(db, backups_dir, kind="scheduled",
                                          now=taken.timestamp(), push=push)
            total = time.perf_counter() - started
            rows.append({"day": day + 1, "rows_changed": changed,
                         "database_bytes": db.stat().st_size, "gz_bytes": result.size,
                         "push_added_bytes": pushed["bytes_added"],
                         "repository_bytes": _du(repo_dir),
                         "backup_seconds": result.seconds,
                         "push_seconds": round(total - result.seconds, 3)})
            print(json.dumps(rows[-1]), flush=True)
        subprocess.run(["restic", "-r", str(repo_dir), "--password-file", str(root / "password"),
                        "--no-cache", "stats", "--mode", "raw-data"], check=False)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--guilds", type=int, default=1000)
    parser.add_argument("--members", type=int, default=500, help="members per guild")
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--change", type=float, default=0.01, help="share of rows changed a day")
    parser.add_argument("--pattern", choices=("random", "guilds"), default="random",
                        help="which rows change: anywhere, or all of that share of the guilds")
    args = parser.parse_args()
    rows = run(Size(args.guilds, args.members), args.days, args.change, args.pattern)
    gz = sum(r["gz_bytes"] for r in rows)
    growth = rows[-1]["repository_bytes"] - rows[0]["repository_bytes"]
    print(json.dumps({"days": len(rows), "sum_of_daily_gz_bytes": gz,
                      "repository_bytes_day1": rows[0]["repository_bytes"],
                      "repository_growth_after_day1": growth,
                      "growth_per_day": round(growth / max(1, len(rows) - 1)),
                      "gz_per_day": round(gz / len(rows))}))


if __name__ == "__main__":
    main()
