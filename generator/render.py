"""The renderer: a customer's ledger in, the page's HTML out (a string; it writes nothing).

Numbers and dates arrive in the templates already formatted for the site's
locale and time zone; templates hold markup only. Autoescape is on for every
``.html`` template, and a site may override any template or asset by putting a
file of the same name in ``<site>/site_templates/``.
"""

import datetime as dt
import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from . import layout
from .i18n import html_lang, locale_dir, money_locale, page_language, translations
from .model import Entry, state_of
from .money import money_formatter, tip_minor
from .settings import LANGUAGES, Settings

ASSET_FILES = ("paylink.css", "tips.js", "favicon.svg")
# A site with [[pay]] methods also serves these (a site without them keeps exactly its files and bytes).
PAY_ASSET_FILES = ("pay.css", "pay.js")
_ASSET_KEYS = {"paylink.css": "css", "tips.js": "js", "favicon.svg": "icon", "pay.css": "pay_css", "pay.js": "pay_js"}
# What counts as a template when deciding whether every page must be re-rendered.
TEMPLATE_SUFFIXES = {".html", ".css", ".js", ".svg", ".txt"}
# A renderer compiles its pages after rendering this many with Jinja (a posting command renders one or two).
COMPILE_AFTER = 8
# A command that drew at most this many pages with Jinja compiles their shapes for the page cache when it ends.
LEARN_PAGES = 4
# How the ledger writes a void's description when the original's is not at hand.
_VOID_PREFIX = re.compile(r"Void of entry [0-9]+: ")


def builtin_templates_dir() -> Path:
    """The templates that ship with paylink."""
    # Installed as paylink.site_templates (package-dir); mypy reads the repo's folders, where it is a sibling.
    from . import site_templates  # type: ignore[attr-defined]

    return Path(site_templates.__file__).parent


@dataclass(frozen=True)
class Statement:
    """What one customer's page shows: read from the ledger, not yet formatted."""

    customer_name: str
    balance_minor: int
    entries: list[Entry]  # the newest (at most 20), newest first
    last_change: str  # ISO 8601 UTC
    language: str | None = None  # the customer's own; None: the site's
    entry_count: int | None = None  # all the customer's entries; None: just those shown
    # The customer's voids: void entry id -> (id, description) of the entry it reverses.
    voids: Mapping[int, tuple[int, str]] = field(default_factory=dict)
    # Who pays, for the [[pay]] options' reference: the customer's id, ref and email (None: not known).
    customer_id: int | None = None
    customer_ref: str | None = None
    customer_email: str | None = None


# What the templates see. Named tuples rather than dicts: Jinja tries attribute
# access first, and a dict makes it fail and retry for every field of every row.


class Business(NamedTuple):
    name: str
    phone: str | None
    email: str | None
    address: str | None
    phone_href: str | None
    email_href: str | None
    pay_instructions: str | None


class Moment(NamedTuple):
    text: str
    iso: str


class EntryLine(NamedTuple):
    date: str
    date_iso: str
    description: str  # for a void, the description of the entry it reverses
    amount: str
    kind: str  # "charge", "credit", or "reversal" (a void)
    voided: bool  # voided, or the void that reverses one


class TipChoice(NamedTuple):
    percent: int
    label: str  # "18 %" as the language writes it; "" for no tip
    amount: str
    total: str
    total_minor: int
    checked: bool


class Voice:
    """One language's pages on this site: templates with its catalog, its money and dates.

    Built once per language per renderer, so a build of 100,000 pages compiles
    each template and loads each catalog once per language.
    """

    def __init__(self, renderer: "Renderer", language: str):
        s = renderer.settings
        self.language = language
        self.currency = s.currency
        self.locale = money_locale(s, language)
        self.lang = html_lang(language, self.locale)
        catalog = translations(language)
        self.env = renderer.new_env(catalog if renderer.fast_gettext else None)
        self.env.install_gettext_translations(catalog, newstyle=True)  # type: ignore[attr-defined]
        if renderer.fast_gettext:
            self.env.globals.update(gettext_globals(catalog))
        self.page_template = self.env.get_template("page.html")
        # The contacts and the how-to-pay text are the same on every page of a language: rendered once.
        business = renderer.common["business"]
        contact = self.env.get_template("_contact.html").module
        self.common = {
            **renderer.common,
            "lang": self.lang,
            "contacts": contact.contacts(business),  # type: ignore[attr-defined]
            "how_to_pay": contact.pay_instructions(business),  # type: ignore[attr-defined]
        }
        self.entry_dates: dict[str, tuple[str, str]] = {}
        self._percents: dict[int, str] = {}
        self._format_money: Callable[[int], str] | None = None

    @property
    def format_money(self) -> Callable[[int], str]:
        """The language's money formatter itself (``money`` without the lookups: a build formats millions)."""
        if self._format_money is None:
            self._format_money = money_formatter(self.currency, self.locale)
        return self._format_money

    def money(self, minor: int) -> str:
        return self.format_money(minor)

    def percent(self, percent: int) -> str:
        text = self._percents.get(percent)
        if text is None:
            from babel.numbers import format_percent

            text = self._percents[percent] = format_percent(Decimal(percent) / 100, locale=self.locale)
        return text


class Renderer:
    """Renders a site's pages with its settings and templates."""

    def __init__(self, settings: Settings, override_dir: Path | None = None, *, fast_gettext: bool = True):
        self.settings = settings
        # False renders through Jinja's own newstyle gettext (the tests compare the two).
        self.fast_gettext = fast_gettext
        self.template_dirs = [d for d in (override_dir, builtin_templates_dir()) if d is not None and d.is_dir()]
        self.zone = ZoneInfo(settings.timezone)
        self.utc = settings.timezone in ("UTC", "Etc/UTC")
        self._voices: dict[str, Voice] = {}
        # The compiled page (see compiled_page.py): only with paylink's own page templates and
        # gettext, and only once a run has rendered a few pages (compiling costs a few renders).
        self._compiler: Any = None  # a PageCompiler once this renderer has drawn enough pages
        self._jinja_pages = 0
        self.compiled = fast_gettext and not (
            override_dir is not None
            and override_dir.is_dir()
            and any(p.suffix == ".html" for p in override_dir.iterdir())
        )
        # The site's page cache (page_cache.py): read when first needed, saved by a command that succeeded.
        from .page_cache import cache_path_for

        self.cache_path = cache_path_for(override_dir) if fast_gettext else None
        # The [[pay]] options: drawn through Jinja on every page (the page cache and the compiled
        # page know only the page without them).
        self.pay_block: Any = None
        if settings.pay:
            from .pay_methods import PayBlock

            self.pay_block = PayBlock(settings.pay, settings.currency)
            self.compiled = False
            self.cache_path = None
        self._page_cache: Any = None  # False: none that is current; else a PageCache
        self._cached_pages: Any = None  # CachedPages once the cache's shapes are loaded
        self._jinja_contexts: list[tuple[Voice, dict]] = []  # a small command's pages, to learn from
        if self.cache_path is not None:
            # Taken before any template or asset is read: a file that changes later gives the next run another key.
            self.cache_key  # noqa: B018

    # --- templates and assets -------------------------------------------------

    def new_env(self, pretranslate=None):
        """A template environment for one language (the caller installs its translations).

        With ``pretranslate`` (a catalog), each ``{{ _("text") }}`` without
        variables is written as its translation when a template is compiled.
        """
        from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

        env = Environment(
            loader=FileSystemLoader([str(d) for d in self.template_dirs]),
            autoescape=select_autoescape(["html"], default_for_string=True, default=True),
            undefined=StrictUndefined,
            extensions=["jinja2.ext.i18n", *([pretranslated_texts()] if pretranslate is not None else [])],
            # A renderer lives for one run; `watch` makes a new one per build. Not
            # re-checking every template file's mtime on each page saves 4 stats a page.
            auto_reload=False,
            keep_trailing_newline=True,
        )
        env.paylink_catalog = pretranslate  # type: ignore[attr-defined]
        return env

    def voice(self, language: str) -> Voice:
        """The templates, catalog and formats of one language, made on first use."""
        voice = self._voices.get(language)
        if voice is None:
            voice = self._voices[language] = Voice(self, language)
        return voice

    @property
    def env(self):
        """The template environment of the site's own language."""
        return self.voice(self.settings.page_language).env

    def source(self, name: str) -> bytes:
        """Return the bytes of a template or asset file, the site's own first."""
        for folder in self.template_dirs:
            path = folder / name
            if path.is_file():
                return path.read_bytes()
        raise FileNotFoundError(f"template {name} not found in {', '.join(map(str, self.template_dirs))}")

    @cached_property
    def assets(self) -> dict[str, bytes]:
        """Content-hashed asset file names (inside ``assets/``) and their bytes."""
        return {hashed: data for hashed, (_, data) in self._named_assets.items()}

    @cached_property
    def _named_assets(self) -> dict[str, tuple[str, bytes]]:
        named = {}
        for file_name in ASSET_FILES + (PAY_ASSET_FILES if self.settings.pay else ()):
            data = self.source(file_name)
            named[layout.asset_name(file_name, data)] = (file_name, data)
        return named

    @cached_property
    def asset_urls(self) -> dict[str, str]:
        return {_ASSET_KEYS[name]: f"/{layout.ASSETS_DIR}/{hashed}" for hashed, (name, _) in self._named_assets.items()}

    def _catalogs(self) -> list[Path]:
        return [locale_dir() / language / "LC_MESSAGES" / "messages.mo" for language in LANGUAGES]

    @cached_property
    def cache_key(self) -> list:
        """What the page cache depends on, from file metadata only (page_cache.cache_key)."""
        from .page_cache import cache_key

        return cache_key(self.settings, self.template_dirs, self._catalogs())

    @property
    def loaded_page_cache(self):
        """The site's page cache if it is current, else None (read once)."""
        if self._page_cache is None:
            self._page_cache = False
            if self.cache_path is not None:
                from . import page_cache

                self._page_cache = page_cache.read(self.cache_path, self.cache_key) or False
        return self._page_cache or None

    @cached_property
    def fingerprint(self) -> str:
        """A digest of everything that shapes every page: templates, assets, catalogs and settings.

        Taken from the page cache when no template, catalog or setting changed
        since it was written, so a no-op build reads no template.
        """
        cached = self.loaded_page_cache
        if cached is not None:
            return cached.fingerprint
        from . import __version__

        digest = hashlib.sha256(__version__.encode())
        digest.update(repr(sorted(vars(self.settings).items())).encode())
        for folder in self.template_dirs:
            for path in sorted(folder.iterdir()):
                if path.is_file() and path.suffix in TEMPLATE_SUFFIXES:
                    digest.update(f"{path}\0".encode() + path.read_bytes() + b"\0")
        for catalog in self._catalogs():
            if catalog.is_file():
                digest.update(f"{catalog}\0".encode() + catalog.read_bytes() + b"\0")
        if self.cache_path is not None:
            from . import page_cache

            page_cache.remember(self)
        return digest.hexdigest()

    def voices_made(self) -> dict[str, "Voice"]:
        """The languages this renderer has made a Voice for (the page cache learns their formats)."""
        return dict(self._voices)

    def learnt_compiler(self):
        """The compiled page with this run's checked shapes, for the page cache.

        A command that drew only a few pages with Jinja compiles their shapes
        now (a few more renders, each checked against the page it wrote).
        """
        compiler = self._compiler
        if self._jinja_contexts and self.compiled:
            if compiler is None:
                from .compiled_page import PageCompiler

                compiler = self._compiler = PageCompiler(
                    self,
                    lambda voice, context: voice.page_template.render(context),  # type: ignore[attr-defined]
                )
            for voice, context in self._jinja_contexts:
                compiler.page(voice, context)
            self._jinja_contexts = []
        return compiler

    def _from_cache(self, language: str, statement: Statement) -> str | None:
        """The page drawn from the site's page cache (no Jinja, no Babel), or None."""
        pages = self._cached_pages
        if pages is None:
            cached = self.loaded_page_cache
            if cached is None:
                self._cached_pages = False
                return None
            from .page_cache import CachedPages

            pages = self._cached_pages = CachedPages(self, cached)
        elif pages is False:
            return None
        return pages.page(language, statement)

    # --- pages ----------------------------------------------------------------

    @cached_property
    def common(self) -> dict:
        """What every page of every language shows the same way."""
        s = self.settings
        return {
            "business": Business(
                name=s.name,
                phone=s.phone,
                email=s.email,
                address=s.address,
                phone_href="tel:" + re.sub(r"[^0-9+]", "", s.phone) if s.phone else None,
                email_href=f"mailto:{s.email}" if s.email else None,
                pay_instructions=s.pay_instructions,
            ),
            "assets": self.asset_urls,
        }

    def page(self, statement: Statement) -> str:
        """Return the HTML of a customer's page, in their language (else the site's)."""
        language = page_language(self.settings, statement.language)
        if self.cache_path is not None and self._compiler is None:
            html = self._from_cache(language, statement)
            if html is not None:
                return html
            from . import page_cache

            page_cache.remember(self)  # a page the cache could not draw: learn its shape
        voice = self.voice(language)
        compiler = self._compiler
        if compiler is not None:
            html = compiler.fast_page(voice, statement)
            if html is not None:
                return html
        money = voice.money
        balance = statement.balance_minor
        state = state_of(balance)
        tips = []
        if state == "outstanding":
            for percent in (0, *self.settings.tips) if self.settings.tips else ():
                tip = tip_minor(balance, percent)
                tips.append(
                    TipChoice(
                        percent=percent,
                        label=voice.percent(percent) if percent else "",
                        amount=money(tip),
                        total=money(balance + tip),
                        total_minor=balance + tip,
                        checked=percent == 0,
                    )
                )
        shown = statement.entries
        balance_text = money(abs(balance))
        context = {
            **voice.common,
            "customer": {"name": statement.customer_name},  # one field, read once
            "state": state,
            "balance": balance_text,
            "balance_size": _size(balance_text),
            "total": money(balance) if state == "outstanding" else money(0),
            "tips": tips,
            "tips_wide": any(len(t.total) > 10 for t in tips),
            "entries": self._entry_lines(voice, shown, statement.voids),
            "older": max(0, (statement.entry_count or len(shown)) - len(shown)),
            "as_of": self._moment(voice, statement.last_change),
        }
        if self.pay_block is not None:
            context["pay_options"] = self._pay_options(voice, statement, tips) if state == "outstanding" else None
        if self.compiled and self._jinja_pages >= COMPILE_AFTER:
            compiler = self._compiler
            if compiler is None:
                from .compiled_page import PageCompiler

                compiler = self._compiler = PageCompiler(
                    self,
                    lambda voice, context: voice.page_template.render(context),  # type: ignore[attr-defined]
                )
            html = compiler.page(voice, context)
            if html is not None:
                return html
        else:
            self._jinja_pages += 1
            if self.cache_path is not None and self._jinja_pages <= LEARN_PAGES:
                self._jinja_contexts.append((voice, context))
        return voice.page_template.render(context)

    def _pay_options(self, voice: Voice, statement: Statement, tips: list[TipChoice]):
        """The ``#pay-options`` block (escaped Markup): each method paying the balance plus each tip."""
        from .pay_methods import Payer

        if statement.customer_id is None:
            raise ValueError("a page with [[pay]] methods needs the customer's id (Statement.customer_id)")
        balance = statement.balance_minor
        choices = [(t.percent, t.total_minor, t.total) for t in tips] or [(0, balance, voice.money(balance))]
        payer = Payer(statement.customer_id, statement.customer_ref, statement.customer_email)
        options = self.pay_block.options(choices, payer, translations(voice.language).gettext)
        from markupsafe import Markup

        html = voice.env.get_template("_pay_options.html").render(
            {
                **voice.common,
                "tips": tips,
                "tips_wide": any(len(t.total) > 10 for t in tips),
                "total": choices[0][2],
                "options": options,
                "reference": payer.reference,
            }
        )
        return Markup(html)  # rendered with autoescape: customer text in it is escaped

    def gone_page(self) -> str:
        """Return the 410 page (the link was replaced or turned off), in the site's language."""
        voice = self.voice(self.settings.page_language)
        return voice.env.get_template("gone.html").render(voice.common)

    def not_found_page(self) -> str:
        """Return the 404 page, in the site's language."""
        voice = self.voice(self.settings.page_language)
        return voice.env.get_template("not_found.html").render(voice.common)

    def robots(self) -> str:
        """Return robots.txt."""
        return self.source("robots.txt").decode("utf-8")

    # --- formatting -----------------------------------------------------------

    def _entry_lines(self, voice: Voice, entries: list[Entry], voids: Mapping[int, tuple[int, str]]) -> list[EntryLine]:
        """The table's rows; voided entries and their voids marked, a void described by what it reverses."""
        voided = voided_ids(entries, voids)
        money = voice.money
        lines = []
        for entry in entries:
            date_text, date_iso = self._entry_date(voice, entry.posted_at)
            description = entry.description
            if entry.voids_entry_id is not None:
                kind = "reversal"
                description = _reversed_description(entry, voids.get(entry.id))
            else:
                kind = "charge" if entry.amount_minor > 0 else "credit"
            lines.append(
                EntryLine(
                    date=date_text,
                    date_iso=date_iso,
                    description=description,
                    amount=money(entry.amount_minor),
                    kind=kind,
                    voided=entry.id in voided,
                )
            )
        return lines

    def _entry_date(self, voice: Voice, posted_at: str) -> tuple[str, str]:
        """The entry's local date, formatted and as ISO, or the raw text if it is not a time.

        Cached on the language's voice (entries share dates), never on the class:
        an ``lru_cache`` on a method would keep every renderer alive, and
        ``watch`` makes a new one per change.
        """
        cache = voice.entry_dates
        # On a UTC site, paylink's own form "2025-01-15T10:00:00Z" is on its UTC day: cached by day.
        key = (
            posted_at[:10]
            if self.utc and len(posted_at) == 20 and posted_at[10] == "T" and posted_at[19] == "Z"
            else posted_at
        )
        cached = cache.get(key)
        if cached is not None:
            return cached
        moment = parse_utc(posted_at)
        if moment is None:
            result = (posted_at, "")
        else:
            local = moment.astimezone(self.zone).date()
            result = (_format_date(local, voice.locale), local.isoformat())
        if len(cache) >= 8192:
            cache.clear()
        cache[key] = result
        return result

    def _moment(self, voice: Voice, posted_at: str) -> Moment:
        moment = parse_utc(posted_at)
        if moment is None:
            return Moment(text=posted_at, iso="")
        local = moment.astimezone(self.zone)
        return Moment(text=_format_moment(local, voice.locale), iso=local.isoformat())


_PLAIN_CALL = re.compile(r"""\{\{ _\("([^"\\{}%]*)"\) \}\}""")


@lru_cache(maxsize=1)
def pretranslated_texts():
    """The Jinja extension that writes each ``{{ _("text") }}`` without variables as its translation.

    It runs once, when a template is compiled: an environment holds one
    language, so such a call gives the same Markup on every page. The tests
    check that pages come out byte for byte as with Jinja's own gettext. A
    text whose translation looks like template syntax is left to render time.
    (Made on first use so that commands which never render do not import Jinja.)
    """
    from jinja2.ext import Extension
    from markupsafe import Markup

    class PretranslatedTexts(Extension):
        def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
            catalog = self.environment.paylink_catalog  # type: ignore[attr-defined]

            def translated(match: re.Match) -> str:
                # As Jinja's newstyle gettext does: the translation is trusted markup, "%%" is "%".
                text = str(Markup(catalog.gettext(match.group(1))) % {})
                return match.group(0) if any(mark in text for mark in "{}%") else text

            return _PLAIN_CALL.sub(translated, source)

    return PretranslatedTexts


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


def _reversed_description(void: Entry, original: tuple[int, str] | None) -> str:
    """What a void reverses, in the business's words: "Deposit (duplicate import)", never "Void of entry 12: ...".

    The ledger writes a void as ``Void of entry N: <original> (<reason>)``; the
    original's description and the reason are kept, the entry number dropped.
    """
    if original is None:
        return _VOID_PREFIX.sub("", void.description, count=1)
    original_id, described = original
    written = f"Void of entry {original_id}: {described}"
    return described + void.description[len(written) :] if void.description.startswith(written) else described


def _size(amount: str) -> str:
    """How large the balance can be drawn and still fit a 320 px screen on one line."""
    if len(amount) <= 10:
        return "normal"
    return "long" if len(amount) <= 14 else "longer"


def voided_ids(entries: list[Entry], voids: Mapping[int, tuple[int, str]]) -> set[int]:
    """The ids among a page's entries that show as "Voided": each void and the entry it reverses.

    ``voids`` maps the ids of voids shown to (original id, original description),
    so an original that is not among the entries shown still counts.
    """
    voided: set[int] = set()
    for void_id, (original_id, _) in voids.items():
        voided.add(void_id)
        voided.add(original_id)
    for entry in entries:
        if entry.voids_entry_id is not None:
            voided.add(entry.id)
            voided.add(entry.voids_entry_id)
    return voided


def parse_utc(text: str) -> dt.datetime | None:
    """Parse an ISO 8601 time written by paylink or another program; naive means UTC."""
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except (ValueError, AttributeError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


@lru_cache(maxsize=4096)
def _format_date(day: dt.date, locale: str) -> str:
    learnt = _DATE_FORMATS.get(locale)
    if learnt is not None:
        return learnt.date(day)
    from babel.dates import format_date

    return format_date(day, "medium", locale=locale)


def _format_moment(local: dt.datetime, locale: str) -> str:
    """ "Nov 24, 2026, 3:05 PM CST": the locale's medium date, short time and zone abbreviation.

    Built from pieces cached by date, by minute of the day and by offset, since
    Babel takes ~30 µs to format one whole moment.
    """
    learnt = _DATE_FORMATS.get(locale)
    joined = learnt.joined if learnt is not None else _datetime_pattern(locale)
    text = joined.replace("{1}", _format_date(local.date(), locale)).replace(
        "{0}", _format_time(local.hour, local.minute, locale)
    )
    return f"{text} {_format_zone(local, locale)}"


@lru_cache(maxsize=64)
def _datetime_pattern(locale: str) -> str:
    from babel.dates import get_datetime_format

    return str(get_datetime_format("medium", locale=locale))


@lru_cache(maxsize=4096)
def _format_time(hour: int, minute: int, locale: str) -> str:
    learnt = _DATE_FORMATS.get(locale)
    if learnt is not None:
        return learnt.time(hour, minute)
    from babel.dates import format_time

    return format_time(dt.time(hour, minute), "short", locale=locale)


_zone_names: dict[tuple, str] = {}


def _format_zone(local: dt.datetime, locale: str) -> str:
    """The zone's short name ("CST"), looked up once per zone, offset and daylight-saving state."""
    key = (local.tzinfo, local.utcoffset(), local.dst(), locale)
    name = _zone_names.get(key)
    if name is None:
        learnt = _DATE_FORMATS.get(locale)
        if learnt is not None:
            name = learnt.zone(local)
        if name is None:
            from babel.dates import format_datetime

            name = format_datetime(local, "z", tzinfo=local.tzinfo, locale=locale)
        _zone_names[key] = name
    return name


# --- dates without Babel ---------------------------------------------------------------
#
# Like money (money.formatting_facts), a locale's medium date, short time and zone names are
# learnt from Babel once, proven equal to Babel on probes, and kept as plain data in the page
# cache (page_cache.py): a command whose cache is current formats dates without importing Babel.

_DATE_FORMATS: dict[str, "_LearntDates"] = {}
_PATTERN_PART = re.compile(r"'(?:[^']|'')*'|([A-Za-z])\1*|[^'A-Za-z]+")
# The fields a learnt format may hold; names (months, day periods) are taken from Babel.
_DATE_FIELDS, _TIME_FIELDS = set("yMLd"), set("hHKkma")
# Zone names are proven for moments in these years only; others ask Babel.
ZONE_YEARS = (2015, 2041)


def _pattern_parts(pattern: str, allowed: set[str]) -> list[list] | None:
    """A CLDR pattern as [["", literal] or [letter, width], ...], or None if it holds a field not in ``allowed``."""
    parts: list[list] = []
    for match in _PATTERN_PART.finditer(pattern):
        token = match.group(0)
        if match.group(1):
            if token[0] not in allowed or len(token) > 4:
                return None
            parts.append([token[0], len(token)])
        elif token.startswith("'"):
            parts.append(["", "'" if token == "''" else token[1:-1].replace("''", "'")])
        else:
            parts.append(["", token])
    return parts


def date_facts(locale: str, timezone: str) -> dict:
    """Learn how ``locale`` writes a medium date, a short time and ``timezone``'s names: plain JSON data.

    The patterns come from Babel, the month and day-period names from Babel
    formatting each alone; the result is then compared with Babel's own output
    on probes (every month and day length of three years, every hour, the
    zone's states over ZONE_YEARS). Unless every probe agrees, the facts say
    ``"fast": False`` and Babel formats every date.
    """
    from zoneinfo import ZoneInfo

    from babel.dates import format_date, format_datetime, format_time, get_date_format, get_time_format

    facts: dict = {"fast": False}
    date_parts = _pattern_parts(get_date_format("medium", locale=locale).pattern, _DATE_FIELDS)
    time_parts = _pattern_parts(get_time_format("short", locale=locale).pattern, _TIME_FIELDS)
    if date_parts is None or time_parts is None:
        return facts
    names: dict[str, list[str]] = {}
    for letter, width in date_parts:
        if letter in ("M", "L") and width >= 3:
            field = letter * width
            names[field] = [format_date(dt.date(2001, m, 15), field, locale=locale) for m in range(1, 13)]
    for letter, width in time_parts:
        if letter == "a":
            field = "a" * width
            names[field] = [format_time(dt.time(h, 0), field, locale=locale) for h in (1, 13)]
    zone = ZoneInfo(timezone)
    zones: dict[str, str] = {}
    facts.update(date=date_parts, time=time_parts, names=names, joined=_datetime_pattern(locale), zone=timezone)
    learnt = _LearntDates(facts)
    for year in (2000, 2026, 2099):
        for month in range(1, 13):
            last = (dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)).day
            for day in (1, 9, 10, 28, last):
                probe = dt.date(year, month, day)
                if learnt.date(probe) != format_date(probe, "medium", locale=locale):
                    return {"fast": False}
    for hour in range(24):
        for minute in (0, 5, 10, 59):
            if learnt.time(hour, minute) != format_time(dt.time(hour, minute), "short", locale=locale):
                return {"fast": False}
    for year in range(*ZONE_YEARS):
        for month in range(1, 13):
            for day in (1, 15):
                local = dt.datetime(year, month, day, 12, tzinfo=dt.UTC).astimezone(zone)
                name = format_datetime(local, "z", tzinfo=local.tzinfo, locale=locale)
                key = _zone_key(local)
                if zones.setdefault(key, name) != name:
                    zones[key] = ""  # not one name for this state: Babel decides
    facts["zones"] = {k: v for k, v in zones.items() if v}
    facts["fast"] = True
    return facts


def prime_dates(locale: str, facts: dict) -> None:
    """Format ``locale``'s dates from facts ``date_facts`` learnt (kept in the page cache); no-op unless fast."""
    if facts.get("fast") and locale not in _DATE_FORMATS:
        _DATE_FORMATS[locale] = _LearntDates(facts)


def _zone_key(local: dt.datetime) -> str:
    offset, dst = local.utcoffset(), local.dst()
    return f"{offset.total_seconds() if offset is not None else ''}|{dst.total_seconds() if dst is not None else ''}"


class _LearntDates:
    """A locale's date and time formats, from ``date_facts``."""

    def __init__(self, facts: dict):
        self.date_parts = facts["date"]
        self.time_parts = facts["time"]
        self.names = facts["names"]
        self.joined = facts["joined"]
        self.zone_name = facts["zone"]
        self.zones = facts.get("zones", {})

    def date(self, day: dt.date) -> str:
        out = []
        for letter, width in self.date_parts:
            if letter == "":
                out.append(width)
            elif letter == "y":
                out.append(f"{day.year % 100:02d}" if width == 2 else f"{day.year:0{width}d}")
            elif letter == "d":
                out.append(f"{day.day:0{width}d}")
            elif width <= 2:  # M, L
                out.append(f"{day.month:0{width}d}")
            else:
                out.append(self.names[letter * width][day.month - 1])
        return "".join(out)

    def time(self, hour: int, minute: int) -> str:
        out = []
        for letter, width in self.time_parts:
            if letter == "":
                out.append(width)
            elif letter == "m":
                out.append(f"{minute:0{width}d}")
            elif letter == "a":
                out.append(self.names["a" * width][hour >= 12])
            else:
                value = {"H": hour, "h": hour % 12 or 12, "K": hour % 12, "k": hour or 24}[letter]
                out.append(f"{value:0{width}d}")
        return "".join(out)

    def zone(self, local: dt.datetime) -> str | None:
        """The zone's short name as Babel writes it, or None if not proven for this moment."""
        if getattr(local.tzinfo, "key", None) != self.zone_name or not ZONE_YEARS[0] <= local.year < ZONE_YEARS[1]:
            return None
        return self.zones.get(_zone_key(local))
