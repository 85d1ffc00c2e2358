"""Structural check: every statement that touches guild data is filtered by its guild.

Two independent checks over both backends' queries modules (``bot.storage.sqlite.queries`` and
``bot.storage.postgres.queries``, written alike with ``:name`` parameters):
1. text: each guild-scoped statement binds ``:guild_id`` as a filter (``guild_id = :guild_id``)
   or, for an INSERT, as the value of the guild column; no other guild parameter exists;
2. plan: the engine's own plan. SQLite: EXPLAIN QUERY PLAN shows no full SCAN of a guild table;
   every access is a SEARCH through an index whose key starts with guild_id. PostgreSQL: EXPLAIN
   with ``enable_seqscan = off`` (so the planner takes an index wherever one can serve, even on
   the tests' small tables) shows no Seq Scan of a guild table, and every index scan of one has
   an index condition on guild_id (so a filter really narrows it).
Operator statements may span guilds only with a stated reason and never return member data.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from types import ModuleType
from typing import Any

import pytest

from bot.storage.postgres import queries as pg_queries
from bot.storage.postgres.database import connect as pg_connect
from bot.storage.sqlite import queries
from tests.fixtures.pytest_plugin import make_database
from tests.pgserver import BOT_PASSWORD

MODULES: dict[str, ModuleType] = {"sqlite": queries, "postgres": pg_queries}

TABLE_REF = re.compile(r"\b(?:FROM|JOIN|UPDATE|INTO)\s+(\w+)", re.IGNORECASE)
FILTER = re.compile(r"\bguild_id\s*=\s*:guild_id\b")


def guild_tables(sql: str) -> list[str]:
    return [t for t in TABLE_REF.findall(sql) if t in queries.GUILD_TABLES]


def scope_problems(name: str, sql: str) -> list[str]:
    tables = guild_tables(sql)
    if not tables:
        return [f"{name}: touches no guild table; it belongs in META or OPERATOR"]
    if sql.lstrip().upper().startswith("INSERT"):
        columns = re.search(r"\(([^)]*)\)\s*(?:VALUES|SELECT)", sql, re.IGNORECASE)
        values = re.search(r"VALUES\s*\(([^)]*)\)", sql, re.IGNORECASE)
        if not columns or not values:
            return [f"{name}: INSERT without an explicit column and value list"]
        pairs = dict(zip((c.strip() for c in columns[1].split(",")),
                         (v.strip() for v in values[1].split(",")), strict=False))
        if pairs.get("guild_id") != ":guild_id":
            return [f"{name}: INSERT does not bind guild_id to :guild_id"]
        return []
    # Every table reference (and every subquery) needs its own guild filter.
    if len(FILTER.findall(sql)) < len(tables):
        return [f"{name}: {len(tables)} guild table reference(s) but "
                f"{len(FILTER.findall(sql))} guild filter(s)"]
    top_level = sql
    while re.search(r"\([^()]*\)", top_level):
        top_level = re.sub(r"\([^()]*\)", "", top_level)
    if re.search(r"\bOR\b", top_level, re.IGNORECASE):
        return [f"{name}: an OR outside parentheses can bypass the guild filter"]
    return []


def plan_problems(conn: sqlite3.Connection, name: str, sql: str) -> list[str]:
    params = {p: 1 for p in re.findall(r":(\w+)", sql)}
    try:
        plan = conn.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
    except sqlite3.Error as exc:
        return [f"{name}: cannot be planned: {exc}"]
    problems = []
    for row in plan:
        detail = row[-1]
        for table in queries.GUILD_TABLES:
            if re.search(rf"\bSCAN {table}\b", detail):
                problems.append(f"{name}: full scan of {table} ({detail})")
            elif re.search(rf"\bSEARCH {table}\b", detail) and "guild_id=" not in detail \
                    and not (table == "guilds" and "rowid=" in detail):  # guild_id IS the rowid
                problems.append(f"{name}: {table} searched without guild_id ({detail})")
    return problems


@pytest.fixture(scope="module")
def conn(tmp_path_factory):
    conn = sqlite3.connect(make_database(tmp_path_factory.mktemp("plan") / "plan.db"))
    yield conn
    conn.close()


def test_both_backends_know_the_same_guild_tables():
    assert set(pg_queries.GUILD_TABLES) == set(queries.GUILD_TABLES)


@pytest.mark.parametrize(("backend", "name"),
                         [(b, n) for b, module in MODULES.items() for n in sorted(module.GUILD)])
def test_guild_statement_is_scoped_in_text(backend, name):
    assert scope_problems(name, MODULES[backend].GUILD[name]) == []


def _reading(module: ModuleType) -> list[str]:
    """An INSERT reads no rows; its guild column is checked by the text test."""
    return sorted(n for n, sql in module.GUILD.items() if not sql.lstrip().startswith("INSERT"))


@pytest.mark.parametrize("name", _reading(queries))
def test_guild_statement_is_scoped_in_the_query_plan(conn, name):
    assert plan_problems(conn, name, queries.GUILD[name]) == []


# Sample values by parameter name (asyncpg checks each value against the type PostgreSQL
# inferred): the plan only needs them to be of the right type.
_TEXT = {"name", "display_name", "day", "seen_day", "today", "key", "value", "status",
         "day_boundary", "language"}
_FLOAT = {"now", "cutoff", "since", "expires_at", "resolved_at", "accepted_at", "claimed_at",
          "disputed_at"}


def _sample(name: str) -> Any:
    if name in _TEXT:
        return "2024-01-01"
    if name in _FLOAT:
        return 1.0
    return False if name == "maintenance" else 1


def pg_plan_problems(plan: list[dict], name: str) -> list[str]:
    """The scans of guild tables in a PostgreSQL JSON plan that the guild does not narrow."""
    problems = []

    def visit(node: dict) -> None:
        table, kind = node.get("Relation Name"), node["Node Type"]
        # An index scan's condition, or a bitmap heap scan's (its child, the Bitmap Index Scan,
        # names no table).
        condition = node.get("Index Cond", node.get("Recheck Cond", ""))
        if table in pg_queries.GUILD_TABLES:
            if kind == "Seq Scan":
                problems.append(f"{name}: full scan of {table} ({kind})")
            elif "Scan" in kind and "guild_id =" not in condition:  # not ModifyTable
                problems.append(f"{name}: {table} searched without guild_id ({kind} using "
                                f"{node.get('Index Name')}, {condition!r})")
        for child in node.get("Plans", []):
            visit(child)
    visit(plan[0]["Plan"])
    return problems


async def _explain(url: str, statements: dict[str, str]) -> dict[str, list[str]]:
    conn = await pg_connect(url, BOT_PASSWORD)
    try:
        await conn.execute("SET enable_seqscan = off")
        found = {}
        for name, sql in statements.items():
            text, names = pg_queries.positional(sql)
            async with conn.transaction():  # EXPLAIN of a write plans it and changes nothing
                plan = await conn.fetchval("EXPLAIN (FORMAT JSON) " + text,
                                           *(_sample(n) for n in names))
            found[name] = pg_plan_problems(json.loads(plan), name)
        return found
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def pg_plans(postgres_server, pg_template) -> dict[str, list[str]]:
    """Every PostgreSQL guild statement's plan problems, from one connection."""
    name = postgres_server.new_database(template=pg_template)
    try:
        return asyncio.run(_explain(postgres_server.url(name), {
            n: pg_queries.GUILD[n] for n in _reading(pg_queries)}))
    finally:
        postgres_server.drop_database(name)


@pytest.mark.parametrize("name", _reading(pg_queries))
def test_postgres_guild_statement_is_scoped_in_the_query_plan(pg_plans, name):
    assert pg_plans[name] == []


def test_the_postgres_plan_check_catches_a_scan(postgres_server, pg_template):
    name = postgres_server.new_database(template=pg_template)
    try:
        found = asyncio.run(_explain(postgres_server.url(name), {
            "by_name": "SELECT display_name FROM members WHERE display_name = :display_name",
            "by_time": "SELECT command FROM command_usage WHERE ts >= :since",
            "due_anywhere": "SELECT number FROM challenges WHERE status = 'open' "
                            "AND expires_at <= :now"}))
    finally:
        postgres_server.drop_database(name)
    assert all(found.values()), found
    assert "members" in found["by_name"][0]


# The operator's reports: counts over every guild (of commands, of announcement deliveries),
# never a guild's row.
OPERATOR_REPORTS = ("usage_summary", "announcement_counts")


@pytest.mark.parametrize("backend", sorted(MODULES))
def test_operator_statements_give_a_reason_and_return_no_member_data(backend):
    for name, (sql, reason) in MODULES[backend].OPERATOR.items():
        assert len(reason) > 20, f"{name} needs a reason to span guilds"
        assert "members" not in guild_tables(sql), f"{name} reads members across guilds"
        selected = re.match(r"\s*SELECT\s+(.*?)\s+FROM", sql, re.IGNORECASE | re.DOTALL)
        if selected and name not in OPERATOR_REPORTS:
            assert selected[1].replace("DISTINCT ", "").startswith("guild_id"), name


@pytest.mark.parametrize("backend", sorted(MODULES))
def test_meta_statements_touch_no_guild_table(backend):
    for sql in MODULES[backend].META.values():
        assert guild_tables(sql) == []


@pytest.mark.parametrize(("sql", "why"), [
    ("SELECT points FROM members WHERE user_id = :user_id", "filter"),
    ("SELECT points FROM members WHERE guild_id = :guild_id OR user_id = :user_id", "OR"),
    ("UPDATE members SET points = 0 WHERE guild_id = :guild_id AND user_id IN "
     "(SELECT user_id FROM members WHERE points > 5)", "filter"),
    ("INSERT INTO members (guild_id, user_id) VALUES (:other, :user_id)", "INSERT"),
    ("DELETE FROM challenges WHERE status = 'open'", "filter"),
])
def test_the_text_check_catches_unscoped_statements(sql, why):
    problems = scope_problems("mutant", sql)
    assert problems
    assert why in problems[0]


def test_the_plan_check_catches_a_scan(conn):
    problems = plan_problems(conn, "mutant",
                             "SELECT display_name FROM members WHERE display_name = :x")
    assert problems
    assert "full scan of members" in problems[0]
