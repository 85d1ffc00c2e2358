"""Members' data (bot.domain.privacy): pure rules."""

from __future__ import annotations

import pytest

from bot.domain import privacy
from bot.domain.errors import InvalidInput
from bot.storage.base import Challenge, Member

ANN, BOB, CID = 10, 20, 30
ANN_ROW = Member(1, ANN, "ann", 0.0, 400, 2, 3, "2024-01-01", 5, 1, 1)


def challenge(number, challenger, opponent, stake, status):
    return Challenge(1, number, challenger, opponent, stake, status, 0.0, 100.0, None, None)


def test_refunds_go_to_the_other_side_only():
    """Open challenge made by Ann: nothing of anyone else's is in escrow. Open against Ann:
    Bob's stake goes back to Bob. Accepted: Cid's stake back to Cid, Ann's leaves with her.
    Settled ones and others' challenges pay nothing."""
    found = [challenge(1, ANN, BOB, 50, "open"), challenge(2, BOB, ANN, 70, "open"),
             challenge(3, ANN, CID, 30, "accepted"), challenge(4, BOB, CID, 9, "open"),
             challenge(5, CID, ANN, 5, "completed")]
    assert privacy.refunds(ANN, found) == ((BOB, 70), (CID, 30))
    assert privacy.own_stakes(ANN, found) == 50 + 30
    assert privacy.held(ANN_ROW, found) == 400 + 80
    forgotten = privacy.forget(ANN_ROW, found, played=4)
    assert (forgotten.user_id, forgotten.challenges, forgotten.points) == (ANN, 4, 480)
    assert privacy.audit_details(forgotten) == {"user_id": str(ANN), "refunds": 2}
    assert "100 points refunded to other players in 2 open" in \
        privacy.forgotten_message(forgotten)


@pytest.mark.parametrize(("text", "user_id"), [("123", 123), (" <@456> ", 456), ("<@!789>", 789)])
def test_a_member_is_named_by_mention_or_id(text, user_id):
    assert privacy.parse_user_id(text) == user_id


@pytest.mark.parametrize("text", ["bob", "<@abc>", "12 34", "-5", "0", "1" * 21])
def test_anything_else_is_refused(text):
    with pytest.raises(InvalidInput):
        privacy.parse_user_id(text)


def test_show_lists_what_is_stored():
    text = privacy.show(ANN_ROW, [challenge(1, ANN, BOB, 50, "open")])
    assert "Points: 400" in text and "#1" in text and "carry no user id" in text
