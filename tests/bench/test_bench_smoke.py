"""The benchmark harness runs end to end in --quick mode, guildbot on both backends (SQLite and
the bench's own PostgreSQL) and the bare bot, and writes its JSON; so does its cluster step
(``--cluster``, issue 12) in a tiny world.

Only the shape of the output is checked: timing figures are never asserted in tests (they belong
to ``./run bench`` and docs/benchmark.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bench.load import KIND_MIXES, OUR_MIX
from tests.bench.report import COMMANDS_STEP, kind_step

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow

STEP_KEYS = {"rate", "sent", "answered", "ok", "busy", "errors", "unanswered", "achieved",
             "p50_ms", "p95_ms", "p99_ms", "max_ms", "bot_cpu_ms_per_interaction"}
BOT_KEYS = {"ready_seconds", "rss_ready_mb", "rss_after_load_mb", "saturation_rate",
            "overload_rate", "rss_max_overload_mb", "steps", "fake_error_count", "exit_code"}


def test_quick_run_writes_the_results_json(tmp_path):
    docs = tmp_path / "benchmark.md"
    proc = subprocess.run(
        [sys.executable, "-m", "tests.bench.run", "--quick", "--out-dir", str(tmp_path),
         "--docs", str(docs)],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "SQLite/bare" in proc.stdout and "PostgreSQL/bare" in proc.stdout
    results = json.loads((tmp_path / "results-latest.json").read_text())
    assert results["mode"] == "quick"
    assert {"cpu", "cores", "kernel", "python", "discord.py"} <= set(results["machine"])
    for name in ("sqlite", "postgres", "bare"):
        bot = results["bots"][name]
        assert set(bot) >= BOT_KEYS, (name, sorted(bot))
        assert bot["exit_code"] == 0, (name, bot.get("log_warnings"))
        for step in ("rate-50", "rate-200", "rate-500", "overload", "recovery"):
            assert set(bot["steps"][step]) >= STEP_KEYS, (name, step)
            assert bot["steps"][step]["answered"] > 0
    # Issue 14: clicks (on what the bot posted) and an autocomplete in the mix, each kind also
    # alone in a step of its own (guildbot only: the bare bot has no buttons).
    for name in ("sqlite", "postgres"):
        steps = results["bots"][name]["steps"]
        mixed = steps["rate-200"]["by_command"]
        assert set(mixed) == {c.name for c in OUR_MIX}, (name, sorted(mixed))
        for kind in ("click challenge accept", "click leaderboard page",
                     "autocomplete challenge accept"):
            assert mixed[kind]["ok"] > 0, (name, kind, mixed[kind])
        assert "click_fallbacks" in steps["rate-200"]
        for kind, mix in KIND_MIXES.items():
            step = steps[kind_step(kind)]
            assert set(step) >= STEP_KEYS, (name, kind)
            assert set(step["by_command"]) == {c.name for c in mix}, (name, kind)
            assert step["ok"] > 0 and step["click_fallbacks"] == 0, (name, kind, step)
    assert not any(s.startswith("click-") for s in results["bots"]["bare"]["steps"])
    assert "each kind of interaction in the mixed rate-200 step" in proc.stdout
    assert COMMANDS_STEP in proc.stdout and "autocomplete-200" in proc.stdout
    # PostgreSQL's own CPU and memory, apart from the bot's; production durability.
    postgres = results["bots"]["postgres"]
    assert postgres["steps"]["rate-200"]["db_cpu_ms_per_interaction"] > 0
    assert postgres["db_pss_ready_mb"] > 0 and postgres["db_rss_after_load_mb"] > 0
    assert results["bots"]["sqlite"]["steps"]["rate-200"]["db_cpu_ms_per_interaction"] is None
    settings = results["databases"]["postgres"]["settings"]
    assert (settings["fsync"], settings["synchronous_commit"], settings["full_page_writes"]) == (
        "on", "on", "on")
    assert results["databases"]["postgres"]["members"] == results["plan"]["size"]["members"]
    for backend in ("sqlite", "postgres"):
        ratios = results["comparison"]["ratios"][backend]
        assert {"rate-200", "rss_ready_mb", "saturation_rate"} <= set(ratios)
    found = results["comparison"]["targets"]
    assert {t["status"] for t in found} <= {"PASS", "MISS", "N/A"}
    assert {t["bot"] for t in found} == {"sqlite", "postgres"}
    clicks = [t for t in found if t["target"].startswith("commands' CPU per interaction")]
    assert {t["bot"] for t in clicks} == {"sqlite", "postgres"}
    assert all(t["status"] == "N/A" and "x" in t["measured"] for t in clicks), clicks
    assert not docs.exists(), "a quick run must not write the docs"
    assert not list(tmp_path.glob("run-*/guildbot.db*")), "the database copy is removed"
    assert not Path(results["databases"]["postgres"]["data_directory"]).exists(), \
        "the PostgreSQL cluster is removed"


CLUSTER_KEYS = {"layout", "ready_seconds", "process_ready_seconds", "floor_seconds",
                "above_floor_seconds", "identifies", "identify_refusals", "rss_ready_mb",
                "process_rss_ready_mb", "rss_after_load_mb", "process_rss_after_load_mb",
                "saturation_rate", "steps", "exit_code"}


def test_cluster_step_writes_its_table_and_json(tmp_path):
    """Issue 12: ``--cluster`` runs guildbot on PostgreSQL in the three layouts (unsharded, one
    process of shards 0-3 of 4, two of 0-1 and 2-3) against one fake Discord each, and reports
    each: readiness against the IDENTIFY floor, the 200/s step, saturation, each process's RSS.
    Tiny world, and max_concurrency 4 (every shard its own IDENTIFY bucket: no 5 s waits)."""
    docs = tmp_path / "benchmark.md"
    proc = subprocess.run(
        [sys.executable, "-m", "tests.bench.run", "--cluster", "--quick", "--guilds", "40",
         "--members-per-guild", "5", "--max-concurrency", "4", "--saturation-rates", "100",
         "--out-dir", str(tmp_path), "--docs", str(docs)],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "2 processes, shards 0-1 + 2-3 of 4" in proc.stdout
    assert "RSS after READY (MB, each = sum)" in proc.stdout
    results = json.loads((tmp_path / "results-latest.json").read_text())
    assert results["bots"] == {}, "--cluster runs the cluster step alone"
    cluster = results["cluster"]
    assert (cluster["max_concurrency"], cluster["identify_window"], cluster["rate"]) == (
        4, 5.0, 200.0)
    processes = {"unsharded": 1, "1x4": 1, "2x2": 2}
    for key, layout in cluster["layouts"].items():
        assert set(layout) >= CLUSTER_KEYS, (key, sorted(layout))
        assert layout["exit_code"] == 0, (key, layout.get("log_warnings"))
        assert layout["fake_error_count"] == 0, (key, layout["fake_errors"])
        assert len(layout["process_ready_seconds"]) == processes[key]
        assert len(layout["process_rss_ready_mb"]) == processes[key]
        assert layout["rss_ready_mb"] == pytest.approx(sum(layout["process_rss_ready_mb"]))
        # Every shard identified once, none refused: the fake's rules held.
        assert sorted(i["shard"] for i in layout["identifies"]) == list(
            range(layout["shard_count"] or 1))
        assert layout["identify_refusals"] == 0
        assert layout["floor_seconds"] == 0.0  # four buckets of one shard each
        step = layout["steps"]["rate-200"]
        assert set(step) >= STEP_KEYS, key
        assert step["answered"] > 0 and step["errors"] == 0, (key, step["error_samples"])
        assert step["db_cpu_ms_per_interaction"] is not None
    assert list(cluster["layouts"]) == ["unsharded", "1x4", "2x2"]
    assert not docs.exists(), "the cluster step alone does not write the docs"
    assert not Path(results["databases"]["postgres"]["data_directory"]).exists(), \
        "the PostgreSQL cluster is removed"


def test_backup_step_on_a_tiny_database_writes_its_figures_and_docs(tmp_path):
    """The backup step (issue 17) end to end through ``./run bench --backup``'s entry point, on
    a tiny database: its JSON has every figure and the docs get its block, twice in place."""
    docs = tmp_path / "benchmark.md"
    docs.write_text("# Benchmark\n")
    command = [sys.executable, "-m", "tests.bench.run", "--backup", "--guilds", "20",
               "--members-per-guild", "5", "--out-dir", str(tmp_path), "--docs", str(docs)]
    for _ in range(2):
        proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads((tmp_path / "backup-results.json").read_text())
    assert results["members"] == 100
    assert {"baseline_worst_commit_ms", "vacuum_into_seconds", "backup_seconds",
            "backup_peak_rss_mb", "backup_worst_commit_ms", "verify_seconds", "wall_ratio",
            "commit_ratio", "machine", "load_before"} <= set(results)
    assert results["backup_peak_rss_mb"] > 0
    text = docs.read_text()
    assert text.count("<!-- bench:backup:start -->") == 1
    assert text.count("<!-- bench:backup:end -->") == 1
    assert "`python -m bot backup`" in text
    assert not list((tmp_path / "backup" / "backups").rglob("*.db.zst")), "backup left behind"
