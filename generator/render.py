"""The renderer: a customer's statement in, the page's HTML out (a string; it writes nothing).

A page's values are computed once, by ``facts.page_facts``; this module draws
them: with Jinja (templates hold markup only; autoescape on for every ``.html``
template), or, once a run has drawn a few pages, with the compiled page
(compiled_page.py), which is cut from Jinja's own output and proven equal to it.
A renderer may be handed a page source (the site's page cache, owned by the
command's workspace) to draw pages from before it compiles anything; it never
looks for a cache itself. A site may override any template or asset by putting
a file of the same name in ``<site>/site_templates/``.
"""

import hashlib
import re
from collections.abc import Callable
from decimal import Decimal
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Protocol

from . import layout
from .dates import LocalDates
from .facts import PageFacts, PageFormats, Statement, page_facts
from .i18n import gettext_globals, html_lang, money_locale, page_language, translations
from .money import money_formatter
from .settings import Settings
from .template_files import builtin_templates_dir, catalog_files, named_assets, source, template_dirs

if TYPE_CHECKING:
    from markupsafe import Markup

    from .compiled_page import PageCompiler

__all__ = ["Renderer", "Statement", "PageFacts", "builtin_templates_dir", "catalog_files", "template_dirs"]

# The templates' name for each asset's URL (``assets.css``, ``assets.pay_js``, ...).
_ASSET_KEYS = {"paylink.css": "css", "tips.js": "js", "favicon.svg": "icon", "pay.css": "pay_css", "pay.js": "pay_js"}
# What counts as a template when deciding whether every page must be re-rendered.
TEMPLATE_SUFFIXES = {".html", ".css", ".js", ".svg", ".txt"}
# A renderer compiles its pages after rendering this many with Jinja (a posting command renders one or two).
COMPILE_AFTER = 8
# A command that drew at most this many pages with Jinja compiles their shapes for the page cache when it ends.
LEARN_PAGES = 4
# How an outstanding page learns its pay options (CONTRACT §8): (statement, the page's facts without
# them) -> escaped HTML, or None. A site with [[pay]] methods draws them with ``Renderer.pay_block``.
PayOptions = Callable[[Statement, PageFacts], "Markup | None"]


class PageSource(Protocol):
    """Pages drawn without templates (page_cache.CachedPages): handed to a renderer by its owner,
    who keeps what the renderer learns (``learnt``, ``learnt_compiler``) when the run succeeds."""

    fingerprint: str | None  # the templates' fingerprint, if the source is current

    def formats(self, language: str) -> PageFormats | None: ...

    def page(self, formats: PageFormats, facts: PageFacts) -> str | None: ...


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
        self.dates = LocalDates(self.locale, s.timezone)
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
        self.percents: dict[int, str] = {}
        # The language's money formatter itself: a build formats millions of amounts.
        self.money: Callable[[int], str] = money_formatter(self.currency, self.locale)

    def percent(self, percent: int) -> str:
        text = self.percents.get(percent)
        if text is None:
            from babel.numbers import format_percent

            text = self.percents[percent] = format_percent(Decimal(percent) / 100, locale=self.locale)
        return text

    def draw(self, facts: PageFacts, overrides: dict | None = None) -> str:
        """The page of these facts, rendered by Jinja."""
        context = {**self.common, **facts.context()}
        if overrides:
            context.update(overrides)
        return self.page_template.render(context)


class Renderer:
    """Renders a site's pages with its settings and templates."""

    def __init__(
        self,
        settings: Settings,
        override_dir: Path | None = None,
        *,
        fast_gettext: bool = True,
        cached: PageSource | None = None,
        pay_options: PayOptions | None = None,
        qr_codes=None,
    ):
        self.settings = settings
        # False renders through Jinja's own newstyle gettext (the tests compare the two).
        self.fast_gettext = fast_gettext
        self.template_dirs = template_dirs(override_dir)
        self._voices: dict[str, Voice] = {}
        # Pages drawn from the site's page cache, when the owner of this renderer hands one over.
        self.cached = cached if fast_gettext else None
        if pay_options is None and settings.pay:
            pay_options = self.pay_block
        self.pay_options = pay_options
        # The site's QR cache (qr_cache.QrCodes), when the owner of this renderer hands one over.
        self.qr_codes = qr_codes
        # The compiled page (see compiled_page.py): only with paylink's own page templates and
        # gettext, and only once a run has rendered a few pages (compiling costs a few renders).
        self._compiler: PageCompiler | None = None
        self._jinja_pages = 0
        self.compiled = fast_gettext and not (
            override_dir is not None
            and override_dir.is_dir()
            and any(p.suffix == ".html" for p in override_dir.iterdir())
        )
        # Whether this run drew a page or took a fingerprint the page source did not have (worth saving).
        self.learnt = False
        self._jinja_facts: list[tuple[Voice, PageFacts]] = []  # a small command's pages, to learn from

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
        return source(self.template_dirs, name)

    @cached_property
    def assets(self) -> dict[str, bytes]:
        """Content-hashed asset file names (inside ``assets/``) and their bytes."""
        return {hashed: data for hashed, (_, data) in self._named_assets.items()}

    @cached_property
    def _named_assets(self) -> dict[str, tuple[str, bytes]]:
        return named_assets(self.template_dirs, bool(self.settings.pay))

    @cached_property
    def asset_urls(self) -> dict[str, str]:
        return {_ASSET_KEYS[name]: f"/{layout.ASSETS_DIR}/{hashed}" for hashed, (name, _) in self._named_assets.items()}

    @cached_property
    def fingerprint(self) -> str:
        """A digest of everything that shapes every page: templates, assets, catalogs and settings.

        Taken from the page source when it has one (the page cache is keyed by
        the files' metadata), so a no-op build reads no template.
        """
        if self.cached is not None and self.cached.fingerprint is not None:
            return self.cached.fingerprint
        from . import __version__

        digest = hashlib.sha256(__version__.encode())
        digest.update(repr(sorted(vars(self.settings).items())).encode())
        for folder in self.template_dirs:
            for path in sorted(folder.iterdir()):
                if path.is_file() and path.suffix in TEMPLATE_SUFFIXES:
                    digest.update(f"{path}\0".encode() + path.read_bytes() + b"\0")
        for catalog in catalog_files():
            if catalog.is_file():
                digest.update(f"{catalog}\0".encode() + catalog.read_bytes() + b"\0")
        self.learnt = True
        return digest.hexdigest()

    def voices_made(self) -> dict[str, "Voice"]:
        """The languages this renderer has made a Voice for (the page cache learns their formats)."""
        return dict(self._voices)

    def _new_compiler(self) -> "PageCompiler":
        from .compiled_page import PageCompiler

        return PageCompiler(Voice.draw)  # type: ignore[arg-type]  # the compiler hands back this renderer's voices

    def learnt_compiler(self) -> "PageCompiler | None":
        """The compiled page with this run's checked shapes, for the page cache.

        A command that drew only a few pages with Jinja compiles their shapes
        now (a few more renders, each checked against the page it wrote).
        """
        if self._jinja_facts and self.compiled:
            if self._compiler is None:
                self._compiler = self._new_compiler()
            for voice, facts in self._jinja_facts:
                self._compiler.page(voice, facts)
            self._jinja_facts = []
        return self._compiler

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

    def facts(self, statement: Statement, formats: PageFormats) -> PageFacts:
        """The facts of a customer's page in ``formats``' language (facts.page_facts with this site's tips),
        with the pay options of an outstanding page."""
        facts = page_facts(statement, formats, self.settings.tips)
        if self.pay_options is not None and facts.state == "outstanding":
            facts = facts._replace(pay_options=self.pay_options(statement, facts))
        return facts

    @cached_property
    def _pay_methods(self):
        from .pay_methods import PayBlock

        return PayBlock(self.settings.pay, self.settings.currency, self.qr_codes)

    def pay_block(self, statement: Statement, facts: PageFacts) -> "Markup":
        """The ``#pay-options`` block of an outstanding page (escaped Markup, see _pay_options.html):
        each ``[[pay]]`` method paying the balance plus each tip choice of ``facts``. Once its shape is
        compiled (in this run, or in the page cache), no template engine and no Babel are needed."""
        from markupsafe import Markup

        from .i18n import plain_translations
        from .pay_methods import Payer

        if statement.customer_id is None:
            raise ValueError("a page with [[pay]] methods needs the customer's id (Statement.customer_id)")
        choices = [(t.percent, t.total_minor, t.total) for t in facts.tips] or [
            (0, statement.balance_minor, facts.total)
        ]
        payer = Payer(statement.customer_id, statement.customer_ref, statement.customer_email)
        language = facts.language
        options = self._pay_methods.options(choices, payer, plain_translations(language).gettext)
        if self.compiled:
            compiler = self.pay_compiler
            html = compiler.block(language, facts.tips, options, payer.reference)
            if compiler.learnt:  # a shape checked in this run: the page cache keeps it
                self.learnt = True
        else:
            html = self._draw_pay_block(language, facts.tips, options, payer.reference)
        return Markup(html)  # rendered with autoescape (or as it would render): customer text in it is escaped

    @cached_property
    def pay_compiler(self):
        """The compiled pay block (compiled_pay.py): made on first use, owned by this renderer, with the
        shapes the page source (the page cache) holds."""
        from .compiled_pay import PayBlockCompiler

        compiler = PayBlockCompiler(self._draw_pay_block)
        known = getattr(self.cached, "pay_shapes", None)
        if known:
            compiler.restore(known)
        return compiler

    def learnt_pay_shapes(self) -> dict:
        """The pay block shapes this run compiled and checked (for the page cache)."""
        compiler = self.__dict__.get("pay_compiler")
        return compiler.checked_shapes() if compiler is not None else {}

    def _draw_pay_block(self, language: str, tips: tuple, options, reference: str) -> str:
        """The pay block rendered by Jinja (the compiled pay block is cut from it and checked against it)."""
        voice = self.voice(language)
        return voice.env.get_template("_pay_options.html").render(
            {**voice.common, "tips": tips, "options": options, "reference": reference}
        )

    def page(self, statement: Statement) -> str:
        """Return the HTML of a customer's page, in their language (else the site's)."""
        language = page_language(self.settings, statement.language)
        cached = self.cached
        if cached is not None and self._compiler is None:
            formats = cached.formats(language)
            if formats is not None:
                html = cached.page(formats, self.facts(statement, formats))
                if html is not None:
                    return html
        self.learnt = True  # a page the source could not draw: its shape is worth keeping
        voice = self.voice(language)
        facts = self.facts(statement, voice)
        compiler = self._compiler
        if compiler is None and self.compiled and self._jinja_pages >= COMPILE_AFTER:
            compiler = self._compiler = self._new_compiler()
        if compiler is not None:
            html = compiler.page(voice, facts)
            if html is not None:
                return html
            return voice.draw(facts)
        self._jinja_pages += 1
        if self.cached is not None and self._jinja_pages <= LEARN_PAGES:
            self._jinja_facts.append((voice, facts))
        return voice.draw(facts)

    def gone_page(self, language: str | None = None) -> str:
        """Return the 410 page (the link was replaced or turned off), in ``language`` (default: the site's)."""
        voice = self.voice(language or self.settings.page_language)
        return voice.env.get_template("gone.html").render(voice.common)

    def not_found_page(self, language: str | None = None) -> str:
        """Return the 404 page, in ``language`` (default: the site's)."""
        voice = self.voice(language or self.settings.page_language)
        return voice.env.get_template("not_found.html").render(voice.common)

    def error_pages(self) -> dict[str, str]:
        """Every error page by its file name in ``build/`` (``layout.ERROR_PAGES``): the site's language and each
        of ``layout.LANGUAGES``, so an edge can answer in the language a browser asks for."""
        pages = {}
        for language in (None, *layout.LANGUAGES):
            pages[layout.error_page_name(layout.NOT_FOUND_PAGE, language)] = self.not_found_page(language)
            pages[layout.error_page_name(layout.GONE_PAGE, language)] = self.gone_page(language)
        return pages

    def robots(self) -> str:
        """Return robots.txt."""
        return self.source("robots.txt").decode("utf-8")


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
