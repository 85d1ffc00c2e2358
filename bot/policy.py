"""Which guilds the bot may serve in the current rollout stage."""

from __future__ import annotations

from collections.abc import Container, Iterable
from dataclasses import dataclass

from bot import i18n
from bot.config import Settings
from bot.i18n import _


@dataclass(frozen=True, slots=True)
class Decision:
    admitted: bool
    reason: str = ""


# READY keeps a decision per guild (GuildBot.admission): the admitted ones share this one.
ADMITTED = Decision(True)


class AdmissionPolicy:
    """Stage, allowlist, maximum guild count and the "closed to new guilds" switch.

    ``known`` says the bot already served the guild before (it has a row, even one that left):
    the closed switch and the guild cap only turn away guilds that would be new. The bot applies
    the decisions to every interaction too (see ``GuildBotTree.interaction_check``).
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
            return ADMITTED
        if self.closed:
            return Decision(False, "closed to new guilds")
        if self.max_guilds and guild_count > self.max_guilds:
            return Decision(False, f"guild limit {self.max_guilds} reached")
        return ADMITTED

    def decide_ready(self, guilds: Iterable[tuple[int, float]],
                     known: Container[int]) -> dict[int, Decision]:
        """Decide at once for the guilds READY delivers: ``(guild id, when the bot joined it)``.

        Deterministic whatever order Discord sends them in: guilds the bot served before
        (``known``) come first, then the others by the time the bot joined them, then by id;
        each guild admitted counts against the cap of those after it.
        """
        ordered = sorted(guilds, key=lambda g: (g[0] not in known, g[1], g[0]))
        decisions: dict[int, Decision] = {}
        admitted = 0
        for guild_id, _joined in ordered:
            decision = self.decide(guild_id, known=guild_id in known, guild_count=admitted + 1)
            decisions[guild_id] = decision
            admitted += decision.admitted
        return decisions

    @staticmethod
    def refusal(reason: str) -> str:
        """The answer to an interaction from a guild that is not admitted, in the member's
        language (the reason is the operator's, in English)."""
        return _("guildbot is not enabled for this server ({reason}). We are rolling out "
                 "gradually; please try again later.", reason=reason)

    @staticmethod
    def farewell(decision: Decision, locale: object) -> str:
        """The message to a guild the bot leaves, in the language of its ``locale`` (the
        guild's preferred locale: it has no settings of ours yet); English for any other."""
        with i18n.use(i18n.language_of(locale)):
            return _("Thanks for inviting guildbot! We are rolling out gradually and cannot "
                     "join this server yet ({reason}), so I am leaving for now. Please try "
                     "again later.", reason=decision.reason)
