"""guildbot_rollout's current.yml: its release listing, run here on a scratch releases dir."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.provisioning.test_provisioning import ROOT

TASKS = ROOT / "roles/guildbot_rollout/tasks/current.yml"


def listing_script(releases_dir: Path) -> str:
    tasks = yaml.safe_load(TASKS.read_text())
    (task,) = [t for t in tasks if t["name"] == "List the prepared releases with their build time"]
    cmd = task["ansible.builtin.shell"]["cmd"]
    return cmd.replace("{{ _guildbot_rollout_releases_dir | quote }}", str(releases_dir))


def test_a_release_without_revision_is_listed_not_fatal(tmp_path):
    """Regression: a complete release directory without a REVISION file (built by hand, or by an
    older bundle) made the listing fail: under ``set -euo pipefail`` the failed ``sed`` of the
    missing file failed the command substitution, so every rollout, rollback and diagnose on the
    host stopped at this task. Fails on the old code (exit 2 at the release without REVISION)."""
    releases = {"r1": "2026-11-01T00:00:00Z", "r2": None, "r3": "2026-11-03T00:00:00Z"}
    for rid, built in releases.items():
        release = tmp_path / rid
        release.mkdir()
        (release / ".complete").touch()
        if built is not None:
            (release / "REVISION").write_text(f"revision=abc\nbuilt_at={built}\n")
    (tmp_path / "r4").mkdir()  # not complete: never listed
    result = subprocess.run(["bash", "-c", listing_script(tmp_path)], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["0 r2", "2026-11-01T00:00:00Z r1",
                                          "2026-11-03T00:00:00Z r3"]
