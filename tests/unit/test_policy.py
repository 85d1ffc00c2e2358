from __future__ import annotations

from bot.config import load_settings
from bot.policy import AdmissionPolicy

A, B, C = 111111111111111111, 222222222222222222, 333333333333333333


def policy(**env: str) -> AdmissionPolicy:
    return AdmissionPolicy(load_settings({f"GUILDBOT_{k.upper()}": v for k, v in env.items()}))


def test_public_admits_everyone():
    assert policy(stage="public").decide(C, known=False, guild_count=5000).admitted


def test_allowlist_applies_to_known_guilds_too():
    p = policy(stage="beta", guild_allowlist=f"{A},{B}")
    assert p.decide(A, known=False, guild_count=1).admitted
    refused = p.decide(C, known=True, guild_count=1)
    assert not refused.admitted
    assert refused.reason == "not on the beta allowlist"
    assert "not on the beta allowlist" in p.farewell(refused, None)


def test_closed_switch_refuses_only_new_guilds():
    p = policy(closed_to_new_guilds="true")
    assert p.decide(A, known=True, guild_count=10).admitted
    assert p.decide(B, known=False, guild_count=10).reason == "closed to new guilds"


def test_guild_cap_counts_the_new_guild():
    p = policy(max_guilds="2")
    assert p.decide(A, known=False, guild_count=2).admitted
    assert p.decide(B, known=False, guild_count=3).reason == "guild limit 2 reached"
    assert p.decide(C, known=True, guild_count=3).admitted


def test_ready_decisions_do_not_depend_on_the_order_discord_sends():
    p = policy(max_guilds="2")
    guilds = [(A, 30.0), (B, 10.0), (C, 20.0)]
    for order in (guilds, guilds[::-1]):
        decisions = p.decide_ready(order, known={A})
        assert [g for g, _ in guilds if decisions[g].admitted] == [A, B]  # known, then oldest
        assert decisions[C].reason == "guild limit 2 reached"
    tied = p.decide_ready([(C, 5.0), (B, 5.0), (A, 5.0)], known=set())
    assert [g for g in (A, B, C) if tied[g].admitted] == [A, B]  # same join time: by id


def test_readys_admitted_guilds_share_one_small_decision():
    """Regression (issue 17 follow-up, item 5): READY keeps a decision for each of its guilds
    (10,000 in the benchmark); the admitted ones are one shared object and a decision has no
    ``__dict__``, about 1 MB less RSS after READY at 10,000 guilds. Fails on the old code
    because every admitted guild got a Decision of its own, with a ``__dict__``."""
    decisions = policy(stage="public").decide_ready(
        [(guild, 0.0) for guild in range(1000, 1100)], known={1000})
    assert all(d.admitted for d in decisions.values())
    assert len({id(d) for d in decisions.values()}) == 1
    assert not hasattr(next(iter(decisions.values())), "__dict__")
