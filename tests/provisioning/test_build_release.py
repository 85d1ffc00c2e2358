"""The controller's release builder (roles/guildbot_release/files/build_release.py) when two runs
build into one build dir at once, as the Molecule scenarios do in parallel lanes.

pip is replaced by a stand-in that writes one wheel (no network, no timing): the first builder's
waits at a gate the test opens, so the second starts while the first is mid-build.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.polling import wait_until

ROOT = Path(__file__).resolve().parents[2]
BUILDER = ROOT / "roles" / "guildbot_release" / "files" / "build_release.py"

# Runs the builder with `python -m pip wheel` replaced; with GATE set, the stand-in creates
# GATE.waiting and returns only once GATE.open exists.
RUNNER = """
import os, pathlib, runpy, subprocess, sys, time
real_run = subprocess.run
def fake_run(argv, *args, **kwargs):
    if list(argv[1:4]) != ["-m", "pip", "wheel"]:
        return real_run(argv, *args, **kwargs)
    wheels = pathlib.Path(argv[argv.index("--wheel-dir") + 1])
    (wheels / "fake-1.0-py3-none-any.whl").write_bytes(b"wheel")
    gate = os.environ.get("GATE")
    if gate:
        pathlib.Path(gate + ".waiting").touch()
        while not pathlib.Path(gate + ".open").exists():
            time.sleep(0.05)
    return subprocess.CompletedProcess(argv, 0)
subprocess.run = fake_run
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def start(source: Path, build: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", RUNNER, str(BUILDER), "--source", str(source),
         "--build-dir", str(build)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def blocked_on_a_lock(pid: int) -> bool:
    """The kernel lists a process waiting for a lock as '-> FLOCK ... PID ...' in /proc/locks."""
    return any("->" in line and str(pid) in line.split()
               for line in Path("/proc/locks").read_text().splitlines())


def test_two_builds_at_once_share_one_wheelhouse_and_one_tarball(tmp_path):
    """Regression (Molecule lanes): a second build into the same build dir
    while the first is still making the wheelhouse waits for it, then reuses its tarball, and
    both succeed. Fails on the old code because nothing made them take turns: the second built
    the wheelhouse and the tarball itself, and the first then died renaming its own wheelhouse
    over the existing one (OSError: Directory not empty)."""
    source = tmp_path / "source"
    (source / "bot").mkdir(parents=True)
    (source / "bot" / "__init__.py").write_text('__version__ = "1.0"\n')
    (source / "requirements.txt").write_text("fake==1.0\n")
    build, gate = tmp_path / "build", str(tmp_path / "gate")
    env = {"PATH": "/usr/bin:/bin", "GATE": gate}

    first = start(source, build, env)
    second = None
    try:
        wait_until(lambda: Path(gate + ".waiting").exists(), "the first build is in pip")
        second = start(source, build, {"PATH": "/usr/bin:/bin"})
        wait_until(lambda: second.poll() is not None or blocked_on_a_lock(second.pid),
                   "the second build has finished or waits for the first")
        Path(gate + ".open").touch()
        outputs = [process.communicate(timeout=60) for process in (first, second)]
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
    assert [first.returncode, second.returncode] == [0, 0], outputs
    results = [json.loads(stdout) for stdout, _ in outputs]
    assert results[0]["tarball"] == results[1]["tarball"]
    assert [result["built"] for result in results] == [True, False]
    assert len(list((build / "wheelhouse").iterdir())) == 1
    assert list((build / "releases").iterdir()) == [Path(results[0]["tarball"])]
