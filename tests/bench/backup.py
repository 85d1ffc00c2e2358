"""The backup step (issue 17): ``python -m bot backup`` on a ~1 GB database under a writer,
against ``VACUUM INTO`` of the same database in the same run.

    ./run bench --backup [--guilds 105000] [--members-per-guild 100]
    python -m tests.bench.backup [--out-dir build/bench] [--docs docs/benchmark.md] [--no-docs]

The database is the bench's own seeding (tests/bench/seed.py: 105,000 guilds x 100 members,
10.5 M members, about 1 GB), cached under ``<out-dir>/cache`` like the load bench's (a re-run
copies it; the first build took 153 s here) and copied to ``<out-dir>/backup/``. A writer process
commits one member update at a time, ``--rate`` per second, through the bot's own connection
settings, and reports each commit's time. In order, each phase on the same copy:

* baseline: the writer alone for ``--baseline-seconds``: its worst commit;
* ``VACUUM INTO`` a scratch file, from its own process: wall time;
* ``python -m bot backup``: wall time, the process's peak RSS (its rusage), the size of the
  backup, and the writer's worst commit while it ran;
* ``python -m bot verify`` of that backup: wall time and peak RSS.

It prints the figures and the two ratios the issue sets targets for (backup / ``VACUUM INTO``
<= 4, worst commit during the backup / baseline <= 2) and writes them to docs/benchmark.md
between markers of its own, with the machine and its load (the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bot.storage.sqlite import schema
from tests.bench.seed import prepare
from tests.bench.world import Size, guild_id, user_id

REPO = Path(__file__).resolve().parents[2]
START = "<!-- bench:backup:start -->"
END = "<!-- bench:backup:end -->"
TARGET_WALL_RATIO = 4.0
TARGET_COMMIT_RATIO = 2.0


def writer(database: Path, size: Size, rate: float) -> None:
    """The writer process: update one member per tick and print ``<monotonic end> <seconds>``
    per commit until stdin closes."""
    conn = schema.connect(database)
    rng = random.Random(17)
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    tick = 1.0 / rate
    due = time.monotonic()
    while not stop.is_set():
        g = rng.randrange(size.guilds)
        m = rng.randrange(size.members_per_guild)
        started = time.monotonic()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("UPDATE members SET points = points + 1 WHERE guild_id = ? AND user_id = ?",
                     (guild_id(g), user_id(g, m, size.members_per_guild)))
        conn.execute("COMMIT")
        ended = time.monotonic()
        print(f"{ended:.6f} {ended - started:.6f}", flush=True)
        due += tick
        time.sleep(max(0.0, due - time.monotonic()))
    conn.close()


class Writer:
    """The writer process and the commits it reported, by the time they ended."""

    def __init__(self, database: Path, size: Size, rate: float) -> None:
        self.commits: list[tuple[float, float]] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.bench.backup", "--writer", str(database),
             "--guilds", str(size.guilds), "--members-per-guild", str(size.members_per_guild),
             "--rate", str(rate)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            ended, seconds = line.split()
            self.commits.append((float(ended), float(seconds)))

    def worst_ms(self, start: float, end: float) -> tuple[float, float, int]:
        """The worst and the p99 commit that ended in [start, end] (ms), and how many did."""
        window = sorted(s for t, s in list(self.commits) if start <= t <= end)
        if not window:
            raise RuntimeError("the writer reported no commit in the window")
        return (round(1000 * window[-1], 2), round(1000 * window[int(len(window) * 0.99)], 2),
                len(window))

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)
        self.reader.join(timeout=30)
        if self.process.returncode:
            raise RuntimeError(f"the writer failed (exit {self.process.returncode})")


# Runs ``python -m MODULE ARGS`` or ``python -c CODE ARGS`` and, at its exit, writes its own
# peak RSS (VmHWM, kB) to $BENCH_PEAK_FILE. A child's rusage would not do: Linux keeps a
# forked child's high-water mark across exec, so a bench that seeded 1 GB in its own process
# first reported its own ~444 MB as the backup's peak.
PEAK_WRAPPER = """
import atexit, os, runpy, sys
def _peak():
    with open("/proc/self/status") as status:
        hwm = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    with open(os.environ["BENCH_PEAK_FILE"], "w") as out:
        out.write(hwm)
atexit.register(_peak)
mode, target, *rest = sys.argv[1:]
if mode == "-m":
    sys.argv = [target, *rest]
    runpy.run_module(target, run_name="__main__", alter_sys=True)
else:
    sys.argv = ["-c", *rest]
    exec(compile(target, "<string>", "exec"))
"""


def timed(command: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``[python, "-m" | "-c", ...]``; its wall time, its own peak RSS (MB) and stdout."""
    python, *rest = command
    with tempfile.TemporaryDirectory(prefix="bench-peak-") as scratch:
        peak_file = Path(scratch) / "peak"
        child_env = {**(os.environ if env is None else env), "BENCH_PEAK_FILE": str(peak_file)}
        started = time.monotonic()
        process = subprocess.run([python, "-c", PEAK_WRAPPER, *rest], stdout=subprocess.PIPE,
                                 env=child_env, cwd=REPO, check=False)
        seconds = time.monotonic() - started
        if process.returncode:
            raise RuntimeError(f"{' '.join(command)} failed (exit {process.returncode})")
        peak_kb = int(peak_file.read_text())
    return {"seconds": round(seconds, 2), "peak_rss_mb": round(peak_kb / 1024, 1),
            "started": started, "ended": started + seconds, "stdout": process.stdout.decode()}


def machine() -> dict[str, Any]:
    model = next((line.split(":", 1)[1].strip() for line in
                  Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.machine())
    mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
    return {"cpu": model, "cores": os.cpu_count(), "memory_gb": round(mem_kb / 2**20, 1),
            "python": platform.python_version(), "sqlite": sqlite3.sqlite_version}


def run(size: Size, out_dir: Path, rate: float, baseline_seconds: float,
        log=print) -> dict[str, Any]:
    work = out_dir / "backup"
    work.mkdir(parents=True, exist_ok=True)
    for leftover in work.glob("*"):
        if leftover.is_file():
            leftover.unlink()
    database = work / "guildbot.db"
    seeded = prepare(out_dir / "cache", size, database, log=log)
    built = "from the cache" if seeded["cached"] else f"seeded in {seeded['seed_seconds']} s"
    log(f"database: {seeded['bytes'] / 2**30:.2f} GiB ({size.members:,} members), {built}")
    env = {**os.environ, "GUILDBOT_DATABASE": str(database),
           "GUILDBOT_BACKUP_DIR": str(work / "backups"), "GUILDBOT_STATE_DIR": str(work),
           "GUILDBOT_LOG_LEVEL": "WARNING"}
    for name in ("GUILDBOT_OFFSITE_REPOSITORY", "GUILDBOT_ALERT_WEBHOOK_URL"):
        env.pop(name, None)
    load_before = os.getloadavg()
    writer_proc = Writer(database, size, rate)
    try:
        time.sleep(1.0)  # the writer's first commits warm its connection
        begin = time.monotonic()
        time.sleep(baseline_seconds)
        baseline_ms, baseline_p99, baseline_n = writer_proc.worst_ms(begin, time.monotonic())
        vacuum = timed([sys.executable, "-c",
                        "import sqlite3, sys; sqlite3.connect(sys.argv[1])"
                        ".execute('VACUUM INTO ?', (sys.argv[2],))",
                        str(database), str(work / "vacuum-into.db")])
        (work / "vacuum-into.db").unlink()
        vacuum_commit_ms, _, _ = writer_proc.worst_ms(vacuum["started"], vacuum["ended"])
        backup = timed([sys.executable, "-m", "bot", "backup", "--kind", "on-demand"], env)
        backup_commit_ms, backup_p99, backup_n = writer_proc.worst_ms(backup["started"],
                                                                      backup["ended"])
    finally:
        writer_proc.stop()
    published = Path(json.loads(backup["stdout"])["path"])
    verify = timed([sys.executable, "-m", "bot", "verify", str(published)], env)
    if json.loads(verify["stdout"]).get("integrity") != "ok":
        raise RuntimeError(f"verify of {published} failed: {verify['stdout']}")
    results = {
        "machine": machine(), "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "database_bytes": seeded["bytes"], "members": size.members,
        "seed_seconds": seeded.get("seed_seconds"), "writer_rate": rate,
        "baseline_worst_commit_ms": baseline_ms, "baseline_commits": baseline_n,
        "baseline_p99_commit_ms": baseline_p99,
        "vacuum_into_seconds": vacuum["seconds"], "vacuum_worst_commit_ms": vacuum_commit_ms,
        "backup_seconds": backup["seconds"], "backup_peak_rss_mb": backup["peak_rss_mb"],
        "backup_bytes": published.stat().st_size, "backup_worst_commit_ms": backup_commit_ms,
        "backup_commits": backup_n, "backup_p99_commit_ms": backup_p99,
        "verify_seconds": verify["seconds"], "verify_peak_rss_mb": verify["peak_rss_mb"],
        "wall_ratio": round(backup["seconds"] / vacuum["seconds"], 2),
        "commit_ratio": round(backup_commit_ms / baseline_ms, 2),
    }
    results["wall_ok"] = results["wall_ratio"] <= TARGET_WALL_RATIO
    results["commit_ok"] = results["commit_ratio"] <= TARGET_COMMIT_RATIO
    published.unlink()
    return results


def table(r: dict[str, Any]) -> str:
    m = r["machine"]

    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"
    return "\n".join([
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, Python {m['python']}, "
        f"SQLite {m['sqlite']}; load average before {r['load_before']}, after "
        f"{r['load_after']} (1, 5, 15 min; shared with other work).",
        f"Database: {r['database_bytes'] / 1e9:.2f} GB, {r['members']:,} members; writer "
        f"{r['writer_rate']:g} commits/s.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| writer's worst commit, baseline | {r['baseline_worst_commit_ms']} ms "
        f"(p99 {r['baseline_p99_commit_ms']} ms, {r['baseline_commits']} commits) |",
        f"| `VACUUM INTO` | {r['vacuum_into_seconds']} s (worst commit "
        f"{r['vacuum_worst_commit_ms']} ms) |",
        f"| `python -m bot backup` | {r['backup_seconds']} s, peak RSS "
        f"{r['backup_peak_rss_mb']} MB, {r['backup_bytes'] / 2**20:.0f} MB file |",
        f"| writer's worst commit during the backup | {r['backup_worst_commit_ms']} ms "
        f"(p99 {r['backup_p99_commit_ms']} ms, {r['backup_commits']} commits) |",
        f"| `python -m bot verify` of the backup | {r['verify_seconds']} s, peak RSS "
        f"{r['verify_peak_rss_mb']} MB |",
        f"| backup / `VACUUM INTO` (target <= {TARGET_WALL_RATIO:g}) | {r['wall_ratio']}x "
        f"({verdict(r['wall_ok'])}) |",
        f"| worst commit during backup / baseline (target <= {TARGET_COMMIT_RATIO:g}) | "
        f"{r['commit_ratio']}x ({verdict(r['commit_ok'])}) |",
    ])


def write_docs(path: Path, results: dict[str, Any]) -> None:
    """Put the table between this step's markers (appending a section the first time)."""
    text = path.read_text() if path.exists() else ""
    block = f"{START}\n{table(results)}\n{END}"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n## Backup at the speed of the copy: latest run\n" \
            + block + "\n"
    path.write_text(text)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.backup",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--guilds", type=int, default=105_000)
    parser.add_argument("--members-per-guild", type=int, default=100)
    parser.add_argument("--rate", type=float, default=100.0, help="writer commits per second")
    parser.add_argument("--baseline-seconds", type=float, default=10.0)
    parser.add_argument("--out-dir", type=Path, default=REPO / "build" / "bench")
    parser.add_argument("--docs", type=Path, default=REPO / "docs" / "benchmark.md")
    parser.add_argument("--no-docs", action="store_true", help="do not touch the docs")
    parser.add_argument("--writer", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    size = Size(args.guilds, args.members_per_guild)
    if args.writer:
        writer(args.writer, size, args.rate)
        return 0
    results = run(size, args.out_dir, args.rate, args.baseline_seconds)
    print(table(results))
    out = args.out_dir / "backup-results.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"results: {out}")
    if not args.no_docs:
        write_docs(args.docs, results)
        print(f"docs: {args.docs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
