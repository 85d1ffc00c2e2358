"""Load shedding: under overload, answer "busy" for a fraction of what a real answer costs.

Past its saturation rate a bot falls behind: INTERACTION_CREATE events wait in the gateway
socket, every answer comes later, and once they are older than Discord's 3 s window users get
silence. Answering "busy" through discord.py costs about as much as a real answer (an Interaction
object, the command tree, the callback through aiohttp with a message parsed back), so a bot that
is too slow to answer cannot afford to refuse either.

:class:`LoadShedder` sits in front of discord.py's INTERACTION_CREATE parser. It reads how long
each slash command has waited (the interaction id carries its creation time) and, while commands
arrive more than ``max_wait`` seconds late, answers them with a prebuilt callback request and
nothing else: no Interaction object, no command tree, no response body. The backlog drains,
commands are served again, and every user gets an answer within the window. The wait is measured
against the lowest recent wait (the floor), so a host clock that is off by a constant never
sheds by itself. The command tree's in-flight limit uses the same cheap answer.

The requests go through the bot's interaction callback client (bot/callbacks.py), the one that
sends every first reply of a command too: keep-alive connections, a quarter of an aiohttp
request's CPU, which is what lets a saturated bot shed faster than commands arrive. A busy answer
needs only its status; a failed one is counted and logged, never retried.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from bot import i18n
from bot.callbacks import CallbackClient

log = logging.getLogger("guildbot.shedding")

DISCORD_EPOCH_MS = 1_420_070_400_000
APPLICATION_COMMAND = 2
MAX_WAIT = 0.5          # seconds late (beyond the floor) from which commands are shed
FLOOR_RISE = 0.02       # the floor may rise this many seconds per second (clock drift)
FAILURE_LOG_INTERVAL = 60.0


def created_at(interaction_id: int) -> float:
    """Unix time an interaction was created, from its snowflake id."""
    return ((interaction_id >> 22) + DISCORD_EPOCH_MS) / 1000.0


class LoadShedder:
    def __init__(self, api_base: str, text: str, observe: Callable[..., None], *,
                 user_agent: str = "guildbot", max_wait: float = MAX_WAIT,
                 clock: Callable[[], float] = time.time) -> None:
        self.observe = observe
        self.max_wait = max_wait
        self.clock = clock
        self.body = self._busy_body(text)  # English
        self.client = CallbackClient(api_base, user_agent, self.body, self._answered)
        # The answer in each shipped language, built once here (the bot makes its shedder
        # before the gateway connects): a late command's raw payload names its member's locale,
        # and picking the language is all the work done per answer, none of it while loaded.
        self.tails = {language: self.client.prebuild(
            self._busy_body(i18n.translate(text, language) or text))
            for language in i18n.LANGUAGES}
        self.floor: float | None = None
        self._floor_at = 0.0
        self.shed = 0
        self.failures = 0
        self._failures_logged_at = 0.0

    @staticmethod
    def _busy_body(text: str) -> bytes:
        return json.dumps({"type": 4, "data": {"content": text, "flags": 64}}).encode()

    # -- admission ------------------------------------------------------------------------
    def lateness(self, interaction_id: int) -> float:
        """Seconds this interaction waited beyond the lowest recent wait."""
        now = self.clock()
        waited = now - created_at(interaction_id)
        floor = self.floor
        if floor is None:
            floor = waited
        else:
            floor = min(waited, floor + (now - self._floor_at) * FLOOR_RISE)
        self.floor, self._floor_at = floor, now
        return waited - floor

    def install(self, parsers: dict[str, Callable[[Any], Any]]) -> None:
        """Wrap discord.py's INTERACTION_CREATE parser (``client._connection.parsers``)."""
        original = parsers["INTERACTION_CREATE"]

        def interaction_create(data: Any) -> Any:
            try:
                late = (data["type"] == APPLICATION_COMMAND
                        and self.lateness(int(data["id"])) > self.max_wait)
            except (KeyError, TypeError, ValueError):
                late = False
            if late:
                inner = data.get("data") or {}
                guild_id = data.get("guild_id")
                self.answer_busy(int(data["id"]), data["token"],
                                 str(inner.get("name", "unknown"))[:32],
                                 int(guild_id) if guild_id else None, data.get("locale"))
                return None
            return original(data)

        parsers["INTERACTION_CREATE"] = interaction_create

    # -- the cheap answer -----------------------------------------------------------------
    def answer_busy(self, interaction_id: int, token: str, command: str | None,
                    guild_id: int | None, locale: object = None) -> None:
        """Queue the busy answer in the language of the member's ``locale`` (English for any
        other); ``command=None``: the caller records the outcome itself."""
        self.shed += 1
        self.client.submit(interaction_id, token, (command, guild_id, time.perf_counter()),
                           self._tail(i18n.language_of(locale)))

    def _tail(self, language: str) -> bytes:
        return self.tails.get(language) or self.tails[i18n.DEFAULT]

    def _answered(self, item: tuple[str | None, int | None, float], status: int | None) -> None:
        command, guild_id, started = item
        ok = status is not None and status < 300
        if not ok:
            self._failed(f"HTTP {status}" if status is not None else "no response")
        if command is not None:
            self.observe(command, guild_id, "busy" if ok else "failure",
                         time.perf_counter() - started)

    def _failed(self, why: str) -> None:
        self.failures += 1
        now = time.monotonic()
        if now - self._failures_logged_at >= FAILURE_LOG_INTERVAL:
            self._failures_logged_at = now
            log.warning("a busy answer could not be delivered (%s); %d so far", why,
                        self.failures)

    async def close(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        await self.client.close(timeout)
