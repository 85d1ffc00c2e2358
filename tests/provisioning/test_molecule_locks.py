"""scripts/molecule-test.sh's locking, without containers: the script runs from a copy of the
repository in a temporary directory, with stand-ins for molecule, the host preparation and the image
build that record what they see and wait at gates the test opens, and its lock files in a
temporary directory (GUILDBOT_MOLECULE_LOCK_DIR).

Different scenarios run at once; the same scenario waits for itself; a run waits for an old-style
(exclusive) holder of the machine-wide lock and keeps it from taking it; two host preparations
(and image builds) never overlap; each scenario gets its own code snapshot; the time limit
(GUILDBOT_MOLECULE_TIMEOUT) counts the run, not the waits.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.polling import wait_until

REPO = Path(__file__).resolve().parents[2]

MOLECULE = """#!/usr/bin/env bash
# Stand-in for molecule: records the run, then waits until the test lets the scenario finish.
name="$3"
echo "$GUILDBOT_RELEASE_SOURCE_DIR" >"$MARKS/$name.source"
echo "$$" >>"$MARKS/$name.starts"
while [ ! -e "$MARKS/$name.go" ]; do sleep 0.05; done
"""
PREPARE = """#!/usr/bin/env bash
# Stand-in for prepare-podman.sh: notes an overlap with another preparation; holds while told to.
[ -e "$MARKS/prepare.inside" ] && touch "$MARKS/prepare.overlap"
touch "$MARKS/prepare.inside"
while [ -e "$MARKS/prepare.hold" ]; do sleep 0.05; done
rm "$MARKS/prepare.inside"
"""
IMAGE = """#!/usr/bin/env bash
echo localhost/fake-image:1
"""


class Sandbox:
    def __init__(self, root: Path):
        self.root, self.marks, self.locks = root / "repo", root / "marks", root / "locks"
        for directory in (self.marks, self.locks, self.root / "scripts", self.root / "venv" / "bin",
                          self.root / "bot", self.root / "tests" / "fake_discord"):
            directory.mkdir(parents=True)
        shutil.copy2(REPO / "scripts" / "molecule-test.sh", self.root / "scripts")
        for path, text in ((self.root / "venv" / "bin" / "molecule", MOLECULE),
                           (self.root / "scripts" / "prepare-podman.sh", PREPARE),
                           (self.root / "scripts" / "build-test-image.sh", IMAGE)):
            path.write_text(text)
            path.chmod(0o755)
        for scenario in ("alpha", "beta"):
            (self.root / "molecule" / scenario).mkdir(parents=True)
            (self.root / "molecule" / scenario / "molecule.yml").write_text("---\n")
        for name in ("bot/__init__.py", "requirements.txt", "tests/__init__.py",
                     "tests/fake_discord/__init__.py"):
            (self.root / name).write_text("")
        self.runs: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(self, scenario: str, **extra_env: str) -> Path:
        """Start `molecule-test.sh SCENARIO`; returns the file its output goes to."""
        log = self.marks / f"{scenario}.{len(self.runs)}.log"
        env = {"PATH": os.environ["PATH"], "MARKS": str(self.marks),
               "GUILDBOT_VENV": str(self.root / "venv"),
               "GUILDBOT_MOLECULE_LOCK_DIR": str(self.locks), **extra_env}
        with open(log, "wb") as out:
            process = subprocess.Popen([str(self.root / "scripts" / "molecule-test.sh"), scenario],
                                       cwd=self.root, env=env, stdout=out,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        self.runs.append((process, log))
        return log

    def starts(self, scenario: str) -> int:
        path = self.marks / f"{scenario}.starts"
        return len(path.read_text().split()) if path.exists() else 0

    def finish(self, *scenarios: str) -> None:
        for scenario in scenarios:
            (self.marks / f"{scenario}.go").touch()

    def wait_all(self, expected: int = 0) -> None:
        for process, log in self.runs:
            assert process.wait(timeout=60) == expected, log.read_text()

    def stop(self) -> None:
        for process, _ in self.runs:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@pytest.fixture
def sandbox(tmp_path):
    box = Sandbox(tmp_path)
    try:
        yield box
    finally:
        box.stop()


def says_waiting_for(log: Path, lock: str) -> bool:
    return f"holds {lock}; waiting for it" in log.read_text()


def test_different_scenarios_run_at_once_each_on_its_own_snapshot(sandbox):
    sandbox.start("alpha")
    wait_until(lambda: sandbox.starts("alpha") == 1, "alpha runs")
    sandbox.start("beta")
    wait_until(lambda: sandbox.starts("beta") == 1, "beta runs while alpha still runs")
    sources = {name: (sandbox.marks / f"{name}.source").read_text().strip()
               for name in ("alpha", "beta")}
    assert sources == {name: str(sandbox.root / "build" / "molecule-source" / name)
                       for name in ("alpha", "beta")}
    assert (Path(sources["alpha"]) / "bot" / "__init__.py").is_file()  # not removed by beta's run
    sandbox.finish("alpha", "beta")
    sandbox.wait_all()


def test_the_same_scenario_waits_for_its_own_run(sandbox):
    sandbox.start("alpha")
    wait_until(lambda: sandbox.starts("alpha") == 1, "alpha runs")
    second = sandbox.start("alpha")
    wait_until(lambda: says_waiting_for(second, f"{sandbox.locks}/guildbot-molecule-alpha.lock"),
               "the second alpha run waits for the scenario's lock")
    assert sandbox.starts("alpha") == 1
    sandbox.finish("alpha")
    sandbox.wait_all()
    assert sandbox.starts("alpha") == 2


def test_old_style_runs_and_new_style_runs_exclude_each_other(sandbox):
    machine_lock = sandbox.locks / "guildbot-molecule.lock"
    with open(machine_lock, "w") as old_style:  # an older copy of the script holds it exclusive
        fcntl.flock(old_style, fcntl.LOCK_EX)
        log = sandbox.start("alpha")
        wait_until(lambda: says_waiting_for(log, str(machine_lock)),
                   "the run waits for the old-style holder")
        assert sandbox.starts("alpha") == 0
    wait_until(lambda: sandbox.starts("alpha") == 1, "alpha runs once the old-style run is over")
    with open(machine_lock, "w") as old_style, pytest.raises(BlockingIOError):
        fcntl.flock(old_style, fcntl.LOCK_EX | fcntl.LOCK_NB)  # an old-style run would wait
    sandbox.finish("alpha")
    sandbox.wait_all()


def test_host_preparations_take_turns(sandbox):
    (sandbox.marks / "prepare.hold").touch()
    sandbox.start("alpha")
    wait_until(lambda: (sandbox.marks / "prepare.inside").exists(), "alpha prepares the host")
    log = sandbox.start("beta")
    wait_until(lambda: says_waiting_for(log, f"{sandbox.locks}/guildbot-molecule-prepare.lock"),
               "beta waits for alpha's host preparation")
    (sandbox.marks / "prepare.hold").unlink()
    sandbox.finish("alpha", "beta")
    sandbox.wait_all()
    assert not (sandbox.marks / "prepare.overlap").exists()
    assert sandbox.starts("alpha") == sandbox.starts("beta") == 1


def test_the_time_limit_stops_molecule_but_does_not_count_lock_waits(sandbox):
    machine_lock = sandbox.locks / "guildbot-molecule.lock"
    sandbox.finish("alpha")  # alpha's molecule ends at once
    with open(machine_lock, "w") as old_style:
        fcntl.flock(old_style, fcntl.LOCK_EX)
        waiting = sandbox.start("alpha", GUILDBOT_MOLECULE_TIMEOUT="1")
        wait_until(lambda: says_waiting_for(waiting, str(machine_lock)), "alpha waits")
        time.sleep(2)  # waits longer than the limit
    sandbox.wait_all()  # passed: the wait did not count
    assert re.search(r"scenario alpha \(test\) passed in \d+s \(and \d+s waiting for other runs\)",
                     waiting.read_text())

    sandbox.runs.clear()
    stuck = sandbox.start("beta", GUILDBOT_MOLECULE_TIMEOUT="1")  # beta's never ends by itself
    sandbox.wait_all(expected=124)
    assert "scenario beta (test) stopped after GUILDBOT_MOLECULE_TIMEOUT=1s" in stuck.read_text()


def test_a_bad_time_limit_is_refused_before_anything_runs(sandbox):
    log = sandbox.start("alpha", GUILDBOT_MOLECULE_TIMEOUT="30m")
    sandbox.wait_all(expected=2)
    assert "GUILDBOT_MOLECULE_TIMEOUT=30m: give whole seconds" in log.read_text()
    assert sandbox.starts("alpha") == 0
