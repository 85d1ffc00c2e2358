"""Waiting on a condition from a synchronous test (subprocesses, files, locks)."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(condition: Callable[[], object], what: str, limit: float = 60.0) -> None:
    """Poll CONDITION until it holds. The limit is generous: it only keeps a broken test from
    hanging the suite, and is never what a test asserts."""
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting until {what}"
        time.sleep(0.05)
