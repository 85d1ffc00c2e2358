"""Every backend's numbered SQL migrations, read from its package: ``NNNN_name.sql``.

Each backend keeps its migrations in a package of its own (``bot.storage.sqlite.migrations``,
``bot.storage.postgres.migrations``) and applies them its own way (its ``schema`` module); what
a migration is, how the files become the ordered list, and when a newer database is refused
(:func:`check_compatible`) are the same for both and live here.

A migration whose SQL has a line ``-- expand-only`` declares that the release before it can still
run on its schema (it only adds: tables, nullable or defaulted columns, indexes); see "Schema
versions" in docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources

from bot.storage.base import SchemaError

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_EXPAND_ONLY = re.compile(r"^--\s*expand-only\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str = field(repr=False)

    @property
    def expand_only(self) -> bool:
        """Declared backward compatible: the release before it can run on the migrated schema."""
        return bool(_EXPAND_ONLY.search(self.sql))


def load(package: str) -> list[Migration]:
    """The migrations in ``package``, by version; their numbers must run 1..n without gaps."""
    found = []
    for entry in resources.files(package).iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migration numbers must run 1..n without gaps, found {found!r}")
    return found


def check_compatible(version: int, floor: int, latest: int) -> None:
    """Refuse (:class:`SchemaError`) a database at ``version``, newer than this release's
    ``latest``, whose floor (the lowest version a release may know and still run on it) is above
    ``latest``."""
    if floor > latest:
        raise SchemaError(
            f"the database is at schema version {version}, newer than this release knows "
            f"({latest}) and not compatible with it (it needs a release that knows "
            f"version {floor}); roll the code forward or restore the pre-deploy backup"
        )
