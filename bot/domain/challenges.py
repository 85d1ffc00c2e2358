"""The rules of a fair challenge, as pure functions over :class:`Challenge` values.

Each rule takes the challenge as it is, who acts and when, and returns the challenge as it must
become (or raises a :class:`~bot.domain.errors.UserError` with the reason, shown to the member).
:func:`escrow` says which points a decision moves (stakes in, pot or refunds out). The repository
loads, applies the decision and the escrow and commits, in one transaction. :data:`RULES` says the
same to the players (``/challenge rules``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from bot import i18n
from bot.domain.errors import (
    ChallengeNotFound,
    InsufficientPoints,
    InvalidInput,
    NotAllowed,
    NotRegistered,
)
from bot.i18n import N_, _, n_
from bot.storage.base import Challenge

MAX_STAKE = 1_000_000
CLAIM_WINDOW_HOURS = 24  # the other player's time to confirm or dispute a claimed win
DISPUTE_WINDOW_HOURS = 72  # the admins' time to settle a disputed challenge
ACTIVE = ("open", "accepted")

RULES = N_("""\
**How challenges work**
1. `/challenge create` puts your stake in escrow. Your opponent has the server's challenge \
expiry (`/admin settings`, 24 h by default) to accept or decline; after that it expires and \
you get your stake back. You can cancel it until it is accepted.
2. `/challenge accept` puts the same stake in. The game now has that same time again, counted \
from the acceptance, to be decided.
3. `/challenge complete` reports the result. Name your opponent to concede: the pot goes to \
them at once. Name yourself to claim the win: your opponent then has {claim_hours} h to \
confirm (by conceding) or `/challenge dispute`; an undisputed claim pays you when that time ends.
4. A disputed challenge is settled by an admin who is not one of the players \
(`/challenge complete` naming the winner). If none does within {dispute_hours} h, both \
stakes go back.
5. A game nobody reports or claims by its deadline expires: both stakes go back.
An admin who plays is a player like any other: they can claim, never settle their own game.""")


def rules_text() -> str:
    """:data:`RULES` in the language in use."""
    return _(RULES, claim_hours=CLAIM_WINDOW_HOURS, dispute_hours=DISPUTE_WINDOW_HOURS)


def deadline(start: float, hours: float) -> float:
    """The moment ``hours`` after ``start`` (epoch seconds)."""
    return start + hours * 3600


def check_opponent(is_bot: bool) -> None:
    if is_bot:
        raise NotAllowed(_("Bots cannot take part in challenges."))


def check_new(challenger_id: int, opponent_id: int, stake: int) -> None:
    """A challenge is between two different members, for a stake of 1 to MAX_STAKE points."""
    if challenger_id == opponent_id:
        raise InvalidInput(_("You cannot challenge yourself."))
    if not 1 <= stake <= MAX_STAKE:
        raise InvalidInput(_("The stake must be between 1 and {most} points.",
                             most=i18n.number(MAX_STAKE)))


def check_registered(challenger: bool, opponent: bool) -> None:
    """Both players must be registered in the server (``True`` when they are)."""
    if not challenger:
        raise NotRegistered(_("Register first with /register."))
    if not opponent:
        raise NotRegistered(_("Your opponent has not registered in this server yet."))


def new(guild_id: int, number: int, challenger_id: int, opponent_id: int, stake: int,
        now: float, expires_at: float) -> Challenge:
    """A challenge as it is made: open until ``expires_at`` (see :func:`deadline`)."""
    return Challenge(guild_id, number, challenger_id, opponent_id, stake, "open", now,
                     expires_at, None, None)


def not_found(number: int) -> ChallengeNotFound:
    """The error for a challenge number this server does not have."""
    return ChallengeNotFound(_("There is no challenge #{number} in this server.", number=number))


def short_of(amount: int) -> InsufficientPoints:
    """The error for a stake the member's balance cannot cover (the debit was refused)."""
    return InsufficientPoints(n_("You do not have {amount} point to stake.",
                                 "You do not have {amount} points to stake.", amount,
                                 amount=i18n.number(amount)))


@dataclass(frozen=True, slots=True)
class Escrow:
    """The points a decision moves. ``debit``: (member, stake) into escrow, refused with
    :func:`short_of` when their balance is lower; ``credits``: (member, points) paid out;
    ``winner_id``/``loser_id``: the result to record, when there is one."""

    debit: tuple[int, int] | None = None
    credits: tuple[tuple[int, int], ...] = ()
    winner_id: int | None = None
    loser_id: int | None = None


NOTHING = Escrow()


def pot(c: Challenge) -> int:
    """What the winner gets: both stakes."""
    return 2 * c.stake


def other_player(c: Challenge, user_id: int) -> int:
    """The player who is not ``user_id`` (a player)."""
    return c.opponent_id if user_id == c.challenger_id else c.challenger_id


def _player(user_id: int | None, c: Challenge, what: str) -> int:
    """``user_id``, which the challenge's state guarantees is set (a bug otherwise)."""
    if user_id is None:
        raise ValueError(f"challenge #{c.challenge_id} has no {what}")
    return user_id


def escrow(before: Challenge | None, after: Challenge) -> Escrow:
    """What moves from ``before`` to ``after`` (``before`` None: the challenge is new): each
    player's stake goes in when they commit (creation, acceptance); a completed challenge pays
    the pot (both stakes) to the winner; any other close gives every escrowed stake back."""
    if before is None:
        return Escrow(debit=(after.challenger_id, after.stake))
    if after.status == "accepted":
        return Escrow(debit=(after.opponent_id, after.stake)) if before.status == "open" \
            else NOTHING
    if after.status == "completed":
        winner = _player(after.winner_id, after, "a completed challenge's winner")
        return Escrow(credits=((winner, pot(after)),), winner_id=winner,
                      loser_id=other_player(after, winner))
    if after.status in ACTIVE:
        return NOTHING
    if before.status == "accepted":
        return Escrow(credits=((after.challenger_id, after.stake),
                               (after.opponent_id, after.stake)))
    return Escrow(credits=((after.challenger_id, after.stake),))


def phase(c: Challenge) -> str:
    """The status, with an accepted challenge told apart: playing, claimed or disputed."""
    if c.status != "accepted":
        return c.status
    if c.disputed_at is not None:
        return "disputed"
    return "claimed" if c.claimant_id is not None else "playing"


def is_due(c: Challenge, now: float) -> bool:
    """True when an active challenge's current deadline has passed."""
    return c.status in ACTIVE and c.expires_at <= now


def resolve_due(c: Challenge, now: float) -> Challenge:
    """What a challenge whose deadline passed becomes: an undisputed claim wins; anything else
    (never accepted, never reported, disputed and never settled) expires with refunds."""
    if phase(c) == "claimed":
        return _close(c, "completed", now, c.claimant_id)
    return _close(c, "expired", now)


def due_message(c: Challenge) -> str:
    """Why an action came too late, for a challenge :func:`resolve_due` has just closed."""
    if c.status == "completed":
        return _("Challenge #{number} is over: the claim was not disputed in time, so "
                 "<@{winner}> won it.", number=c.challenge_id, winner=c.winner_id)
    return _("Challenge #{number} has expired; the stakes went back.", number=c.challenge_id)


def accept(c: Challenge, user_id: int, now: float) -> Challenge:
    """The opponent accepts; the game gets the accept window again, counted from now."""
    if user_id != c.opponent_id:
        raise InvalidInput(_("Only the challenged member can accept this challenge."))
    _require_open(c)
    return replace(c, status="accepted", accepted_at=now,
                   expires_at=now + (c.expires_at - c.created_at))


def decline(c: Challenge, user_id: int, now: float) -> Challenge:
    if user_id != c.opponent_id:
        raise InvalidInput(_("Only the challenged member can decline this challenge."))
    _require_open(c)
    return _close(c, "declined", now)


def cancel(c: Challenge, user_id: int, now: float) -> Challenge:
    if user_id != c.challenger_id:
        raise InvalidInput(_("Only the member who made this challenge can cancel it."))
    if c.status != "open":
        raise InvalidInput(_("Challenge #{number} is {status}; only open challenges can be "
                             "cancelled.", number=c.challenge_id, status=status_name(c.status)))
    return _close(c, "cancelled", now)


def report(c: Challenge, reporter_id: int, winner_id: int, reporter_is_admin: bool,
           now: float) -> Challenge:
    """A result: a player concedes (settles) or claims the win (pending); an admin who is not
    playing settles."""
    players = (c.challenger_id, c.opponent_id)
    if c.status != "accepted":
        raise InvalidInput(_("Challenge #{number} is {status}; only accepted challenges can be "
                             "completed.", number=c.challenge_id, status=status_name(c.status)))
    if winner_id not in players:
        raise InvalidInput(_("The winner must be one of the two players."))
    if reporter_id not in players:
        if not reporter_is_admin:
            raise InvalidInput(_("Only the players, or an admin who is not playing, can "
                                 "report a result."))
        return _close(c, "completed", now, winner_id)
    if winner_id != reporter_id:  # conceding, which also confirms the other's claim
        return _close(c, "completed", now, winner_id)
    if c.disputed_at is not None:
        raise InvalidInput(_("Challenge #{number} is disputed: an admin who is not playing "
                             "settles it.", number=c.challenge_id))
    if c.claimant_id == reporter_id:
        raise InvalidInput(_("You already claimed challenge #{number}; your opponent can "
                             "confirm or dispute it until the claim window ends.",
                             number=c.challenge_id))
    if c.claimant_id is not None:
        raise InvalidInput(_("<@{claimant}> has claimed challenge #{number}: confirm it by "
                             "naming them as the winner, or use `/challenge dispute`.",
                             claimant=c.claimant_id, number=c.challenge_id))
    return replace(c, claimant_id=reporter_id, claimed_at=now,
                   expires_at=deadline(now, CLAIM_WINDOW_HOURS))


def dispute(c: Challenge, user_id: int, now: float) -> Challenge:
    """The other player disputes a pending claim; admins then have the dispute window."""
    if user_id not in (c.challenger_id, c.opponent_id):
        raise InvalidInput(_("Only the players can dispute a claim."))
    if phase(c) == "disputed":
        raise InvalidInput(_("Challenge #{number} is already disputed: an admin who is not "
                             "playing settles it.", number=c.challenge_id))
    if phase(c) != "claimed":
        raise InvalidInput(_("There is no claim to dispute in challenge #{number}.",
                             number=c.challenge_id))
    if user_id == c.claimant_id:
        raise InvalidInput(_("You cannot dispute your own claim."))
    return replace(c, disputed_at=now, expires_at=deadline(now, DISPUTE_WINDOW_HOURS))


# -- what the members are told -------------------------------------------------------------------
_STATUS_ICON = {"open": "🟡", "playing": "🟢", "claimed": "🔵", "disputed": "🟠",
                "completed": "🏁", "declined": "⚪", "cancelled": "⚪", "expired": "⌛"}
_STATUS_NAMES = {"open": N_("open"), "accepted": N_("accepted"), "playing": N_("playing"),
                 "claimed": N_("claimed"), "disputed": N_("disputed"),
                 "completed": N_("completed"), "declined": N_("declined"),
                 "cancelled": N_("cancelled"), "expired": N_("expired")}


def status_name(status: str) -> str:
    """A status or phase as the members read it, in the language in use."""
    return _(_STATUS_NAMES[status]) if status in _STATUS_NAMES else status


def _when(ts: float) -> str:
    return f"<t:{int(ts)}:R>"


def describe(c: Challenge) -> str:
    """One line of ``/challenge list``: the players, the stake, the phase and its deadline."""
    now_phase = phase(c)
    values = {"number": c.challenge_id, "challenger": c.challenger_id,
              "opponent": c.opponent_id, "stake": i18n.number(c.stake),
              "status": status_name(c.status), "deadline": _when(c.expires_at)}
    text = n_("#{number}: <@{challenger}> vs <@{opponent}> for {stake} point ({status}",
              "#{number}: <@{challenger}> vs <@{opponent}> for {stake} points ({status}",
              c.stake, **values)
    if now_phase == "open":
        text += _(", accept by {deadline}", **values)
    elif now_phase == "playing":
        text += _(", report by {deadline}", **values)
    elif now_phase == "claimed":
        text += _(", <@{claimant}> claims the win, settles {deadline} unless disputed",
                  claimant=c.claimant_id, deadline=values["deadline"])
    elif now_phase == "disputed":
        text += _(", disputed: an admin who is not playing settles it by {deadline}",
                  **values)
    if c.winner_id:
        text += _(", won by <@{winner}>", winner=c.winner_id)
    return f"{_STATUS_ICON.get(now_phase, '')} {text})"


def created_message(c: Challenge) -> str:
    return n_("<@{opponent}>, <@{challenger}> challenges you for {stake} point! Accept with "
              "`/challenge accept challenge:{number}` or decline with `/challenge decline "
              "challenge:{number}` before {deadline}.",
              "<@{opponent}>, <@{challenger}> challenges you for {stake} points! Accept with "
              "`/challenge accept challenge:{number}` or decline with `/challenge decline "
              "challenge:{number}` before {deadline}.", c.stake, opponent=c.opponent_id,
             challenger=c.challenger_id, stake=i18n.number(c.stake), number=c.challenge_id,
             deadline=i18n.when(c.expires_at))


def accepted_message(c: Challenge) -> str:
    return n_("Challenge #{number} accepted: {stake} point each is at stake. Report the "
              "result with `/challenge complete` before {deadline}: name your opponent to "
              "concede, or yourself to claim the win. `/challenge rules` explains the rest.",
              "Challenge #{number} accepted: {stake} points each are at stake. Report the "
              "result with `/challenge complete` before {deadline}: name your opponent to "
              "concede, or yourself to claim the win. `/challenge rules` explains the rest.",
              c.stake, number=c.challenge_id, stake=i18n.number(c.stake),
             deadline=i18n.when(c.expires_at))


def declined_message(c: Challenge) -> str:
    return n_("Challenge #{number} declined; <@{challenger}> got {stake} point back.",
              "Challenge #{number} declined; <@{challenger}> got {stake} points back.", c.stake,
             number=c.challenge_id, challenger=c.challenger_id, stake=i18n.number(c.stake))


def cancelled_message(c: Challenge) -> str:
    return n_("Challenge #{number} cancelled; your {stake} point is back.",
              "Challenge #{number} cancelled; your {stake} points are back.", c.stake,
             number=c.challenge_id, stake=i18n.number(c.stake))


def reported_message(c: Challenge) -> str:
    """After :func:`report`: settled, or a claim the other player may confirm or dispute."""
    if c.status == "completed":
        return n_("Challenge #{number} is settled: <@{winner}> wins {pot} point!",
                  "Challenge #{number} is settled: <@{winner}> wins {pot} points!", pot(c),
                 number=c.challenge_id, winner=c.winner_id, pot=i18n.number(pot(c)))
    claimant = _player(c.claimant_id, c, "a claimed challenge's claimant")
    return n_("<@{other}>, <@{claimant}> claims to have won challenge #{number}. Confirm with "
              "`/challenge complete challenge:{number}` naming them as the winner, or "
              "`/challenge dispute challenge:{number}`, before {deadline}; otherwise the claim "
              "stands and they win {pot} point.",
              "<@{other}>, <@{claimant}> claims to have won challenge #{number}. Confirm with "
              "`/challenge complete challenge:{number}` naming them as the winner, or "
              "`/challenge dispute challenge:{number}`, before {deadline}; otherwise the claim "
              "stands and they win {pot} points.", pot(c), other=other_player(c, claimant),
             claimant=claimant, number=c.challenge_id, deadline=i18n.when(c.expires_at),
             pot=i18n.number(pot(c)))


def disputed_message(c: Challenge) -> str:
    return _("Challenge #{number} is disputed. An admin who is not one of the players settles "
             "it with `/challenge complete` before {deadline}; if none does, both stakes go "
             "back.", number=c.challenge_id, deadline=i18n.when(c.expires_at))


def conceded_to(c: Challenge, user_id: int) -> int:
    """Who wins when ``user_id`` concedes (the "I lost" button): the other player. Only the
    players can concede; an admin who is not playing settles with ``/challenge complete``."""
    if user_id not in (c.challenger_id, c.opponent_id):
        raise InvalidInput(_("This is not your challenge: only its players can report a result "
                             "here (an admin who is not playing settles with `/challenge "
                             "complete`)."))
    return other_player(c, user_id)


def post_message(c: Challenge) -> str:
    """What the challenge's public message says (``/challenge create``'s post, edited at each
    step): the invitation, the game, the claim or dispute, or how it ended."""
    now_phase = phase(c)
    if now_phase == "open":
        return created_message(c)
    if now_phase == "playing":
        return accepted_message(c)
    if now_phase == "claimed":
        return reported_message(c)
    if now_phase == "disputed":
        return disputed_message(c)
    if now_phase == "completed":
        return n_("Challenge #{number} is settled: <@{winner}> won {pot} point.",
                  "Challenge #{number} is settled: <@{winner}> won {pot} points.", pot(c),
                 number=c.challenge_id, winner=c.winner_id, pot=i18n.number(pot(c)))
    if now_phase == "declined":
        return declined_message(c)
    if now_phase == "cancelled":
        return _("Challenge #{number} was cancelled by <@{challenger}>; the stake went back.",
                 number=c.challenge_id, challenger=c.challenger_id)
    return _("Challenge #{number} has expired; the stakes went back.", number=c.challenge_id)


def choice_label(c: Challenge, user_id: int) -> str:
    """A challenge of ``user_id`` as an autocomplete choice or a select option (<= 100)."""
    role = _("you challenged") if user_id == c.challenger_id else _("challenges you")
    if user_id not in (c.challenger_id, c.opponent_id):
        role = _("between others")
    return n_("#{number} · {role} · {stake} point · {phase}",
              "#{number} · {role} · {stake} points · {phase}", c.stake,
              number=c.challenge_id, role=role, stake=i18n.number(c.stake),
              phase=status_name(phase(c)))


def _require_open(c: Challenge) -> None:
    if c.status != "open":
        raise InvalidInput(_("Challenge #{number} is {status}.", number=c.challenge_id,
                             status=status_name(c.status)))


def _close(c: Challenge, status: str, now: float, winner_id: int | None = None) -> Challenge:
    return replace(c, status=status, resolved_at=now, winner_id=winner_id)
