"""Points cannot be spent twice, however many commands race for them."""

from __future__ import annotations

import asyncio

from bot.domain.errors import InsufficientPoints
from tests.fixtures.pytest_plugin import noon

G = 333333333333333333
NOW = 1_700_000_000.0


async def _member_with(storage, user: int, points: int):
    repo = storage.guild(G)
    await repo.register(user, f"u{user}", NOW)
    if points:  # a new member has 0 points; a daily reward is at least 1 (bot.domain.settings)
        await repo.update_settings(daily_reward=points)
        await repo.daily_login(user, noon("2024-01-01"))
        await repo.update_settings(daily_reward=100)
    return repo


async def test_two_challenges_accepted_at_once_cannot_spend_the_same_points(storage):
    repo = await _member_with(storage, 1, 100)
    await _member_with(storage, 2, 100)
    await _member_with(storage, 3, 100)
    # Bob (2) is challenged twice for 100 each but only has 100.
    first = await repo.create_challenge(1, 2, 100, NOW, NOW + 3600)
    await _member_with(storage, 4, 100)
    second = await repo.create_challenge(4, 2, 100, NOW, NOW + 3600)
    results = await asyncio.gather(
        repo.accept_challenge(first.challenge_id, 2, NOW),
        repo.accept_challenge(second.challenge_id, 2, NOW),
        return_exceptions=True)
    accepted = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, InsufficientPoints)]
    assert (len(accepted), len(refused)) == (1, 1), results
    assert (await repo.member(2)).points == 0


async def test_a_burst_of_creates_never_overdraws(storage):
    repo = await _member_with(storage, 1, 250)
    for opponent in range(2, 12):
        await _member_with(storage, opponent, 0)
    results = await asyncio.gather(
        *(repo.create_challenge(1, opponent, 60, NOW, NOW + 3600) for opponent in range(2, 12)),
        return_exceptions=True)
    made = [r for r in results if not isinstance(r, Exception)]
    assert len(made) == 4  # 4 x 60 = 240 <= 250 < 5 x 60
    assert all(isinstance(r, InsufficientPoints) for r in results if isinstance(r, Exception))
    assert (await repo.member(1)).points == 10
    escrowed = sum(c.stake for c in await repo.challenges(1))
    assert escrowed + 10 == 250


async def test_two_connections_cannot_double_spend(backend, database):
    """Two storage instances (two processes' worth of connections) racing on one database."""
    a = await backend.open(database)
    b = await backend.open(database)
    try:
        repo_a = await _member_with(a, 1, 100)
        await _member_with(a, 2, 0)
        await _member_with(a, 3, 0)
        results = await asyncio.gather(
            repo_a.create_challenge(1, 2, 100, NOW, NOW + 3600),
            b.guild(G).create_challenge(1, 3, 100, NOW, NOW + 3600),
            return_exceptions=True)
        assert sum(not isinstance(r, Exception) for r in results) == 1, results
        assert all(isinstance(r, InsufficientPoints) for r in results if isinstance(r, Exception))
        assert (await b.guild(G).member(1)).points == 0
    finally:
        await a.close()
        await b.close()


async def test_many_accepts_from_several_processes_spend_each_point_once(backend, database):
    """An opponent challenged 12 times for 40 points with 100 points, every challenge accepted
    at once from four storages (four processes): exactly two accepts go through."""
    storages = [await backend.open(database) for _ in range(4)]
    try:
        repo = await _member_with(storages[0], 2, 100)
        numbers = []
        for challenger in range(10, 22):
            await _member_with(storages[0], challenger, 40)
            numbers.append((await repo.create_challenge(challenger, 2, 40, NOW, NOW + 3600))
                           .challenge_id)
        results = await asyncio.gather(
            *(storages[i % 4].guild(G).accept_challenge(number, 2, NOW)
              for i, number in enumerate(numbers)), return_exceptions=True)
        assert sum(not isinstance(r, Exception) for r in results) == 2, results
        assert all(isinstance(r, InsufficientPoints) for r in results if isinstance(r, Exception))
        assert (await repo.member(2)).points == 20
    finally:
        for store in storages:
            await store.close()


async def test_concurrent_creates_from_several_processes_never_share_a_number(backend, database):
    """Challenge numbers count per guild; 4 storages (4 processes) creating 10 challenges each
    at once get the numbers 1..40, each once, and every challenge is stored under its number.
    On PostgreSQL a MAX(number) + 1 would hand two concurrent transactions the same number
    (the second insert then fails its primary key); the guild's counter row lock does not."""
    storages = [await backend.open(database) for _ in range(4)]
    try:
        await _member_with(storages[0], 1, 1000)
        for opponent in range(2, 12):
            await _member_with(storages[0], opponent, 0)
        results = await asyncio.gather(
            *(storages[i % 4].guild(G).create_challenge(1, 2 + i % 10, 1, NOW, NOW + 3600)
              for i in range(40)), return_exceptions=True)
        assert not [r for r in results if isinstance(r, Exception)], results
        assert sorted(c.challenge_id for c in results) == list(range(1, 41))
        stored = await storages[1].guild(G).challenges(active_only=False, limit=100)
        assert sorted((c.challenge_id, c.opponent_id) for c in stored) == \
            sorted((c.challenge_id, c.opponent_id) for c in results)
        assert (await storages[2].guild(G).member(1)).points == 960
    finally:
        for store in storages:
            await store.close()


async def test_a_check_in_raced_from_several_processes_is_awarded_once(backend, database):
    """Twelve check-ins of one member on one day, from four storages at once: one award. On
    PostgreSQL a check-in reads, lets the rule decide, and writes only while the member's
    check-in state is still the one it read; without that condition each racer would award."""
    storages = [await backend.open(database) for _ in range(4)]
    try:
        await storages[0].guild(G).register(1, "u1", NOW)
        results = await asyncio.gather(
            *(storages[i % 4].guild(G).daily_login(1, noon("2024-01-01"))
              for i in range(12)))
        assert [r.already_claimed for r, _ in results].count(False) == 1
        member = await storages[3].guild(G).member(1)
        assert (member.points, member.total_logins, member.streak) == (100, 1, 1)
    finally:
        for store in storages:
            await store.close()
