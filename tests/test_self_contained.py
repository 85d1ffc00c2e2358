"""A fresh clone tests with nothing beside it: no code or script reads the hand-over folder that
sits next to the repository on a developer's machine (issue 13, item 1)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Inside molecule/, the parent's shared/ is molecule/shared: the scenarios' common playbooks.
OUTSIDE = re.compile(r"\.\./shared|parent\s*/\s*[\"']shared[\"']")


def test_nothing_reads_the_folder_beside_the_repository() -> None:
    """Regression: tests/fake_discord/openapi.py read the spec from the hand-over folder,
    so a fresh clone failed 61 tests. Fails if any tracked script or module outside molecule/
    names that folder again."""
    files = subprocess.run(
        ["git", "ls-files", "*.py", "*.sh", "*.toml", "*.cfg", "run", "Makefile", ".ci/*"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout.split()
    offenders = [
        f"{name}:{number}: {line.strip()}"
        for name in files
        if not name.startswith("molecule/") and name != "tests/test_self_contained.py"
        for number, line in enumerate(
            (REPO / name).read_text(encoding="utf-8", errors="replace").splitlines(), 1
        )
        if OUTSIDE.search(line)
    ]
    assert offenders == []
