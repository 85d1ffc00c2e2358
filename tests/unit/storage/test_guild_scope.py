"""Structural check: every statement that touches guild data is filtered by its guild.

Two independent checks over ``bot.storage.sqlite.queries``:
1. text: each guild-scoped statement binds ``:guild_id`` as a filter (``guild_id = :guild_id``)
   or, for an INSERT, as the value of the guild column; no other guild parameter exists;
2. plan: SQLite's own EXPLAIN QUERY PLAN shows no full SCAN of a guild table; every access is
   a SEARCH through an index whose key starts with guild_id (so a filter really narrows it).
Operator statements may span guilds only with a stated reason and never return member data.
"""

from __future__ import annotations

import re
import sqlite3

import pytest

from bot.storage.sqlite import queries
from tests.unit.storage.conftest import make_database

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


@pytest.mark.parametrize("name", sorted(queries.GUILD))
def test_guild_statement_is_scoped_in_text(name):
    assert scope_problems(name, queries.GUILD[name]) == []


# An INSERT reads no rows; its guild column is checked by the text test.
READING = sorted(n for n, sql in queries.GUILD.items() if not sql.lstrip().startswith("INSERT"))


@pytest.mark.parametrize("name", READING)
def test_guild_statement_is_scoped_in_the_query_plan(conn, name):
    assert plan_problems(conn, name, queries.GUILD[name]) == []


def test_operator_statements_give_a_reason_and_return_no_member_data():
    for name, (sql, reason) in queries.OPERATOR.items():
        assert len(reason) > 20, f"{name} needs a reason to span guilds"
        assert "members" not in guild_tables(sql), f"{name} reads members across guilds"
        selected = re.match(r"\s*SELECT\s+(.*?)\s+FROM", sql, re.IGNORECASE | re.DOTALL)
        if selected and "command_usage" not in sql:
            assert selected[1].replace("DISTINCT ", "").startswith("guild_id"), name


def test_meta_statements_touch_no_guild_table():
    for sql in queries.META.values():
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
