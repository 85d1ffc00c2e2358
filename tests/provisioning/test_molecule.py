"""The Molecule scenarios, run as part of the one test command, in parallel lanes.

Each scenario runs ``scripts/molecule-test.sh SCENARIO`` (host preparation, the locally built
Debian 12 systemd image, then ``molecule test``). Its full output goes to
build/test-artifacts/molecule-SCENARIO.log; a failure shows the tail.

The first scenario test to run starts every selected scenario through a pool of
GUILDBOT_MOLECULE_LANES threads (default 2; 1 runs them one after another), longest first, so the
lanes end close together; each test then waits for its own scenario. The machine mostly waits on
containers during a scenario (user+sys CPU was 17 of a 43-minute ./run test), hence two lanes on 2
cores. The script's locks keep a scenario from running twice at once and let other clones' runs
take turns with these.

``disaster`` (issue 16) loses the bot host after an off-host push and one more write, rebuilds
it with ``playbook.yml -e guildbot_offsite_restore=true`` and requires every guild's export to
equal the pushed one. Its verify fails when the restore is skipped or restores other data:
``DISASTER_REBUILD_ARGS='-e guildbot_offsite_restore=false' scripts/molecule-test.sh disaster``
rebuilds without the restore, and verify fails at "Each guild's export equals the pushed one"
(run once, 30 Nov 2026: "after the rebuild: {...'members': [], 'challenges': []} ...", each of the
3 guilds back from READY with no members; molecule exit 2). Its green run took 419 s (RTO 154 s,
RPO 9.1 s; docs/runbook.md, "Host lost").
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.polling import wait_until

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "build" / "test-artifacts"
# Listed, not discovered: a scenario joins the test command once it is green on its own.
SCENARIOS = ["default", "supervisor", "rollout", "cluster", "disaster"]
# Typical `molecule test` times in seconds on the 2-core machine: only the order the lanes take
# them in (longest first); a scenario not in the table goes last.
TYPICAL_SECONDS = {"rollout": 840, "cluster": 620, "default": 600, "disaster": 420,
                   "supervisor": 240}
LANES_VARIABLE = "GUILDBOT_MOLECULE_LANES"
# One scenario's run, enforced by the script (GUILDBOT_MOLECULE_TIMEOUT) once it holds its locks:
# the time waiting for other clones' runs does not count (a queue of them can last an hour).
TIMEOUT_SECONDS = 1800
WAIT_LIMIT_SECONDS = 4 * 3600  # lock waits included: only so a stuck run cannot hang the session


def lane_count(environ: Mapping[str, str]) -> int:
    """GUILDBOT_MOLECULE_LANES: how many scenarios run at once (default 2)."""
    raw = environ.get(LANES_VARIABLE, "2")
    try:
        lanes = int(raw)
    except ValueError:
        lanes = 0
    if lanes < 1:
        raise ValueError(f"{LANES_VARIABLE}={raw!r}: give a whole number of lanes, 1 or more "
                         "(1 runs the Molecule scenarios one after another)")
    return lanes


def launch_order(scenarios: list[str]) -> list[str]:
    """Longest first by TYPICAL_SECONDS; unknown ones last, in the order given."""
    return sorted(scenarios, key=lambda name: -TYPICAL_SECONDS.get(name, 0))


def molecule_test(scenario: str) -> list[str]:
    return [str(REPO / "scripts" / "molecule-test.sh"), scenario]


def session_groups(session: int) -> set[int]:
    """The process groups in SESSION (the script's own, and the one `timeout` makes for molecule);
    in /proc/PID/stat the group and the session follow the state and the parent."""
    groups = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        if int(fields[3]) == session:
            groups.add(int(fields[2]))
    return groups


class Lanes:
    """Runs scenarios in a thread pool, each one's command (molecule_test) in a session of its
    own, so a teardown before the end stops it with everything it started; its output goes to
    ARTIFACTS/molecule-SCENARIO.log."""

    def __init__(self, lanes: int, command=molecule_test, artifacts: Path = ARTIFACTS):
        self._command, self._artifacts = command, artifacts
        self._pool = ThreadPoolExecutor(max_workers=lanes, thread_name_prefix="molecule-lane")
        self._running: dict[str, subprocess.Popen[bytes]] = {}
        self._stopping = False
        self._guard = threading.Lock()  # no scenario starts once close() has begun
        self.futures: dict[str, Future[int]] = {}

    def start(self, scenarios: list[str]) -> None:
        for scenario in scenarios:
            self.futures[scenario] = self._pool.submit(self._run, scenario)

    def _run(self, scenario: str) -> int:
        self._artifacts.mkdir(parents=True, exist_ok=True)
        with open(self._artifacts / f"molecule-{scenario}.log", "w") as out:
            with self._guard:
                if self._stopping:
                    return -1
                process = subprocess.Popen(
                    self._command(scenario), cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                    env={**os.environ, "GUILDBOT_MOLECULE_TIMEOUT": str(TIMEOUT_SECONDS)},
                    start_new_session=True)
                self._running[scenario] = process
            try:
                return process.wait(timeout=WAIT_LIMIT_SECONDS)
            except subprocess.TimeoutExpired:
                out.write(f"\ntest_molecule: gave up after {WAIT_LIMIT_SECONDS}s; stopped\n")
                self._kill(process)
                return -1
            finally:
                del self._running[scenario]

    @staticmethod
    def _kill(process: subprocess.Popen[bytes]) -> None:
        """SIGTERM every process group of the run's session, SIGKILL what is left after 60 s."""
        for sig, grace in ((signal.SIGTERM, 60), (signal.SIGKILL, 0)):
            for group in session_groups(process.pid):
                try:
                    os.killpg(group, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + grace
            while process.poll() is None or session_groups(process.pid):
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.2)
        process.wait()

    def close(self) -> None:
        """Drop the scenarios not started yet and stop the running ones (only left when the
        session ends early: an interrupt, -x)."""
        with self._guard:
            self._stopping = True
            running = list(self._running.values())
        for future in self.futures.values():
            future.cancel()
        for process in running:
            self._kill(process)
        self._pool.shutdown(wait=True)


@pytest.fixture(scope="module")
def lanes(request) -> Iterator[Lanes]:
    """Every scenario this session selected, started on the first scenario test that runs."""
    try:
        count = lane_count(os.environ)
    except ValueError as error:
        pytest.fail(str(error), pytrace=False)
    selected = [item.callspec.params["scenario"] for item in request.session.items
                if getattr(item, "function", None) is test_molecule_scenario]
    pool = Lanes(count)
    # One lane runs them in the listed order, as the tests report them.
    pool.start(launch_order(selected) if count > 1 else selected)
    try:
        yield pool
    finally:
        pool.close()


def test_every_listed_scenario_exists():
    for scenario in SCENARIOS:
        assert (REPO / "molecule" / scenario / "molecule.yml").is_file(), scenario


def test_every_listed_scenario_has_a_typical_time():
    """The lanes take scenarios longest first; one missing from the table would go last."""
    assert sorted(TYPICAL_SECONDS) == sorted(SCENARIOS)


def test_launch_order_is_longest_first_unknown_last():
    assert launch_order(["supervisor", "new-b", "default", "rollout", "new-a", "cluster"]) == [
        "rollout", "cluster", "default", "supervisor", "new-b", "new-a"]


def test_lane_count_default_and_bad_values():
    assert lane_count({}) == 2
    assert lane_count({LANES_VARIABLE: "1"}) == 1
    assert lane_count({LANES_VARIABLE: "3"}) == 3
    for bad in ("0", "-1", "two", "", "1.5"):
        with pytest.raises(ValueError, match=f"{LANES_VARIABLE}='{bad}': give a whole number"):
            lane_count({LANES_VARIABLE: bad})


@pytest.mark.molecule
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario(scenario, lanes):
    log = ARTIFACTS / f"molecule-{scenario}.log"
    returncode = lanes.futures[scenario].result()
    if returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-80:])
        pytest.fail(f"molecule scenario {scenario} failed (exit {returncode}); "
                    f"full log: {log}\n{tail}")


def test_lanes_run_that_many_at_once_in_order_and_close_stops_the_rest(tmp_path):
    """Stand-in scenarios (no containers) that record their start and wait for their go file,
    under timeout(1) as the script runs molecule: in a process group of their own."""
    marks = tmp_path / "marks"
    marks.mkdir()
    stand_in = tmp_path / "stand-in.sh"
    stand_in.write_text("""#!/bin/sh
timeout 600 sh -c 'echo $$ >"$1.pid"; touch "$1.started"
                   while [ ! -e "$1.go" ]; do sleep 0.05; done' sh "$1"
""")
    stand_in.chmod(0o755)

    def started(scenario: str) -> bool:
        return (marks / f"{scenario}.started").exists()

    pool = Lanes(2, command=lambda scenario: [str(stand_in), str(marks / scenario)],
                 artifacts=tmp_path / "logs")
    try:
        pool.start(["one", "two", "three", "four"])
        wait_until(lambda: started("one") and started("two"), "two lanes run")
        assert not started("three")
        (marks / "one.go").touch()
        assert pool.futures["one"].result(timeout=60) == 0
        wait_until(lambda: started("three"), "the freed lane takes the next scenario")
        assert not started("four")
    finally:
        pool.close()
    assert pool.futures["two"].result() == pool.futures["three"].result() == -signal.SIGTERM
    for scenario in ("two", "three"):  # the waits under timeout(1) were stopped too
        assert not Path(f"/proc/{(marks / f'{scenario}.pid').read_text().strip()}").exists()
    assert pool.futures["four"].cancelled() and not started("four")
    assert (tmp_path / "logs" / "molecule-one.log").is_file()
