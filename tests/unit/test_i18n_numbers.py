"""Numbers and dates on the hot path (issue 17): ``i18n.number`` writes an int from Babel's
pattern read once per language, ``when``/``day`` use patterns parsed once per language; the
text is exactly what Babel alone writes (``format_decimal``; for dates the Babel-only
implementation they replaced, kept below as the reference)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import babel.core
import babel.dates
import babel.numbers
import pytest
from babel import Locale
from babel.dates import format_date, format_skeleton
from babel.localedata import locale_identifiers
from babel.numbers import format_decimal
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot import i18n

EDGES = [0, 1, -1, 999, -999, 1000, -1000, 9999, -9999, 10_000, -10_000, 99_999, 100_000,
         1_234_567, -1_234_567, 10**6, 10**18, -10**18, 2**63 - 1, -2**63,
         10**25 - 1, -(10**25 - 1), 10**25, -10**25]  # Babel raises from 10**25 on
# datetime's range (years 1 to 9999), a day inside each end.
TIMESTAMPS = st.floats(min_value=-62_135_596_800 + 86_400, max_value=253_402_300_799 - 86_400,
                       allow_nan=False) | st.integers(0, 4_102_444_800)


def old_when(timestamp: float, language: str) -> str:
    """``i18n.when`` as it was: Babel alone, every locale parsed on each call."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    pattern = str(Locale.parse(language).datetime_formats["medium"])
    return pattern.format(format_skeleton("Hm", moment, tzinfo=UTC, locale=language),
                          format_date(moment, "medium", locale=language)) + " UTC"


def old_day(timestamp: float, language: str) -> str:
    """``i18n.day`` as it was."""
    return format_date(datetime.fromtimestamp(timestamp, UTC), "medium", locale=language)


def outcome(write: Callable[..., str], *args: object, **kwargs: object) -> str | type:
    """The text written, or the type of the exception raised instead."""
    try:
        return write(*args, **kwargs)
    except Exception as error:  # noqa: BLE001 (compared: both must fail alike)
        return type(error)


def in_language(language: str, write: Callable[[], str]) -> str | type:
    with i18n.use(language):
        return outcome(write)


@settings(max_examples=300, deadline=None)
@given(language=st.sampled_from(i18n.LANGUAGES),
       value=st.integers() | st.integers(-10**7, 10**7) | st.sampled_from(EDGES))
@example(language="es", value=1000)  # CLDR would write "1000"; Babel 2.19 writes "1.000"
@example(language="en", value=-1_234_567)
def test_an_int_is_written_as_babel_writes_it(language, value):
    """For every shipped language (English included) and any int, ``number`` is Babel's
    ``format_decimal``: the same text, or the same exception (Babel raises from 10**25 on).
    Fails if the fast path's group symbol, sign, grouping or affixes differ from Babel's."""
    assert in_language(language, lambda: i18n.number(value)) \
        == outcome(format_decimal, value, locale=language)


@pytest.mark.parametrize("value", [True, False, 0.5, -1234.5678, 1e20, 10.0, float("nan")])
@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_a_float_or_a_bool_is_still_babels(language, value):
    """Floats and bools are not the fast path's: Babel's text (or error) as before."""
    assert in_language(language, lambda: i18n.number(value)) \
        == outcome(format_decimal, value, locale=language)


@settings(max_examples=200, deadline=None)
@given(language=st.sampled_from(i18n.LANGUAGES), timestamp=TIMESTAMPS)
@example(language="es", timestamp=400 * 86400 + 15 * 3600)
def test_dates_are_written_as_the_babel_only_implementation_wrote_them(language, timestamp):
    """``when`` and ``day`` with cached patterns are the old Babel-only functions' text."""
    with i18n.use(language):
        assert i18n.when(timestamp) == old_when(timestamp, language)
        assert i18n.day(timestamp) == old_day(timestamp, language)


@pytest.fixture
def every_babel_locale(monkeypatch) -> Iterator[list[str]]:
    """Every locale Babel has, usable with ``i18n.use``; the per-language caches emptied
    after, so the other tests' process does not keep a thousand locales."""
    languages = locale_identifiers()
    monkeypatch.setattr(i18n, "LANGUAGES", tuple(languages))
    yield languages
    for cached in (i18n._integers, i18n._dates, i18n._locale):
        cached.cache_clear()


def test_every_babel_locale_is_written_as_babel_writes_it_or_left_to_babel(every_babel_locale):
    """The fast path never differs from Babel, for any of Babel's ~1,100 locales: a pattern
    it does not cover (Indian grouping ``#,##,##0.###``, no grouping, de_CH's ``'`` group
    symbol, which Babel's last step rewrites) falls back to Babel. Fails if the check of what
    the fast path covers lets one of them through."""
    wrong = [(language, value) for language in every_babel_locale for value in EDGES
             if in_language(language, lambda v=value: i18n.number(v))
             != outcome(format_decimal, value, locale=language)]
    assert wrong == []
    covered = {language for language in every_babel_locale if i18n._integers(language)}
    assert {"hi", "en_IN", "de_CH"}.isdisjoint(covered)  # the fallback is taken
    assert len(covered) > 1000  # and is the exception
    moments = [0, 1_700_000_000.5, -10_000_000_000]
    wrong_dates = [(language, at) for language in every_babel_locale for at in moments
                   if in_language(language, lambda a=at: i18n.when(a) + i18n.day(a))
                   != old_when(at, language) + old_day(at, language)]
    assert wrong_dates == []


def test_the_shipped_languages_format_without_babel_per_call(monkeypatch):
    """Regression (issue 17, numbers and dates on the hot path): once a language has been
    used, ``number`` (an int), ``when`` and ``day`` neither parse a locale name nor call
    Babel's ``format_decimal``/``format_date``/``format_skeleton``. Fails on the old code because
    every call went through them, parsing the locale (``Locale.parse``) each time: 11 % of
    the bot's busy CPU in issue 17's profile."""
    expected = {}
    for language in i18n.LANGUAGES:  # first use: the caches are filled
        with i18n.use(language):
            expected[language] = (i18n.number(-1_234_567), i18n.when(0), i18n.day(0))

    def refused(*args: object, **kwargs: object) -> str:
        raise AssertionError("Babel called per number or date")

    parse = babel.core.Locale.parse

    def parse_no_name(identifier: object, *args: object, **kwargs: object) -> Locale:
        if isinstance(identifier, str):  # a Locale given is returned as it is: no parsing
            refused()
        return parse(identifier, *args, **kwargs)

    monkeypatch.setattr(babel.core.Locale, "parse", staticmethod(parse_no_name))
    for module, name in ((babel.numbers, "format_decimal"), (babel.dates, "format_date"),
                         (babel.dates, "format_skeleton"), (babel.dates, "format_datetime")):
        monkeypatch.setattr(module, name, refused)
    for language in i18n.LANGUAGES:
        with i18n.use(language):
            assert (i18n.number(-1_234_567), i18n.when(0), i18n.day(0)) == expected[language]
