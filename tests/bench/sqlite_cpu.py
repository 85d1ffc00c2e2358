"""CPU per call of the SQLite backend's hot calls, to compare two versions of bot/storage.

    python -m tests.bench.sqlite_cpu [--calls 50000] [--only OP] [--bot-tree DIR]
                                     [--dir build/bench/sqlite-cpu]

It seeds a database (100 guilds of 1,000 members, through the project's migrations), opens it
with ``SQLiteStorage`` as the bot does (the writer thread, two readers, the quick reader) and
makes ``--calls`` calls of each operation one after another, each awaited before the next:
``daily_login`` (a write: read the member and the settings, update, commit), ``member`` (a quick
read) and ``create_challenge`` (a write: two member reads, the next number, the escrow debit, the
insert). It prints one JSON line: the ``bot`` package it measured and, per operation, the
process's CPU time per call (every thread: the loop's, the writer's, the checkpointer's) and the
wall time per call, in microseconds. No figure is asserted; docs/benchmark.md has the comparison
made with it.

``--bot-tree DIR`` imports ``bot`` from DIR instead of this checkout (e.g. ``git archive COMMIT
bot | tar -x -C DIR``), so two versions run the same script; alternate them in a loop, since
other work on the machine moves the figures more than most changes do. ``--only OP`` runs one
operation (for an instruction count under ``valgrind --tool=callgrind``, which the figures of a
shared machine cannot disturb).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

GUILDS = 100
MEMBERS = 1_000
FIRST_GUILD = 1_000_000_000_000
LOGIN_AT = 1_767_355_200.0  # 2026-01-02 12:00 UTC
DAY, YESTERDAY = "2026-01-02", "2026-01-01"  # the same check-in for a tree before issue 11
NOW = 1_700_000_000.0


def seed(path: Path) -> None:
    schema = importlib.import_module("bot.storage.sqlite.schema")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    conn = schema.connect(path)
    try:
        schema.apply_pending(conn)
        conn.execute("BEGIN")
        for g in range(GUILDS):
            conn.execute("INSERT INTO guilds (guild_id, name, joined_at) VALUES (?, 'g', 0)",
                         (FIRST_GUILD + g,))
            conn.executemany(
                "INSERT INTO members (guild_id, user_id, display_name, registered_at, points) "
                "VALUES (?, ?, 'member', 0, 1000000000)",
                [(FIRST_GUILD + g, m) for m in range(1, MEMBERS + 1)])
        conn.execute("COMMIT")
    finally:
        conn.close()


async def measure(path: Path, calls: int, only: str | None) -> dict[str, dict[str, float]]:
    backend = importlib.import_module("bot.storage.sqlite")
    storage = await backend.SQLiteStorage.open(path, readers=2)
    repos = [storage.guild(FIRST_GUILD + g) for g in range(GUILDS)]

    # daily_login(user, now) since pg-perf (issue 11); daily_login(user, day, yesterday) before.
    when = (LOGIN_AT,) if "now" in inspect.signature(repos[0].daily_login).parameters \
        else (DAY, YESTERDAY)

    def login(i: int) -> Awaitable[Any]:  # each member once: every call writes
        return repos[i % GUILDS].daily_login((i // GUILDS) % MEMBERS + 1, *when)

    def member(i: int) -> Awaitable[Any]:
        return repos[i % GUILDS].member((i * 7919) % MEMBERS + 1)

    def create(i: int) -> Awaitable[Any]:
        m = (i // GUILDS) % (MEMBERS - 1) + 1
        return repos[i % GUILDS].create_challenge(m, m + 1, 1, NOW, NOW + 86_400)

    operations: dict[str, Callable[[int], Awaitable[Any]]] = {
        "daily_login": login, "member": member, "create_challenge": create}
    figures = {}
    try:
        for name, call in operations.items():
            if only not in (None, name):
                continue
            cpu, wall = time.process_time(), time.perf_counter()
            for i in range(calls):
                await call(i)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            figures[name] = {"cpu_us": round(cpu / calls * 1e6, 2),
                             "wall_us": round(wall / calls * 1e6, 2)}
    finally:
        await storage.close()
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=50_000)
    parser.add_argument("--only", choices=("daily_login", "member", "create_challenge"))
    parser.add_argument("--bot-tree", type=Path, help="import bot from this directory")
    parser.add_argument("--dir", type=Path, default=Path("build/bench/sqlite-cpu"))
    args = parser.parse_args(argv)
    if args.bot_tree is not None:
        sys.path.insert(0, str(args.bot_tree.resolve()))
    args.dir.mkdir(parents=True, exist_ok=True)
    path = args.dir / "sqlite-cpu.db"
    seed(path)
    figures = asyncio.run(measure(path, args.calls, args.only))
    print(json.dumps({"bot": str(Path(sys.modules["bot"].__file__ or "").parent), **figures}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
