"""Suite-wide ordering: fast suites first, containers last, so a broken unit shows at once; and
the shared fixtures, one plugin (tests/fixtures/pytest_plugin.py)."""

from __future__ import annotations

pytest_plugins = ["tests.fixtures.pytest_plugin"]

# Paths under tests/, in running order; a test takes the rank of the longest one its path starts
# with (the Molecule scenarios run after the benchmark, the rest of provisioning/ before it).
ORDER = ("unit/", "test_fake_discord/", "integration/", "e2e/", "provisioning/", "bench/",
         "provisioning/test_molecule.py", "local_stage/")


def _rank(item) -> int:
    path = item.nodeid.removeprefix("tests/") if item.nodeid.startswith("tests/") else ""
    ranks = [i for i, prefix in enumerate(ORDER) if path.startswith(prefix)]
    return max(ranks, key=lambda i: len(ORDER[i])) if ranks else len(ORDER)


def pytest_collection_modifyitems(session, config, items):
    items.sort(key=_rank)  # stable: keeps file order inside each suite
