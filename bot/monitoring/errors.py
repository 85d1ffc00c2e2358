"""Error tracking: an id per occurrence, a fingerprint per kind, one structured log line each.

The fingerprint is the exception type plus its innermost frames with the line numbers dropped
and the paths cut to the package (``bot/cogs/points.py:daily``), so the same bug keeps the same
fingerprint across edits elsewhere in the file and across hosts. A condition rather than a bug (the
database unavailable: ``StorageUnavailable``) is one group whatever raised it: an outage fails
every command, each through its own frames, and is still one problem. Repeats are grouped: the first
occurrence of a fingerprint (and then at most one a minute) logs the traceback, the others log the
one line without it, with the occurrence count.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from bot.components import shown_name
from bot.storage.base import StorageUnavailable

log = logging.getLogger("guildbot.errors")

FRAMES = 3                  # innermost frames in the fingerprint
TRACEBACK_EVERY = 60.0      # seconds between tracebacks of one fingerprint
MAX_GROUPS = 500
MAX_TYPES = 100
_PATH_ANCHORS = ("site-packages/", "dist-packages/", "/bot/", "/tests/", "/lib/python")
_ADDRESS_RE = re.compile(r"0x[0-9a-fA-F]+")
CONDITIONS = (StorageUnavailable,)  # grouped by type alone (see the module docstring)


def _normal_path(filename: str) -> str:
    name = filename.replace("\\", "/")
    for anchor in _PATH_ANCHORS:
        idx = name.rfind(anchor)
        if idx >= 0:
            rest = name[idx + len(anchor):]
            if anchor in ("/bot/", "/tests/"):
                return anchor.strip("/") + "/" + rest
            if anchor == "/lib/python":
                return rest.split("/", 1)[-1]
            return rest
    return name.rsplit("/", 1)[-1]


def error_type(exc: BaseException) -> str:
    cls = type(exc)
    module = cls.__module__
    if module in ("builtins", "__main__"):
        return cls.__qualname__
    return f"{module}.{cls.__qualname__}"


def fingerprint(exc: BaseException) -> str:
    """12 hex chars from the exception type and its innermost frames (no line numbers); the
    type alone for a condition (CONDITIONS)."""
    parts = [error_type(exc)]
    if isinstance(exc, CONDITIONS):
        return hashlib.sha1(parts[0].encode()).hexdigest()[:12]
    frames = traceback.extract_tb(exc.__traceback__) if exc.__traceback__ else []
    for frame in frames[-FRAMES:]:
        parts.append(f"{_normal_path(frame.filename)}:{frame.name}")
    if not frames:  # never raised: the message (numbers and addresses stripped) tells it apart
        parts.append(_ADDRESS_RE.sub("?", re.sub(r"\d+", "N", str(exc)))[:200])
    return hashlib.sha1("|".join(parts).encode()).hexdigest()[:12]


@dataclass
class ErrorGroup:
    fingerprint: str
    type: str
    first_seen: float
    last_seen: float
    count: int
    last_error_id: str
    sample: str
    last_command: str | None
    last_traceback_at: float

    def to_json(self) -> dict[str, object]:
        return {
            "fingerprint": self.fingerprint, "type": self.type, "count": self.count,
            "first_seen": self.first_seen, "last_seen": self.last_seen,
            "last_error_id": self.last_error_id, "sample": self.sample,
            "last_command": self.last_command,
        }


class ErrorTracker:
    def __init__(self, clock: Callable[[], float] = time.time,
                 redact: Callable[[str], str] = str) -> None:
        self.clock = clock
        self.redact = redact  # for the samples kept in memory and served on /errors
        self.groups: OrderedDict[str, ErrorGroup] = OrderedDict()
        self.by_type: dict[str, int] = {}
        self.total = 0

    def record(self, exc: BaseException, *, command: str | None = None,
               guild_id: int | None = None) -> str:
        error_id = secrets.token_hex(4)
        now = self.clock()
        etype = error_type(exc)
        fp = fingerprint(exc)
        self.total += 1
        key = etype if etype in self.by_type or len(self.by_type) < MAX_TYPES else "other"
        self.by_type[key] = self.by_type.get(key, 0) + 1

        group = self.groups.get(fp)
        with_traceback = True
        if group is None:
            group = ErrorGroup(fp, etype, now, now, 0, error_id, self.redact(_sample(exc)), command,
                               now)
            self.groups[fp] = group
            while len(self.groups) > MAX_GROUPS:
                self.groups.popitem(last=False)
        else:
            self.groups.move_to_end(fp)
            with_traceback = now - group.last_traceback_at >= TRACEBACK_EVERY
        group.count += 1
        group.last_seen = now
        group.last_error_id = error_id
        group.last_command = command
        if with_traceback:
            group.last_traceback_at = now

        extra = {
            "error_id": error_id, "fingerprint": fp, "error_type": etype,
            "command": command, "guild_id": guild_id, "occurrences": group.count,
        }
        where = shown_name(command) if command else "background task"
        log.error(
            "error %s in %s (guild %s): %s: %s%s", error_id, where, guild_id, etype, _sample(exc),
            "" if with_traceback else f" (repeat {group.count} of {fp}; traceback logged earlier)",
            exc_info=(type(exc), exc, exc.__traceback__) if with_traceback else None,
            extra=extra,
        )
        return error_id

    def top(self, n: int = 20) -> list[ErrorGroup]:
        return sorted(self.groups.values(), key=lambda g: g.count, reverse=True)[:n]


def _sample(exc: BaseException) -> str:
    text = str(exc).replace("\n", " ")
    return text if len(text) <= 300 else text[:297] + "..."
