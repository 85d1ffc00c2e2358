"""The guild reads are written once for both backends (issue 15, one helper per job): the
methods in ``GuildReads``, their SQL in ``guild_reads.READS``, which both backends' ``GUILD``
statements include as they are. Their behaviour is checked on both backends by the repository,
privacy/audit and guild-scope suites."""

from __future__ import annotations

import pytest

from bot.storage.guild_reads import READS, GuildReads, guild_settings
from bot.storage.postgres import queries as pg_queries
from bot.storage.postgres.repository import PostgresGuildRepository
from bot.storage.sqlite import queries as sqlite_queries
from bot.storage.sqlite.repository import SQLiteGuildRepository

READ_METHODS = ("known", "settings", "member", "stats", "leaderboard", "profile", "usage",
                "export_counts", "audit")


@pytest.mark.parametrize("method", READ_METHODS)
@pytest.mark.parametrize("repository", [SQLiteGuildRepository, PostgresGuildRepository])
def test_both_repositories_read_through_the_one_implementation(repository, method):
    """Regression (issue 15, pair D2 of ``duplicates``): each read is GuildReads' own, not a
    copy per backend. Fails on the old code because each repository defined its own
    ``leaderboard``, ``profile``, ``usage``, ``export_counts``, ``audit`` (and the rest)."""
    assert getattr(repository, method) is getattr(GuildReads, method)


@pytest.mark.parametrize("module", [sqlite_queries, pg_queries])
def test_both_backends_run_the_one_sql_text(module):
    """Regression (issue 15): each backend's guild statements include the shared reads as
    written once. Fails on the old code because there was no shared text (each queries module
    wrote its own copy, SQLite's counting with ``SUM(condition)``)."""
    assert {name: module.GUILD[name] for name in READS} == READS


def test_settings_read_the_maintenance_flag_as_a_boolean():
    """SQLite stores the flag as 0/1, PostgreSQL as a boolean: the settings say True/False."""
    row = (1, 1, 100, 24, "UTC", None, None)
    assert guild_settings(row).maintenance is True
    assert guild_settings((1, False, *row[2:])).maintenance is False

