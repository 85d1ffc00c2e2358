"""The load shedder the benchmark's overload step relies on (bot/shedding.py).

Lives beside the benchmark because it is the benchmark's overload target that it serves: late
slash commands get a cheap "busy" answer instead of silence, and a skewed clock never sheds.
"""

from __future__ import annotations

import json

import discord

from bot import i18n
from bot.shedding import DISCORD_EPOCH_MS, MAX_WAIT, LoadShedder


def snowflake(unix_seconds: float) -> int:
    return (int(unix_seconds * 1000) - DISCORD_EPOCH_MS) << 22


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make(clock: Clock, observed: list | None = None, api_base: str = "http://127.0.0.1:9/api"):
    def observe(*args):
        if observed is not None:
            observed.append(args)
    return LoadShedder(api_base, "busy!", observe, clock=clock)


def test_a_constant_clock_skew_never_counts_as_lateness():
    clock = Clock(1_800_000_000.0)
    shedder = make(clock)
    for step in range(200):
        clock.now += 0.01
        # The host clock runs 5 s ahead of Discord's: every command looks 5 s old.
        assert shedder.lateness(snowflake(clock.now - 5.0)) < 0.01, step


def test_a_growing_backlog_is_late_and_a_drained_one_is_not():
    clock = Clock(1_800_000_000.0)
    shedder = make(clock)
    assert shedder.lateness(snowflake(clock.now - 0.002)) == 0.0
    waits = []
    for _ in range(100):  # one second in which each command waited 10 ms more than the last
        clock.now += 0.01
        waits.append(shedder.lateness(snowflake(clock.now - 0.002 - len(waits) * 0.01)))
    assert waits[-1] > MAX_WAIT
    clock.now += 1.0
    assert shedder.lateness(snowflake(clock.now - 0.002)) < 0.01


async def test_late_commands_get_a_busy_callback_and_skip_discord_py(callback_server):
    clock = Clock(1_800_000_000.0)
    observed: list = []
    shedder = make(clock, observed, callback_server.api_base)
    parsed = []
    parsers = {"INTERACTION_CREATE": parsed.append}
    shedder.install(parsers)

    def event(waited: float, kind: int = 2) -> dict:
        return {"id": str(snowflake(clock.now - waited)), "type": kind, "token": "tok",
                "guild_id": "123456789012345678", "data": {"name": "profile"}}

    on_time = event(0.001)
    parsers["INTERACTION_CREATE"](on_time)
    clock.now += 0.01
    late = event(0.001 + MAX_WAIT + 0.2)
    parsers["INTERACTION_CREATE"](late)
    autocomplete = event(0.001 + MAX_WAIT + 0.3, kind=4)  # never shed: it needs choices
    parsers["INTERACTION_CREATE"](autocomplete)
    await shedder.close()
    assert parsed == [on_time, autocomplete]
    [callback] = callback_server.callbacks()
    assert (callback.interaction_id, callback.token, callback.query) == (late["id"], "tok", "")
    body = json.loads(callback.body)
    assert body == {"type": 4, "data": {"content": "busy!", "flags": 64}}
    assert [(c, g, o) for c, g, o, _ in observed] == [("profile", 123456789012345678, "busy")]
    assert json.loads(shedder.body) == body


async def test_the_busy_answer_is_in_the_members_locale(callback_server):
    """Regression (issue 14, item 2): a shed command is answered in the language of the raw
    payload's ``locale`` (the body prebuilt per shipped language), English for a locale we do
    not ship or none; the in-flight limit's answer takes the Interaction's locale. Fails on the
    old code because the one prebuilt body was English for everyone."""
    from bot.app import BUSY_NOTICE

    clock = Clock(1_800_000_000.0)
    shedder = LoadShedder(callback_server.api_base, BUSY_NOTICE, lambda *a: None, clock=clock)
    parsers = {"INTERACTION_CREATE": lambda data: None}
    shedder.install(parsers)
    parsers["INTERACTION_CREATE"]({"id": str(snowflake(clock.now - 0.001)), "type": 2,
                                   "token": "t", "data": {"name": "profile"}})  # the floor
    clock.now += 0.01
    for number, locale in enumerate(("de", "es-419", "es-ES", "ja", None)):
        event = {"id": str(snowflake(clock.now - MAX_WAIT - 0.2) + number), "type": 2,
                 "token": "t", "data": {"name": "profile"}}
        if locale:
            event["locale"] = locale
        parsers["INTERACTION_CREATE"](event)
    shedder.answer_busy(snowflake(clock.now) + 9, "t", None, None, discord.Locale.german)
    await shedder.close()
    german = ("guildbot ist gerade sehr ausgelastet. Bitte versuche es in ein paar Sekunden "
              "noch einmal.")
    spanish = "guildbot está muy ocupado ahora mismo. Vuelve a intentarlo en unos segundos."
    answered = sorted(callback_server.callbacks(), key=lambda c: int(c.interaction_id))
    assert [json.loads(c.body)["data"]["content"] for c in answered] == [
        german, spanish, spanish, BUSY_NOTICE, BUSY_NOTICE, german]


def test_the_busy_answers_are_built_before_any_load(monkeypatch):
    """Regression (issue 15/17 review, item 3): the busy answer of every shipped language is
    built when the shedder is made (the bot makes it before the gateway connects); answering
    busy is a dict lookup (English for a locale we do not ship) that reads no catalog and
    builds nothing. Fails on the old code because each language's answer was built at its
    first busy answer, while the bot was overloaded."""
    from bot.app import BUSY_NOTICE

    shedder = LoadShedder("http://127.0.0.1:9/api", BUSY_NOTICE, lambda *a: None,
                          clock=Clock(1_800_000_000.0))
    built = dict(shedder.tails)
    assert set(built) == set(i18n.LANGUAGES)

    def nothing_more(*args):
        raise AssertionError("built while answering busy")

    monkeypatch.setattr(shedder.client, "prebuild", nothing_more)
    monkeypatch.setattr(i18n, "translate", nothing_more)
    sent: list[bytes | None] = []
    monkeypatch.setattr(shedder.client, "submit",
                        lambda interaction_id, token, item, tail=None: sent.append(tail))
    for locale in ("de", "es-419", "ja", None, discord.Locale.german):
        shedder.answer_busy(1, "t", None, None, locale)
    assert shedder.tails == built
    assert sent == [built["de"], built["es"], built["en"], built["en"], built["de"]]
    body = json.loads(built["de"].split(b"\r\n\r\n", 1)[1])
    assert body["data"]["content"] == ("guildbot ist gerade sehr ausgelastet. Bitte versuche "
                                       "es in ein paar Sekunden noch einmal.")
