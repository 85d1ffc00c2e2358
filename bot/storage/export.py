"""A guild's export: one JSON document written row by row, and the bound on its size.

The document is an object with ``guild_id``, ``exported_at`` and ``settings``, then one array
per section (``members``, ``challenges``, ``audit``: the audit trail, oldest first) holding one
object per row, one row per line. It is
written as the rows are read, so an export of any size costs memory for one row at a time (plus
whatever ``out`` keeps: a file keeps nothing, a :class:`BoundedBuffer` at most its limit).
"""

from __future__ import annotations

import functools
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, fields
from typing import Any

from bot.storage.base import AuditEntry, Challenge, GuildSettings, Member, Writable, audit_row


class ExportTooLarge(Exception):
    """The export would pass the size it is allowed (the attachment limit)."""


class BoundedBuffer:
    """An in-memory ``out`` that refuses to grow past ``limit`` bytes (ExportTooLarge), so the
    export stops reading rows as soon as it cannot fit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._buffer = io.BytesIO()

    def write(self, data: bytes) -> int:
        if self._buffer.tell() + len(data) > self.limit:
            raise ExportTooLarge(f"the export is larger than {self.limit:,} bytes")
        return self._buffer.write(data)

    def getvalue(self) -> bytes:
        return self._buffer.getvalue()


def _dump(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


ROW_SEPARATOR = b",\n  "


def _row_floor(row_type: type) -> int:
    """The fewest bytes a row of this type takes in the document: its keys (all its fields but
    the guild id) with every value at least one byte (``0``), after a separator of at least the
    row separator less its comma."""
    keys = [f.name for f in fields(row_type) if f.name != "guild_id"]
    return len(_dump(dict.fromkeys(keys, 0))) + len(ROW_SEPARATOR) - 1


SECTION_FLOORS = {"members": _row_floor(Member), "challenges": _row_floor(Challenge),
                  "audit": _row_floor(AuditEntry)}


def size_floor(counts: Mapping[str, int]) -> int:
    """A lower bound of the document's size in bytes, from its sections' row counts alone: a
    guild whose floor is past a limit cannot fit in it, and no row had to be read to know."""
    return sum(SECTION_FLOORS[name] * count for name, count in counts.items())


class Document:
    """The document written as it is given: the header, then each section's rows in turn.

    Backends that read their rows asynchronously (PostgreSQL's cursor) drive it row by row;
    :func:`write_document` drives it from iterables. Either way one row is held at a time."""

    def __init__(self, out: Writable, header: Mapping[str, Any]) -> None:
        self._out = out
        self._section: str | None = None
        self.counts: dict[str, int] = {}
        out.write(_dump(dict(header))[:-1])  # the header's fields, the object left open

    def section(self, name: str) -> None:
        self._end_section()
        self._out.write(b",\n " + _dump(name) + b": [")
        self._section = name
        self.counts[name] = 0

    def add(self, row: Mapping[str, Any]) -> None:
        if self._section is None:
            raise RuntimeError("a row before any section")
        count = self.counts[self._section]
        self._out.write((ROW_SEPARATOR if count else ROW_SEPARATOR[1:]) + _dump(row))
        self.counts[self._section] = count + 1

    def finish(self) -> dict[str, int]:
        """Close the document; the number of rows of each section."""
        self._end_section()
        self._out.write(b"\n}\n")
        return self.counts

    def _end_section(self) -> None:
        if self._section is not None:
            self._out.write(b"\n ]" if self.counts[self._section] else b"]")
            self._section = None


def header(settings: GuildSettings, exported_at: str) -> dict[str, Any]:
    """The document's opening fields: the guild, when, and its settings (without the guild)."""
    return {"guild_id": str(settings.guild_id), "exported_at": exported_at,
            "settings": {k: v for k, v in asdict(settings).items() if k != "guild_id"}}


def exported(row_type: type, row: Sequence[Any]) -> dict[str, Any]:
    """A row of ``row_type``'s columns as the export's object: no guild id, and the ids
    (``*_id``: snowflakes) as strings (JavaScript readers lose precision past 2**53)."""
    keys = _keys(row_type)
    return {key: str(value) if key.endswith("_id") and value is not None else value
            for key, value in zip(keys, row, strict=True) if key != "guild_id"}


@functools.cache
def _keys(row_type: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(row_type))


def exported_audit(row: Sequence[Any]) -> dict[str, Any]:
    """A stored audit row ``(guild_id, actor_id, action, details, at)`` as the export's object
    (``details`` as JSON, not as its stored text)."""
    entry = audit_row(row)
    return exported(AuditEntry, (entry.guild_id, entry.actor_id, entry.action, entry.details,
                                 entry.at))


def write_document(out: Writable, header: Mapping[str, Any],
                   sections: Mapping[str, Iterable[Mapping[str, Any]]]) -> dict[str, int]:
    """Write the document to ``out``, pulling each section's rows one at a time; returns the
    number of rows of each section."""
    document = Document(out, header)
    for name, rows in sections.items():
        document.section(name)
        for row in rows:
            document.add(row)
    return document.finish()
