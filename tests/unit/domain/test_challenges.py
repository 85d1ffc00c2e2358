"""The challenge rules (bot.domain.challenges): pure functions over Challenge values."""

from __future__ import annotations

import pytest

from bot.domain import challenges
from bot.domain.errors import (
    ChallengeNotFound,
    InsufficientPoints,
    InvalidInput,
    NotAllowed,
    NotRegistered,
)
from bot.storage.base import Challenge

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
    with pytest.raises(InvalidInput, match="Only the challenged"):
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
        with pytest.raises(InvalidInput, match=error):
            challenges.report(game, reporter, winner, admin, 2500.0)
    with pytest.raises(InvalidInput, match="only accepted"):
        challenges.report(OPEN, 10, 20, True, 2500.0)
    with pytest.raises(InvalidInput, match="no claim to dispute"):
        challenges.dispute(game, 20, 2500.0)


# -- making a challenge -------------------------------------------------------------------------
def test_a_new_challenge_needs_two_members_and_a_stake_in_range():
    challenges.check_new(10, 20, 1)
    challenges.check_new(10, 20, challenges.MAX_STAKE)
    with pytest.raises(InvalidInput, match="cannot challenge yourself"):
        challenges.check_new(10, 10, 5)
    for stake in (0, -1, challenges.MAX_STAKE + 1):
        with pytest.raises(InvalidInput, match="between 1 and 1,000,000"):
            challenges.check_new(10, 20, stake)
    with pytest.raises(NotAllowed, match="Bots cannot take part"):
        challenges.check_opponent(True)
    challenges.check_opponent(False)


def test_both_players_must_be_registered():
    challenges.check_registered(True, True)
    with pytest.raises(NotRegistered, match="Register first"):
        challenges.check_registered(False, True)
    with pytest.raises(NotRegistered, match="opponent has not registered"):
        challenges.check_registered(True, False)


def test_a_new_challenge_is_open_until_its_accept_deadline():
    made = challenges.new(1, 7, 10, 20, 50, 1000.0, challenges.deadline(1000.0, 5))
    assert made == OPEN
    assert challenges.phase(made) == "open"
    assert challenges.deadline(1000.0, 0.5) == 2800.0


def test_the_errors_for_missing_challenges_and_short_balances():
    missing = challenges.not_found(12)
    assert isinstance(missing, ChallengeNotFound)
    assert str(missing) == "There is no challenge #12 in this server."
    short = challenges.short_of(1500)
    assert isinstance(short, InsufficientPoints)
    assert str(short) == "You do not have 1,500 points to stake."


# -- the other transitions --------------------------------------------------------------------
# The states the refusals are tried on: a game accepted at 2000, claimed by <@10> at 3000,
# that claim disputed by <@20> at 3100.
GAME = challenges.accept(OPEN, 20, 2000.0)
CLAIM = challenges.report(GAME, 10, 10, False, 3000.0)
DISPUTED = challenges.dispute(CLAIM, 20, 3100.0)

# (rule, the challenge, the rule's other arguments, what the member is told): each a refusal.
REFUSALS = [
    ("decline", OPEN, (10, 2000.0), "Only the challenged member can decline"),
    ("decline", GAME, (20, 2500.0), "#7 is accepted"),
    ("accept", GAME, (20, 2500.0), "#7 is accepted"),
    ("cancel", OPEN, (20, 2000.0), "Only the member who made"),
    ("cancel", GAME, (10, 2500.0), "only open challenges can be cancelled"),
    ("report", CLAIM, (10, 10, False, 3100.0), "already claimed"),
    ("report", CLAIM, (20, 20, False, 3100.0), "<@10> has claimed challenge #7"),
    ("dispute", CLAIM, (10, 3100.0), "own claim"),
    ("dispute", CLAIM, (99, 3100.0), "Only the players can dispute"),
    ("dispute", DISPUTED, (20, 3200.0), "already disputed"),
    ("report", DISPUTED, (10, 10, False, 3200.0), "is disputed: an admin"),
]


@pytest.mark.parametrize(("rule", "challenge", "args", "message"), REFUSALS,
                         ids=[message for *_, message in REFUSALS])
def test_a_transition_the_rules_do_not_allow_is_refused(rule, challenge, args, message):
    with pytest.raises(InvalidInput, match=message):
        getattr(challenges, rule)(challenge, *args)


def test_the_opponent_declines_and_the_challenger_cancels_an_open_challenge():
    declined = challenges.decline(OPEN, 20, 2000.0)
    assert (declined.status, declined.resolved_at, declined.winner_id) == \
        ("declined", 2000.0, None)
    cancelled = challenges.cancel(OPEN, 10, 2000.0)
    assert (cancelled.status, cancelled.resolved_at) == ("cancelled", 2000.0)


def test_a_claim_is_confirmed_by_conceding_and_a_dispute_settled_by_conceding_or_an_admin():
    confirmed = challenges.report(CLAIM, 20, 10, False, 3100.0)  # conceding confirms
    assert (confirmed.status, confirmed.winner_id) == ("completed", 10)
    assert challenges.report(DISPUTED, 20, 10, False, 3200.0).status == "completed"
    assert challenges.report(DISPUTED, 99, 20, True, 3200.0).winner_id == 20


def test_deadlines_and_what_a_late_command_is_told():
    assert challenges.is_due(OPEN, OPEN.expires_at)
    assert not challenges.is_due(OPEN, OPEN.expires_at - 1)
    assert not challenges.is_due(challenges.cancel(OPEN, 10, 2000.0), 10 ** 9)
    expired = challenges.resolve_due(OPEN, OPEN.expires_at)
    assert challenges.due_message(expired) == "Challenge #7 has expired; the stakes went back."
    claim = challenges.report(challenges.accept(OPEN, 20, 2000.0), 10, 10, False, 3000.0)
    won = challenges.resolve_due(claim, claim.expires_at)
    assert "not disputed in time, so <@10> won it" in challenges.due_message(won)


def test_the_rules_text_states_the_windows():
    assert f"{challenges.CLAIM_WINDOW_HOURS} h" in challenges.rules_text()
    assert f"{challenges.DISPUTE_WINDOW_HOURS} h" in challenges.rules_text()


# -- escrow: which points each decision moves -------------------------------------------------
def test_escrow_takes_each_stake_when_its_player_commits():
    assert challenges.escrow(None, OPEN) == challenges.Escrow(debit=(10, 50))
    game = challenges.accept(OPEN, 20, 2000.0)
    assert challenges.escrow(OPEN, game) == challenges.Escrow(debit=(20, 50))
    claim = challenges.report(game, 10, 10, False, 3000.0)
    assert challenges.escrow(game, claim) == challenges.NOTHING  # a claim moves nothing yet
    assert challenges.escrow(claim, challenges.dispute(claim, 20, 3100.0)) == challenges.NOTHING


def test_escrow_pays_the_pot_to_the_winner_and_records_the_result():
    game = challenges.accept(OPEN, 20, 2000.0)
    for winner, loser in ((10, 20), (20, 10)):
        settled = challenges.report(game, 99, winner, True, 2500.0)
        assert challenges.escrow(game, settled) == challenges.Escrow(
            credits=((winner, 100),), winner_id=winner, loser_id=loser)


@pytest.mark.parametrize("close", [
    lambda c: challenges.decline(c, 20, 2000.0),
    lambda c: challenges.cancel(c, 10, 2000.0),
    lambda c: challenges.resolve_due(c, c.expires_at),
])
def test_escrow_refunds_the_challenger_when_an_open_challenge_closes(close):
    assert challenges.escrow(OPEN, close(OPEN)) == challenges.Escrow(credits=((10, 50),))


def test_escrow_refunds_both_stakes_when_a_game_expires():
    game = challenges.accept(OPEN, 20, 2000.0)
    disputed = challenges.dispute(challenges.report(game, 10, 10, False, 3000.0), 20, 3100.0)
    for before in (game, disputed):
        after = challenges.resolve_due(before, before.expires_at)
        assert challenges.escrow(before, after) == challenges.Escrow(
            credits=((10, 50), (20, 50)))


def test_escrow_keeps_the_points_of_every_player_and_the_pot_together():
    """Whatever path a challenge takes, what goes in is what comes out: no point is made or
    lost (the stakes debited equal the credits once it is closed)."""
    game = challenges.accept(OPEN, 20, 2000.0)
    claim = challenges.report(game, 10, 10, False, 3000.0)
    disputed = challenges.dispute(claim, 20, 3100.0)
    paths = [
        [OPEN, challenges.cancel(OPEN, 10, 1500.0)],
        [OPEN, game, challenges.report(game, 20, 10, False, 2500.0)],
        [OPEN, game, claim, challenges.resolve_due(claim, claim.expires_at)],
        [OPEN, game, claim, disputed, challenges.resolve_due(disputed, disputed.expires_at)],
        [OPEN, game, claim, disputed, challenges.report(disputed, 99, 20, True, 3200.0)],
    ]
    for path in paths:
        moves = [challenges.escrow(None, path[0])]
        moves += [challenges.escrow(a, b) for a, b in zip(path, path[1:], strict=False)]
        debited = sum(m.debit[1] for m in moves if m.debit)
        credited = sum(amount for m in moves for _, amount in m.credits)
        assert debited == credited, path[-1].status


# -- what the members are told ----------------------------------------------------------------
def test_pot_and_other_player():
    assert challenges.pot(OPEN) == 100
    assert (challenges.other_player(OPEN, 10), challenges.other_player(OPEN, 20)) == (20, 10)


def test_each_phase_is_described_with_its_deadline():
    game = challenges.accept(OPEN, 20, 2000.0)
    claim = challenges.report(game, 10, 10, False, 3000.0)
    disputed = challenges.dispute(claim, 20, 3100.0)
    won = challenges.report(disputed, 99, 20, True, 3200.0)
    assert challenges.describe(OPEN) == \
        "🟡 #7: <@10> vs <@20> for 50 points (open, accept by <t:19000:R>)"
    assert challenges.describe(game) == \
        f"🟢 #7: <@10> vs <@20> for 50 points (accepted, report by <t:{int(game.expires_at)}:R>)"
    assert "<@10> claims the win, settles" in challenges.describe(claim)
    assert "disputed: an admin who is not playing settles it by" in \
        challenges.describe(disputed)
    assert challenges.describe(won) == \
        "🏁 #7: <@10> vs <@20> for 50 points (completed, won by <@20>)"


def test_the_replies_state_deadlines_stakes_and_the_pot():
    made = challenges.new(1, 7, 10, 20, 50, 0.0, 86400.0)
    assert challenges.created_message(made) == (
        "<@20>, <@10> challenges you for 50 points! Accept with `/challenge accept challenge:7` "
        "or decline with `/challenge decline challenge:7` before Jan 2, 1970, 00:00 UTC.")
    game = challenges.accept(made, 20, 3600.0)
    assert "50 points each are at stake" in challenges.accepted_message(game)
    assert "before Jan 2, 1970, 01:00 UTC" in challenges.accepted_message(game)  # 1 h + 24 h
    assert challenges.declined_message(challenges.decline(made, 20, 1.0)) == \
        "Challenge #7 declined; <@10> got 50 points back."
    assert challenges.cancelled_message(challenges.cancel(made, 10, 1.0)) == \
        "Challenge #7 cancelled; your 50 points are back."
    claim = challenges.report(game, 20, 20, False, 7200.0)
    assert challenges.reported_message(claim).startswith(
        "<@10>, <@20> claims to have won challenge #7.")
    assert "they win 100 points" in challenges.reported_message(claim)
    settled = challenges.report(claim, 10, 20, False, 7300.0)
    assert challenges.reported_message(settled) == \
        "Challenge #7 is settled: <@20> wins 100 points!"
    assert "if none does, both stakes go back" in \
        challenges.disputed_message(challenges.dispute(claim, 10, 7300.0))
