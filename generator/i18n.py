"""Languages: the page and message texts in each shipped language, and how money and dates follow them.

The texts live in Babel catalogs under ``site_templates/locale/<language>/LC_MESSAGES``
(``messages.po`` and its compiled ``messages.mo``, both shipped, so an installed
paylink needs no compile step). ``scripts/update_translations.sh`` extracts the
texts from the templates and ``messages.py`` and updates the catalogs.

A page is written in the customer's language, else the site's; its money and
dates follow that language in the site's territory (Spanish on an ``en_US``
site is written for ``es_US``) when Babel knows that locale, else the site's
own locale.
"""

from functools import cache
from pathlib import Path

from .settings import LANGUAGES, Settings

DOMAIN = "messages"


def locale_dir() -> Path:
    """The folder of the shipped catalogs (``site_templates/locale``)."""
    from . import site_templates  # type: ignore[attr-defined]  # mapped by package-dir when installed

    return Path(site_templates.__file__).parent / "locale"


def page_language(settings: Settings, customer_language: str | None) -> str:
    """The language of a customer's page: their own where paylink has it, else the site's."""
    if customer_language:
        code = customer_language.strip().replace("-", "_").split("_")[0].lower()
        if code in LANGUAGES:
            return code
    return settings.page_language


@cache
def translations(language: str):
    """The shipped catalog of a language (``babel.support.Translations``), loaded once per process.

    A language paylink does not ship gets null translations: its texts stay as written (English).
    """
    from babel.support import NullTranslations, Translations

    if language not in LANGUAGES:
        return NullTranslations()
    return Translations.load(str(locale_dir()), [language], DOMAIN)


@cache
def plain_translations(language: str):
    """The same catalog as ``translations`` read by the standard library's gettext (no Babel: a page drawn
    from the page cache needs only its texts), loaded once per process."""
    import gettext

    catalog = catalog_file(language)
    if catalog is None:
        return gettext.NullTranslations()
    with open(catalog, "rb") as file:
        return gettext.GNUTranslations(file)


def catalog_file(language: str) -> Path | None:
    """The compiled catalog ``translations`` loads for a language (found as Babel finds it), or None."""
    import gettext

    if language not in LANGUAGES:
        return None
    found = gettext.find(DOMAIN, str(locale_dir()), [language])
    return Path(found) if found else None


def money_locale(settings: Settings, language: str) -> str:
    """The locale money and dates are written in for ``language`` on this site.

    ``es`` on an ``en_US`` site is ``es_US``; the site's own language is its
    locale; a language Babel has no locale for in the site's territory
    (``es`` on a ``de_DE`` site) falls back to the site's locale.
    """
    return _money_locale(settings.locale, language)


@cache
def _money_locale(site_locale: str, language: str) -> str:
    from babel import Locale, localedata

    site = Locale.parse(site_locale)
    if site.language == language or not site.territory:
        return site_locale
    candidate = f"{language}_{site.territory}"
    return candidate if localedata.exists(candidate) else site_locale


def html_lang(language: str, locale: str) -> str:
    """The ``<html lang>`` of a page in ``language`` whose money is written for ``locale``: "es-US", or "es"."""
    lang, _, territory = locale.partition("_")
    if lang == language and territory:
        return f"{language}-{territory.split('_')[-1]}"
    return language


def gettext_globals(catalog) -> dict:
    """Template globals ``_``, ``gettext`` and ``ngettext`` that give exactly what Jinja's newstyle ones give.

    For autoescaped templates (all of paylink's): the translation as Markup,
    %-formatted with the escaped variables. Jinja's versions pass the context
    through three calls and re-wrap the translation on every use, which made
    translated pages twice as slow to render; these look each text up once.
    """
    from markupsafe import Markup

    texts: dict[str, Markup] = {}
    finished: dict[str, Markup] = {}

    def gettext(string: str, /, **variables) -> Markup:
        if not variables:
            done = finished.get(string)
            if done is None:
                done = finished[string] = Markup(catalog.gettext(string)) % {}
            return done
        text = texts.get(string)
        if text is None:
            text = texts[string] = Markup(catalog.gettext(string))
        return text % variables

    def ngettext(singular: str, plural: str, num: int, /, **variables) -> Markup:
        variables.setdefault("num", num)
        return Markup(catalog.ngettext(singular, plural, num)) % variables

    return {"_": gettext, "gettext": gettext, "ngettext": ngettext}
