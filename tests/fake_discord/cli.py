"""Standalone fake Discord and a client for its control API.

    python -m tests.fake_discord serve --port 8765 --guilds 2 --members 3 \\
        [--token-file F] [--state-file F] [--shards N] [--validate] \\
        [--max-concurrency N] [--identify-window S] [--max-guilds-per-session N] \\
        [--webhook ID:TOKEN ...]
    python -m tests.fake_discord invoke --url http://127.0.0.1:8765 --guild 0 --member 1 \\
        [--channel 0] [--opt name=value ...] [--final] "challenge create"
    python -m tests.fake_discord state --url http://127.0.0.1:8765
    python -m tests.fake_discord gateway --url http://127.0.0.1:8765 drop|reconnect|invalidate

Only the standard library and aiohttp are used, so it runs inside the bot's own venv.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.fake_discord.client import call
from tests.fake_discord.server import FakeDiscord


def _read_token(path: str | None, token: str | None) -> str:
    if token:
        return token
    if path:
        file = Path(path)
        if file.exists():
            return file.read_text(encoding="utf-8").strip()
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text("fake-token\n", encoding="utf-8")
        os.chmod(file, 0o600)
    return "fake-token"


def _write_state(path: str, snapshot: dict[str, Any]) -> None:
    tmp = Path(path + ".tmp")
    tmp.write_text(json.dumps(snapshot, indent=2), encoding="utf-8")
    tmp.replace(path)


async def _serve(args: argparse.Namespace) -> int:
    fake = FakeDiscord(
        token=_read_token(args.token_file, args.token),
        shard_count=args.shards,
        host=args.host,
        port=args.port,
        validate=args.validate,
        compression=not args.no_compression,
        max_concurrency=args.max_concurrency,
        identify_window=args.identify_window,
        max_guilds_per_session=args.max_guilds_per_session or None,
    )
    for i in range(args.guilds):
        guild = fake.add_guild(f"guild-{i}")
        for j in range(args.members):
            guild.add_member(f"member{j}", permissions="manage_guild" if j == 0 else None)
    for spec in args.webhook:
        webhook_id, _, token = spec.partition(":")
        fake.add_webhook(webhook_id=int(webhook_id), token=token)
    await fake.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    snapshot = fake.snapshot()
    if args.state_file:
        _write_state(args.state_file, snapshot)
    print(
        json.dumps({"api_base": fake.api_base, "gateway_url": fake.gateway_url, "port": fake.port}),
        flush=True,
    )
    await stop.wait()
    await fake.stop()
    if fake.errors:
        for error in fake.errors:
            print(f"fake Discord error: {error}", file=sys.stderr)
        return 1
    return 0


def _webhook_spec(text: str) -> str:
    webhook_id, sep, token = text.partition(":")
    if not (webhook_id.isdigit() and sep and token):
        raise argparse.ArgumentTypeError(f"{text!r} is not ID:TOKEN (a numeric id)")
    return text


def _parse_opt(text: str) -> tuple[str, Any]:
    name, sep, raw = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"--opt wants name=value, got {text!r}")
    try:
        value: Any = json.loads(raw)
    except json.JSONDecodeError:
        value = raw  # plain strings and "member:1" / "channel:general"
    return name, value


def _ref(text: str) -> int | str:
    return int(text) if text.isdigit() else text


def _invoke(args: argparse.Namespace) -> int:
    body = {
        "guild": _ref(args.guild),
        "member": _ref(args.member),
        "command": args.command,
        "options": dict(args.opt or []),
        "timeout": args.timeout,
        "final": args.final,
    }
    if args.channel is not None:
        body["channel"] = _ref(args.channel)
    status, result = call(args.url.rstrip("/") + "/_fake/invoke", "POST", body, args.timeout + 5)
    print(json.dumps(result, indent=2))
    return 0 if status == 200 else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fake_discord", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="cmd", required=True)

    serve = sub.add_parser("serve", help="run a fake Discord on loopback")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--guilds", type=int, default=2)
    serve.add_argument(
        "--members", type=int, default=3, help="members per guild (member0 has manage_guild)"
    )
    serve.add_argument("--token", help="bot token to accept (default: fake-token)")
    serve.add_argument("--token-file", help="read the token from this file (created if missing)")
    serve.add_argument(
        "--state-file", help="write ids/names of guilds, channels, members here as JSON"
    )
    serve.add_argument(
        "--shards", type=int, default=None, help="shard count GET /gateway/bot recommends"
    )
    serve.add_argument(
        "--validate", action="store_true", help="validate REST traffic (needs jsonschema)"
    )
    serve.add_argument("--no-compression", action="store_true", help="plain text gateway frames")
    serve.add_argument(
        "--max-concurrency", type=int, default=1, help="IDENTIFY buckets (shard_id %% N)"
    )
    serve.add_argument(
        "--identify-window", type=float, default=5.0, help="seconds per IDENTIFY per bucket"
    )
    serve.add_argument(
        "--max-guilds-per-session", type=int, default=2500,
        help="more guilds in one session closes 4011 Sharding required (0: no limit)",
    )  # fmt: skip
    serve.add_argument(
        "--webhook", action="append", default=[], type=_webhook_spec, metavar="ID:TOKEN",
        help="an incoming webhook at /api/webhooks/ID/TOKEN (e.g. Alertmanager's); its messages: "
        "GET /_fake/messages?webhook=ID",
    )
    serve.add_argument("-v", "--verbose", action="store_true")

    invoke = sub.add_parser(
        "invoke", help="run a slash command as a member, print the bot's answer"
    )
    invoke.add_argument("--url", default="http://127.0.0.1:8765")
    invoke.add_argument("--guild", default="0", help="index, id or name")
    invoke.add_argument("--member", default="0", help="index, id or name")
    invoke.add_argument(
        "--channel", default=None, help="index, id or name (default: system channel)"
    )
    invoke.add_argument("--opt", action="append", type=_parse_opt, help="name=value (JSON or text)")
    invoke.add_argument(
        "--final", action="store_true", help="wait past a deferral for the final answer"
    )
    invoke.add_argument("--timeout", type=float, default=10.0)
    invoke.add_argument("command", help='"name", "name sub" or "name group sub"')

    state = sub.add_parser("state", help="print guilds, channels, members")
    state.add_argument("--url", default="http://127.0.0.1:8765")

    gateway = sub.add_parser(
        "gateway", help="drop / reconnect / invalidate the bot's gateway session"
    )
    gateway.add_argument("--url", default="http://127.0.0.1:8765")
    gateway.add_argument("--shard", type=int, default=None)
    gateway.add_argument("--resumable", action="store_true")
    gateway.add_argument("action", choices=["drop", "reconnect", "invalidate"])
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.cmd == "serve":
        logging.basicConfig(
            level=logging.DEBUG if args.verbose else logging.INFO,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        return asyncio.run(_serve(args))
    try:
        if args.cmd == "invoke":
            return _invoke(args)
        if args.cmd == "state":
            status, result = call(args.url.rstrip("/") + "/_fake/state")
            print(json.dumps(result, indent=2))
            return 0 if status == 200 else 1
        body = {"shard": args.shard, "resumable": args.resumable}
        status, result = call(f"{args.url.rstrip('/')}/_fake/gateway/{args.action}", "POST", body)
        print(json.dumps(result))
        return 0 if status == 200 else 1
    except urllib.error.URLError as exc:
        print(f"cannot reach the fake Discord at {args.url}: {exc.reason}", file=sys.stderr)
        return 2
