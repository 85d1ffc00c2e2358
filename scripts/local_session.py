"""The local stage's scripted session, played against the fake Discord's control API.

Runs inside the local-stage container (standard library only), so it reaches the fake on the
container's loopback. Two guilds: in each, an admin resets the demo data (``/admin purge``,
confirmed in its modal), members register, check in, challenge each other (the challenge is
accepted with its button), the rest of the guild registers and the leaderboard is paged with its
buttons; then an admin command. Prints a transcript, one line per command, click or modal, with
mentions replaced by names; exits 1 if anything got no answer.

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
    others = range(3, min(13, len(guilds[0]["members"])))  # enough for a second leaderboard page
    script = [
        # (member index, action, what, data); member0 has Manage Server. Actions: invoke
        # (command, options), modal (custom_id, fields), click (custom_id on the message the
        # named earlier step answered with). custom_ids follow bot/components.py: "{g}" is the
        # guild's id.
        (0, "invoke", "admin purge", {}),
        (0, "modal", "gb1:ad:purge:{g}", {"confirm": "{guild}"}),
        (1, "invoke", "register", {}), (2, "invoke", "register", {}),
        (1, "invoke", "login", {}), (2, "invoke", "login", {}),
        (1, "invoke", "challenge create", {"opponent": {"member": 2}, "stake": 40}),
        (2, "click", "gb1:ch:accept:{g}:1", {"on": "challenge create"}),
        (2, "invoke", "challenge complete", {"challenge": 1, "winner": {"member": 1}}),
        (1, "invoke", "profile", {}),
        *((m, "invoke", "register", {}) for m in others),
        (2, "invoke", "leaderboard", {}),
        (2, "click", "gb1:lb:next:{g}:0:2", {"on": "leaderboard"}),
        (2, "click", "gb1:lb:first:{g}:0:1", {"on": "leaderboard"}),
        (0, "invoke", "admin settings", {"daily_reward": 150}),
        (0, "invoke", "stats", {}),
    ]
    failures = 0
    for index, guild in enumerate(guilds):
        print(f"--- guild {guild['name']} ({guild['id']})")
        messages: dict[str, str] = {}  # command -> the id of the message it answered with
        for member, action, what, data in script:
            what = what.format(g=guild["id"])
            data = {k: (v.format(guild=guild["name"]) if isinstance(v, str) else v)
                    for k, v in data.items()}
            body: dict = {"guild": index, "member": member, "final": True, "timeout": 10}
            if action == "invoke":
                body |= {"command": what, "options": data}
                label = f"/{what}"
            elif action == "modal":
                body |= {"modal": what, "fields": data}
                label = f"submits {what.split(':')[2]} modal"
            else:
                body |= {"message": messages.get(data["on"], "0"), "custom_id": what}
                label = f"clicks {what.split(':')[1]}:{what.split(':')[2]}"
            result = call(args.url, f"/_fake/{action}", body)
            who = guild["members"][member]["name"]
            reply = result.get("final") or result.get("response")
            if reply is None:
                failures += 1
                print(f"[{guild['name']}] {who} {label}: NO ANSWER "
                      f"({result.get('error')})")
                continue
            if action == "invoke" and reply.get("message_id"):
                messages[what] = reply["message_id"]
            if action == "invoke" and what == "register" and member in others:
                continue  # the rest of the guild registers quietly (one line below)
            print(f"[{guild['name']}] {who} {label} -> {shown(reply, names) or '(a form)'}")
            if action == "invoke" and what == "profile" and others:
                print(f"[{guild['name']}] member{others[0]}-member{others[-1]} /register")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
