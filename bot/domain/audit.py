"""The audit trail of admin actions: what an entry is, what it records and how it is shown.

An :class:`AuditEntry` (a value type of ``bot.storage.base``, as ``Member`` is) is one admin
action in one guild: who acted (``actor_id``; 0 is the bot's operator through ``guildbot-cli``),
which action (:data:`ACTIONS`), its details (a settings change as ``{name: [old, new]}``; a
forgotten member's id; counts) and when. Entries never carry
deleted data: a deletion on someone's behalf records who asked, when, and whose data it was.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from bot import i18n
from bot.i18n import _, n_
from bot.storage.base import AUDIT_ACTIONS as ACTIONS
from bot.storage.base import AuditEntry, GuildSettings

__all__ = ["ACTIONS", "AUDIT_PAGE_SIZE", "OPERATOR", "AuditEntry", "clamp_page", "describe",
           "page_count", "settings_changes"]

OPERATOR = 0  # actor_id of an entry made by the operator's CLI (a deletion request by mail)
AUDIT_PAGE_SIZE = 10


def settings_changes(old: GuildSettings, new: GuildSettings) -> dict[str, list[Any]]:
    """Each setting that changed, as ``name: [old, new]`` (nothing for an unchanged value)."""
    before, after = asdict(old), asdict(new)
    return {name: [before[name], after[name]] for name in after
            if name != "guild_id" and before[name] != after[name]}


def _value(value: object) -> str:
    return _("not set") if value is None else str(value)


def describe(entry: AuditEntry) -> str:
    """One line of ``/admin audit`` and of the audit channel."""
    who = _("the operator") if entry.actor_id == OPERATOR else f"<@{entry.actor_id}>"
    when = f"<t:{int(entry.at)}:f>"
    d = entry.details
    if entry.action in ("settings", "maintenance"):
        what = ", ".join(f"{name}: {_value(old)} → {_value(new)}"
                         for name, (old, new) in d.items()) or _("no change")
        text = _("changed {what}", what=what)
    elif entry.action == "export":
        text = _("exported the server's data")
    elif entry.action == "purge":
        text = _("deleted ALL of the server's data")
    elif entry.action == "settle":
        text = _("settled challenge #{number}: <@{winner}> won", number=d.get("challenge"),
                 winner=d.get("winner_id"))
    else:  # forget
        refunds = int(d.get("refunds", 0))
        text = n_("deleted the data of member {user} ({refunds} open challenge refunded)",
                  "deleted the data of member {user} ({refunds} open challenges refunded)",
                  refunds, user=d.get("user_id"), refunds=i18n.number(refunds))
    return f"{when} {who} {text}"


def page_count(total: int, size: int = AUDIT_PAGE_SIZE) -> int:
    """Pages of ``size`` entries needed for ``total`` (at least one, the empty page)."""
    return max(1, -(-total // size))


def clamp_page(page: int, total: int, size: int = AUDIT_PAGE_SIZE) -> int:
    """A page number (0-based) within the pages that exist."""
    return min(max(page, 0), page_count(total, size) - 1)

