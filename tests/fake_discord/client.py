"""A client of the fake's control API (``/_fake/...``), standard library only.

Shared by the fake's command line (cli.py) and molecule/cluster/cluster_check.py.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


def call(url: str, method: str = "GET", body: Any = None, timeout: float = 30) -> tuple[int, Any]:
    """Send BODY (JSON) to URL; the status and the decoded JSON answer, an HTTP error's too."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")
