#!/usr/bin/env python3
"""The cluster scenario's client of the fake Discord's control API.

Runs on the fake's host beside its copy of tests/ (PYTHONPATH=/opt/guildbot-fakes) and calls the API
through tests/fake_discord/client.py, as the fake's own command line does.

    cluster_check.py --url URL answer COMMAND [--member M] [--opt name=value ...]
        run COMMAND in every guild as member M; one JSON line per guild:
        {"guild", "shard", "status", "text", "type", "error"} (status 200: answered; text: the
        final answer's content and embeds as JSON)
    cluster_check.py --url URL probe --out FILE [--command profile] [--interval 0.5]
        until SIGTERM: each round runs COMMAND in one guild of every shard at once and appends
        {"at", "answered": [shards that answered]} to FILE
    cluster_check.py --url URL identify
        the fake's IDENTIFY record, judged: {"identifies", "refused", "too_close", "by_shard"}
        (too_close: accepted IDENTIFYs of one bucket closer than the window)

A guild's shard is (guild_id >> 22) % shard_count, as Discord routes it.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.fake_discord.client import call


def guilds(url: str) -> list[dict[str, Any]]:
    """Every guild with its shard."""
    shard_count = call(f"{url}/_fake/gateway")[1]["shard_count"]
    return [{"id": g["id"], "shard": (int(g["id"]) >> 22) % shard_count}
            for g in call(f"{url}/_fake/state")[1]["guilds"]]


def invoke(url: str, guild: str, member: str, command: str, options: dict[str, Any],
           timeout: float) -> dict[str, Any]:
    status, result = call(f"{url}/_fake/invoke", "POST", {
        "guild": guild, "member": member, "command": command, "options": options,
        "timeout": timeout, "final": True}, timeout + 5)
    final = (result or {}).get("final") or {}
    return {"status": status, "text": json.dumps([final.get("content"), final.get("embeds")]),
            "type": ((result or {}).get("response") or {}).get("type"),
            "error": (result or {}).get("error")}


def answer(args: argparse.Namespace) -> int:
    options = {}
    for text in args.opt or []:
        name, _, raw = text.partition("=")
        options[name] = int(raw) if raw.isdigit() else raw
    for guild in guilds(args.url):
        result = invoke(args.url, guild["id"], args.member, args.command, options, args.timeout)
        print(json.dumps({"guild": guild["id"], "shard": guild["shard"], **result}), flush=True)
    return 0


def probe(args: argparse.Namespace) -> int:
    stop = False

    def on_term(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    one_per_shard: dict[int, str] = {}
    for guild in guilds(args.url):
        one_per_shard.setdefault(guild["shard"], guild["id"])
    with ThreadPoolExecutor(len(one_per_shard)) as pool, open(args.out, "a") as out:
        while not stop:
            at = time.time()
            futures = {shard: pool.submit(invoke, args.url, guild, "0", args.command, {},
                                          args.timeout)
                       for shard, guild in sorted(one_per_shard.items())}
            answered = [shard for shard, future in futures.items()
                        if future.result()["status"] == 200]
            out.write(json.dumps({"at": at, "answered": answered}) + "\n")
            out.flush()
            time.sleep(max(0.0, args.interval - (time.time() - at)))
    return 0


def identify(args: argparse.Namespace) -> int:
    report = call(f"{args.url}/_fake/gateway")[1]
    window = report["identify_window"]
    last: dict[int, float] = {}
    too_close = []
    by_shard: dict[str, int] = {}
    for record in sorted(report["identifies"], key=lambda r: r["at"]):
        bucket = record["bucket"]
        if bucket in last and record["at"] - last[bucket] < window - 0.05:
            too_close.append(record)
        last[bucket] = record["at"]
        by_shard[str(record["shard"])] = by_shard.get(str(record["shard"]), 0) + 1
    print(json.dumps({"identifies": len(report["identifies"]), "refused": report["refused"],
                      "refusals": report["refusals"], "too_close": too_close,
                      "by_shard": by_shard}))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("answer")
    p.add_argument("command")
    p.add_argument("--member", default="0")
    p.add_argument("--opt", action="append")
    p.add_argument("--timeout", type=float, default=10.0)
    p.set_defaults(run=answer)
    p = sub.add_parser("probe")
    p.add_argument("--out", required=True)
    p.add_argument("--command", default="profile")
    p.add_argument("--interval", type=float, default=0.5)
    p.add_argument("--timeout", type=float, default=3.0)
    p.set_defaults(run=probe)
    p = sub.add_parser("identify")
    p.set_defaults(run=identify)
    args = parser.parse_args()
    args.url = args.url.rstrip("/")
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
