"""The e2e harness's own helpers (tests/e2e/harness.py): the one bounded poll, and the rule that
the e2e test modules share helpers through the harness, never by importing each other."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.e2e.harness import eventually

E2E = Path(__file__).resolve().parent


async def test_eventually_polls_a_sync_or_async_check_until_it_holds():
    """Regression (issue 15/17 review, item 4): one ``eventually`` for every e2e poll, whether
    the check is a function or a coroutine function, "not yet" being a false value, an
    AssertionError or an OSError; it returns what the check returned. Fails on the old code
    because the harness had no ``eventually`` (three copies lived in the test modules)."""
    calls = []

    def sync() -> int:
        calls.append(1)
        return len(calls) >= 3 and len(calls)

    async def asserting() -> str:
        calls.append(1)
        assert len(calls) >= 5, "not yet"
        if len(calls) == 5:
            raise ConnectionRefusedError("not listening yet")
        return "done"

    assert await eventually(sync, "three calls") == 3
    assert await eventually(asserting, "six calls") == "done"
    assert len(calls) == 6


async def test_eventually_names_what_and_the_last_value_or_exception_at_its_limit():
    """Regression (issue 15/17 review, item 4): at the limit the AssertionError names what was
    waited for and the last value (or the last exception, chained); an exception that is not
    "not yet" fails at once. Fails on the old code because there was no ``eventually``."""
    with pytest.raises(AssertionError, match=r"the list filled: not within 0.2 s \(last: \[\]\)"):
        await eventually(list, "the list filled", 0.2)

    def refused() -> bool:
        raise ConnectionRefusedError("nobody listens")

    with pytest.raises(AssertionError, match="a server: .*nobody listens") as failed:
        await eventually(refused, "a server", 0.2)
    assert isinstance(failed.value.__cause__, ConnectionRefusedError)

    calls = []

    def broken() -> bool:
        calls.append(1)
        raise KeyError("a bug in the check")

    with pytest.raises(KeyError):
        await eventually(broken, "a broken check", 0.2)
    assert calls == [1]


def test_no_e2e_test_module_imports_another():
    """Regression (issue 15/17 review, item 4): what two e2e test modules share lives in the
    harness (or the conftest's fixtures), so running, moving or renaming one test module never
    touches another. Fails on the old code because test_localization imported ``eventually``
    from test_components and test_cooldowns imported ``_sample`` from test_monitoring."""
    offenders = []
    for path in sorted(E2E.glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            offenders += [(path.name, n) for n in names if n.startswith("tests.e2e.test_")]
    assert offenders == []
