"""The local stage's scripted session, played against the fake Discord's control API.

Runs inside the local-stage container (standard library only), so it reaches the fake on the
container's loopback. Two guilds: in each, an admin resets the demo data, members register, check
in, challenge each other and look at the leaderboard; then an admin command. Prints a transcript,
one line per command, with mentions replaced by names; exits 1 if any command got no answer.

    python3 local_session.py [--url http://127.0.0.1:8765]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import urllib.error
import urllib.request


def call(url: str, path: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url + path, data=data, method="POST" if data else "GET",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read() or b"{}") | {"http_status": exc.code}


def shown(reply: dict, names: dict[str, str]) -> str:
    """What a member sees: the content, or the embed's title, fields and description."""
    parts = [reply.get("content") or ""]
    for embed in reply.get("embeds") or []:
        parts.append(embed.get("title", ""))
        parts += [f"{f['name']}: {f['value']}" for f in embed.get("fields", [])]
        parts.append(embed.get("description", ""))
    text = " | ".join(p.replace("\n", " | ") for p in parts if p)
    text = re.sub(r"<@!?(\d+)>", lambda m: "@" + names.get(m.group(1), m.group(1)), text)
    if reply.get("ephemeral"):
        text += "  (only visible to them)"
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8765")
    args = parser.parse_args()
    state = call(args.url, "/_fake/state")
    guilds = state["guilds"][:2]
    names = {str(m["id"]): m["name"] for g in guilds for m in g["members"]}
    script = [
        # (member index, command, options); member0 has Manage Server.
        (0, "admin purge", {"confirm": "{guild}"}),
        (1, "register", {}), (2, "register", {}),
        (1, "login", {}), (2, "login", {}),
        (1, "challenge create", {"opponent": {"member": 2}, "stake": 40}),
        (2, "challenge accept", {"challenge": 1}),
        (2, "challenge complete", {"challenge": 1, "winner": {"member": 1}}),
        (1, "profile", {}),
        (2, "leaderboard", {}),
        (0, "admin settings", {"daily_reward": 150}),
        (0, "stats", {}),
    ]
    failures = 0
    for index, guild in enumerate(guilds):
        print(f"--- guild {guild['name']} ({guild['id']})")
        for member, command, options in script:
            options = {k: (v.format(guild=guild["name"]) if isinstance(v, str) else v)
                       for k, v in options.items()}
            result = call(args.url, "/_fake/invoke", {"guild": index, "member": member,
                                                       "command": command, "options": options,
                                                       "final": True, "timeout": 10})
            who = guild["members"][member]["name"]
            reply = result.get("final") or result.get("response")
            if reply is None:
                failures += 1
                print(f"[{guild['name']}] {who} /{command}: NO ANSWER ({result.get('error')})")
                continue
            print(f"[{guild['name']}] {who} /{command} -> {shown(reply, names)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
