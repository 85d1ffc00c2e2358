"""Operator announcements, sent by the fleet: the rules (pure; bot/app.py and bot/announce.py do
the sending and the recording).

``guildbot-cli announce MESSAGE`` records an announcement in the database. Every bot process finds
it with its control poll and sends it to the guilds of its own shards that configured an
announcement channel (``Settings.owns_guild``), each guild exactly once: the guild's delivery row is
claimed atomically before the message goes out, and a claimed guild is never sent to again, by
any process, after any restart. Its row then says ``sent`` or ``failed``; a process that died
between the claim and the answer leaves ``sending`` (unknown: never retried, so never twice).
Failures are recorded, not retried: 401/403 answers count toward Discord's invalid-request ban.

Discord's global limit is 50 requests/s per bot, counted across every process of the fleet.
Announcements use a fleet budget well inside it (``FLEET_RATE``), each process its share: the
fleet rate divided by the number of processes, which the shard plan tells each process (its
shards among the shard count).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from bot.domain.text import validate_announcement

__all__ = ["FLEET_RATE", "MAX_AGE_SECONDS", "SENDING", "SENT", "FAILED", "STOPS_THE_ROUND",
           "Announcement", "Progress", "fleet_processes", "send_interval",
           "validate_announcement"]

# Announcement messages per second for the whole fleet (Discord allows 50 requests/s per bot).
FLEET_RATE = 10.0
# An announcement is sent for this long after it was recorded: a process that was down longer
# (or a shard nobody ran) leaves the rest pending instead of posting a stale message.
MAX_AGE_SECONDS = 24 * 3600.0
SENDING, SENT, FAILED = "sending", "sent", "failed"
# An answer that makes every further send fail the same way (the token is refused): the round
# stops at once instead of piling up invalid requests.
STOPS_THE_ROUND = frozenset({401})


@dataclass(frozen=True, slots=True)
class Announcement:
    announcement_id: int
    message: str
    created_at: float


@dataclass(frozen=True, slots=True)
class Progress:
    """Where one announcement stands: guilds sent to, failed, claimed without an answer (a
    process stopped mid-send), and still pending (a channel configured, no delivery row)."""

    announcement_id: int
    created_at: float
    sent: int
    failed: int
    sending: int
    pending: int

    def as_dict(self) -> dict[str, int | float]:
        return {"announcement_id": self.announcement_id, "created_at": self.created_at,
                "sent": self.sent, "failed": self.failed, "sending": self.sending,
                "pending": self.pending}


def fleet_processes(shard_count: int, own_shards: Sequence[int]) -> int:
    """How many processes share the fleet, as the shard plan tells this one: its shards among
    the shard count (the plan cuts the shards into blocks differing by at most one, so a
    process with fewer shards than the average counts the most processes)."""
    if shard_count <= 1 or not own_shards:
        return 1
    return max(1, math.ceil(shard_count / len(own_shards)))


def send_interval(shard_count: int, own_shards: Sequence[int],
                  fleet_rate: float = FLEET_RATE) -> float:
    """Seconds between two announcement messages of this process: its share of the fleet rate."""
    return fleet_processes(shard_count, own_shards) / fleet_rate
