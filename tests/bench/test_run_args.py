"""The benchmark's command line (tests/bench/run.py), without running a benchmark."""

from __future__ import annotations

from tests.bench.run import parse_args


def test_paths_given_relative_reach_the_bots_absolute(tmp_path, monkeypatch):
    """Regression (issue 11, benchmark): the bots run in their own work directories, so a relative
    ``--profile`` (or ``--out-dir``, ``--bot-source``, ``--docs``) named a path inside the bot's
    work directory and cProfile failed at the bot's exit. Fails on the old code because
    parse_args returned the paths as given."""
    monkeypatch.chdir(tmp_path)
    args = parse_args(["--profile", "prof.out", "--out-dir", "out", "--bot-source", "src",
                       "--docs", "bench.md"])
    assert args.profile == tmp_path / "prof.out"
    assert args.out_dir == tmp_path / "out"
    assert args.bot_source == tmp_path / "src"
    assert args.docs == tmp_path / "bench.md"


def test_backend_defaults_to_both():
    assert parse_args([]).backend == "both"
    assert parse_args(["--backend", "postgres"]).backend == "postgres"
