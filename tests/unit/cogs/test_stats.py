"""/status: one latency formatter for it and the sd_notify STATUS line (issue 15, one helper per
job: the three latency formatters), and its reply through bot/responses.py."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import discord

from bot import i18n
from bot.cogs.stats import Stats, status_reply
from bot.monitoring.stats import latency_text, ms
from bot.policy import Decision
from tests.unit import test_admission as admission
from tests.unit.test_admission import NOW, A, gateway_guild
from tests.unit.test_app import slash

make_bot = admission.make_bot  # the same fixture


def _bot(latencies: list[tuple[int, float]]) -> SimpleNamespace:
    return SimpleNamespace(shard_latencies=lambda: latencies, clock=lambda: 100.0,
                           started_at=0.0, guilds=[], settings=SimpleNamespace(stage="local"))


async def _latency_field(latencies: list[tuple[int, float]]) -> str:
    embed = (await status_reply(_bot(latencies))).embed  # type: ignore[arg-type]
    assert embed is not None
    return next(field.value for field in embed.fields if field.name == "Gateway latency")


async def test_status_shows_no_latency_before_the_first_heartbeat():
    """Regression (issue 15, one helper per job): /status had its own latency formatter, which
    did not drop discord.py's ``inf`` (a shard before its first heartbeat). Fails on the old code
    because /status then showed "inf ms" where the sd_notify STATUS line showed "n/a"."""
    assert await _latency_field([(0, math.inf)]) == "n/a"
    assert await _latency_field([(0, math.inf), (1, 0.0421)]) == "42 ms"
    assert await _latency_field([]) == "n/a"


async def test_status_says_none_yet_in_the_members_language():
    """Regression (issue 15/17 review, item 2): ``latency_text`` takes the text for "none yet"
    ("n/a" by default, as the sd_notify STATUS line shows it) and /status passes its
    translation, with no string comparison left. Fails on the old code because
    ``latency_text`` took no such text."""
    assert latency_text([math.inf], "k. A.") == "k. A."
    assert latency_text([math.inf, 0.0421], "k. A.") == "42 ms"
    with i18n.use("de"):
        embed = (await status_reply(_bot([(0, math.inf)]))).embed  # type: ignore[arg-type]
    assert embed is not None
    field = next(f.value for f in embed.fields if f.name == i18n.translate("Gateway latency", "de"))
    assert field == i18n.translate("n/a", "de") and field != "n/a"


def test_the_formatters():
    assert latency_text([0.0104, math.nan, 0.2]) == "200 ms"
    assert ms(None) is None
    assert ms(0.0123456) == 12.346
    assert ms(0.0123456, 1) == 12.3


async def test_status_replies_through_the_reply_path(make_bot, monkeypatch):
    """Regression (issue 15): /status answers through bot/responses.py like every other
    command: ``send_reply``, its first response POSTed over the bot's callback connections
    (``GuildBot.callbacks``), ephemeral. The real cog, on the real bot's tree, for a real
    discord.Interaction. Fails on the old code because /status called discord.py's
    ``interaction.response.send_message`` itself."""
    client = await make_bot(gateway_guild(A, "Alpha", NOW))
    client.admission = {A: Decision(True)}
    await client.add_cog(Stats(client))
    posted: list[tuple[int, dict]] = []

    async def post(interaction_id: int, token: str, body: bytes, content_type: str,
                   query: str = "") -> tuple[int, bytes]:
        posted.append((interaction_id, json.loads(body)))
        return 200, b'{"interaction": {"response_message_id": "9"}}'
    monkeypatch.setattr(client.callbacks, "post", post)

    async def around(*args: object, **kwargs: object) -> None:
        raise AssertionError("answered around bot/responses.py")
    monkeypatch.setattr(discord.InteractionResponse, "send_message", around)
    status = slash(client, A, 1, name="status")
    await client.tree._call(status)
    assert status.extras.get("outcome") is None and not status.command_failed
    [(interaction_id, body)] = posted
    assert interaction_id == status.id
    assert body["data"]["flags"] == discord.MessageFlags(ephemeral=True).value
    assert body["data"]["embeds"][0]["title"] == "guildbot status"
