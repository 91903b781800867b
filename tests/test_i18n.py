"""Languages (CONTRACT §4): the shipped catalogs are complete, compiled and current; a Spanish page
and Spanish share messages carry no English; money follows the language in the site's territory.

Catalogs are read with Babel from site_templates/locale; pages are rendered in-process by the
real renderer from plain ledger values (no database needed to compare texts).
"""

import fnmatch
import re
import tomllib
from gettext import c2py
from pathlib import Path

import pytest
from babel import Locale
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po
from babel.support import Translations
from paylink.i18n import html_lang, money_locale, page_language
from paylink.messages import ShareTexts, share_texts
from paylink.model import Entry
from paylink.render import Renderer, Statement
from paylink.settings import LANGUAGES, Settings
from sitepages import parse

REPO = Path(__file__).resolve().parent.parent
LOCALE_DIR = REPO / "site_templates" / "locale"
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]")
# Words that must never appear on a Spanish page (whole words, any case). STOP and HELP are
# the carriers' keywords and stay in English on purpose; "Total" is avoided in Spanish too.
ENGLISH_WORDS = (
    "the and your you balance pay tip card charges charge voided due online soon contact phone email "
    "address questions total date amount description statement link older entries until please anyone"
).split()


def catalog_of(language: str):
    with open(LOCALE_DIR / language / "LC_MESSAGES" / "messages.po", "rb") as po:
        return read_po(po, locale=language)


def messages(catalog) -> list:
    return [m for m in catalog if m.id]


def source_texts() -> set:
    """Every translatable text in the sources, extracted the way scripts/update_translations.sh does."""
    with open(REPO / "babel.cfg", encoding="utf-8") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(REPO), method_map, options_map, keywords={"_": None, "gettext": None, "ngettext": (1, 2)}
    ):
        found.add(tuple(message) if isinstance(message, tuple | list) else message)
    return found


# --- the catalogs -----------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_text_is_translated_in_every_plural_form(language):
    catalog = catalog_of(language)
    # The catalog's plural rule is Babel's for the language (Spanish: three forms in CLDR).
    assert catalog.num_plurals == get_plural(language).num_plurals
    assert catalog.plural_expr == get_plural(language).plural_expr
    problems = []
    for message in messages(catalog):
        strings = message.string if isinstance(message.string, tuple | list) else (message.string,)
        if message.pluralizable and len(strings) != catalog.num_plurals:
            problems.append(("wrong number of plural forms", message.id))
        if not all(s and s.strip() for s in strings):
            problems.append(("untranslated", message.id))
        if message.fuzzy:
            problems.append(("fuzzy", message.id))
        placeholders = set(PLACEHOLDER.findall(" ".join(message.id if message.pluralizable else [message.id])))
        for string in strings:
            if set(PLACEHOLDER.findall(string)) - placeholders - {"%(num)d"}:
                problems.append(("unknown placeholder", message.id, string))
    assert problems == []


def test_spanish_has_three_plural_forms():
    assert len(Locale("es").plural_form.rules) == 2  # one, many (+ other): three forms
    assert get_plural("es").num_plurals == 3


@pytest.mark.parametrize("language", LANGUAGES)
def test_catalogs_hold_exactly_the_texts_of_the_sources(language):
    """A text added to a template or messages.py without updating the catalogs fails here."""
    wanted = source_texts()
    assert wanted, "no texts extracted: babel.cfg is wrong"
    with open(LOCALE_DIR / "messages.pot", "rb") as pot:
        template = {tuple(m.id) if m.pluralizable else m.id for m in read_po(pot) if m.id}
    held = {tuple(m.id) if m.pluralizable else m.id for m in messages(catalog_of(language))}
    assert template == wanted
    assert held == wanted


@pytest.mark.parametrize("language", LANGUAGES)
def test_shipped_mo_matches_its_po(language):
    """The compiled catalog (what an installed paylink reads) says what the .po says."""
    compiled = Translations.load(str(LOCALE_DIR), [language], "messages")
    assert isinstance(compiled, Translations), f"no compiled catalog for {language}"
    for message in messages(catalog_of(language)):
        if message.pluralizable:
            for n in (1, 2, 5, 1_000_000):
                index = c2py(get_plural(language).plural_expr)(n)
                assert compiled.ngettext(message.id[0], message.id[1], n) == message.string[index]
        else:
            assert compiled.gettext(message.id) == message.string


def test_spanish_plural_forms_are_spanish_for_every_count():
    compiled = Translations.load(str(LOCALE_DIR), ["es"], "messages")
    singular, plural = "%(num)d older entry is not shown.", "%(num)d older entries are not shown."
    for n in (1, 2, 21, 1_000_000, 2_000_000):
        text = compiled.ngettext(singular, plural, n) % {"num": n}
        assert text.startswith("No se muestra"), (n, text)


def test_package_data_ships_the_catalogs():
    """`pip install .` installs the compiled catalogs: pyproject's package-data matches them."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["paylink.site_templates"]
    for language in LANGUAGES:
        for suffix in ("mo", "po"):
            relative = f"locale/{language}/LC_MESSAGES/messages.{suffix}"
            assert (REPO / "site_templates" / relative).is_file()
            assert any(fnmatch.fnmatch(relative, p) for p in patterns), relative


# --- pages ------------------------------------------------------------------------------

SETTINGS = Settings(
    name="Fontanería Sol",
    phone="(555) 010-0100",
    email="pagos@example.com",
    address="12 Main St, Springfield",
).validated()


def entry(entry_id: int, amount: int, description: str, voids: int | None = None) -> Entry:
    return Entry(entry_id, 1, amount, description, f"2025-03-{entry_id:02d}T15:00:00Z", voids)


STATEMENTS = {
    "outstanding": Statement(
        "Sol Soto",
        4250,
        [
            entry(4, 3000, "Void of entry 3: Anticipo (duplicado)", voids=3),
            entry(3, -3000, "Anticipo"),
            entry(2, 4250, "Reparación"),
        ],
        "2025-03-04T15:00:00Z",
        entry_count=24,  # entries a page can show: voids are not counted
    ),
    "zero": Statement("Sol Soto", 0, [entry(2, -500, "Pago"), entry(1, 500, "Visita")], "2025-03-02T15:00:00Z"),
    "credit": Statement("Sol Soto", -725, [entry(1, -725, "Pago")], "2025-03-01T15:00:00Z"),
    "empty": Statement("Sol Soto", 0, [], "2025-03-01T15:00:00Z"),
}


def spanish_pages() -> dict[str, str]:
    renderer = Renderer(SETTINGS)
    pages = {state: renderer.page(s.__class__(**{**vars(s), "language": "es"})) for state, s in STATEMENTS.items()}
    spanish_site = Renderer(Settings(**{**vars(SETTINGS), "language": "es"}))
    pages["404"] = spanish_site.not_found_page()
    pages["410"] = spanish_site.gone_page()
    return pages


def all_text(html: str) -> str:
    """What a reader or a screen reader meets: visible text, the title and attribute texts."""
    soup = parse(html)
    parts = [soup.get_text(" ")]
    for tag in soup.find_all(True):
        parts += [str(tag.get(a)) for a in ("data-pay", "aria-label", "title", "alt", "placeholder") if tag.get(a)]
    return " ".join(" ".join(parts).split())


@pytest.mark.parametrize("page", ["outstanding", "zero", "credit", "empty", "404", "410"])
def test_spanish_page_has_no_english(page):
    html = spanish_pages()[page]
    text = all_text(html)
    assert parse(html).html["lang"] == "es-US"
    spanish = {m.id: m.string for m in messages(catalog_of("es"))}
    for msgid, msgstr in spanish.items():
        for english in msgid if isinstance(msgid, tuple) else (msgid,):
            for fragment in PLACEHOLDER.split(english):
                fragment = fragment.strip(" .,:;?!—()")
                if len(fragment) >= 4 and fragment not in (msgstr if isinstance(msgstr, str) else " ".join(msgstr)):
                    assert fragment not in text, f"English {fragment!r} on the Spanish {page} page"
    words = set(re.findall(r"[a-z]+", text.lower()))
    assert words.isdisjoint(ENGLISH_WORDS), sorted(words & set(ENGLISH_WORDS))


def test_spanish_page_writes_money_and_dates_for_es_us():
    soup = parse(spanish_pages()["outstanding"])
    assert soup.select_one("#balance").get_text() == "$42.50"
    assert soup.select_one("tbody td time").get_text() == "3 mar 2025"  # the newest row: the void (4 mar) is not one
    rows = soup.select("tbody tr")
    # The void is not shown, nor its reason; the entry it cancels is, once, marked "Cancelado".
    assert [r.get("class") for r in rows] == [["voided"], None]
    assert " ".join(rows[0].select("td")[1].get_text().split()) == "Anticipo Cancelado"
    assert "duplicado" not in soup.get_text()
    assert "No se muestran 22 movimientos anteriores." in soup.select_one("#older-entries").get_text()


@pytest.mark.parametrize("language", LANGUAGES)
def test_compile_time_translation_gives_the_same_bytes_as_jinjas_gettext(language):
    """The renderer's faster gettext is exactly Jinja's newstyle gettext (install_gettext_translations)."""
    fast, plain = Renderer(SETTINGS), Renderer(SETTINGS, fast_gettext=False)
    for statement in STATEMENTS.values():
        statement = statement.__class__(**{**vars(statement), "language": language})
        assert fast.page(statement) == plain.page(statement)
    for site_language in LANGUAGES:
        settings = Settings(**{**vars(SETTINGS), "language": site_language})
        fast, plain = Renderer(settings), Renderer(settings, fast_gettext=False)
        assert fast.not_found_page() == plain.not_found_page()
        assert fast.gone_page() == plain.gone_page()


# --- which language, which locale ---------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "language", "expected", "lang"),
    [
        ("en_US", "es", "es_US", "es-US"),
        ("en_US", "en", "en_US", "en-US"),
        ("es_MX", "es", "es_MX", "es-MX"),
        ("es_MX", "en", "es_MX", "en"),  # Babel has no en_MX
        ("de_DE", "en", "en_DE", "en-DE"),
        ("de_DE", "es", "de_DE", "es"),  # Babel has no es_DE: the site's locale
        ("ja_JP", "es", "ja_JP", "es"),
    ],
)
def test_money_locale_is_the_language_in_the_sites_territory(locale, language, expected, lang):
    settings = Settings(name="Shop", locale=locale).validated()
    assert money_locale(settings, language) == expected
    assert html_lang(language, money_locale(settings, language)) == lang


def test_page_language_is_the_customers_else_the_sites():
    site = Settings(name="Shop").validated()
    assert page_language(site, "es") == "es"
    assert page_language(site, "ES-mx") == "es"
    assert page_language(site, None) == "en"
    assert page_language(site, "fr") == "en"  # not shipped: the site's
    assert page_language(Settings(name="Shop", language="es").validated(), None) == "es"
    assert page_language(Settings(name="Shop", locale="es_MX").validated(), None) == "es"


# --- share messages --------------------------------------------------------------------------

URL = "https://pay.example.com/p/abc.def"


@pytest.mark.parametrize(
    ("state", "english", "spanish"),
    [
        ("outstanding", "you owe $42.50", "saldo pendiente de $42.50"),
        ("credit", "credit of $42.50", "saldo a favor de $42.50"),
        ("zero", "nothing is owed", "no debe nada"),
    ],
)
def test_share_texts_name_the_business_the_amount_and_the_link(state, english, spanish):
    for language, phrase in (("en", english), ("es", spanish)):
        texts = share_texts(language=language, business="Sol & Co 100%", state=state, amount="$42.50", url=URL)
        assert isinstance(texts, ShareTexts)
        assert texts.sms.startswith("Sol & Co 100%:") and texts.sms.endswith(URL)
        assert phrase in texts.sms
        assert (phrase if state == "zero" else "$42.50") in texts.email_body
        assert "Sol & Co 100%" in texts.email_subject and URL in texts.email_body
        assert "Sol & Co 100%" in texts.email_body
        if state != "zero":
            assert "$42.50" in texts.email_subject


def test_spanish_share_texts_have_no_english():
    english = share_texts(language="en", business="Sol", state="outstanding", amount="$1.00", url=URL)
    for state in ("outstanding", "credit", "zero"):
        spanish = share_texts(language="es", business="Sol", state=state, amount="$1.00", url=URL)
        text = " ".join(spanish)
        words = set(re.findall(r"[a-z]+", text.lower().replace(URL.lower(), "")))
        assert words.isdisjoint(ENGLISH_WORDS), sorted(words & set(ENGLISH_WORDS))
        assert spanish.email_body.startswith("Hola:")
    assert english.email_body.startswith("Hello,")


def test_share_texts_refuse_an_unknown_state_and_fall_back_to_english():
    with pytest.raises(ValueError):
        share_texts(language="en", business="Sol", state="owing", amount="$1.00", url=URL)
    french = share_texts(language="fr", business="Sol", state="zero", amount="$0.00", url=URL)
    assert "nothing is owed" in french.sms
