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
- :func:`number`, :func:`when` and :func:`day` format for the language in use, exactly as
  Babel does, from what Babel's locale data says read once per language (issue 17: Babel's
  ``format_decimal`` parsed the locale and built a Decimal for every number): an int is
  written with Python's grouping and the language's group symbol, dates apply patterns parsed
  once. tests/unit/test_i18n_numbers.py compares them with Babel alone.
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
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # Babel is imported at first use (see "Babel, imported late")
    from babel import Locale
    from babel.dates import DateTimePattern

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


@functools.cache
def _locale(language: str) -> Locale:
    """Babel's ``Locale`` of a language, parsed once: every Babel function given a locale's
    name parses it into a new ``Locale`` on each call."""
    from babel import Locale

    return Locale.parse(language)


@dataclass(frozen=True, slots=True)
class _Integers:
    """What a language's standard decimal pattern (Babel's ``format_decimal``) writes for an
    int: the digits in groups of three joined by ``group``, between the pattern's prefix and
    suffix (positive, negative; the negative prefix is the pattern's ``-``: Babel 2.19 writes
    it, not the locale's minus sign, and applies no minimum grouping digits: es "1.000").
    Only for ints within ``limit``: Babel quantizes a Decimal of the default context (28
    digits) to the pattern's fraction digits, and raises for an int too long for that."""

    group: str
    prefix: tuple[str, str]
    suffix: tuple[str, str]
    limit: int

    def format(self, value: int) -> str:
        negative = value < 0
        return (self.prefix[negative] + f"{abs(value):,}".replace(",", self.group)
                + self.suffix[negative])


@functools.cache
def _integers(language: str) -> _Integers | None:
    """The int format of a language, read from Babel's locale data once; None when its
    pattern is one :class:`_Integers` does not write as Babel does (groups other than
    threes, as Indian grouping; a scale, exponent, significant digits or minimum integer
    digits; fraction digits an int would show; a quote, which Babel's last step rewrites in
    the result): then Babel formats every number."""
    from babel.numbers import get_group_symbol, parse_pattern

    locale = _locale(language)
    pattern = parse_pattern(locale.decimal_formats[None])
    affixes = (*pattern.prefix, *pattern.suffix)
    if (pattern.grouping != (3, 3) or pattern.scale or pattern.exp_prec
            or "@" in pattern.pattern or not pattern.number_pattern
            or pattern.int_prec[0] > 1 or pattern.frac_prec[0]
            or any("'" in text for text in (get_group_symbol(locale), *affixes))):
        return None
    return _Integers(get_group_symbol(locale), pattern.prefix, pattern.suffix,
                     limit=10 ** (28 - pattern.frac_prec[1]))


def number(value: int | float) -> str:
    """A number as the language in use writes it (1,000 / 1.000): exactly Babel's
    ``format_decimal``. An int (not a bool) is written by :class:`_Integers` (Babel's pattern
    read once per language: no Decimal, no ``Locale.parse`` per call; issue 17), a float or a
    language whose pattern it does not cover by Babel."""
    language = current()
    if type(value) is int:
        integers = _integers(language)
        if integers is not None and -integers.limit < value < integers.limit:
            return integers.format(value)
    from babel.numbers import format_decimal

    return format_decimal(value, locale=_locale(language))


@dataclass(frozen=True, slots=True)
class _Dates:
    """A language's date formats, read from Babel's locale data once (issue 17): its
    ``Locale``, the "medium" date pattern, the time pattern of the skeleton ``Hm`` (as
    ``format_skeleton`` finds it) and the "medium" date-time frame ("{1}, {0}")."""

    locale: Locale
    date: DateTimePattern
    time: DateTimePattern
    frame: str


@functools.cache
def _dates(language: str) -> _Dates:
    from babel.dates import match_skeleton

    locale = _locale(language)
    skeletons = locale.datetime_skeletons
    skeleton = "Hm" if "Hm" in skeletons else match_skeleton("Hm", skeletons) or "Hm"
    return _Dates(locale, locale.date_formats["medium"], skeletons[skeleton],
                  str(locale.datetime_formats["medium"]))


def when(timestamp: float) -> str:
    """A moment in UTC, as the language in use writes a date and time, with "UTC"."""
    dates = _dates(current())
    moment = datetime.fromtimestamp(timestamp, UTC)
    return dates.frame.format(dates.time.apply(moment, dates.locale),
                              dates.date.apply(moment.date(), dates.locale)) + " UTC"


def day(timestamp: float) -> str:
    """The UTC date of a moment, as the language in use writes a date."""
    dates = _dates(current())
    return dates.date.apply(datetime.fromtimestamp(timestamp, UTC).date(), dates.locale)
