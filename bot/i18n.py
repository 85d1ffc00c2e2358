"""Localization: the one module that owns the catalogs, the language in use, the ``_``/``N_``
markers and the formatting of numbers and dates (Babel).

- Catalogs: ``bot/locales/<language>/LC_MESSAGES/guildbot.po``, read with Babel at first use
  (no compiled ``.mo`` is shipped). English is the source language: the msgids in the code.
- The language in use is a context variable: an interaction sets the member's
  (``interaction.locale``, see :func:`set_for_locale`), a public message is rendered
  ``with use(guild_settings.language)``. Unknown locales fall back to English, as do msgids a
  catalog lacks (``tests/unit/test_i18n.py`` fails for those of a shipped language).
- ``_(msgid, **values)`` translates into the language in use, then fills ``{name}``
  placeholders; ``n_(singular, plural, count, **values)`` does the same for a counted message
  (gettext plural forms, as many as the language's Plural-Forms header says); ``N_(msgid)``
  only marks a string for extraction (a constant, a command description) and returns it
  unchanged: translate it where it is shown with ``_(constant)``.
- :func:`number` and :func:`when` format for the language in use.
- Babel, imported late: each function imports the part of Babel it uses when first called, so
  a process that has not yet formatted anything or read a catalog (a CLI command) does not
  hold Babel's modules (about 1.5 MB of RSS); the bot reads the shipped catalogs when it makes
  its load shedder (the busy answers are prebuilt, bot/shedding.py). Babel's locale data is
  loaded by Babel itself on first use, for the locales used only.

The domain uses it too (its errors are translated where they are raised, in the interaction's
task): it stays independent of Discord, since nothing here knows of Discord but
:func:`language_of`'s locale strings.
"""

from __future__ import annotations

import contextlib
import functools
import gettext
import hashlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

DOMAIN = "guildbot"
LOCALES_DIR = Path(__file__).parent / "locales"
DEFAULT = "en"
LANGUAGES = ("en", "de", "es")  # shipped; each but English has a complete catalog
LANGUAGE_NAMES = {"en": "English", "de": "Deutsch", "es": "Español"}  # endonyms, never translated

_language: ContextVar[str] = ContextVar("guildbot_language", default=DEFAULT)


def catalog_path(language: str) -> Path:
    return LOCALES_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@dataclass(frozen=True)
class Catalog:
    """One language's translations: ``messages`` (msgid -> text), ``plurals`` (singular msgid
    -> one text per plural form) and ``plural`` (a count -> the index of its form, from the
    catalog's Plural-Forms header). Empty and fuzzy entries are left out."""

    messages: dict[str, str] = field(default_factory=dict)
    plurals: dict[str, tuple[str, ...]] = field(default_factory=dict)
    plural: Callable[[int], int] = lambda n: int(n != 1)  # English


@functools.cache
def catalog(language: str) -> Catalog:
    """The catalog of a shipped language; English (and anything else) has none."""
    if language == DEFAULT or language not in LANGUAGES:
        return Catalog()
    from babel.messages.pofile import read_po  # at first use: see "Babel, imported late"

    with catalog_path(language).open("rb") as handle:
        parsed = read_po(handle, locale=language, domain=DOMAIN)
    messages: dict[str, str] = {}
    plurals: dict[str, tuple[str, ...]] = {}
    for m in parsed:
        if not m.id or m.fuzzy:
            continue
        if isinstance(m.id, str):
            if m.string:
                messages[m.id] = str(m.string)
        elif isinstance(m.string, tuple) and len(m.string) == parsed.num_plurals and all(
                m.string):
            plurals[str(m.id[0])] = tuple(str(form) for form in m.string)
    return Catalog(messages, plurals, gettext.c2py(parsed.plural_expr))


def fingerprint() -> str:
    """A digest of every shipped catalog: part of the command tree's hash, so a changed
    description translation is synced like a changed command."""
    digest = hashlib.sha256()
    for language in LANGUAGES[1:]:
        digest.update(catalog_path(language).read_bytes())
    return digest.hexdigest()


def language_of(locale: object) -> str:
    """The shipped language of a Discord locale (``de``, ``es-ES``, ``es-419``, an enum or
    None); English for any other."""
    code = str(getattr(locale, "value", locale) or "").split("-", 1)[0].lower()
    return code if code in LANGUAGES else DEFAULT


def current() -> str:
    return _language.get()


def set_for_locale(locale: object) -> Token[str]:
    """Use the language of ``locale`` in this task from now on (an interaction's start)."""
    return _language.set(language_of(locale))


@contextlib.contextmanager
def use(language: str) -> Iterator[None]:
    """Render in ``language`` inside the block (a public message: the guild's setting)."""
    token = _language.set(language if language in LANGUAGES else DEFAULT)
    try:
        yield
    finally:
        _language.reset(token)


def _(msgid: str, /, **values: object) -> str:
    """``msgid`` in the language in use, its ``{placeholders}`` filled from ``values``."""
    text = catalog(current()).messages.get(msgid, msgid)
    return text.format(**values) if values else text


def n_(singular: str, plural: str, count: int, /, **values: object) -> str:
    """The form of a counted message for ``count`` in the language in use (its catalog's
    plural rule: German has two forms, Spanish three), ``{placeholders}`` filled from
    ``values``. Pass the count as a value too, formatted: ``points=number(points)``."""
    translations = catalog(current())
    forms = translations.plurals.get(singular)
    if forms is None:  # English, or a message the catalog lacks: English's rule
        text = singular if count == 1 else plural
    else:
        text = forms[translations.plural(count)]
    return text.format(**values)


def days(count: int) -> str:
    """A number of days, alone ("1 day", "3 days"): a streak inside a longer message."""
    return n_("{count} day", "{count} days", count, count=number(count))


def points(count: int) -> str:
    """A number of points, alone ("1 point", "1,500 points"): a quantity inside a longer
    message (one that needs another case, "with 5 points", is a counted message of its own)."""
    return n_("{count} point", "{count} points", count, count=number(count))


def N_(msgid: str, /) -> str:  # noqa: N802 (gettext's name for the marker)
    """Mark ``msgid`` for the catalogs without translating it now."""
    return msgid


def translate(msgid: str, language: str) -> str | None:
    """The translation of ``msgid`` in ``language``, None when English or missing."""
    return catalog(language).messages.get(msgid)


def number(value: int | float) -> str:
    """A number as the language in use writes it (1,000 / 1.000)."""
    from babel.numbers import format_decimal

    return format_decimal(value, locale=current())


def when(timestamp: float) -> str:
    """A moment in UTC, as the language in use writes a date and time, with "UTC"."""
    from babel import Locale
    from babel.dates import format_date, format_skeleton

    language = current()
    moment = datetime.fromtimestamp(timestamp, UTC)
    pattern = str(Locale.parse(language).datetime_formats["medium"])  # "{1}, {0}": date, time
    return pattern.format(format_skeleton("Hm", moment, tzinfo=UTC, locale=language),
                          format_date(moment, "medium", locale=language)) + " UTC"


def day(timestamp: float) -> str:
    """The UTC date of a moment, as the language in use writes a date."""
    from babel.dates import format_date

    return format_date(datetime.fromtimestamp(timestamp, UTC), "medium", locale=current())
