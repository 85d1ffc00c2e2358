"""Open-loop load against the fake Discord, and what each step measured.

Sends are scheduled at fixed times (``start + i / rate``) and never wait for answers. Latency is
the fake's own clock: INTERACTION_CREATE written to the gateway socket -> interaction callback
received (``FakeInteraction.latency``).

That clock lives in this process, so a moment when this process does not run (descheduled, the
machine busy elsewhere) delays the timestamp of every answer that arrives meanwhile, as if the bot
had been slow, and the sends due meanwhile would go out in one burst afterwards. So a send more
than ``MAX_SEND_LAG`` late is skipped and counted (``skipped``) instead, and ``StallWatcher``
records the moments this process did not run during each step: an answer whose send-to-answer
interval overlaps one is "disturbed by the harness", and each 1-s window carries its figures over
the undisturbed answers too (``clean_*``). A stall of the bot delays neither this process nor its
sends, so its answers still count, and show it.
"""

from __future__ import annotations

import asyncio
import gc
import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from tests.fake_discord import FakeDiscord
from tests.fake_discord.interactions import AUTOCOMPLETE_RESULT, walk_components

BUSY_MARKERS = ("very busy right now", "is restarting")
STALL_TICK = 0.005  # seconds the watcher sleeps between looks at the clock
STALL_THRESHOLD = 0.010  # the loop's thread kept from running this long is a stall (StallWatcher)
# A send due more than this long ago is skipped (StepResult.skipped), not sent in a burst: at
# 200/s that is at most 5 sends at once after a stall of this process, about 7 ms of the bot's work.
MAX_SEND_LAG = 0.025


@dataclass(frozen=True)
class Command:
    """One kind of interaction of the mix: a name, options, and how a good answer looks.

    ``kind`` says how it is sent: "command" (type 2, ``name`` is the slash command),
    "autocomplete" (type 4: typing into option ``focused`` of the slash command ``target``) or
    "click" (type 3: a button on a message the bot posted, taken from :class:`Sources`; while
    there is none yet, ``fallback``, the command whose answers make them, is sent instead)."""

    name: str
    weight: int
    options: Callable[[Sequence[Any]], dict[str, Any]]
    ok: Callable[[Any], bool]
    kind: str = "command"
    target: str = ""
    focused: str = ""
    fallback: Command | None = None


def _embed_title(reply: Any) -> str:
    return (reply.embeds[0].get("title") or "") if reply.embeds else ""


def _no_options(members: Sequence[Any]) -> dict[str, Any]:
    return {}


LEADERBOARD = Command("leaderboard", 25, _no_options,
                      lambda r: _embed_title(r) == "Leaderboard")
CHALLENGE_CREATE = Command("challenge create", 15,
                           lambda members: {"opponent": members[1], "stake": 1},
                           lambda r: "challenges you for" in (r.content or ""))
# The mix before issue 14 added clicks: "the same commands as before" (KIND_MIXES["commands"]).
COMMANDS = (
    Command("profile", 35, _no_options, lambda r: _embed_title(r).startswith("Profile of")),
    LEADERBOARD,
    Command("login", 25, _no_options,
            lambda r: (r.content or "").startswith(("Checked in", "You already checked in"))),
    CHALLENGE_CREATE,
)
# The opponent accepts a challenge with its post's Accept button (the post is edited).
CLICK_ACCEPT = Command("click challenge accept", 5, _no_options,
                       lambda r: "accepted:" in (r.content or ""), kind="click",
                       fallback=CHALLENGE_CREATE)
# A page turn on a posted leaderboard: Next, or First from the last page (the post is edited).
CLICK_PAGE = Command("click leaderboard page", 5, _no_options,
                     lambda r: _embed_title(r) == "Leaderboard", kind="click",
                     fallback=LEADERBOARD)
# Typing a challenge number: the member's active challenges as choices (type 8).
AUTOCOMPLETE = Command("autocomplete challenge accept", 5,
                       lambda members: {"challenge": ""},
                       lambda r: r.type == AUTOCOMPLETE_RESULT, kind="autocomplete",
                       target="challenge accept", focused="challenge")
OUR_MIX = (*COMMANDS, CLICK_ACCEPT, CLICK_PAGE, AUTOCOMPLETE)
# Each kind alone (run.py's per-kind steps): its CPU per interaction and its latency.
KIND_MIXES: dict[str, tuple[Command, ...]] = {
    "commands": COMMANDS, "click-accept": (CLICK_ACCEPT,), "click-page": (CLICK_PAGE,),
    "autocomplete": (AUTOCOMPLETE,)}
BARE_MIX = (Command("ping", 1, lambda members: {}, lambda r: r.content == "pong"),)


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 3)


@dataclass
class Sent:
    inter: Any
    command: Command
    scheduled: float


@dataclass
class StepResult:
    name: str
    rate: float
    duration: float
    sent: int = 0
    skipped: int = 0  # sends due while this process did not run (MAX_SEND_LAG), never sent
    click_fallbacks: int = 0  # clicks sent as their fallback command: nothing to click yet
    send_rate: float = 0.0
    answered: int = 0
    ok: int = 0
    busy: int = 0
    errors: int = 0
    unanswered: int = 0
    achieved: float = 0.0
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None
    over_3s: int = 0
    generator_lag_p99_ms: float | None = None
    harness_stalls: list[dict[str, float]] = field(default_factory=list)  # {"t": s, "ms": ms}
    disturbed: int = 0  # answers whose send-to-answer interval overlapped a harness stall
    bot_cpu_ms_per_interaction: float | None = None
    db_cpu_ms_per_interaction: float | None = None  # the database server's processes (PostgreSQL)
    generator_cpu_percent: float | None = None
    other_cpu_percent: float | None = None  # other processes on the machine, % of one core
    error_samples: list[str] = field(default_factory=list)
    by_command: dict[str, dict[str, Any]] = field(default_factory=dict)
    windows: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class StallWatcher:
    """A thread that records when the event loop's thread (the one that creates it) could not
    run, as ``(start, end)`` perf_counter intervals longer than ``threshold`` s:
    - time it waited for a CPU while runnable (Linux's run-queue delay, ``schedstat``), which
      this thread sees when it gets the CPU: the other thread of a process can be scheduled
      while the loop's thread waits, so a late wake-up of this thread alone misses it;
    - time this thread itself woke late after sleeping ``tick`` s: the whole process not
      scheduled, or the loop's thread holding the GIL in one C call (a garbage collection).

    The loop being busy running Python is not a stall: the interpreter hands the GIL to a
    waiting thread every 5 ms (``sys.getswitchinterval()``) and a running thread does not wait
    for a CPU."""

    def __init__(self, tick: float = STALL_TICK, threshold: float = STALL_THRESHOLD) -> None:
        self.tick = tick
        self.threshold = threshold
        self.stalls: list[tuple[float, float]] = []
        self._schedstat = Path(f"/proc/self/task/{threading.get_native_id()}/schedstat")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="bench-stall-watcher",
                                        daemon=True)

    def _waited(self) -> float:
        """Seconds the watched thread has waited for a CPU (0.0 where Linux does not say)."""
        try:
            return int(self._schedstat.read_text().split()[1]) / 1e9
        except (OSError, IndexError, ValueError):
            return 0.0

    def _watch(self) -> None:
        last, waited = time.perf_counter(), self._waited()
        while not self._stop.wait(self.tick):
            now, total = time.perf_counter(), self._waited()
            if total - waited > self.threshold:
                self.stalls.append((now - (total - waited), now))
            elif now - last - self.tick > self.threshold:
                self.stalls.append((last, now))
            last, waited = now, total

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def overlapping(stalls: Sequence[tuple[float, float]], start: float, end: float) -> float:
    """The longest of ``stalls`` that overlaps ``[start, end]``, in seconds (0.0 if none)."""
    return max((b - a for a, b in stalls if a < end and b > start), default=0.0)


MAX_POSTS = 50_000  # open challenge posts kept for Accept clicks (the newest)
PRIME_ROUNDS = 3


class Sources:
    """What the bot posted that a click can use, collected from its answers as they arrive
    (``collect`` is a fake Discord interaction listener): the public posts of answered
    ``/challenge create``s, each clicked once (by the opponent, on Accept), and one posted
    leaderboard per guild, clicked again and again (its buttons change with each page)."""

    def __init__(self) -> None:
        self.posts: deque[tuple[Any, Any]] = deque(maxlen=MAX_POSTS)  # (opponent, message)
        self.boards: dict[int, tuple[Any, Any]] = {}  # guild id -> (member, message)
        self._board_ids: list[int] = []

    def collect(self, inter: Any) -> None:
        message, reply = inter.original, inter.response
        if inter.custom_id is not None or message is None or reply is None:
            return  # a click's answer edits its message: nothing new to click
        if inter.command == CHALLENGE_CREATE.name and CHALLENGE_CREATE.ok(reply):
            self.posts.append((inter.options["opponent"], message))
        elif inter.command == LEADERBOARD.name and message.components:
            if inter.guild.id not in self.boards:
                self._board_ids.append(inter.guild.id)
            self.boards[inter.guild.id] = (inter.member, message)

    def available(self, command: Command) -> int:
        return len(self.posts) if command is CLICK_ACCEPT else len(self.boards)

    def take(self, command: Command, rng: random.Random) -> tuple[Any, Any, str] | None:
        """``(member, message, custom_id)`` of a click ``command``, or None when the bot has
        posted nothing it can click yet."""
        if command is CLICK_ACCEPT:
            if not self.posts:
                return None
            member, message = self.posts.pop()
            return member, message, _button(message, "gb1:ch:accept:")
        if not self._board_ids:
            return None
        member, message = self.boards[rng.choice(self._board_ids)]
        return member, message, _button(message, "gb1:lb:next:") or _button(message,
                                                                             "gb1:lb:first:")


def _button(message: Any, prefix: str) -> str:
    """The custom_id of the message's enabled button whose custom_id starts with ``prefix``
    ("" when there is none)."""
    return next((c["custom_id"] for c in walk_components(message.components)
                 if c.get("custom_id", "").startswith(prefix) and not c.get("disabled")), "")


class LoadGenerator:
    def __init__(self, fake: FakeDiscord, world: list, mix: Sequence[Command], seed: int = 1):
        self.fake = fake
        self.world = world
        self.mix = mix
        self.rng = random.Random(seed)
        self.responses = 0
        self.sources = Sources()
        fake.interaction_listeners.append(self._on_response)
        fake.interaction_listeners.append(self.sources.collect)

    def _on_response(self, inter: Any) -> None:
        self.responses += 1

    def _pick(self, mix: Sequence[Command]) -> tuple[Any, Any, Command]:
        guild, members = self.world[self.rng.randrange(len(self.world))]
        command = self.rng.choices(mix, [c.weight for c in mix])[0]
        if len(members) > 1 and self.rng.random() < 0.5:
            members = members[::-1]
        return guild, members, command

    async def _send(self, guild: Any, members: Sequence[Any], command: Command
                    ) -> tuple[Any, Command]:
        """Send one interaction of ``command``; returns it and the command it was (a click with
        nothing to click yet is sent as its ``fallback``)."""
        fake = self.fake
        if command.kind == "click":
            found = self.sources.take(command, self.rng)
            if found is not None:
                member, message, custom_id = found
                return await fake.click(member, message, custom_id), command
            assert command.fallback is not None
            command = command.fallback
        if command.kind == "autocomplete":
            return await fake.autocomplete(guild, members[0], command.target,
                                           command.options(members), command.focused), command
        return await fake.invoke(guild, members[0], command.name, command.options(members)), \
            command

    async def prime(self, mix: Sequence[Command], needed: int, rate: float) -> None:
        """Before a step of ``mix``: have the bot post what its clicks need (``needed`` of
        each), sending their fallback commands at ``rate`` (not measured, not reported)."""
        for command in mix:
            for _ in range(PRIME_ROUNDS):  # again for the answers that were not good ones
                missing = needed - self.sources.available(command)
                if command.fallback is None or missing <= 0:
                    break
                await self.run(f"prime {command.name}", rate, (missing + 1) / rate, drain=10.0,
                               mix=(command.fallback,))

    async def run(self, name: str, rate: float, duration: float, *, drain: float = 5.0,
                  window: float = 1.0, pid_cpu: Callable[[], float] | None = None,
                  db_cpu: Callable[[], float] | None = None,
                  mix: Sequence[Command] | None = None) -> StepResult:
        """Offer ``rate``/s for ``duration`` s, then wait up to ``drain`` s for late answers."""
        results = await self.run_phases([(name, rate, duration)], drain=drain, window=window,
                                        pid_cpu=pid_cpu, db_cpu=db_cpu, mix=mix)
        return results[0]

    async def run_phases(self, phases: Sequence[tuple[str, float, float]], *,
                         drain: float = 5.0, window: float = 1.0,
                         pid_cpu: Callable[[], float] | None = None,
                         db_cpu: Callable[[], float] | None = None,
                         mix: Sequence[Command] | None = None) -> list[StepResult]:
        """Offer each ``(name, rate, seconds)`` phase in turn on one continuous schedule (the
        next phase starts where the previous one's schedule ends, answered or not), then wait up
        to ``drain`` s for late answers. One result per phase; CPU is split by time: the bot's
        (``pid_cpu``) and its database server's (``db_cpu``) apart. ``mix``: the generator's
        own unless given (a per-kind step)."""
        mix = mix or self.mix
        snapshots: list[tuple[float, float, float, float, float]] = []

        def snapshot() -> None:
            snapshots.append((time.perf_counter(), pid_cpu() if pid_cpu else 0.0,
                              time.process_time(), machine_busy(), db_cpu() if db_cpu else 0.0))

        per_phase: list[tuple[list[Sent], float, float, int, int]] = []
        gc.collect()
        gc.disable()  # the generator's own collections would show up as bot latency
        watcher = StallWatcher()
        watcher.start()
        try:
            started = time.perf_counter() + 0.005
            for _name, rate, duration in phases:
                snapshot()
                total = max(1, int(rate * duration))
                sent: list[Sent] = []
                skipped = fallbacks = i = 0
                while i < total:
                    now = time.perf_counter()
                    due = min(total, int((now - started) * rate) + 1)
                    while i < due:
                        scheduled = started + i / rate
                        i += 1
                        if now - scheduled > MAX_SEND_LAG:
                            # This process did not run on time: sending everything it missed
                            # at once would hand the bot a burst the schedule never asked for.
                            skipped += 1
                            continue
                        guild, members, picked = self._pick(mix)
                        inter, command = await self._send(guild, members, picked)
                        fallbacks += command is not picked
                        sent.append(Sent(inter, command, scheduled))
                    delay = started + i / rate - time.perf_counter()
                    await asyncio.sleep(delay if delay > 0 else 0)
                per_phase.append((sent, started, time.perf_counter(), skipped, fallbacks))
                started += total / rate
            deadline = time.perf_counter() + drain
            everything = [s for sent, *_ in per_phase for s in sent]
            pending = [s for s in everything if s.inter.responded_at is None]
            while pending and time.perf_counter() < deadline:
                await asyncio.sleep(0.05)
                pending = [s for s in pending if s.inter.responded_at is None]
            # Deferred answers: give their follow-ups a moment too.
            while time.perf_counter() < deadline and any(
                    s.inter.response is not None and s.inter.response.deferred
                    and not (s.inter.followups or s.inter.edits) for s in everything):
                await asyncio.sleep(0.05)
            snapshot()
        finally:
            watcher.stop()
            gc.enable()
        results = []
        for k, ((name, rate, duration), (sent, begun, send_end, skipped, fallbacks)) in enumerate(
                zip(phases, per_phase, strict=True)):
            result = summarize(name, rate, duration, sent, begun, send_end, window,
                               watcher.stalls)
            result.skipped = skipped
            result.click_fallbacks = fallbacks
            t0, bot0, own0, machine0, db0 = snapshots[k]
            t1, bot1, own1, machine1, db1 = snapshots[k + 1]
            elapsed = max(t1 - t0, 1e-9)
            own_cpu, bot_cpu, db_cpu_s = own1 - own0, bot1 - bot0, db1 - db0
            result.generator_cpu_percent = round(100 * own_cpu / elapsed, 1)
            if pid_cpu is not None and result.answered:
                result.bot_cpu_ms_per_interaction = round(bot_cpu * 1000 / result.answered, 3)
            if db_cpu is not None and result.answered:
                result.db_cpu_ms_per_interaction = round(db_cpu_s * 1000 / result.answered, 3)
            result.other_cpu_percent = round(
                max(0.0, machine1 - machine0 - own_cpu - bot_cpu - db_cpu_s) * 100 / elapsed, 1)
            results.append(result)
        self._forget(everything)
        return results

    def _forget(self, sent: list[Sent]) -> None:
        """Drop answered interactions from the fake's registry so memory stays flat."""
        fake = self.fake
        for s in sent:
            inter = s.inter
            if inter.responded_at is not None:
                fake.interactions.pop(inter.id, None)
                fake.interactions_by_token.pop(inter.token, None)


def machine_busy() -> float:
    """CPU seconds the whole machine has spent busy (all cores, all processes)."""
    t = psutil.cpu_times()
    return t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0)


def _classify(s: Sent) -> tuple[str, str | None]:
    inter = s.inter
    reply = inter.response
    if reply is None:
        # The bot sends no suggestions while overloaded (bot/app.py): Discord then shows none.
        return ("shed" if s.command.kind == "autocomplete" else "unanswered"), None
    if reply.deferred:
        finals = inter.followups or inter.edits
        if not finals:
            return "error", "deferred, no follow-up"
        reply = finals[0]
    text = reply.content or _embed_title(reply)
    if any(marker in (reply.content or "") for marker in BUSY_MARKERS):
        return "busy", text
    if s.command.ok(reply):
        return "ok", None
    return "error", text


def summarize(name: str, rate: float, duration: float, sent: list[Sent], started: float,
              send_end: float, window: float,
              stalls: Sequence[tuple[float, float]] = ()) -> StepResult:
    """One step's figures. ``stalls`` are this process's own stalls (``StallWatcher``): an
    answer overlapping one is counted as disturbed, and each window also gives its figures over
    the undisturbed answers (``clean_n``, ``clean_p50_ms``, ``clean_p99_ms``)."""
    result = StepResult(name=name, rate=rate, duration=duration, sent=len(sent))
    # Wall-clock time of the step's start: windows carry an absolute time ("at") to be matched
    # with the bot's log and other processes' records.
    epoch = time.time() - time.perf_counter() + started
    result.send_rate = round(len(sent) / max(send_end - started, 1e-9), 1)
    latencies: list[float] = []
    lags: list[float] = []
    last_answer = started
    per_command: dict[str, dict[str, Any]] = {}
    buckets: dict[int, list[float]] = {}
    clean: dict[int, list[float]] = {}
    bucket_stall: dict[int, float] = {}
    bucket_lags: dict[int, list[float]] = {}
    samples: dict[str, int] = {}
    for s in sent:
        inter = s.inter
        kind, text = _classify(s)
        stats = per_command.setdefault(s.command.name, {"sent": 0, "ok": 0, "busy": 0,
                                                         "errors": 0, "lat": []})
        stats["sent"] += 1
        if inter.sent_at is not None:
            lags.append(inter.sent_at - s.scheduled)
            bucket_lags.setdefault(int((s.scheduled - started) // window), []).append(
                inter.sent_at - s.scheduled)
        if kind == "unanswered":
            result.unanswered += 1
            stats["errors"] += 1
            continue
        if kind == "shed":  # a busy answer, as Discord shows it: no suggestions, no latency
            result.busy += 1
            stats["busy"] += 1
            continue
        result.answered += 1
        latency = inter.latency
        latencies.append(latency)
        stats["lat"].append(latency)
        index = int((s.scheduled - started) // window)
        buckets.setdefault(index, []).append(latency)
        stall = overlapping(stalls, inter.responded_at - latency, inter.responded_at)
        if stall:
            result.disturbed += 1
            bucket_stall[index] = max(bucket_stall.get(index, 0.0), stall)
        else:
            clean.setdefault(index, []).append(latency)
        last_answer = max(last_answer, inter.responded_at)
        if latency > 3.0:
            result.over_3s += 1
        if kind == "ok":
            result.ok += 1
            stats["ok"] += 1
        elif kind == "busy":
            result.busy += 1
            stats["busy"] += 1
        else:
            result.errors += 1
            stats["errors"] += 1
            key = f"{s.command.name}: {text}"[:160]
            samples[key] = samples.get(key, 0) + 1
    result.errors += result.unanswered
    result.error_samples = [f"{n} x {k}" for k, n in sorted(samples.items(),
                                                            key=lambda kv: -kv[1])[:5]]
    latencies.sort()
    lags.sort()
    result.p50_ms = ms(percentile(latencies, 50))
    result.p95_ms = ms(percentile(latencies, 95))
    result.p99_ms = ms(percentile(latencies, 99))
    result.max_ms = ms(latencies[-1]) if latencies else None
    result.generator_lag_p99_ms = ms(percentile(lags, 99))
    span = max(duration, last_answer - started)
    result.achieved = round(result.ok / span, 1)
    for cmd, stats in per_command.items():
        lat = sorted(stats.pop("lat"))
        stats.update(p50_ms=ms(percentile(lat, 50)), p99_ms=ms(percentile(lat, 99)))
        result.by_command[cmd] = stats
    result.harness_stalls = [{"t": round(a - started, 3), "ms": round((b - a) * 1000, 3)}
                             for a, b in stalls if a < last_answer and b > started]
    for index in sorted(buckets):
        lat = sorted(buckets[index])
        undisturbed = sorted(clean.get(index, []))
        # The generator's own lag in the window tells a slow bot from a late load (the fake
        # shares the generator's process: when that process stalls, answers look late too).
        lag = sorted(bucket_lags.get(index, []))
        at = datetime.fromtimestamp(epoch + index * window, UTC)
        result.windows.append({"t": round(index * window, 3),
                               "at": at.isoformat(timespec="milliseconds"), "n": len(lat),
                               "p50_ms": ms(percentile(lat, 50)),
                               "p99_ms": ms(percentile(lat, 99)), "max_ms": ms(lat[-1]),
                               "gen_lag_p99_ms": ms(percentile(lag, 99)),
                               "harness_stall_ms": ms(bucket_stall.get(index, 0.0)),
                               "clean_n": len(undisturbed),
                               "clean_p50_ms": ms(percentile(undisturbed, 50)),
                               "clean_p99_ms": ms(percentile(undisturbed, 99))})
    return result
