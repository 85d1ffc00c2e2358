"""The standalone server and its control API, driven the way a person would."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.fake_discord import FakeDiscord, cli
from tests.fake_discord.testing import pointed_to
from tests.test_fake_discord.conftest import FakeTestBot, Running, eventually

REPO = Path(__file__).resolve().parents[2]


class _ExternalFake:
    """Just enough of FakeDiscord for ``Running.start`` when the fake is another process."""

    async def wait_guilds_sent(self, limit: float, shard_ids: list[int] | None) -> None:
        return None


async def _cli(*argv: str) -> tuple[int, dict]:
    buffer: list[str] = []

    def run() -> int:
        import io

        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = cli.main(list(argv))
        buffer.append(out.getvalue())
        return code

    code = await asyncio.to_thread(run)
    return code, json.loads(buffer[0])


async def test_serve_invoke_and_state_through_the_cli(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    state_file = tmp_path / "state.json"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.fake_discord",
        "serve",
        "--port",
        "0",
        "--guilds",
        "2",
        "--members",
        "3",
        "--token-file",
        str(token_file),
        "--state-file",
        str(state_file),
        "--validate",
        cwd=REPO,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 20)
        urls = json.loads(line)
        url = f"http://127.0.0.1:{urls['port']}"
        state = json.loads(state_file.read_text())
        assert [g["name"] for g in state["guilds"]] == ["guild-0", "guild-1"]
        assert token_file.read_text().strip() == "fake-token"
        runner = Running(FakeTestBot())
        with pointed_to(urls["api_base"], urls["gateway_url"]):
            await runner.start(_ExternalFake(), token=token_file.read_text().strip())
            try:
                code, result = await _cli(
                    "invoke", "--url", url, "--guild", "1", "--member", "2", "profile"
                )
                assert code == 0
                assert result["response"]["content"].startswith("profile of member2 in guild-1")
                code, result = await _cli(
                    "invoke", "--url", url, "--member", "member0",
                    "--opt", "opponent=member:1", "--opt", "stake=5", "challenge create",
                )  # fmt: skip
                assert result["response"]["content"] == (
                    "member0 challenges member1 (Member) for 5 [int] manage_guild=True"
                )
                code, result = await _cli("invoke", "--url", url, "--final", "slow")
                assert result["response"]["type"] == 5
                assert result["final"]["content"] == "slow work done"
                code, result = await _cli("state", "--url", url)
                assert result["sessions"] == [{"shard": 0, "shard_count": 1, "connected": True}]
                code, result = await _cli("gateway", "--url", url, "reconnect")
                assert result == {"ok": True}
            finally:
                await runner.stop()
        code, _ = await _cli("state", "--url", url)
        assert code == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        returncode = await asyncio.wait_for(proc.wait(), 10)
    assert returncode == 0  # the server exits non-zero when it recorded errors


async def test_invoke_without_a_connected_bot_reports_an_error(fake: FakeDiscord) -> None:
    code, result = await _cli("invoke", "--url", fake.base_url, "profile")
    assert code == 1
    assert "no gateway session" in result["error"]


async def test_bare_bench_bot_answers_ping(tmp_path: Path) -> None:
    fake = FakeDiscord(validate=True, strict_requests=True)
    guild = fake.add_guild("Bench", members=1)
    await fake.start()
    token_file = tmp_path / "token"
    token_file.write_text(fake.token)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(REPO / "tests" / "bench" / "bare_bot.py"),
        "--api-base", fake.api_base,
        "--gateway-url", fake.gateway_url,
        "--token-file", str(token_file),
        "--sync",
        stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        ready = json.loads(await asyncio.wait_for(proc.stdout.readline(), 20))
        assert ready["event"] == "ready"
        assert ready["guilds"] == 1
        assert [c["name"] for c in fake.synced_commands["global"]] == ["ping"]
        inter = await fake.invoke(guild, 0, "ping")
        assert (await inter.wait_response()).content == "pong"
        intents = fake.intents
        assert intents is not None
        assert not intents & ((1 << 1) | (1 << 8) | (1 << 15))  # no privileged intents
    finally:
        proc.send_signal(signal.SIGTERM)
        returncode = await asyncio.wait_for(proc.wait(), 10)
        await fake.stop()
    assert returncode == 0
    fake.assert_no_errors()


async def test_control_api_endpoints(fake: FakeDiscord, running: Running) -> None:
    import aiohttp

    alpha = fake.guild("Alpha")
    await running.bot.tree.sync()
    inter = await fake.invoke(alpha, "alice", "announce", {"text": "hi"})
    await inter.wait_response()
    base = fake.base_url + "/_fake"
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/guilds", json={"name": "Delta", "members": 2}) as resp:
            created = await resp.json()
        await eventually(lambda: running.bot.joined)
        assert [g.name for g in running.bot.joined] == ["Delta"]
        assert created["id"] == str(running.bot.joined[0].id)
        async with http.get(
            f"{base}/messages", params={"channel": str(alpha.channel(0).id)}
        ) as resp:
            assert [m["content"] for m in await resp.json()] == ["hi", "with a file"]
        async with http.get(f"{base}/commands") as resp:
            assert "profile" in {c["name"] for c in (await resp.json())["global"]}
        async with http.get(f"{base}/errors") as resp:
            assert await resp.json() == []
        async with http.get(f"{base}/health") as resp:
            assert (await resp.json())["sessions"] == 1
        async with http.post(f"{base}/gateway/drop", json={}) as resp:
            assert resp.status == 200
    await eventually(lambda: running.bot.resumed == 1)
