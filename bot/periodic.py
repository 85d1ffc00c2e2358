"""The one loop behind every periodic task of the bot and its monitoring."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


async def every(seconds: float, job: Callable[[], Awaitable[object]], *,
                on_error: Callable[[Exception], None], first: float | None = None) -> None:
    """Run ``job`` every ``seconds`` until cancelled, the first time after ``first`` seconds
    (default: ``seconds``; 0: at once). A job that raises is reported to ``on_error`` and runs
    again at its next turn: one failure never ends the loop."""
    delay = seconds if first is None else first
    if delay:
        await asyncio.sleep(delay)
    while True:
        try:
            await job()
        except Exception as exc:
            on_error(exc)
        await asyncio.sleep(seconds)
