"""The benchmark floor: a bare discord.py bot with one global /ping answering a constant.

Same client settings as guildbot (default intents minus members/presences/message content, no
chunking, no member cache, no message cache), nothing else, so the difference between this and
guildbot under the same load is what guildbot itself costs.

    python tests/bench/bare_bot.py --api-base http://127.0.0.1:8765/api/v10 \\
        --gateway-url ws://127.0.0.1:8765/ --token-file TOKEN [--sync] [--gc-freeze] [--shards N] \\
        [--intents VALUE]

``--intents`` takes a raw intents value, so the benchmark can give the floor exactly the intents
guildbot identifies with (``bot.app.intents().value``).

It prints one JSON line on stdout when ready:
    {"event": "ready", "guilds": N, "seconds": S, "rss_mb": M}
and exits 0 on SIGTERM/SIGINT, after one more line with the garbage collections after READY
(count and longest pause per generation), so a benchmark can tell GC pauses from work:
    {"event": "gc", "gen0": {"count": N, "max_ms": M}, "gen1": {...}, "gen2": {...}}
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import resource
import signal
import sys
import time
from pathlib import Path

import discord
import yarl
from discord import app_commands

START = time.perf_counter()


class GcPauses:
    """Counts collections and their longest pause per generation, once switched on."""

    def __init__(self) -> None:
        self.on = False
        self.started = 0.0
        self.stats = {g: {"count": 0, "max_ms": 0.0} for g in range(3)}

    def __call__(self, phase: str, info: dict) -> None:
        if not self.on:
            return
        if phase == "start":
            self.started = time.perf_counter()
            return
        entry = self.stats[info["generation"]]
        entry["count"] += 1
        pause_ms = round((time.perf_counter() - self.started) * 1000, 3)
        entry["max_ms"] = max(entry["max_ms"], pause_ms)

    def line(self) -> str:
        return json.dumps({"event": "gc", **{f"gen{g}": v for g, v in self.stats.items()}})


GC_PAUSES = GcPauses()
gc.callbacks.append(GC_PAUSES)


def _rss_mb() -> float:
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            pages = int(fh.read().split()[1])
        return round(pages * resource.getpagesize() / 2**20, 1)
    except OSError:
        return float("nan")


def intents(raw: int | None = None) -> discord.Intents:
    if raw is not None:
        return discord.Intents._from_value(raw)
    value = discord.Intents.default()
    value.members = False
    value.presences = False
    value.message_content = False
    return value


def build_client(args: argparse.Namespace) -> discord.Client:
    options = {
        "intents": intents(args.intents),
        "chunk_guilds_at_startup": False,
        "member_cache_flags": discord.MemberCacheFlags.none(),
        "max_messages": None,
    }
    if args.shards:
        client: discord.Client = discord.AutoShardedClient(shard_count=args.shards, **options)
    else:
        client = discord.Client(**options)
    tree = app_commands.CommandTree(client)

    @tree.command(name="ping", description="Answers pong")
    async def ping(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("pong")

    ready_once = False

    @client.event
    async def on_ready() -> None:
        nonlocal ready_once
        if ready_once:
            return
        ready_once = True
        if args.sync:
            await tree.sync()
        if args.gc_freeze:
            gc.collect()
            gc.freeze()
        GC_PAUSES.on = True
        line = {
            "event": "ready",
            "guilds": len(client.guilds),
            "seconds": round(time.perf_counter() - START, 3),
            "rss_mb": _rss_mb(),
        }
        print(json.dumps(line), flush=True)

    return client


async def run(args: argparse.Namespace, token: str) -> int:
    discord.http.Route.BASE = args.api_base.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(args.gateway_url)
    client = build_client(args)
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    runner = asyncio.create_task(client.start(token))
    stopper = asyncio.create_task(stopping.wait())
    done, _ = await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
    print(GC_PAUSES.line(), flush=True)
    await client.close()
    if runner in done and runner.exception() is not None:
        print(f"bare_bot: {runner.exception()!r}", file=sys.stderr)
        return 1
    stopper.cancel()
    runner.cancel()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--api-base", default="https://discord.com/api/v10")
    parser.add_argument("--gateway-url", default="wss://gateway.discord.gg/")
    parser.add_argument("--token-file", required=True)
    parser.add_argument("--sync", action="store_true", help="sync /ping globally once ready")
    parser.add_argument("--gc-freeze", action="store_true", help="gc.freeze() after READY")
    parser.add_argument("--shards", type=int, default=0, help="AutoShardedClient with N shards")
    parser.add_argument("--intents", type=int, default=None,
                        help="raw intents value (default: default intents minus privileged)")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    token = Path(args.token_file).read_text(encoding="utf-8").strip()
    return asyncio.run(run(args, token))


if __name__ == "__main__":
    sys.exit(main())
