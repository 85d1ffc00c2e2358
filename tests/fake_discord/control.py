"""Loopback control API (``/_fake/...``) so a person or a script can drive the fake by hand.

- ``GET  /_fake/state``                      guilds, channels, members (with indexes and ids)
- ``POST /_fake/invoke``  {guild, member, command, options?, channel?, timeout?, final?}
      waits for the bot's answer; ``final: true`` also waits past a deferral
- ``POST /_fake/click``  {guild, member, message, custom_id}   ``POST /_fake/select``  {...,
      values}   ``POST /_fake/modal``  {guild, member, modal (custom_id or interaction id),
      fields}   ``POST /_fake/autocomplete``  {guild, member, command, options, focused}:
      the same answer as ``invoke`` (``response.choices`` for autocomplete)
- ``POST /_fake/guilds``  {name?, members?}    the bot joins a new guild (GUILD_CREATE)
- ``POST /_fake/gateway/drop|reconnect|invalidate``  {shard?, resumable?}
- ``GET  /_fake/gateway``  sharding figures: ``shard_count``, ``max_concurrency``,
      ``identify_window``, ``max_guilds_per_session``, ``session_start_limit``, ``identifies``
      (accepted: ``{at, shard, bucket}``, ``at`` in ``time.monotonic()`` seconds), ``refused``
      (how many IDENTIFYs were too fast) and ``refusals``, ``undelivered`` (guild events whose
      shard had no session)
- ``GET  /_fake/errors``  ``GET /_fake/commands``  ``GET /_fake/messages?channel=ID``
Guilds, members and channels are referred to by index, id or name. An option value
``{"member": REF}``, ``{"channel": REF}`` or the string ``"member:REF"`` becomes a user/channel
option with resolved data.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.fake_discord.rest import json_response

if TYPE_CHECKING:
    from tests.fake_discord.server import FakeDiscord
    from tests.fake_discord.state.model import Guild


def _option(guild: Guild, value: Any) -> Any:
    if isinstance(value, dict) and len(value) == 1:
        ((kind, ref),) = value.items()
        if kind in ("member", "user"):
            return guild.member(ref)
        if kind == "channel":
            return guild.channel(ref)
    if isinstance(value, str) and value.startswith(("member:", "channel:")):
        kind, ref = value.split(":", 1)
        return guild.member(ref) if kind == "member" else guild.channel(ref)
    return value


def add_control_routes(app: web.Application, fake: FakeDiscord) -> None:
    async def state(request: web.Request) -> web.Response:
        return json_response(200, fake.snapshot())

    async def interact(request: web.Request) -> web.Response:
        """One route per action; each sends an interaction and waits for the bot's answer."""
        body = await request.json()
        action = request.match_info["action"]
        try:
            guild = fake.guild(body.get("guild", 0))
            member = guild.member(body.get("member", 0))
            options = {k: _option(guild, v) for k, v in (body.get("options") or {}).items()}
            if action == "invoke":
                inter = await fake.invoke(
                    guild, member, body["command"], options, channel=body.get("channel")
                )
            elif action == "autocomplete":
                inter = await fake.autocomplete(
                    guild, member, body["command"], options, body["focused"]
                )
            elif action == "modal":
                modal = body["modal"]
                source = fake.interactions[int(modal)] if str(modal).isdigit() else modal
                inter = await fake.submit_modal(member, source, body.get("fields") or {})
            else:
                message = fake.find_message(int(body["message"]))
                inter = await (
                    fake.click(member, message, body["custom_id"])
                    if action == "click"
                    else fake.select(member, message, body["custom_id"], body["values"])
                )
        except (KeyError, IndexError, ValueError, RuntimeError) as exc:
            return json_response(400, {"error": f"{type(exc).__name__}: {exc}"})
        timeout = float(body.get("timeout", 10))
        result: dict[str, Any] = {"interaction_id": str(inter.id), "command": inter.command}
        if inter.custom_id is not None:
            result["custom_id"] = inter.custom_id
        try:
            response = await inter.wait_response(timeout)
            result["response"] = response.to_json()
            result["latency_ms"] = round((inter.latency or 0) * 1000, 3)
            if body.get("final"):
                result["final"] = (await inter.wait_final(timeout)).to_json()
        except AssertionError as exc:
            result["error"] = str(exc)
            return json_response(504, result)
        await asyncio.sleep(0)
        result["followups"] = [r.to_json() for r in inter.followups]
        return json_response(200, result)

    async def add_guild(request: web.Request) -> web.Response:
        body = await request.json() if request.body_exists else {}
        guild = fake.add_guild(body.get("name"), members=int(body.get("members", 0)), joined=False)
        try:
            await fake.add_guild_live(guild)
        except RuntimeError as exc:
            return json_response(409, {"error": str(exc), "id": str(guild.id)})
        return json_response(200, {"id": str(guild.id), "name": guild.name})

    async def gateway_action(request: web.Request) -> web.Response:
        body = await request.json() if request.body_exists else {}
        action = request.match_info["action"]
        shard = body.get("shard")
        if action == "drop":
            await fake.drop_gateway(shard, body.get("code"))
        elif action == "reconnect":
            await fake.send_reconnect(shard)
        elif action == "invalidate":
            await fake.invalidate_session(bool(body.get("resumable", False)), shard)
        else:
            return json_response(404, {"error": f"unknown gateway action {action!r}"})
        return json_response(200, {"ok": True})

    async def gateway(request: web.Request) -> web.Response:
        return json_response(200, fake.gateway.report())

    async def errors(request: web.Request) -> web.Response:
        return json_response(
            200, [{"kind": e.kind, "where": e.where, "detail": e.detail} for e in fake.errors]
        )

    async def commands(request: web.Request) -> web.Response:
        return json_response(200, {str(k): v for k, v in fake.synced_commands.items()})

    async def messages(request: web.Request) -> web.Response:
        channel = request.query.get("channel")
        webhook = request.query.get("webhook")
        if webhook:
            selected = list(fake.webhook_messages.get(int(webhook), []))
        elif channel:
            selected = fake.channel_messages.get(int(channel), [])
        else:
            selected = list(fake.state.messages.values())
        return json_response(
            200,
            [
                {
                    "id": str(m.id),
                    "channel_id": str(m.channel_id),
                    "content": m.content,
                    "embeds": m.embeds,
                    "components": m.components,
                    "attachments": [a.filename for a in m.attachments],
                }
                for m in selected
            ],
        )

    async def health(request: web.Request) -> web.Response:
        return json_response(200, {"ok": True, "sessions": len(fake.gateway.by_shard)})

    app.router.add_get("/_fake/state", state)
    app.router.add_get("/_fake/health", health)
    app.router.add_post("/_fake/{action:invoke|click|select|modal|autocomplete}", interact)
    app.router.add_post("/_fake/guilds", add_guild)
    app.router.add_get("/_fake/gateway", gateway)
    app.router.add_post("/_fake/gateway/{action}", gateway_action)
    app.router.add_get("/_fake/errors", errors)
    app.router.add_get("/_fake/commands", commands)
    app.router.add_get("/_fake/messages", messages)
