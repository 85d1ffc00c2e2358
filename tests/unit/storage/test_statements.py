"""The statements both backends run as they are are written once, in ``bot.storage.statements``
(issue 15, pair D1 of ``duplicates``), and each backend's groups include them unchanged; what a
challenge decision writes is decided once, in ``bot.storage.challenge_verbs``. Their behaviour
is checked on both backends by the repository, announcement and guild-scope suites."""

from __future__ import annotations

import pytest

from bot.domain import challenges as challenge_rules
from bot.domain.errors import InsufficientPoints, InvalidInput
from bot.storage import statements
from bot.storage.challenge_verbs import ChallengeVerbs, check_debit, decision_writes, verdict
from bot.storage.postgres import queries as pg_queries
from bot.storage.postgres.repository import PostgresGuildRepository
from bot.storage.sqlite import queries as sqlite_queries
from bot.storage.sqlite.repository import SQLiteGuildRepository
from tests.unit.domain.test_challenges import OPEN


@pytest.mark.parametrize("module", [sqlite_queries, pg_queries])
def test_both_backends_run_the_one_text_of_each_shared_statement(module):
    """Regression (issue 15, D1): each backend's groups include the shared writes, operator
    and meta statements as written once (a backend may add statements, never re-spell one).
    Fails on the old code for SQLite because each queries module wrote its own copy, SQLite's
    ``usage_summary`` counting with ``SUM(condition)``, its ``guilds_in_maintenance`` testing
    ``maintenance = 1`` and its claim ``INSERT OR IGNORE`` (PostgreSQL's old texts are the shared
    ones: its case catches a copy re-spelled there)."""
    assert {name: module.GUILD[name] for name in statements.WRITES} == statements.WRITES
    assert {name: module.OPERATOR[name] for name in statements.OPERATOR} == statements.OPERATOR
    assert {name: module.META[name] for name in statements.META} == statements.META


def test_the_locking_reads_are_sqlites_as_they_are_and_postgresqls_for_update():
    """The one dialect difference of the reads a write decides on is PostgreSQL's row lock."""
    for name, sql in statements.LOCKING_READS.items():
        assert sqlite_queries.GUILD[name] == sql
        assert pg_queries.GUILD[name] == f"{sql} FOR UPDATE"


@pytest.mark.parametrize("repository", [SQLiteGuildRepository, PostgresGuildRepository])
def test_neither_repository_keeps_its_own_escrow_moves(repository):
    """Regression (issue 15, D6): the points a decision moves are decided once
    (``challenge_verbs.escrow_writes``); each repository only runs the statements. Fails on
    the old code because each repository had its own ``_move`` (a sync and an async copy)."""
    assert not hasattr(repository, "_move")


@pytest.mark.parametrize("repository", [SQLiteGuildRepository, PostgresGuildRepository])
def test_both_repositories_decide_a_verb_through_the_one_verdict(repository):
    """Regression (issue 15, D6): what a verb decides about a challenge past its deadline is
    ``challenge_verbs.verdict``, run by ``ChallengeVerbs._act``. Fails on the old code because
    each repository had its own ``_act`` with its own copy of the due-challenge rule."""
    assert repository._act is ChallengeVerbs._act


def test_a_challenge_past_its_deadline_is_resolved_and_refused():
    def never(challenge):
        raise AssertionError("the rule must not run on a challenge past its deadline")
    resolved, refusal = verdict(OPEN, OPEN.expires_at, never)
    assert resolved.status == "expired"
    assert isinstance(refusal, InvalidInput)
    accepted, none = verdict(OPEN, 2000.0, lambda c: challenge_rules.accept(c, 20, 2000.0))
    assert (accepted.status, none) == ("accepted", None)


def test_a_settlement_writes_the_escrow_then_the_challenge():
    accepted = challenge_rules.accept(OPEN, 20, 2000.0)
    settled = challenge_rules.report(accepted, 20, 10, False, 2100.0)  # the loser concedes
    writes = list(decision_writes(accepted, settled))
    assert [query for query, _ in writes] == [
        "add_points", "record_result", "record_result", "update_challenge"]
    assert writes[1][1] == {"user_id": 10, "won": 1, "lost": 0}
    assert writes[2][1] == {"user_id": 20, "won": 0, "lost": 1}
    assert writes[-1][1]["status"] == "completed"


def test_a_debit_that_changed_no_row_is_short_of_points():
    check_debit(("spend_points", {"user_id": 1, "amount": 5}), 1)
    check_debit(("add_points", {"user_id": 1, "amount": 5}), 0)  # only a debit is checked
    with pytest.raises(InsufficientPoints):
        check_debit(("spend_points", {"user_id": 1, "amount": 5}), 0)


@pytest.mark.parametrize("guild_id", [42, None])
def test_usage_values_carries_every_field_of_a_usage_row(guild_id):
    """``usage_values`` names UsageRow's fields one by one (``dataclasses.asdict`` cost a
    deep copy per interaction, issue 17): it must pass on every field, and fill every
    placeholder of ``insert_usage``. Fails if UsageRow gains a field this leaves out (the
    keys are compared with ``dataclasses.fields``), or if a value is taken from another field
    (each field has a distinct value); a command outside any guild is stored as guild 0."""
    import dataclasses
    import re

    from bot.storage.base import UsageRow

    row = UsageRow(ts=1.5, guild_id=guild_id, command="rank", outcome="success",
                   latency_ms=2.5)
    values = statements.usage_values(row)
    fields = {f.name for f in dataclasses.fields(UsageRow)}
    assert set(values) == fields
    assert set(re.findall(r":(\w+)", statements.OPERATOR["insert_usage"][0])) == fields
    assert values == {name: getattr(row, name) for name in fields} | {"guild_id": guild_id or 0}
