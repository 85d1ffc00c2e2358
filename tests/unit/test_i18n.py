"""Localization (issue 14): the shipped catalogs are complete, and numbers, dates and the
language in use behave as bot/i18n.py says."""

from __future__ import annotations

import shutil
import string
from pathlib import Path

import discord
import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import CommandLineInterface
from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po
from discord import app_commands

from bot import i18n
from bot.app import CatalogTranslator
from bot.domain import challenges
from bot.i18n import _

BOT_DIR = Path(i18n.__file__).parent
KEYWORDS = {"_": None, "N_": None, "n_": (1, 2)}

Msgid = str | tuple[str, str]  # a message, or a counted one: (singular, plural)


def code_msgids() -> dict[Msgid, str]:
    """Every msgid the code marks with ``_``, ``N_`` or ``n_`` (Babel's extractor), with
    where."""
    found: dict[Msgid, str] = {}
    for filename, lineno, msgid, _comments, _context in extract_from_dir(
            BOT_DIR, method_map=[("**.py", "python")], keywords=KEYWORDS):
        where = f"bot/{filename}:{lineno}"
        if isinstance(msgid, tuple):
            assert len(msgid) == 2 and all(isinstance(m, str) for m in msgid), \
                f"{where}: not two literal msgids"
            assert placeholders(msgid[0]) == placeholders(msgid[1]), \
                f"{where}: the singular and the plural have other placeholders"
        else:
            assert isinstance(msgid, str), f"{where}: not one literal msgid"
        found.setdefault(msgid, where)
    return found


def placeholders(text: str) -> set[str]:
    return {name for _lit, name, _spec, _conv in string.Formatter().parse(text)
            if name is not None}


def catalog_problems(msgids: dict[Msgid, str], po_file: Path) -> list[str]:
    """What is wrong with one language's catalog against the code: a msgid missing, empty or
    fuzzy, a translation whose placeholders differ from its msgid's, an entry the code no
    longer has; for a counted message, also a plural form missing or empty (as many as the
    catalog's Plural-Forms header says), and that header not Babel's rule for the language."""
    with po_file.open("rb") as handle:
        catalog = read_po(handle)
    entries = {m.id: m for m in catalog if m.id}
    problems = []
    rule = get_plural(str(catalog.locale))
    if (catalog.num_plurals, catalog.plural_expr) != (rule.num_plurals, rule.plural_expr):
        problems.append(f"Plural-Forms: {catalog.plural_forms!r} instead of "
                        f"{rule.plural_forms!r}")
    for msgid, where in msgids.items():
        entry = entries.get(msgid)
        wanted = placeholders(msgid if isinstance(msgid, str) else msgid[1])
        forms = [entry.string] if entry and isinstance(msgid, str) else list(
            entry.string if entry and isinstance(entry.string, tuple) else ())
        if entry is None or not all(forms) or not isinstance(msgid, str) and (
                len(forms) != catalog.num_plurals):
            problems.append(f"{where}: missing: {msgid!r}")
        elif entry.fuzzy:
            problems.append(f"{where}: fuzzy: {msgid!r}")
        else:
            problems += [f"{where}: placeholders {sorted(placeholders(str(form)))} "
                         f"instead of {sorted(wanted)}: {msgid!r}"
                         for form in forms if placeholders(str(form)) != wanted]
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


def test_counted_messages_take_the_plural_form_of_the_language_in_use():
    """Regression (issue 14, item 1): fails on the old code because counted messages were
    written once, for many ("1 points", "mit 1 Punkten", "{days} day(s)"), and Spanish's form
    for a multiple of a million ("1.000.000 de puntos") did not exist."""
    from bot.domain import members
    from bot.storage.base import Challenge, Member
    one = Member(1, 7, "ann", 0.0, 1, 1, 1, None, 1, 0, 0)
    many = Member(1, 7, "ann", 0.0, 1500, 3, 3, None, 3, 0, 0)
    assert "registered with 1 point." in members.welcome_message(one)
    assert "registered with 1,500 points." in members.welcome_message(many)
    stake = Challenge(1, 7, 10, 20, 1_000_000, "open", 0.0, 86400.0, None, None)
    with i18n.use("de"):
        assert "Du bist mit 1 Punkt registriert." in members.welcome_message(one)
        assert "Du bist mit 1.500 Punkten registriert." in members.welcome_message(many)
        assert i18n.days(1) == "1 Tag" and i18n.days(3) == "3 Tage"
    with i18n.use("es"):
        assert "Te has registrado con 1 punto." in members.welcome_message(one)
        assert "Te has registrado con 1.500 puntos." in members.welcome_message(many)
        assert "te desafía por 1.000.000 de puntos!" in challenges.created_message(stake)
        assert i18n.points(2_000_000) == "2.000.000 de puntos"
        assert i18n.points(2_000_001) == "2.000.001 puntos"
    assert i18n.days(1) == "1 day" and i18n.days(0) == "0 days"


def test_a_counted_message_no_catalog_has_falls_back_to_english_rule():
    with i18n.use("de"):
        assert i18n.n_("{n} apple", "{n} apples", 1, n=1) == "1 apple"
        assert i18n.n_("{n} apple", "{n} apples", 2, n=2) == "2 apples"


def test_the_check_fails_for_a_missing_plural_form_and_a_wrong_plural_rule(tmp_path):
    """The check of counted messages can fail: Spanish's third form removed; German's
    Plural-Forms header not Babel's rule for German (the forms would be picked wrongly)."""
    msgids = code_msgids()
    assert ("{count} point", "{count} points") in msgids  # n_ is extracted
    spanish = i18n.catalog_path("es").read_text(encoding="utf-8")
    short = spanish.replace('msgstr[2] "{count} puntos"\n', "")
    german = i18n.catalog_path("de").read_text(encoding="utf-8")
    one_form = german.replace("nplurals=2; plural=(n != 1);", "nplurals=1; plural=0;")
    renamed = german.replace('msgstr[1] "{count} Punkte"', 'msgstr[1] "{anzahl} Punkte"')
    assert short != spanish and one_form != german and renamed != german
    for name, text in (("short", short), ("one_form", one_form), ("renamed", renamed)):
        (tmp_path / f"{name}.po").write_text(text, encoding="utf-8")
    assert [p.split(": ", 1)[1] for p in catalog_problems(msgids, tmp_path / "short.po")] \
        == ["missing: ('{count} point', '{count} points')"]
    assert catalog_problems(msgids, tmp_path / "one_form.po")[0].startswith(
        "Plural-Forms: 'nplurals=1; plural=0;' instead of 'nplurals=2; plural=(n != 1);'")
    (problem,) = catalog_problems(msgids, tmp_path / "renamed.po")
    assert "placeholders ['anzahl'] instead of ['count']" in problem


PROJECT_URL = "https://github.com/guildbot/guildbot/issues"
# docs/ARCHITECTURE.md ("Localization", adding or changing a message): the same two commands.
EXTRACT = ["extract", "-k", "N_", "-k", "n_:1,2", "--add-location=file", "-w", "100",
           "--project", "guildbot", "--msgid-bugs-address", PROJECT_URL, "-o", "{pot}", "bot"]
UPDATE = ["update", "-i", "{pot}", "-d", "{locales}", "-D", "guildbot", "--no-fuzzy-matching",
          "--ignore-obsolete", "--ignore-pot-creation-date", "-w", "100"]


@pytest.mark.parametrize("language", i18n.LANGUAGES[1:])
def test_the_catalog_headers_carry_the_projects_values(language):
    """Regression (issue 14, item 4): fails on the old code because the headers were Babel's
    placeholders (``Report-Msgid-Bugs-To: EMAIL@ADDRESS``) and named no team address."""
    with i18n.catalog_path(language).open("rb") as handle:
        headers = dict(read_po(handle).mime_headers)
    assert headers["Report-Msgid-Bugs-To"] == PROJECT_URL
    assert headers["Language-Team"].endswith(f" <{PROJECT_URL}>")
    assert headers["Last-Translator"] == f"guildbot maintainers <{PROJECT_URL}>"
    assert headers["Plural-Forms"] == get_plural(language).plural_forms


def test_the_documented_round_trip_leaves_the_catalogs_unchanged(tmp_path, monkeypatch):
    """Regression (issue 14, item 4): ``pybabel extract`` then ``update`` as ARCHITECTURE
    documents them change nothing in catalogs that are up to date, so a change to a message
    shows as that entry alone in review. Fails on the old code because the documented
    commands rewrapped every long entry, added line numbers to every location, moved the
    POT-Creation-Date and reordered the entries added by hand."""
    monkeypatch.chdir(BOT_DIR.parent)
    locales = tmp_path / "locales"
    shutil.copytree(i18n.LOCALES_DIR, locales)
    pot = str(tmp_path / "guildbot.pot")
    for command in (EXTRACT, UPDATE):
        CommandLineInterface().run(
            ["pybabel", "-q", *(a.format(pot=pot, locales=locales) for a in command)])
    for language in i18n.LANGUAGES[1:]:
        po = Path(language, "LC_MESSAGES", "guildbot.po")
        assert (locales / po).read_text(encoding="utf-8") == \
            i18n.catalog_path(language).read_text(encoding="utf-8"), language


def test_babel_is_imported_only_when_first_used() -> None:
    """Regression (issue 17 follow-up, item 5): the bot's modules (bot.cli, bot.app and what
    they import) load none of Babel, about 1.5 MB of RSS a process holds before it formats
    anything or reads a catalog (every CLI command); the first use imports it.
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
