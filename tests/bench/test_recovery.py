"""How the benchmark judges the recovery after the overload (tests/bench/load.py, report.py).

The latency clock lives in the benchmark's own process (the fake Discord timestamps sends and
answers). These tests build the answers' timestamps by hand: no load runs, nothing is timed.
"""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

from tests.bench.load import BARE_MIX, MAX_SEND_LAG, LoadGenerator, Sent, overlapping, summarize
from tests.bench.report import normal_window, recovery_seconds

PING = BARE_MIX[0]
START = 1000.0
BASE = {"p50_ms": 2.0, "p99_ms": 3.0}  # the 200/s step: normal is p50 <= 4 ms, p99 <= 11 ms


def answer(scheduled: float, latency: float, sent_at: float) -> Sent:
    """An interaction sent at ``sent_at`` and answered "pong" ``latency`` s later."""
    reply = SimpleNamespace(deferred=False, content="pong", embeds=[])
    inter = SimpleNamespace(sent_at=sent_at, responded_at=sent_at + latency,
                            latency=latency, response=reply, followups=[], edits=[])
    return Sent(inter, PING, scheduled)


def second(index: int, slow: dict[int, float] | None = None,
           stall: tuple[float, float] | None = None) -> list[Sent]:
    """200 sends due in 1-s window ``index``, answered in 2 ms except ``slow`` {position:
    latency}; the sends due while the benchmark process ``stall``-ed are skipped, as the
    generator does (MAX_SEND_LAG)."""
    slow = slow or {}
    sent = []
    for i in range(200):
        due = START + index + i / 200
        if not (stall and stall[0] < due < stall[1]):
            sent.append(answer(due, slow.get(i, 0.002), due))
    return sent


def recovery(sent: list[Sent], stalls: list[tuple[float, float]]) -> dict:
    result = summarize("recovery", 200, 3, sent, START, START + 3, 1.0, stalls)
    return {"steps": {"recovery": result.to_json(), "rate-200": BASE}}


def test_answers_delayed_by_a_stall_of_the_measuring_process_are_left_out():
    """Regression (issue 13, item 15): fails on the old code because every answer of a window
    was judged, so a 250-ms stall of the benchmark process (which timestamps the answers) under
    the answers in flight made the window abnormal and the recovery late, with the bot answering
    in 2 ms; the old ``summarize`` took no stalls at all."""
    stall = (START + 1.5, START + 1.75)
    slow = {98: 0.26, 99: 0.255}  # answered at 1.502 s and 1.497 s, timestamped at 1.75 s
    bot = recovery(second(0) + second(1, slow, stall) + second(2), [stall])
    window = bot["steps"]["recovery"]["windows"][1]
    assert window["p99_ms"] > 200  # the raw figures still show what was measured
    assert window["harness_stall_ms"] == 250.0
    assert (window["n"], window["clean_n"], window["clean_p99_ms"]) == (151, 148, 2.0)
    assert bot["steps"]["recovery"]["disturbed"] == 3  # and the send at 1.5 s, answered 1.502
    assert bot["steps"]["recovery"]["harness_stalls"] == [{"t": 1.5, "ms": 250.0}]
    assert normal_window(window, BASE)
    assert recovery_seconds(bot, "rate-200") == 0.0


def test_a_stall_of_the_bot_still_shows():
    """Three answers held 250 ms with the benchmark process running all along (its only stall
    is elsewhere): the bot was slow, the window is abnormal and the recovery takes 2 s."""
    bot = recovery(second(0) + second(1, {97: 0.265, 98: 0.26, 99: 0.255}) + second(2),
                   [(START + 2.6, START + 2.62)])
    window = bot["steps"]["recovery"]["windows"][1]
    assert window["harness_stall_ms"] == 0.0
    assert not normal_window(window, BASE)
    assert recovery_seconds(bot, "rate-200") == 2.0


def test_a_slow_bot_stays_abnormal_when_a_harness_stall_covers_most_of_its_answers():
    """A bot answering in 500 ms keeps about 100 answers in flight: a 20-ms stall of the
    benchmark process overlaps more than half of the window, too few are left to judge it, and
    the window counts as abnormal rather than normal on what is left."""
    stall = (START + 1.5, START + 1.52)
    slow = {i: 0.5 for i in range(200)}
    bot = recovery(second(0) + second(1, slow, stall) + second(2), [stall])
    window = bot["steps"]["recovery"]["windows"][1]
    assert window["clean_n"] < window["n"] / 2
    assert not normal_window(window, BASE)


def test_windows_carry_their_wall_clock_time():
    bot = recovery(second(0) + second(1), [])
    first, following = bot["steps"]["recovery"]["windows"]
    assert first["at"].endswith("+00:00") and first["at"] < following["at"]


def test_overlapping_is_the_longest_stall_touching_the_interval():
    stalls = [(1.0, 1.1), (2.0, 2.3), (5.0, 5.05)]
    assert overlapping(stalls, 0.0, 0.99) == 0.0
    assert round(overlapping(stalls, 1.05, 2.01), 3) == 0.3
    assert round(overlapping(stalls, 4.9, 6.0), 3) == 0.05


class StallingFake:
    """Just enough of FakeDiscord for LoadGenerator: every interaction is answered at once, and
    the tenth send blocks this whole process for 0.2 s, as a stall of the benchmark does."""

    def __init__(self) -> None:
        self.interaction_listeners: list = []
        self.interactions: dict = {}
        self.interactions_by_token: dict = {}
        self.invoked = 0

    async def invoke(self, guild, member, command, options):
        self.invoked += 1
        if self.invoked == 10:
            time.sleep(0.2)  # noqa: ASYNC251 - the stall under test
        now = time.perf_counter()
        reply = SimpleNamespace(deferred=False, content="pong", embeds=[])
        return SimpleNamespace(id=self.invoked, token=str(self.invoked), sent_at=now,
                               responded_at=now, latency=0.0, response=reply, followups=[],
                               edits=[])


def test_sends_missed_during_a_stall_are_skipped_not_sent_in_a_burst():
    """Regression (issue 13, item 15): fails on the old code because after a stall of its own
    process the generator sent every send it had missed at once (about 40 at 200/s for 0.2 s),
    a burst the bot then queued behind, which showed as the bot's latency after the stall; now
    the sends more than MAX_SEND_LAG late are skipped and counted."""
    fake = StallingFake()
    world = [(SimpleNamespace(), [SimpleNamespace(), SimpleNamespace()])]
    gen = LoadGenerator(fake, world, BARE_MIX)
    result = asyncio.run(gen.run("recovery", 200, 0.5, drain=1.0))
    missed = int((0.2 - MAX_SEND_LAG) * 200) - 1  # due while blocked, and already too late
    assert result.skipped >= missed
    assert result.sent + result.skipped == 100
    assert result.sent == fake.invoked
