from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.domain import challenges, rules
from bot.storage.base import Challenge


def test_login_award_grows_with_the_streak_and_caps():
    assert [rules.login_award(100, s) for s in (1, 2, 3, 7, 8, 50)] == \
        [100, 110, 120, 160, 160, 160]


def test_local_days_follow_the_time_zone():
    moment = datetime(2024, 1, 1, 23, 30, tzinfo=UTC).timestamp()
    assert rules.local_days(moment, "UTC") == ("2024-01-01", "2023-12-31")
    assert rules.local_days(moment, "Europe/Berlin") == ("2024-01-02", "2024-01-01")
    assert rules.local_days(moment, "America/New_York") == ("2024-01-01", "2023-12-31")
    assert rules.local_days(moment, "Not/AZone") == ("2024-01-01", "2023-12-31")


@pytest.mark.parametrize(("text", "limit", "cleaned"), [
    ("  plain  ", 32, "plain"),
    ("hi @everyone and <@123> in <#456>", 64, "hi [mention] and [mention] in [mention]"),
    ("ｆｕｌｌｗｉｄｔｈ", 32, "fullwidth"),
    ("tab\tand\x00null\u200bzero-width", 32, "tabandnullzero-width"),
    ("x" * 50, 32, "x" * 31 + "…"),
])
def test_clean_text(text, limit, cleaned):
    assert rules.clean_text(text, limit) == cleaned


def test_display_name_is_never_empty():
    assert rules.display_name("\u200b\u200b") == "member"


def test_validators():
    assert rules.validate_stake(5, 10) == 5
    with pytest.raises(rules.InvalidInput, match="only have 3"):
        rules.validate_stake(5, 3)
    with pytest.raises(rules.InvalidInput):
        rules.validate_stake(-1)
    assert rules.validate_page(3, 25) == 3
    with pytest.raises(rules.InvalidInput, match="There are 3 pages"):
        rules.validate_page(4, 25)
    assert rules.validate_time_zone(" utc ") == "UTC"
    with pytest.raises(rules.InvalidInput, match="`<@1>`|mention"):
        rules.validate_time_zone("<@1>")
    with pytest.raises(rules.InvalidInput, match="empty"):
        rules.validate_announcement("   ")
    with pytest.raises(rules.InvalidInput, match="1,900"):
        rules.validate_announcement("x" * 2000)


# -- fair challenges (bot.domain.challenges): pure rules over Challenge values ---------------
H = 3600.0
OPEN = Challenge(1, 7, 10, 20, 50, "open", 1000.0, 1000.0 + 5 * H, None, None)


def test_acceptance_starts_a_fresh_play_window():
    """Regression (issue 13, item 12): accepting 1 s before the accept deadline gives the game
    the full window again from acceptance. Fails on the old code, which kept the creation
    deadline (and had no bot.domain.challenges)."""
    late = OPEN.expires_at - 1
    game = challenges.accept(OPEN, 20, late)
    assert (game.status, game.accepted_at, game.expires_at) == ("accepted", late, late + 5 * H)
    assert challenges.phase(game) == "playing"
    assert not challenges.is_due(game, OPEN.expires_at)
    with pytest.raises(rules.InvalidInput, match="Only the challenged"):
        challenges.accept(OPEN, 10, late)


def test_a_claim_resolves_to_the_claimant_unless_disputed():
    """Regression (issue 13, item 12): what each due state resolves to. Fails on the old code,
    where every due challenge expired with refunds (a silent loser got the stake back)."""
    game = challenges.accept(OPEN, 20, 2000.0)
    claim = challenges.report(game, 10, 10, False, 3000.0)
    assert (challenges.phase(claim), claim.claimant_id, claim.claimed_at) == \
        ("claimed", 10, 3000.0)
    assert claim.expires_at == challenges.deadline(3000.0, challenges.CLAIM_WINDOW_HOURS)
    won = challenges.resolve_due(claim, claim.expires_at)
    assert (won.status, won.winner_id, won.resolved_at) == ("completed", 10, claim.expires_at)
    disputed = challenges.dispute(claim, 20, 4000.0)
    assert challenges.phase(disputed) == "disputed"
    assert disputed.expires_at == 4000.0 + challenges.DISPUTE_WINDOW_HOURS * H
    assert challenges.resolve_due(disputed, disputed.expires_at).status == "expired"
    assert challenges.resolve_due(game, game.expires_at).status == "expired"
    assert challenges.resolve_due(OPEN, OPEN.expires_at).status == "expired"


def test_who_may_settle():
    """Regression (issue 13, item 12): a player concedes or claims; an admin settles only a
    game they are not in. Fails on the old code, where an admin player settled for themselves."""
    game = challenges.accept(OPEN, 20, 2000.0)
    assert challenges.report(game, 20, 10, False, 2500.0).status == "completed"  # concedes
    assert challenges.report(game, 10, 10, True, 2500.0).status == "accepted"  # admin player
    settled = challenges.report(game, 99, 20, True, 2500.0)  # admin not playing
    assert (settled.status, settled.winner_id) == ("completed", 20)
    for reporter, winner, admin, error in [(99, 20, False, "Only the players"),
                                           (10, 99, True, "one of the two")]:
        with pytest.raises(rules.InvalidInput, match=error):
            challenges.report(game, reporter, winner, admin, 2500.0)
    with pytest.raises(rules.InvalidInput, match="only accepted"):
        challenges.report(OPEN, 10, 20, True, 2500.0)
    with pytest.raises(rules.InvalidInput, match="no claim to dispute"):
        challenges.dispute(game, 20, 2500.0)
    with pytest.raises(rules.InvalidInput, match="yourself"):
        challenges.check_players(10, 10)
