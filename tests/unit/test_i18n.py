"""Localization (issue 14): the shipped catalogs are complete, and numbers, dates and the
language in use behave as bot/i18n.py says."""

from __future__ import annotations

import string
from pathlib import Path

import discord
import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from discord import app_commands

from bot import i18n
from bot.app import CatalogTranslator
from bot.domain import challenges
from bot.i18n import _

BOT_DIR = Path(i18n.__file__).parent
KEYWORDS = {"_": None, "N_": None}


def code_msgids() -> dict[str, str]:
    """Every msgid the code marks with ``_`` or ``N_`` (Babel's extractor), with where."""
    found: dict[str, str] = {}
    for filename, lineno, msgid, _comments, _context in extract_from_dir(
            BOT_DIR, method_map=[("**.py", "python")], keywords=KEYWORDS):
        assert isinstance(msgid, str), f"bot/{filename}:{lineno}: not one literal msgid"
        found.setdefault(msgid, f"bot/{filename}:{lineno}")
    return found


def placeholders(text: str) -> set[str]:
    return {name for _lit, name, _spec, _conv in string.Formatter().parse(text)
            if name is not None}


def catalog_problems(msgids: dict[str, str], po_file: Path) -> list[str]:
    """What is wrong with one language's catalog against the code: a msgid missing, empty or
    fuzzy, a translation whose placeholders differ from its msgid's, an entry the code no
    longer has."""
    with po_file.open("rb") as handle:
        catalog = read_po(handle)
    entries = {str(m.id): m for m in catalog if m.id}
    problems = []
    for msgid, where in msgids.items():
        entry = entries.get(msgid)
        if entry is None or not entry.string:
            problems.append(f"{where}: missing: {msgid!r}")
        elif entry.fuzzy:
            problems.append(f"{where}: fuzzy: {msgid!r}")
        elif placeholders(str(entry.string)) != placeholders(msgid):
            problems.append(f"{where}: placeholders {sorted(placeholders(str(entry.string)))} "
                            f"instead of {sorted(placeholders(msgid))}: {msgid!r}")
    problems += [f"obsolete: {msgid!r}" for msgid in entries if msgid not in msgids]
    return problems


@pytest.mark.parametrize("language", i18n.LANGUAGES[1:])
def test_every_message_of_the_code_is_translated_with_its_placeholders(language):
    """Regression (issue 14, localization): fails when a msgid used in bot/ is missing from a
    shipped language's catalog, empty, fuzzy, or translated with other placeholders."""
    msgids = code_msgids()
    assert len(msgids) > 150  # the extraction found the code's messages
    assert catalog_problems(msgids, i18n.catalog_path(language)) == []


def test_the_check_fails_for_a_missing_entry_and_a_placeholder_mismatch(tmp_path):
    """The check above can fail: one entry removed, one placeholder renamed."""
    msgids = code_msgids()
    text = i18n.catalog_path("de").read_text(encoding="utf-8")
    removed = text.replace('msgid "Rank"\nmsgstr "Rang"\n', "")
    renamed = text.replace('msgstr "Profil von {name}"', 'msgstr "Profil von {nom}"')
    assert removed != text and renamed != text
    (tmp_path / "removed.po").write_text(removed, encoding="utf-8")
    (tmp_path / "renamed.po").write_text(renamed, encoding="utf-8")
    assert [p.split(": ", 1)[1] for p in catalog_problems(msgids, tmp_path / "removed.po")] \
        == ["missing: 'Rank'"]
    (problem,) = catalog_problems(msgids, tmp_path / "renamed.po")
    assert "placeholders ['nom'] instead of ['name']" in problem


def test_the_locale_decides_the_language_and_anything_unknown_is_english():
    assert i18n.language_of(discord.Locale.german) == "de"
    assert i18n.language_of(discord.Locale.spain_spanish) == "es"
    assert i18n.language_of(discord.Locale.latin_american_spanish) == "es"
    assert i18n.language_of("es-419") == "es"
    assert i18n.language_of(discord.Locale.american_english) == "en"
    assert i18n.language_of(discord.Locale.japanese) == "en"
    assert i18n.language_of(None) == "en"


def test_translation_placeholders_and_the_fallback_to_english():
    with i18n.use("de"):
        assert _("Profile of {name}", name="Ann") == "Profil von Ann"
        assert _("a message no catalog has") == "a message no catalog has"
        assert i18n.current() == "de"
    assert i18n.current() == "en"  # the block restores the language before it
    assert _("Profile of {name}", name="Ann") == "Profile of Ann"
    with i18n.use("xx"):  # not shipped: English
        assert _("Rank") == "Rank"


@pytest.mark.parametrize(("language", "number", "moment", "day"), [
    ("en", "1,234,567", "Feb 5, 1971, 15:00 UTC", "Feb 5, 1971"),
    ("de", "1.234.567", "05.02.1971, 15:00 UTC", "05.02.1971"),
    ("es", "1.234.567", "5 feb 1971, 15:00 UTC", "5 feb 1971"),
])
def test_numbers_and_dates_are_written_as_the_language_writes_them(language, number, moment,
                                                                   day):
    at = 400 * 86400 + 15 * 3600  # 1971-02-05 15:00 UTC
    with i18n.use(language):
        assert i18n.number(1_234_567) == number
        assert i18n.when(at) == moment
        assert i18n.day(at) == day


def test_a_public_message_follows_the_language_in_use():
    """The challenge post: one rendering per language, numbers formatted for it."""
    from bot.storage.base import Challenge
    c = Challenge(1, 7, 10, 20, 5000, "open", 0.0, 86400.0, None, None)
    with i18n.use("de"):
        german = challenges.post_message(c)
    with i18n.use("es"):
        spanish = challenges.post_message(c)
    assert "fordert dich um 5.000 Punkte heraus" in german and "02.01.1970" in german
    assert "te desafía por 5.000 puntos" in spanish
    assert "challenges you for 5,000 points" in challenges.post_message(c)


async def test_the_translator_localizes_descriptions_not_names():
    translator = CatalogTranslator()

    async def translate(text: str, locale: discord.Locale,
                        location: app_commands.TranslationContextLocation) -> str | None:
        context = app_commands.TranslationContext(location, None)
        return await translator.translate(app_commands.locale_str(text), locale, context)

    description = app_commands.TranslationContextLocation.command_description
    assert await translate("Top members by points", discord.Locale.german, description) \
        == "Die besten Mitglieder nach Punkten"
    assert await translate("Top members by points", discord.Locale.american_english,
                           description) is None  # English: Discord shows the description
    name = app_commands.TranslationContextLocation.command_name
    assert await translate("Members", discord.Locale.german, name) is None


def test_a_changed_translation_changes_the_command_hash(monkeypatch):
    """The tree is synced only when its hash changes: a catalog change must change it, or new
    description translations would never reach Discord. Fails without the catalogs'
    fingerprint in ``command_tree_hash`` (the hash covered the English tree alone)."""
    from bot.app import command_tree_hash

    tree = app_commands.CommandTree(discord.Client(intents=discord.Intents.none()))

    @tree.command(name="hello", description="Say hello")
    async def hello(interaction: discord.Interaction) -> None:  # pragma: no cover
        pass

    before = command_tree_hash(tree)
    assert command_tree_hash(tree) == before
    monkeypatch.setattr(i18n, "fingerprint", lambda: "another catalog")
    assert command_tree_hash(tree) != before


def test_babel_is_imported_only_when_first_used() -> None:
    """Regression (issue 17 follow-up, item 5): the bot's modules (bot.cli, bot.app and what
    they import) load none of Babel, about 1.5 MB of RSS a process holds before it formats
    anything or reads a catalog (at READY, in every CLI command); the first use imports it.
    Fails on the old code because bot/i18n.py imported Babel's numbers, dates and catalog
    reader at import."""
    import subprocess
    import sys

    probe = ("import sys, bot.cli, bot.app, bot.i18n as i18n\n"
             "print(sorted(m for m in sys.modules if m.split('.')[0] == 'babel'))\n"
             "with i18n.use('de'):\n"
             "    print(i18n.number(1000), i18n._('Points'))\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, cwd=BOT_DIR.parent).stdout.splitlines()
    assert out[0] == "[]"
    assert out[1] == f"1.000 {i18n.translate('Points', 'de')}"
