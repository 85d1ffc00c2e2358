"""What a command answers, separate from how it is sent.

Command logic returns a :class:`Reply`; :func:`send_reply` delivers it within Discord's 3-second
window: it answers directly when the work finishes in time and defers first when it would not.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

import discord

# Discord drops an interaction not answered within 3 s of its creation; keep a safety margin.
ANSWER_BUDGET = 2.0


@dataclass
class Reply:
    content: str | None = None
    embed: discord.Embed | None = None
    ephemeral: bool = False
    file: tuple[str, bytes] | None = None
    view: discord.ui.View | None = None  # components (bot.components.frozen: nothing kept)
    message_id: int | None = None  # the message it became, set by send_reply

    def kwargs(self) -> dict:
        out: dict = {}
        if self.view is not None:
            out["view"] = self.view
        if self.content is not None:
            out["content"] = self.content
        if self.embed is not None:
            out["embed"] = self.embed
        if self.file is not None:
            out["file"] = discord.File(io.BytesIO(self.file[1]), filename=self.file[0])
        return out


R = TypeVar("R", bound=Reply)


def time_left(interaction: discord.Interaction, budget: float = ANSWER_BUDGET) -> float:
    """Seconds until we must have answered, from the interaction's own creation time."""
    created = discord.utils.snowflake_time(interaction.id).timestamp()
    left = created + budget - time.time()
    return min(max(left, 0.2), budget)  # tolerate clock skew between us and Discord


async def send_reply(interaction: discord.Interaction, work: Awaitable[R], *,
                     ephemeral_hint: bool = False) -> R:
    """Run ``work`` and send its reply, deferring first if it is not done in time."""
    task = asyncio.ensure_future(work)
    done, _ = await asyncio.wait({task}, timeout=time_left(interaction))
    if done:
        reply = task.result()
        sent = await interaction.response.send_message(ephemeral=reply.ephemeral,
                                                       **reply.kwargs())
        reply.message_id = sent.message_id
        return reply
    await interaction.response.defer(ephemeral=ephemeral_hint, thinking=True)
    reply = await task
    message = await interaction.followup.send(ephemeral=reply.ephemeral, wait=True,
                                              **reply.kwargs())
    reply.message_id = message.id
    return reply


async def answer(interaction: discord.Interaction, text: str, *, ephemeral: bool = True) -> None:
    """Send a short text answer, as the first response or as a follow-up if already answered."""
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=ephemeral)
    else:
        await interaction.response.send_message(text, ephemeral=ephemeral)
