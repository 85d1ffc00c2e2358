"""The README's first command, from a clean state: the local stage comes up, plays its session
in two guilds, prints a dashboard URL on the host's loopback that opens, comes up again without
changing anything, and is torn down (the URL with it)."""

from __future__ import annotations

import json
import re
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LOGS = REPO / "build" / "test-artifacts"

pytestmark = pytest.mark.molecule


def run(*args: str, log: str) -> str:
    LOGS.mkdir(parents=True, exist_ok=True)
    result = subprocess.run([str(REPO / "run"), *args], cwd=REPO, capture_output=True,
                            text=True, timeout=1800)
    output = result.stdout + result.stderr
    (LOGS / log).write_text(output)
    if result.returncode != 0:
        pytest.fail(f"./run {' '.join(args)} failed ({result.returncode}):\n{output[-4000:]}")
    return output


def field(output: str, pattern: str) -> str:
    found = re.search(pattern, output)
    assert found, f"{pattern!r} not in the output"
    return found.group(1)


def fetch(url: str) -> str:
    """GET from the host itself (never through a proxy from the environment)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=10) as response:
        assert response.status == 200, url
        return response.read().decode()


def dashboard_opens(output: str) -> str:
    """Regression (issue 13, item 16): the demo prints a URL on the host's loopback and it
    opens, with no nsenter or socat to run by hand. Fails on the old code because the demo only
    printed that incantation: no "dashboard: http://127.0.0.1:..." line, nothing listening."""
    base = field(output, r"dashboard: (http://127\.0\.0\.1:\d+)/dashboard")
    assert "<title>guildbot dashboard</title>" in fetch(base + "/dashboard")
    assert json.loads(fetch(base + "/slo"))["ready"] is True
    return base


def transcript(output: str) -> list[str]:
    """The session's lines, without what differs between two runs: the time and latencies."""
    lines = [line.strip() for line in output.splitlines() if line.strip().startswith("[guild")]
    # A moment as Babel writes it in English (bot.i18n.when): "Dec 2, 2026, 01:27 UTC".
    lines = [re.sub(r"[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d\d UTC", "<time>", line)
             for line in lines]
    return [re.sub(r"\d+ ms avg", "<n> ms avg", line) for line in lines]


def test_local_stage_up_twice_then_down():
    run("down", log="local-stage-down-before.log")
    try:
        first = run("demo", log="local-stage-up-1.log")
        assert "no real token configured: the bot will talk to the fake Discord" in first
        for guild in ("guild-0", "guild-1"):
            expected = [
                f"[{guild}] member1 /register -> Welcome, @member1!",
                f"[{guild}] member1 /login -> Checked in: +100 points.",
                f"[{guild}] member0 submits purge modal -> All of this server's guildbot data "
                "has been deleted.",
                f"[{guild}] member2 clicks ch:accept -> Challenge #1 accepted",
                f"[{guild}] member2 /challenge complete -> Challenge #1 is settled: @member1 "
                "wins 80 points!",
                f"[{guild}] member2 /leaderboard -> Leaderboard | **1.** member1: 140 points",
                f"[{guild}] member2 clicks lb:next -> Leaderboard | **11.** member11: 0 points",
                f"[{guild}] member2 clicks lb:first -> Leaderboard | **1.** member1: 140 points",
                f"[{guild}] member0 /admin settings -> Settings updated.",
            ]
            for line in expected:
                assert line in first, line
        # /stats right after the session counts it (issue 13, item 2): not "No commands
        # recorded yet" when the analytics batch has not been written yet.
        # Components and modals are counted too (issue 14), under their own names.
        usage = ("Command usage, last 7 days (admins only): `/register` 12 calls, 0 failed, "
                 "<n> ms avg | `/login` 2 calls, 0 failed, <n> ms avg | `/admin settings` 1 call, "
                 "0 failed, <n> ms avg | `button:challenge-accept` 1 call, 0 failed, <n> ms avg | "
                 "`button:leaderboard-first` 1 call, 0 failed, <n> ms avg | "
                 "`button:leaderboard-next` 1 call")
        stats_lines = [line for line in transcript(first) if "member0 /stats ->" in line]
        assert len(stats_lines) == 2 and all(usage in line for line in stats_lines), stats_lines
        assert "NO ANSWER" not in first
        assert "ready=True" in first
        assert "error rate 0.00%" in first
        pid = field(first, r"bot main PID: (\d+)")
        dashboard_opens(first)

        second = run("demo", log="local-stage-up-2.log")
        assert field(second, r"playbook recap: .* changed=(\d+) ") == "0"
        assert field(second, r"bot main PID: (\d+)") == pid  # not restarted
        base = dashboard_opens(second)  # the forwarder is restarted with the stage
        # The session starts with an admin purge, so a second run answers exactly as the first.
        assert transcript(second) == transcript(first)
        assert len(transcript(first)) == 32
    finally:
        down = run("down", log="local-stage-down.log")
    assert "removed container guildbot-local" in down
    assert "stopped the dashboard forwarder" in down
    with pytest.raises(urllib.error.URLError):
        fetch(base + "/slo")
