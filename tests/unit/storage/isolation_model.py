"""A model of ONE guild's data, and a runner that compares the real storage against it.

The model knows nothing about other guilds. Operations run against a real storage (either
backend: a fresh database of ``conftest.Backend`` per run) in many guilds at once, with the
same user ids in every guild; each result, and in the end each guild's whole view, must equal
what that guild's model alone predicts. Any statement that reads or writes another guild's rows
shows up as a difference.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from bot.domain.errors import UserError
from bot.domain.members import local_days, login_award
from bot.storage import base
from tests.fixtures.pytest_plugin import export_of
from tests.unit.storage.conftest import Backend

START = 1_700_000_000.0
EXPIRY = 6 * 3600.0  # the accept window, and the play window again from acceptance
CLAIM = 24 * 3600.0  # a claim stands unless the other player disputes it within this
DISPUTE = 72 * 3600.0  # a dispute no admin settles within this is refunded


@dataclass
class MMember:
    points: int = 0
    streak: int = 0
    best: int = 0
    last_day: str | None = None
    logins: int = 0
    wins: int = 0
    losses: int = 0


@dataclass
class MChallenge:
    number: int
    challenger: int
    opponent: int
    stake: int
    status: str
    expires_at: float
    winner: int | None = None
    claimant: int | None = None
    disputed: bool = False
    message: tuple[int, int] | None = None  # where its public message is (issue 14)


@dataclass
class GuildModel:
    members: dict[int, MMember] = field(default_factory=dict)
    challenges: dict[int, MChallenge] = field(default_factory=dict)
    reward: int = 100
    known: bool = False
    left: bool = False
    usage: dict[str, int] = field(default_factory=dict)
    last_number: int = 0  # numbers are never handed out twice, even after a deletion
    audit: int = 0  # audit entries recorded
    deliveries: int = 0  # operator announcements' delivery rows of this guild (claimed)

    def _settle(self, c: MChallenge, status: str, winner: int | None = None) -> None:
        if winner is not None:
            loser = c.opponent if winner == c.challenger else c.challenger
            self.members[winner].points += 2 * c.stake
            self.members[winner].wins += 1
            self.members[loser].losses += 1
        else:
            self.members[c.challenger].points += c.stake
            if c.status == "accepted":
                self.members[c.opponent].points += c.stake
        c.status, c.winner = status, winner

    def _resolve_due(self, c: MChallenge) -> None:
        """A deadline passed: an undisputed claim wins, anything else is refunded."""
        if c.status == "accepted" and c.claimant is not None and not c.disputed:
            self._settle(c, "completed", c.claimant)
        else:
            self._settle(c, "expired")

    def apply(self, op: tuple, now: float, today: str, yesterday: str):
        """Return ('ok', value) or ('err', exception class name), as the storage should."""
        kind, args = op[0], op[2:]
        m, cs = self.members, self.challenges
        if kind == "register":
            (u,) = args
            if u in m:
                return ("err", "AlreadyRegistered")
            m[u] = MMember()
            self.known = True
            return ("ok", None)
        if kind == "login":
            (u,) = args
            if u not in m:
                return ("err", "NotRegistered")
            me = m[u]
            if me.last_day == today:
                return ("ok", (0, me.streak, me.points))
            me.streak = me.streak + 1 if me.last_day == yesterday else 1
            award = login_award(self.reward, me.streak)
            me.points += award
            me.best = max(me.best, me.streak)
            me.last_day, me.logins = today, me.logins + 1
            return ("ok", (award, me.streak, me.points))
        if kind == "create":
            a, b, stake = args
            if a == b:
                return ("err", "InvalidInput")
            if a not in m or b not in m:
                return ("err", "NotRegistered")
            if m[a].points < stake:
                return ("err", "InsufficientPoints")
            m[a].points -= stake
            self.last_number = number = self.last_number + 1
            cs[number] = MChallenge(number, a, b, stake, "open", now + EXPIRY)
            return ("ok", number)
        if kind in ("accept", "decline", "cancel", "complete", "settle", "dispute"):
            number, u = args[0], args[1]
            c = cs.get(number)
            if c is None:
                return ("err", "ChallengeNotFound")
            if c.status in ("open", "accepted") and c.expires_at <= now:
                self._resolve_due(c)  # committed, then the member is told it is too late
                return ("err", "InvalidInput")
            players = (c.challenger, c.opponent)
            if kind in ("complete", "settle"):
                winner = args[2]
                if c.status != "accepted" or winner not in players:
                    return ("err", "InvalidInput")
                if u not in players:
                    if kind == "complete":  # not an admin
                        return ("err", "InvalidInput")
                    self._settle(c, "completed", winner)
                    return ("ok", "completed")
                if winner != u:
                    self._settle(c, "completed", winner)
                    return ("ok", "completed")
                if c.disputed or c.claimant is not None:
                    return ("err", "InvalidInput")
                c.claimant, c.expires_at = u, now + CLAIM
                return ("ok", "accepted")
            if kind == "dispute":
                if u not in players or c.status != "accepted" or c.claimant in (None, u) \
                        or c.disputed:
                    return ("err", "InvalidInput")
                c.disputed, c.expires_at = True, now + DISPUTE
                return ("ok", "accepted")
            owner = c.challenger if kind == "cancel" else c.opponent
            if owner != u or c.status != "open":
                return ("err", "InvalidInput")
            if kind == "accept":
                if m[u].points < c.stake:
                    return ("err", "InsufficientPoints")
                m[u].points -= c.stake
                c.status, c.expires_at = "accepted", now + EXPIRY
                return ("ok", "accepted")
            self._settle(c, "declined" if kind == "decline" else "cancelled")
            return ("ok", c.status)
        if kind == "expire":
            due = [c for c in cs.values() if c.status in ("open", "accepted")
                   and c.expires_at <= now]
            for c in due:
                self._resolve_due(c)
            return ("ok", len(due))
        if kind == "reward":  # the answer: this guild's settings (no other setting changes)
            self.reward = args[0]
            self.known = True
            return ("ok", True)
        if kind == "forget":  # the member's data; the other side's stakes back
            (u,) = args
            if u not in m:
                return ("ok", None)
            mine = [c for c in cs.values() if u in (c.challenger, c.opponent)]
            held = m.pop(u).points
            for c in mine:
                other = c.opponent if u == c.challenger else c.challenger
                if c.status == "accepted" or (c.status == "open" and other == c.challenger):
                    m[other].points += c.stake
                if c.status == "accepted" or (c.status == "open" and u == c.challenger):
                    held += c.stake
                del cs[c.number]
            return ("ok", (len(mine), held))
        if kind == "audit":  # record one entry; the answer: the first page's size and the total
            self.audit += 1
            return ("ok", (min(self.audit, 10), self.audit))
        if kind == "deliver":  # an announcement, claimed for this guild
            self.deliveries += 1
            return ("ok", None)
        if kind == "delivered":
            return ("ok", self.deliveries)
        if kind == "mine":
            return ("ok", sorted(n for n, c in cs.items() if args[0] in (c.challenger, c.opponent)))
        if kind == "purge" or (kind == "retire" and self.left):
            m.clear()
            cs.clear()
            self.usage.clear()
            self.reward, self.known, self.left = 100, False, False
            self.last_number = self.audit = self.deliveries = 0
            return ("ok", None if kind == "purge" else True)
        if kind == "retire":  # the retention purge of a guild that has not left: nothing
            return ("ok", False)
        if kind == "leave":
            self.left = self.known
            return ("ok", None)
        if kind == "known":
            return ("ok", self.known)
        if kind == "use":
            self.usage[args[0]] = self.usage.get(args[0], 0) + 1
            return ("ok", None)
        if kind == "usage":
            return ("ok", sorted(self.usage.items()))
        if kind == "history":
            user = args[0]
            found = sorted((c for c in cs.values()
                            if user is None or user in (c.challenger, c.opponent)),
                           key=lambda c: -c.number)
            return ("ok", [(c.number, c.status, c.stake, c.challenger, c.opponent, c.winner)
                           for c in found[:25]])
        if kind == "member":
            me = m.get(args[0])
            return ("ok", None if me is None else (me.points, me.streak, me.best, me.last_day,
                                                   me.logins, me.wins, me.losses))
        if kind == "rank":
            me = m.get(args[0])
            if me is None:
                return ("ok", None)
            better = sum(1 for uid, o in m.items()
                         if o.points > me.points or (o.points == me.points and uid < args[0]))
            return ("ok", better + 1)
        if kind == "leaderboard":
            ordered = sorted(m.items(), key=lambda kv: (-kv[1].points, kv[0]))[:5]
            return ("ok", ([(uid, mm.points) for uid, mm in ordered], len(m)))
        if kind == "challenges":
            user = args[0]
            found = sorted((c for c in cs.values() if c.status in ("open", "accepted")
                            and (user is None or user in (c.challenger, c.opponent))),
                           key=lambda c: -c.number)
            return ("ok", [(c.number, c.status, c.stake, c.challenger, c.opponent, c.winner)
                           for c in found[:25]])
        if kind == "post":
            if args[0] in cs:
                cs[args[0]].message = (args[1], args[2])
            return ("ok", None)
        if kind == "where":
            c = cs.get(args[0])
            return ("ok", None if c is None else c.message)
        if kind == "get":
            c = cs.get(args[0])
            if c is None:
                return ("err", "ChallengeNotFound")
            return ("ok", (c.status, c.stake, c.challenger, c.opponent, c.winner))
        if kind == "stats":
            active = sum(c.status in ("open", "accepted") for c in cs.values())
            done = sum(c.status == "completed" for c in cs.values())
            escrow = sum(c.stake * {"open": 1, "accepted": 2}.get(c.status, 0)
                         for c in cs.values())
            return ("ok", (len(m), sum(x.points for x in m.values()) + escrow,
                           sum(x.last_day == today for x in m.values()), active, done,
                           max((x.best for x in m.values()), default=0)))
        raise AssertionError(f"unknown operation {op}")

    def view(self) -> dict:
        return {
            "members": {u: (x.points, x.streak, x.best, x.last_day, x.logins, x.wins, x.losses)
                        for u, x in self.members.items()},
            "challenges": {n: (c.challenger, c.opponent, c.stake, c.status, c.winner,
                               c.claimant, c.disputed)
                           for n, c in self.challenges.items()},
            "reward": self.reward,
            "known": self.known,
            "left": self.left,
            "usage": sorted(self.usage.items()),
            "export_counts": {"members": len(self.members), "challenges": len(self.challenges),
                              "audit": self.audit},
            "audit_rows": self.audit,
        }


async def apply_real(storage, guild: int, op: tuple, now: float, today: str, yesterday: str,
                     announced: dict[int, list[int]]):
    """``announced``: the announcements each guild's "deliver" made (the runner's)."""
    kind, args = op[0], op[2:]
    repo = storage.guild(guild)
    try:
        if kind == "deliver":
            aid = await storage.create_announcement("hello", now)
            await storage.claim_announcement(aid, guild, 1, now, "process 0")
            announced.setdefault(guild, []).append(aid)
            return ("ok", None)
        if kind == "delivered":  # this guild's delivery rows still there
            sending = {p.announcement_id: p.sending for p in await storage.announcement_progress(0)}
            return ("ok", sum(sending.get(aid, 0) for aid in announced.get(guild, [])))
        if kind == "leave":
            await repo.mark_left(now)
            return ("ok", None)
        if kind == "known":
            return ("ok", await repo.known())
        if kind == "use":
            await storage.write_usage([base.UsageRow(now, guild, args[0], "success", 1.0)])
            return ("ok", None)
        if kind == "usage":
            return ("ok", sorted((u.command, u.calls) for u in await repo.usage(0)))
        if kind == "history":
            found = await repo.challenges(args[0], active_only=False)
            return ("ok", [(c.challenge_id, c.status, c.stake, c.challenger_id, c.opponent_id,
                            c.winner_id) for c in found])
        if kind == "register":
            await repo.register(args[0], f"u{args[0]}", now)
            return ("ok", None)
        if kind == "login":
            r, _ = await repo.daily_login(args[0], now)
            return ("ok", (r.awarded, r.member.streak, r.member.points))
        if kind == "create":
            c = await repo.create_challenge(args[0], args[1], args[2], now, now + EXPIRY)
            return ("ok", c.challenge_id)
        if kind == "accept":
            return ("ok", (await repo.accept_challenge(args[0], args[1], now)).status)
        if kind == "decline":
            return ("ok", (await repo.decline_challenge(args[0], args[1], now)).status)
        if kind == "cancel":
            return ("ok", (await repo.cancel_challenge(args[0], args[1], now)).status)
        if kind == "complete":
            return ("ok", (await repo.complete_challenge(args[0], args[1], args[2], now)).status)
        if kind == "settle":  # the same command from a member with Manage Server
            return ("ok", (await repo.complete_challenge(args[0], args[1], args[2], now,
                                                         reporter_is_admin=True)).status)
        if kind == "dispute":
            return ("ok", (await repo.dispute_challenge(args[0], args[1], now)).status)
        if kind == "expire":
            return ("ok", len(await repo.expire_challenges(now)))
        if kind == "post":
            return ("ok", await repo.set_challenge_message(args[0], args[1], args[2]))
        if kind == "where":
            return ("ok", await repo.challenge_message(args[0]))
        if kind == "get":
            c = await repo.challenge(args[0])
            return ("ok", (c.status, c.stake, c.challenger_id, c.opponent_id, c.winner_id))
        if kind == "reward":
            settings = await repo.update_settings(daily_reward=args[0])
            return ("ok", settings == base.GuildSettings(guild, daily_reward=args[0]))
        if kind == "purge":
            await repo.purge()
            return ("ok", None)
        if kind == "retire":
            return ("ok", await repo.purge(left_before=now + 1))
        if kind == "forget":
            gone = await repo.forget_member(args[0])
            return ("ok", None if gone is None else (gone.challenges, gone.points))
        if kind == "audit":
            await repo.record_audit(base.AuditEntry(guild, 1, "export", {}, now))
            page, total = await repo.audit(0, 10)
            return ("ok", (len(page), total))
        if kind == "mine":
            return ("ok", [c.challenge_id for c in await repo.member_challenges(args[0])])
        if kind == "member":
            x = await repo.member(args[0])
            return ("ok", None if x is None else (x.points, x.streak, x.best_streak,
                                                  x.last_login_day, x.total_logins, x.wins,
                                                  x.losses))
        if kind == "rank":
            found = await repo.profile(args[0])
            return ("ok", None if found is None else found[1])
        if kind == "leaderboard":
            entries, total = await repo.leaderboard(0, 5)
            return ("ok", ([(e.user_id, e.points) for e in entries], total))
        if kind == "challenges":
            found = await repo.challenges(args[0], active_only=True)
            return ("ok", [(c.challenge_id, c.status, c.stake, c.challenger_id, c.opponent_id,
                            c.winner_id) for c in found])
        if kind == "stats":
            s = await repo.stats(today)
            return ("ok", (s.members, s.total_points, s.logins_today, s.open_challenges,
                           s.completed_challenges, s.best_streak))
    except UserError as exc:
        return ("err", type(exc).__name__)
    raise AssertionError(f"unknown operation {op}")


async def real_view(storage, guild: int) -> dict:
    repo = storage.guild(guild)
    data = await export_of(repo)
    return {
        "members": {int(x["user_id"]): (x["points"], x["streak"], x["best_streak"],
                                        x["last_login_day"], x["total_logins"], x["wins"],
                                        x["losses"]) for x in data["members"]},
        "challenges": {int(x["challenge_id"]): (int(x["challenger_id"]), int(x["opponent_id"]),
                                                x["stake"], x["status"],
                                                int(x["winner_id"]) if x["winner_id"] else None,
                                                int(x["claimant_id"]) if x["claimant_id"]
                                                else None, x["disputed_at"] is not None)
                       for x in data["challenges"]},
        "reward": (await repo.settings()).daily_reward,
        "known": await repo.known(),
        "left": guild in await storage.guilds_left_before(float("inf")),
        "usage": sorted((u.command, u.calls) for u in await repo.usage(0)),
        "export_counts": await repo.export_counts(),
        "audit_rows": len(data["audit"]),
    }


async def run_against_models(ops: list[tuple], guild_ids: list[int], backend: Backend,
                             outcomes: dict | None = None) -> list[str]:
    """Run ``ops`` (each ("kind", guild_index, *args) or ("tick", seconds)) on a fresh database
    of ``backend`` and return every difference between the storage and the per-guild models."""
    async with backend.fresh() as storage:
        return await _run(storage, ops, guild_ids, outcomes if outcomes is not None else {})


async def _run(storage, ops, guild_ids, outcomes: dict) -> list[str]:
    models = {g: GuildModel() for g in guild_ids}
    announced: dict[int, list[int]] = {}
    problems: list[str] = []
    now = START
    for step, op in enumerate(ops):
        if op[0] == "tick":
            now += op[1]
            continue
        today, yesterday = local_days(now, "UTC")  # what the repository's check-in derives
        guild = guild_ids[op[1] % len(guild_ids)]
        op = resolve(op, models[guild])
        expected = models[guild].apply(op, now, today, yesterday)
        actual = await apply_real(storage, guild, op, now, today, yesterday, announced)
        key = (op[0], actual[0])
        outcomes[key] = outcomes.get(key, 0) + 1
        if actual != expected:
            problems.append(f"step {step} {op} in guild {guild}: expected {expected}, "
                            f"got {actual}")
            if len(problems) > 5:
                break
    for guild, model in models.items():
        view = await real_view(storage, guild)
        if view != model.view():
            problems.append(f"final view of guild {guild} differs: {view} != {model.view()}")
    return problems


def resolve(op: tuple, model: GuildModel) -> tuple:
    """Turn symbolic arguments into concrete ones, from this guild's own model.

    Programs may name a challenge relative to the newest (-1 is the newest) or as the newest
    one being played ("playing") or with a pending claim ("claimed"), and a player by role
    ("challenger"/"opponent", or "rival": the player a claim is against), so random programs
    reach accepts, claims, disputes and settlements often. Both the model and the storage then
    receive the same concrete operation.
    """
    if op[0] not in ("accept", "decline", "cancel", "complete", "settle", "dispute", "post",
                     "where", "get"):
        return op
    number = op[2]
    if isinstance(number, str):
        number = max((c.number for c in model.challenges.values() if c.status == "accepted"
                      and not c.disputed and (c.claimant is None) == (number == "playing")),
                     default=1)
    elif number < 0:
        number = max(model.challenges, default=0) + 1 + number
    challenge = model.challenges.get(number)
    roles = {"challenger": challenge.challenger if challenge else 1,
             "opponent": challenge.opponent if challenge else 2}
    roles["rival"] = roles["challenger"] if challenge and challenge.claimant == \
        challenge.opponent else roles["opponent"]
    return (op[0], op[1], number, *(roles.get(a, a) for a in op[3:]))


def run(ops: list[tuple], guild_ids: list[int], backend: Backend,
        outcomes: dict | None = None) -> list[str]:
    """Run the program; ``outcomes`` (if given) counts (operation, "ok"/"err") pairs."""
    return asyncio.run(run_against_models(ops, guild_ids, backend, outcomes))
