"""Suite-wide ordering: fast suites first, containers last, so a broken unit shows at once."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from tests.pgserver import PostgresServer

ORDER = ("unit", "fake", "integration", "e2e", "ansible", "bench", "provisioning", "local_stage")


def _rank(item) -> int:
    parts = item.nodeid.split("/")
    folder = parts[1] if len(parts) > 2 and parts[0] == "tests" else ""
    return ORDER.index(folder) if folder in ORDER else len(ORDER)


def pytest_collection_modifyitems(session, config, items):
    items.sort(key=_rank)  # stable: keeps file order inside each suite


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL 15 server for the whole session (tests/pgserver.py); each test
    that needs a database asks it for a new one."""
    server = PostgresServer.create()
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture(autouse=True)
def _guildbot_log_handler_removed() -> Iterator[None]:
    """A CLI or bot started in-process installs its handler on the root logger (marked by
    bot.monitoring.logs); the next test must not inherit it: its RedactingFilter rewrites every
    record in place (the traceback becomes text), which tests reading caplog would see."""
    yield
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_guildbot_handler", False):
            root.removeHandler(handler)
            handler.close()
