#!/usr/bin/env python3
"""A fake Discord webhook for the Molecule scenarios: records every POST, answers like Discord.

    fake_webhook.py --port 8766 --record /path/requests.jsonl

Each request becomes one JSON line: {"time", "method", "path", "body"} (body parsed as JSON when
it is). POST answers 204 (or 200 with a message object when ?wait=true), like Discord's
execute-webhook.
Standard library only; listens on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_lock = threading.Lock()


def make_handler(record: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode("utf-8", "replace")
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw
            entry = {"time": time.time(), "method": "POST", "path": self.path, "body": body}
            with _lock, open(record, "a", encoding="utf-8") as out:
                out.write(json.dumps(entry) + "\n")
            if "wait=true" in self.path:
                data = json.dumps({"id": "1", "channel_id": "1", "content": ""}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            else:
                self.send_response(204)
                self.end_headers()

        def log_message(self, fmt: str, *args: object) -> None:
            pass

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--record", required=True)
    args = parser.parse_args()
    ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(args.record)).serve_forever()


if __name__ == "__main__":
    main()
