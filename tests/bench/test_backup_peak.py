"""The backup step's peak-RSS figure (tests/bench/backup.py ``timed``), without a benchmark."""

from __future__ import annotations

import sys

from tests.bench.backup import timed


def test_the_peak_is_the_childs_own_not_the_bench_processs():
    """Regression (issue 17, backup step): a run that seeded the 1 GB database in the bench's
    own process reported 444 MB as the backup's and verify's peak RSS: the child's rusage keeps
    the high-water mark of the bench process it was forked from. Fails on the old code (rusage)
    because the child below then reports at least the 300 MB the parent holds."""
    ballast = bytearray(300 * 2**20)
    ballast[::4096] = b"x" * len(ballast[::4096])  # touch every page: resident
    small = timed([sys.executable, "-c", "import sys; print(sys.argv[1:])", "a", "b"])
    assert small["peak_rss_mb"] < 100
    assert small["stdout"].strip() == "['a', 'b']"
    big = timed([sys.executable, "-c",
                 "x = bytearray(200 * 2**20); x[::4096] = b'y' * len(x[::4096])"])
    assert big["peak_rss_mb"] >= 200
    del ballast


def test_a_module_runs_with_its_arguments():
    """``python -m`` through the wrapper: the module sees its own argv and its stdout is kept."""
    out = timed([sys.executable, "-m", "platform", "--terse"])
    assert out["stdout"].strip() and out["peak_rss_mb"] > 0
