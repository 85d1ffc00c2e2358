"""What ``PRAGMA synchronous = FULL`` would cost the bot's writes, against NORMAL (the setting).

    python -m tests.bench.durability [--writes 1000] [--rounds 2] [--dir build/bench/durability]

Each round opens a fresh database per setting through ``SQLiteStorage`` (the bot's own writer
connection and thread) and times ``/login`` transactions (``daily_login``: read the member and the
guild's settings, update the member, commit) one after another, so each figure is one commit
through the real write path. The settings alternate within a round so both see the same machine.
It prints one line per setting and round, then the medians and the FULL/NORMAL ratio; the
figures for docs/benchmark.md ("Durability") come from here. Run it on the disk the bot uses:
on a tmpfs every fsync is free and the ratio means nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import time
from pathlib import Path

from bot.storage.sqlite import SQLiteStorage, schema

GUILD = 1
LOGIN_AT = 1_767_355_200.0  # 2026-01-02 12:00 UTC: every check-in of the run on one day
SETTINGS = ("NORMAL", "FULL")


def _seed(path: Path, members: int) -> None:
    conn = schema.connect(path)
    try:
        schema.apply_pending(conn)
        conn.execute("INSERT INTO guilds (guild_id, name, joined_at) VALUES (?, 'bench', 0)",
                     (GUILD,))
        conn.executemany("INSERT INTO members (guild_id, user_id, display_name, registered_at) "
                         "VALUES (?, ?, 'm', 0)", [(GUILD, i) for i in range(members)])
    finally:
        conn.close()


async def _commits(path: Path, writes: int) -> list[float]:
    """Seconds per daily_login transaction, on a database already seeded."""
    storage = await SQLiteStorage.open(path, readers=1)
    try:
        repo = storage.guild(GUILD)
        seconds = []
        for user in range(writes):
            started = time.perf_counter()
            await repo.daily_login(user, LOGIN_AT)
            seconds.append(time.perf_counter() - started)
        return seconds
    finally:
        await storage.close()


def measure(setting: str, work_dir: Path, writes: int) -> dict[str, float]:
    db = work_dir / f"durability-{setting.lower()}.db"
    for leftover in work_dir.glob(db.name + "*"):
        leftover.unlink()
    _seed(db, writes)
    previous, schema.SYNCHRONOUS = schema.SYNCHRONOUS, setting
    try:
        seconds = asyncio.run(_commits(db, writes))
    finally:
        schema.SYNCHRONOUS = previous
    ordered = sorted(seconds)
    return {"mean_ms": 1000 * statistics.fmean(seconds),
            "p50_ms": 1000 * ordered[len(ordered) // 2],
            "p99_ms": 1000 * ordered[int(len(ordered) * 0.99)],
            "commits_per_s": len(seconds) / sum(seconds)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writes", type=int, default=1000, help="transactions per measurement")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--dir", type=Path, default=Path("build/bench/durability"))
    args = parser.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, list[dict[str, float]]] = {s: [] for s in SETTINGS}
    for round_ in range(args.rounds):
        order = SETTINGS if round_ % 2 == 0 else SETTINGS[::-1]
        for setting in order:
            figures = measure(setting, args.dir, args.writes)
            results[setting].append(figures)
            print(f"round {round_ + 1} synchronous={setting:6} " + "  ".join(
                f"{key} {value:8.3f}" for key, value in figures.items()), flush=True)
    medians = {s: {k: statistics.median(r[k] for r in runs) for k in runs[0]}
               for s, runs in results.items()}
    for setting, figures in medians.items():
        print(f"median  synchronous={setting:6} " + "  ".join(
            f"{key} {value:8.3f}" for key, value in figures.items()))
    print("FULL/NORMAL: " + "  ".join(
        f"{key} x{medians['FULL'][key] / medians['NORMAL'][key]:.2f}"
        for key in ("mean_ms", "p50_ms", "p99_ms")))
    shutil.rmtree(args.dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
