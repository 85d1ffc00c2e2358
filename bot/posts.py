"""A challenge's public message: what it says and which buttons it has in each phase, and its
edit by whichever process changes the challenge (a click, a command, the expiry job).

``/challenge create`` posts it and records where it is with the challenge
(``GuildRepository.set_challenge_message``); :func:`refresh` edits it through the channel (REST),
so it works long after the interaction that posted it, from any process.
"""

from __future__ import annotations

import logging

import discord

from bot import components as ui
from bot import i18n
from bot.domain import challenges as rules
from bot.i18n import N_, _
from bot.storage.base import Challenge, GuildRepository

log = logging.getLogger("guildbot")

# action -> (label, style); the order is the buttons' order
_BUTTONS = {"accept": (N_("Accept"), discord.ButtonStyle.green),
            "decline": (N_("Decline"), discord.ButtonStyle.red),
            "cancel": (N_("Cancel"), discord.ButtonStyle.grey),
            "claim": (N_("I won"), discord.ButtonStyle.green),
            "concede": (N_("I lost"), discord.ButtonStyle.grey),
            "dispute": (N_("Dispute"), discord.ButtonStyle.red)}
_PHASE_ACTIONS = {"open": ("accept", "decline", "cancel"), "playing": ("claim", "concede"),
                  "claimed": ("concede", "dispute")}


def challenge_view(c: Challenge, actions: tuple[str, ...] | None = None) -> discord.ui.View | None:
    """The buttons of a challenge in its phase (``actions``: only these), labelled in the
    language in use; None when closed."""
    wanted = _PHASE_ACTIONS.get(rules.phase(c), ())
    shown = [a for a in wanted if actions is None or a in actions]
    if not shown:
        return None
    return ui.frozen(*(ui.button(_(_BUTTONS[a][0]), ui.make_id("ch", a, c.guild_id, c.challenge_id),
                                 style=_BUTTONS[a][1]) for a in shown))


async def refresh(bot: ui.ComponentBot, repo: GuildRepository, c: Challenge) -> None:
    """Edit the challenge's public message to its state now (its buttons go once it is closed),
    in the guild's language. No message recorded: nothing to do; a failed edit (the message was
    deleted) is logged."""
    where = await repo.challenge_message(c.challenge_id)
    if where is None:
        return
    message = bot.get_partial_messageable(where[0]).get_partial_message(where[1])
    with i18n.use((await repo.settings()).language):
        content, view = rules.post_message(c), challenge_view(c)
    try:
        await message.edit(content=content, view=view)
    except discord.HTTPException as exc:
        log.warning("challenge #%s of guild %s: its message %s could not be edited: %s",
                    c.challenge_id, c.guild_id, where[1], exc)
