"""Guild isolation, proved by property: random interleavings across 24 guilds sharing user ids,
on both backends (at least 10,000 operations on each per run).

Each example runs a long random sequence of every write and read the repository offers, spread
over 24 guilds whose members have the same user ids, and compares every answer, and in the end
every guild's whole view, with a model of that guild alone (``isolation_model.GuildModel``).

This check can fail: ``test_removing_one_scope_is_caught`` takes one guild filter out of one
statement at a time (each filter of a statement that has several: a member and its rank, a page
and its count), of either backend's queries module, replacing it with TRUE so the statement
still runs, and shows the same runner reports a difference for each of them.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.storage.postgres import queries as pg_queries
from bot.storage.sqlite import queries
from tests.unit.storage.conftest import BACKENDS
from tests.unit.storage.isolation_model import run

GUILDS = [100_000_000_000_000_000 + i * 7919 for i in range(24)]
# The same small set of user ids in every guild; 5 is never registered by the setup.
USERS = st.integers(min_value=1, max_value=4) | st.integers(min_value=1, max_value=5)
# Every guild is used, with a bias to a few busy ones so challenges get far enough to settle.
GUILD = st.integers(min_value=0, max_value=len(GUILDS) - 1) | st.integers(min_value=0, max_value=3)
# Challenges by number, or relative to the newest (-1); players by id, or by their role.
NUMBER = st.just(-1) | st.integers(min_value=-3, max_value=-1) | st.integers(1, 12)
PLAYER = USERS | st.sampled_from(["challenger", "opponent"])
EXAMPLES = 40  # each 192 + 15 to 25 bursts (8 to 20 operations, or a game of 4 or 5)
executed: dict = {name: {"ops": 0, "outcomes": {}} for name in BACKENDS}

# Each kind of operation with its arguments and its weight in the mix. The weights favour the
# writes that move points, so programs get deep (challenges accepted, settled, expired).
ARGS = {
    "register": (4, st.tuples(USERS)),
    "login": (6, st.tuples(USERS)),
    "create": (10, st.tuples(USERS, USERS, st.integers(1, 60) | st.integers(1, 400))),
    # The usual moves (the opponent accepts the newest challenge, the loser concedes it) are
    # drawn often on purpose, so every run settles challenges; other combinations stay possible.
    "accept": (6, st.tuples(NUMBER, PLAYER) | st.tuples(st.just(-1), st.just("opponent"))),
    "decline": (2, st.tuples(NUMBER, PLAYER) | st.tuples(st.just(-1), st.just("opponent"))),
    "cancel": (2, st.tuples(NUMBER, PLAYER) | st.tuples(st.just(-1), st.just("challenger"))),
    "complete": (6, st.tuples(NUMBER, PLAYER, PLAYER)
                 | st.tuples(st.just(-1), st.just("opponent"), st.just("challenger"))
                 | st.tuples(st.just(-1), st.just("challenger"), st.just("opponent"))
                 | st.tuples(st.just("playing"), st.just("challenger"), st.just("challenger"))
                 | st.tuples(st.just("claimed"), st.just("rival"), PLAYER)),
    # Claims are "complete" naming oneself; "claimed"/"playing"/"rival": see isolation_model.
    "dispute": (3, st.tuples(NUMBER, PLAYER) | st.tuples(st.just("claimed"), st.just("rival"))),
    # "complete" from a member with Manage Server, who may or may not be playing.
    "settle": (2, st.tuples(NUMBER, PLAYER, PLAYER)
               | st.tuples(st.just("claimed"), USERS, st.just("challenger"))),
    "expire": (2, st.tuples()),
    # Where a challenge's message is (issue 14), and one challenge read by its number.
    "post": (1, st.tuples(NUMBER, st.integers(1, 3), st.integers(1, 3))),
    "where": (1, st.tuples(NUMBER)),
    "get": (1, st.tuples(NUMBER)),
    "reward": (1, st.tuples(st.integers(1, 500))),
    "member": (2, st.tuples(USERS)),
    "rank": (1, st.tuples(USERS)),
    "leaderboard": (1, st.tuples()),
    "challenges": (2, st.tuples(st.none() | USERS)),
    "stats": (1, st.tuples()),
    "history": (1, st.tuples(st.none() | USERS)),
    "known": (1, st.tuples()),
    "leave": (1, st.tuples()),
    "use": (2, st.tuples(st.sampled_from(["profile", "login", "challenge create"]))),
    "usage": (1, st.tuples()),
    "forget": (1, st.tuples(USERS)),
    "audit": (1, st.tuples()),
    "mine": (1, st.tuples(USERS)),
    "tick": (3, st.tuples(st.integers(60, 1800) | st.integers(3600, 30 * 3600))),
    "purge": (1, st.tuples()),
    "retire": (1, st.tuples()),  # the retention purge: only a guild that left
}
# Purges are rare (about 1 in 180 operations): each one wipes a guild back to the start.
kind = st.sampled_from([k for k, (weight, _) in ARGS.items()
                        for _ in range(weight if k in ("purge", "retire") else 4 * weight)])
local_op = kind.flatmap(lambda k: ARGS[k][1].map(lambda args: (k, *args)))
# Programs interleave bursts of operations on one guild; guilds and user ids repeat.
burst = st.tuples(GUILD, st.lists(local_op, min_size=8, max_size=20))
# A whole game in one guild: made, accepted, claimed, then disputed and settled by a member who
# may or may not be playing, confirmed, or left to the claim window. Its moves are ordinary
# operations, checked like any other; without them a guild's few random operations rarely get
# as far as a dispute.
ENDINGS = st.sampled_from([
    [("dispute", "claimed", "rival"), ("settle", "claimed", 3, "challenger")],
    [("dispute", "claimed", "rival"), ("settle", "claimed", 1, "opponent")],
    [("complete", "claimed", "rival", "challenger")],
    [("tick", 25 * 3600), ("expire",)],
])
game = st.tuples(GUILD, st.tuples(USERS, USERS, st.integers(1, 60), ENDINGS).map(
    lambda g: [("create", g[0], g[1], g[2]), ("accept", -1, "opponent"),
               ("complete", "playing", "challenger", "challenger"), *g[3]]))


def _flatten(bursts: list) -> list[tuple]:
    return [op if op[0] == "tick" else (op[0], guild, *op[1:])
            for guild, ops in bursts for op in ops]


# Every program starts by registering and funding users 1-4 in every guild (user 5 stays a
# stranger everywhere), so the random part reaches deep states (accepted, settled) quickly.
SETUP = [op for g in range(len(GUILDS)) for u in (1, 2, 3, 4)
         for op in (("register", g, u), ("login", g, u))]
# A challenge withdrawn before it is answered (by a registered member, most of the time). Since
# deletions (forget) joined the mix, random bursts rarely left an open challenge for its own
# challenger to cancel: "cancel ok" fell to a handful per run and was sometimes absent, failing
# the coverage check below (seen once in a full run on PostgreSQL).
withdrawn = st.tuples(GUILD, st.tuples(USERS, st.integers(1, 60)).map(
    lambda w: [("create", w[0], w[0] % 4 + 1, w[1]), ("cancel", -1, "challenger")]))
program = st.lists(st.one_of(burst, burst, burst, game, withdrawn), min_size=15,
                   max_size=25).map(lambda bursts: SETUP + _flatten(bursts))


@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.large_base_example])
@given(ops=program)
def test_every_guild_sees_only_its_own_data(backend, ops):
    problems = run(ops, GUILDS, backend, executed[backend.name]["outcomes"])
    executed[backend.name]["ops"] += len(ops)
    assert problems == []


def test_the_property_ran_at_least_ten_thousand_operations(backend):
    # Runs after the property test of the same backend (the session-scoped backend groups a
    # backend's tests, in file order); guards against a silently shrunk budget.
    ops, outcomes = executed[backend.name]["ops"], executed[backend.name]["outcomes"]
    assert ops >= 10_000, ops
    # The programs must reach every successful path, not just bounce off validation.
    for kind in ("register", "login", "create", "accept", "decline", "cancel", "complete",
                 "dispute", "settle", "expire", "purge", "member", "leaderboard", "challenges",
                 "stats", "history", "known", "leave", "use", "usage", "reward", "rank"):
        assert outcomes.get((kind, "ok"), 0) > 0, (kind, outcomes)
    for kind in ("register", "create", "accept", "complete", "dispute", "settle"):
        assert outcomes.get((kind, "err"), 0) > 0, (kind, outcomes)


# A fixed program that touches every statement in two guilds with the same members.
SCENARIO = [
    ("register", 0, 1), ("register", 0, 2), ("register", 0, 3),
    ("register", 1, 1), ("register", 1, 2), ("register", 1, 4),
    ("reward", 1, 300), ("login", 1, 1), ("login", 1, 2), ("login", 1, 4),
    ("login", 0, 1), ("login", 0, 2), ("login", 0, 3),
    ("create", 1, 1, 2, 50), ("create", 1, 2, 4, 40), ("create", 1, 4, 1, 30),
    ("accept", 1, 1, 2), ("complete", 1, 1, 1, 1), ("dispute", 1, 1, 2), ("settle", 1, 1, 4, 2),
    ("create", 0, 1, 2, 20),
    # A message recorded in guild 1 is not guild 0's; guild 0 has no #3 (guild 1 has).
    ("post", 1, 1, 11, 111), ("where", 0, 1), ("where", 1, 1), ("get", 0, 3), ("get", 0, 1),
    ("get", 1, 1), ("post", 0, 1, 22, 222), ("where", 1, 1), ("where", 0, 1),
    ("member", 0, 4), ("member", 1, 3), ("rank", 0, 1), ("rank", 1, 1),
    ("leaderboard", 0), ("leaderboard", 1), ("challenges", 0, None), ("challenges", 0, 2),
    ("challenges", 1, 4), ("stats", 0), ("stats", 1),
    ("accept", 0, 2, 4), ("decline", 0, 2, 4), ("cancel", 0, 3, 4), ("complete", 0, 1, 2, 1),
    ("accept", 0, 1, 2), ("complete", 0, 1, 2, 1), ("register", 0, 4), ("login", 0, 4),
    ("create", 0, 4, 3, 10),
    ("tick", 2 * 3600), ("expire", 0), ("member", 0, 1), ("stats", 0), ("challenges", 0, None),
    # Guild 1's open challenges are due now too: guild 0's expiry must not see them.
    ("tick", 86400), ("expire", 0),
    # Operator announcements' delivery rows: guild 0's purge deletes its own only.
    ("deliver", 0), ("deliver", 1), ("deliver", 1),
    ("login", 0, 1), ("member", 0, 1), ("purge", 0), ("member", 0, 1),
    ("delivered", 0), ("delivered", 1),
    ("register", 0, 1), ("create", 0, 1, 2, 1), ("stats", 0),
    ("use", 0, "profile"), ("use", 1, "profile"), ("use", 1, "login"), ("usage", 0),
    ("history", 0, None), ("history", 1, 4), ("history", 0, 2), ("known", 0), ("known", 1),
    ("purge", 0), ("usage", 1), ("known", 0), ("register", 0, 1), ("leave", 1), ("known", 1),
    ("retire", 0), ("member", 0, 1),
    # Deleting one member (the same user ids in both guilds) and the audit trail: numbers are
    # never handed out again, in the guild that deleted and only there.
    ("register", 0, 2), ("register", 0, 3), ("login", 0, 1), ("login", 0, 2), ("login", 0, 3),
    ("create", 0, 1, 2, 30), ("create", 0, 2, 1, 20), ("audit", 1), ("audit", 0), ("audit", 1),
    ("mine", 0, 2), ("mine", 1, 2), ("forget", 1, 2), ("forget", 0, 1), ("member", 0, 2),
    ("mine", 0, 2), ("create", 0, 2, 3, 5), ("create", 0, 3, 2, 5), ("create", 1, 1, 4, 5),
    ("create", 0, 2, 3, 5), ("forget", 0, 9), ("stats", 0), ("stats", 1), ("audit", 0),
    ("purge", 0),
]
# One guild filter, with its table's alias if it has one (a statement that reads a guild table
# twice, e.g. a member and its rank, has one filter per reference).
SCOPE = re.compile(r"(?:\w+\.)?guild_id = :guild_id")


def _unscoped(sql: str, which: int) -> str:
    """``sql`` with its ``which``-th guild filter replaced by a condition that is always true."""
    found = list(SCOPE.finditer(sql))[which]
    return sql[:found.start()] + "TRUE" + sql[found.end():]


def test_the_scenario_passes_with_every_scope_in_place(backend):
    assert run(SCENARIO, GUILDS[:2], backend) == []


MODULES = {"sqlite": queries, "postgres": pg_queries}
FILTERED = [(backend, name, which) for backend, module in MODULES.items()
            for name, sql in sorted(module.GUILD.items()) if not sql.startswith("INSERT")
            for which in range(len(SCOPE.findall(sql)))]


@pytest.mark.parametrize(("backend", "name", "which"), FILTERED, indirect=["backend"])
def test_removing_one_scope_is_caught(backend, monkeypatch, name, which):
    statements = MODULES[backend.name].GUILD
    monkeypatch.setitem(statements, name, _unscoped(statements[name], which))
    try:
        problems = run(SCENARIO, GUILDS[:2], backend)
    except Exception as exc:  # a broken statement may also fail loudly: that is caught too
        problems = [repr(exc)]
    assert problems, f"removing the guild filter from {name!r} went unnoticed"
