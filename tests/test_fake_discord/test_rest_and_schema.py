"""Unknown routes, injected failures, raw REST edges and the OpenAPI validator itself."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import discord
import pytest

from tests.fake_discord import FakeDiscord, cli
from tests.fake_discord.openapi import (
    OpenAPIValidator,
    SpecUnavailable,
    default_spec_path,
    load_spec,
    shared_validator,
)
from tests.test_fake_discord.conftest import TOKEN, Running

AUTH = {"Authorization": f"Bot {TOKEN}"}


async def test_unknown_route_answers_404_and_is_recorded(
    fake: FakeDiscord, running: Running
) -> None:
    guild_id = fake.guild("Alpha").id
    route = discord.http.Route("GET", "/guilds/{guild_id}/audit-logs", guild_id=guild_id)
    with pytest.raises(discord.NotFound):
        await running.bot.http.request(route)
    assert [(e.kind, e.where) for e in fake.errors] == [
        ("rest", f"GET /guilds/{guild_id}/audit-logs")
    ]
    with pytest.raises(AssertionError, match="route not implemented"):
        fake.assert_no_errors()
    fake.errors.clear()


async def test_json_content_type_is_exact(fake: FakeDiscord) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{fake.api_base}/users/@me", headers=AUTH) as response,
    ):
        assert response.headers["Content-Type"] == "application/json"
        assert (await response.json())["id"] == str(fake.application_id)


async def test_gateway_endpoints(fake: FakeDiscord) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{fake.api_base}/gateway") as response:
            assert (await response.json()) == {"url": fake.gateway_url.rstrip("/")}
        async with http.get(f"{fake.api_base}/gateway/bot", headers=AUTH) as response:
            data = await response.json()
    assert data["shards"] == 1
    assert data["session_start_limit"]["max_concurrency"] == 1


async def test_injected_rate_limit_is_retried_by_discord_py(
    fake: FakeDiscord, running: Running
) -> None:
    channel = fake.guild("Alpha").channel("general")
    fake.fail_next("POST", "/channels/{id}/messages", status=429, retry_after=0.05)
    await running.bot.get_channel(channel.id).send("after a 429")
    assert [m.content for m in fake.channel_messages[channel.id]] == ["after a 429"]
    assert fake.request_counts[("POST", "/channels/{id}/messages")] == 2


async def test_message_to_unknown_channel_is_an_error(fake: FakeDiscord, running: Running) -> None:
    with pytest.raises(discord.NotFound):
        await running.bot.http.send_message(123456789012345678, params=_params("nowhere"))
    assert [e.detail for e in fake.errors] == ["Unknown Channel"]
    fake.errors.clear()


def _params(content: str):
    return discord.http.handle_message_parameters(content=content)


# -- the validator ------------------------------------------------------------------------------


async def test_validator_catches_a_malformed_request_body(fake: FakeDiscord) -> None:
    channel = fake.guild("Alpha").channel("general")
    body = {"content": 42, "embeds": "not-a-list"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{fake.api_base}/channels/{channel.id}/messages", json=body, headers=AUTH),
    ):
        pass
    problems = [e for e in fake.errors if e.kind == "request-schema"]
    assert {p.detail.split(":")[0] for p in problems} == {
        "request body content",
        "request body embeds",
    }
    fake.errors.clear()


def test_validator_catches_a_malformed_response() -> None:
    validator = shared_validator()
    ok = {
        "id": "1",
        "username": "bot",
        "avatar": None,
        "discriminator": "0",
        "public_flags": 0,
        "flags": 0,
        "global_name": None,
        "mfa_enabled": False,
        "locale": "en-US",
    }
    assert validator.validate_response("GET", "/users/@me", 200, ok) == []
    broken = {k: v for k, v in ok.items() if k != "id"} | {"flags": "zero"}
    problems = validator.validate_response("GET", "/users/@me", 200, broken)
    assert any("'id' is a required property" in p for p in problems)
    assert any("flags" in p for p in problems)
    assert validator.validate_response("DELETE", "/users/@me/guilds/{guild_id}", 204, None) == []
    assert validator.validate_response("DELETE", "/users/@me/guilds/{guild_id}", 204, {"x": 1})


def test_validator_enforces_discord_limits() -> None:
    validator = shared_validator()
    path = "/channels/{channel_id}/messages"
    assert validator.validate_request("POST", path, {"content": "x" * 4000}) == []
    assert validator.validate_request("POST", path, {"content": "x" * 4001})
    hook = "/webhooks/{webhook_id}/{webhook_token}"
    assert validator.validate_request("POST", hook, {"content": "x" * 2000}) == []
    assert validator.validate_request("POST", hook, {"content": "x" * 2001})
    assert validator.validate_request("POST", path, {"embeds": [{"title": "t"}] * 11})
    assert validator.validate_request("POST", path, {"content": "hi"}, query={"bogus": "1"})


def test_strict_mode_rejects_undeclared_properties() -> None:
    path = "/channels/{channel_id}/messages"
    loose = shared_validator(strict_requests=False)
    strict = shared_validator(strict_requests=True)
    body = {"content": "hi", "ephemral": True}
    assert loose.validate_request("POST", path, body) == []
    assert any("ephemral" in p for p in strict.validate_request("POST", path, body))


def test_missing_spec_fails_with_a_clear_message(tmp_path) -> None:
    with pytest.raises(SpecUnavailable, match="tests/fake_discord/spec/openapi.json"):
        OpenAPIValidator.load(tmp_path / "nope.json")


def test_spec_is_carried_inside_the_repository(monkeypatch) -> None:
    """Regression (issue 13, item 1): the description used to be read from the
    hand-over folder beside the repository (shared/discord-api-spec/), which a fresh clone does
    not have, and 53 tests errored. The
    default path must lie inside the repository, with the MIT licence and snapshot note beside it.
    Fails on the old code, whose default pointed at the repository's parent."""
    monkeypatch.delenv("GUILDBOT_DISCORD_OPENAPI", raising=False)
    repo = Path(__file__).resolve().parents[2]
    spec = default_spec_path().resolve()
    assert spec.is_relative_to(repo), f"{spec} lies outside the repository {repo}"
    assert spec.is_file()
    assert "MIT" in (spec.parent / "LICENSE").read_text(encoding="utf-8")
    assert "snapshot" in (spec.parent / "README.md").read_text(encoding="utf-8")
    assert load_spec(str(spec))["openapi"].startswith("3.1")


async def test_bot_message_limits_are_enforced(fake: FakeDiscord, running: Running) -> None:
    # The spec allows 4000 characters (a Nitro user's limit); a bot gets 2000.
    channel = running.bot.get_channel(fake.guild("Alpha").channel("general").id)
    with pytest.raises(discord.HTTPException) as too_long:
        await channel.send("x" * 2001)
    assert too_long.value.code == 50035
    big = [discord.Embed(description="y" * 4000), discord.Embed(description="z" * 2001)]
    with pytest.raises(discord.HTTPException):
        await channel.send(embeds=big)
    await channel.send("x" * 2000)
    assert [len(m.content) for m in fake.channel_messages[channel.id]] == [2000]
    assert len(fake.errors) == 2
    fake.errors.clear()


async def test_fetches_of_channels_guilds_members_users(
    fake: FakeDiscord, running: Running
) -> None:
    bot = running.bot
    alpha = fake.guild("Alpha")
    bob = alpha.member("bob")
    channel = await bot.fetch_channel(alpha.channel("general").id)
    assert channel.name == "general"
    guild = await bot.fetch_guild(alpha.id)
    assert guild.name == "Alpha"
    assert guild.approximate_member_count == 3
    cached = bot.get_guild(alpha.id)
    assert cached.get_member(bob.id) is None  # MemberCacheFlags.none(): the bot must fetch
    member = await cached.fetch_member(bob.id)
    assert member.name == "bob"
    assert (await cached.fetch_member(fake.application_id)).id == fake.application_id
    with pytest.raises(discord.NotFound):
        await cached.fetch_member(fake.guild("Beta").member("carol").id)
    user = await bot.fetch_user(bob.id)
    assert user.name == "bob"
    assert fake.request_counts[("GET", "/channels/{id}")] == 1
    assert fake.request_counts[("GET", "/guilds/{guild}")] == 1
    assert fake.request_counts[("GET", "/guilds/{guild}/members/{user}")] == 3
    assert fake.request_counts[("GET", "/users/{user}")] == 1


def test_fake_runs_without_jsonschema() -> None:
    """Inside the bot's own venv (no jsonschema) the fake imports and runs; only validation is
    unavailable, with a clear message."""
    import subprocess
    import sys
    from pathlib import Path

    script = (
        "import sys; sys.modules['jsonschema'] = None\n"
        "from tests.fake_discord import FakeDiscord\n"
        "from tests.fake_discord.openapi import SpecUnavailable\n"
        "FakeDiscord()\n"
        "try:\n"
        "    FakeDiscord(validate=True)\n"
        "except SpecUnavailable as exc:\n"
        "    print('unavailable:', exc)\n"
    )
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert "unavailable: OpenAPI validation needs the 'jsonschema' package" in done.stdout


async def test_incoming_webhook_for_alerts(fake: FakeDiscord) -> None:
    webhook = fake.add_webhook(name="alerts")
    assert webhook.url.startswith(f"{fake.base_url}/api/webhooks/{webhook.id}/")
    body = {"content": "disk almost full", "embeds": [{"title": "disk", "description": "95%"}]}
    async with aiohttp.ClientSession() as http:
        async with http.post(webhook.url, json=body, params={"wait": "true"}) as resp:
            assert resp.status == 200
            assert (await resp.json())["webhook_id"] == str(webhook.id)
        async with http.post(webhook.url, json={"content": "second"}) as resp:
            assert resp.status == 204
        wrong = webhook.url.rsplit("/", 1)[0] + "/wrong-token"
        async with http.post(wrong, json={"content": "x"}) as resp:
            assert resp.status == 401
            assert (await resp.json())["code"] == 50027
    assert [m.content for m in fake.webhook_messages[webhook.id]] == ["disk almost full", "second"]
    assert fake.webhook_messages[webhook.id][0].embeds[0]["title"] == "disk"
    assert fake.request_counts[("POST", "/webhooks/{app}/{token}")] == 3


async def test_a_webhook_with_a_fixed_url_takes_alertmanagers_discord_post(
    fake: FakeDiscord,
) -> None:
    """Regression (issue 16, item 7): a webhook made with a known id and token (serve
    --webhook ID:TOKEN, so Alertmanager's configuration can name it before the fake starts) takes
    an embeds-only POST as Alertmanager 0.25's Discord receiver sends it, and the control API lists
    its messages; fails on the old code because add_webhook had no id or token to take and
    /_fake/messages no webhook filter."""
    webhook = fake.add_webhook(webhook_id=4242, token="alerts-token")
    assert webhook.url == f"{fake.base_url}/api/webhooks/4242/alerts-token"
    body = {"embeds": [{"title": "[FIRING:1]  (GuildbotCrashRestart cluster-b 1 page)",
                        "description": "\n\nAlerts Firing:\nLabels:\n - alertname = x\n",
                        "color": 10038562}]}
    async with aiohttp.ClientSession() as http:
        async with http.post(webhook.url, json=body) as resp:
            assert resp.status == 204
        async with http.get(f"{fake.base_url}/_fake/messages", params={"webhook": "4242"}) as r:
            [message] = await r.json()
    assert message["embeds"][0]["title"].startswith("[FIRING:1]")
    assert fake.errors == []
    assert cli.build_parser().parse_args(
        ["serve", "--webhook", "4242:alerts-token"]).webhook == ["4242:alerts-token"]
