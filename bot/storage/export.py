"""A guild's export: one JSON document written row by row, and the bound on its size.

The document is an object with ``guild_id``, ``exported_at`` and ``settings``, then one array
per section (``members``, ``challenges``) holding one object per row, one row per line. It is
written as the rows are read, so an export of any size costs memory for one row at a time (plus
whatever ``out`` keeps: a file keeps nothing, a :class:`BoundedBuffer` at most its limit).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import fields
from typing import Any

from bot.storage.base import Challenge, Member, Writable


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


def _dump(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


ROW_SEPARATOR = b",\n  "


def _row_floor(row_type: type) -> int:
    """The fewest bytes a row of this type takes in the document: its keys (all its fields but
    the guild id) with every value at least one byte (``0``), after a separator of at least the
    row separator less its comma."""
    keys = [f.name for f in fields(row_type) if f.name != "guild_id"]
    return len(_dump(dict.fromkeys(keys, 0))) + len(ROW_SEPARATOR) - 1


SECTION_FLOORS = {"members": _row_floor(Member), "challenges": _row_floor(Challenge)}


def size_floor(counts: Mapping[str, int]) -> int:
    """A lower bound of the document's size in bytes, from its sections' row counts alone: a
    guild whose floor is past a limit cannot fit in it, and no row had to be read to know."""
    return sum(SECTION_FLOORS[name] * count for name, count in counts.items())


def write_document(out: Writable, header: Mapping[str, Any],
                   sections: Mapping[str, Iterable[Mapping[str, Any]]]) -> dict[str, int]:
    """Write the document to ``out``, pulling each section's rows one at a time; returns the
    number of rows of each section."""
    out.write(_dump(dict(header))[:-1])  # the header's fields, the object left open
    counts: dict[str, int] = {}
    for name, rows in sections.items():
        out.write(b",\n " + _dump(name) + b": [")
        count = 0
        for row in rows:
            out.write((ROW_SEPARATOR if count else ROW_SEPARATOR[1:]) + _dump(row))
            count += 1
        out.write(b"\n ]" if count else b"]")
        counts[name] = count
    out.write(b"\n}\n")
    return counts
