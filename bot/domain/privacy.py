"""Members' rights over their data: what deleting a member means for a guild.

Deleting a member removes, in one transaction: their member row (balance, check-ins, streaks,
wins and losses) and every challenge they played in. Command usage analytics carry no user id,
so no analytics row identifies a member and none is touched.

- An **active** challenge (open or accepted) is closed as a cancellation would close it, and the
  escrowed stake of the OTHER player goes back to them (:func:`refunds`), once: the challenge is
  deleted in the same transaction, so nothing can refund it again. The deleted member's own
  stake leaves with them.
- A **settled** challenge (completed, declined, cancelled, expired) is deleted, not anonymised:
  its row names the member (the id is the personal data), and the schema's foreign keys tie a
  challenge to both players' member rows, so keeping it would need a placeholder member. What
  the other player got from it (points, wins, losses) is on their own member row and stays.

The guild's totals stay coherent: the points the guild holds (balances plus stakes in escrow,
``GuildStats.total_points``) after the deletion are those before minus what the deleted member
held (:func:`held`: their balance and their own stakes still in escrow).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from bot import i18n
from bot.domain import challenges as challenge_rules
from bot.domain.errors import InvalidInput
from bot.i18n import N_, _, n_
from bot.storage.base import Challenge, Forgotten, Member

__all__ = ["DELETE_WARNING", "Forgotten", "audit_details", "forget", "forgotten_message", "held",
           "own_stakes", "parse_user_id", "plays_in", "refunds", "show"]


def plays_in(c: Challenge, user_id: int) -> bool:
    return user_id in (c.challenger_id, c.opponent_id)


def refunds(user_id: int, challenges: Iterable[Challenge]) -> tuple[tuple[int, int], ...]:
    """The other players' escrowed stakes in ``user_id``'s active challenges, to pay back: what
    a cancellation would return (``challenge_rules.escrow``), less the deleted member's share."""
    out: list[tuple[int, int]] = []
    for c in challenges:
        if c.status not in challenge_rules.ACTIVE or not plays_in(c, user_id):
            continue
        back = challenge_rules.escrow(c, replace(c, status="cancelled"))
        out.extend((who, amount) for who, amount in back.credits if who != user_id)
    return tuple(out)


def own_stakes(user_id: int, challenges: Iterable[Challenge]) -> int:
    """The deleted member's own stakes still in escrow in their active challenges."""
    total = 0
    for c in challenges:
        if c.status not in challenge_rules.ACTIVE or not plays_in(c, user_id):
            continue
        back = challenge_rules.escrow(c, replace(c, status="cancelled"))
        total += sum(amount for who, amount in back.credits if who == user_id)
    return total


def forget(member: Member, challenges: Iterable[Challenge], played: int) -> Forgotten:
    """The decision for ``member`` given their active challenges and how many challenges
    (``played``, any status) the deletion removes."""
    active = list(challenges)
    return Forgotten(member.user_id, refunds(member.user_id, active), played,
                     held(member, active))


def held(member: Member, challenges: Iterable[Challenge]) -> int:
    """The points a member holds in the guild: balance plus own stakes in escrow."""
    return member.points + own_stakes(member.user_id, challenges)


def show(member: Member, challenges: list[Challenge]) -> str:
    """``/privacy show``: everything the bot stores about the member in this server."""
    registered = f"<t:{int(member.registered_at)}:f>"
    lines = [
        _("**What guildbot stores about you in this server**"),
        _("Member: {name} (id {user}), registered {when}", name=member.display_name,
          user=member.user_id, when=registered),
        _("Points: {points}; streak {streak} (best {best}); check-ins: {logins} (last: {last})",
          points=i18n.number(member.points), streak=member.streak, best=member.best_streak,
          logins=member.total_logins, last=member.last_login_day or _("never")),
        _("Challenges: {count} (wins {wins}, losses {losses})", count=len(challenges),
          wins=member.wins, losses=member.losses),
    ]
    lines += [challenge_rules.describe(c) for c in challenges[:10]]
    if len(challenges) > 10:
        more = len(challenges) - 10
        lines.append(n_("... and {count} more (`/privacy export` has them all)",
                        "... and {count} more (`/privacy export` has them all)", more,
                        count=i18n.number(more)))
    lines.append(_("Command usage statistics carry no user id. `/privacy export` gives you this "
                   "as JSON; `/privacy delete` deletes it."))
    return "\n".join(lines)


DELETE_WARNING = N_("This deletes your guildbot data in this server for good: your points, "
                  "streaks and challenge history. Your open challenges are cancelled and your "
                  "opponents get their stakes back; your own stakes are lost. Confirm with the "
                  "button (only you can).")


_USER = re.compile(r"<@!?([0-9]{1,20})>|([0-9]{1,20})")


def parse_user_id(text: str) -> int:
    """A user id from a mention (``<@123>``) or the id itself, as an admin types it for a
    member who may have left the server (and so cannot be picked from a list)."""
    match = _USER.fullmatch(text.strip())
    if match is None:
        raise InvalidInput(_("Give the member as a mention or a user id (digits only)."))
    user_id = int(match[1] or match[2])
    if user_id <= 0:
        raise InvalidInput(_("A user id is a positive number."))
    return user_id


def audit_details(forgotten: Forgotten) -> dict[str, Any]:
    """What the audit trail keeps of a deletion made on someone's behalf: whose data it was
    (the user id: the subject of the request, kept so the request can be shown to be done) and
    how many challenges were refunded; none of the deleted data."""
    return {"user_id": str(forgotten.user_id), "refunds": len(forgotten.refunds)}


def forgotten_message(forgotten: Forgotten) -> str:
    refunded = sum(amount for _who, amount in forgotten.refunds)
    removed, open_ = forgotten.challenges, len(forgotten.refunds)
    return _("Deleted the guildbot data of user {user} in this server: {removed}, {refunded} "
             "to other players in {open}.", user=forgotten.user_id,
             removed=n_("{count} challenge removed", "{count} challenges removed", removed,
                        count=i18n.number(removed)),
             refunded=n_("{count} point refunded", "{count} points refunded", refunded,
                         count=i18n.number(refunded)),
             open=n_("{count} open challenge", "{count} open challenges", open_,
                     count=i18n.number(open_)))
