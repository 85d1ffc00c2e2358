"""Which guilds the bot may serve in the current rollout stage."""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import Settings


@dataclass(frozen=True)
class Decision:
    admitted: bool
    reason: str = ""


class AdmissionPolicy:
    """Stage, allowlist, maximum guild count and the "closed to new guilds" switch.

    ``known`` says the bot already served the guild before (it was in READY, or has data): the
    closed switch and the guild cap only turn away guilds that would be new.
    """

    def __init__(self, settings: Settings) -> None:
        self.stage = settings.stage
        self.allowlist = settings.guild_allowlist
        self.max_guilds = settings.max_guilds
        self.closed = settings.closed_to_new_guilds

    def decide(self, guild_id: int, *, known: bool, guild_count: int) -> Decision:
        if self.allowlist and guild_id not in self.allowlist:
            return Decision(False, f"not on the {self.stage} allowlist")
        if known:
            return Decision(True)
        if self.closed:
            return Decision(False, "closed to new guilds")
        if self.max_guilds and guild_count > self.max_guilds:
            return Decision(False, f"guild limit {self.max_guilds} reached")
        return Decision(True)

    @staticmethod
    def farewell(decision: Decision) -> str:
        return (
            "Thanks for inviting guildbot! We are rolling out gradually and cannot join this "
            f"server yet ({decision.reason}), so I am leaving for now. Please try again later."
        )
