"""The page cache: what a one-page command needs to draw a page without Jinja or Babel.

A posting command changes one customer's page. Drawing it through Jinja means
importing Jinja and Babel and compiling the templates, some 70 ms, for one page.
The compiled page (compiled_page.py) draws it from format strings instead, but
only once a shape has been rendered by Jinja and checked in that process. This
file keeps, per site, what earlier runs learnt and checked:

- the template fingerprint (render.py), so a no-op build hashes no template;
- each checked page shape's format strings;
- per page language: its locale, ``<html lang>``, money and date formats
  (learnt from Babel and proven equal to it on probes, as money.formatting_facts
  does), and its catalog file for the "older entries" line.

It lives in ``<site>/.paylink-pages.cache`` (mode 0600, written atomically, only
by a command that succeeded), keyed by paylink's version, the settings, and the
(mtime_ns, ctime_ns, size, inode) of every template, catalog and of the Jinja,
Babel and MarkupSafe that rendered it. Anything missing, stale, unreadable,
loosened or another user's means Jinja renders the page, exactly as without
the cache, and the run writes a fresh cache. Every value in a page is still
formatted and escaped per page; only the constant text comes from the cache.
"""

import hashlib
import json
import os
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import layout
from .cachefile import read_private, write_private

if TYPE_CHECKING:  # the drawing's modules are imported when a page is drawn: a no-op build needs only the header
    from .facts import PageFacts

PAGE_CACHE = ".paylink-pages.cache"
# The code that makes and fills the format strings: every module the page's drawing imports
# (tests/test_page_cache.py checks this against the imports themselves).
OWN_CODE = (
    "page_cache.py",
    "compiled_page.py",
    "render.py",
    "template_files.py",
    "compiled_pay.py",  # the pay options an outstanding page of a [[pay]] site shows (and what they import)
    "pay_methods.py",
    "references.py",
    "facts.py",
    "dates.py",
    "money.py",
    "i18n.py",
    "model.py",
    "settings.py",
    "layout.py",
    "cachefile.py",
    "checks.py",
    "errors.py",
)
# Bump when what the cache holds, or how a page is drawn from it, changes.
_VERSION = 2
_MAX_BYTES = 8 << 20


def cache_path_for(override_dir: Path | None) -> Path | None:
    """The page cache of the site whose own templates are in ``override_dir`` (``<site>/site_templates``)."""
    if override_dir is None or override_dir.name != layout.TEMPLATES_DIR:
        return None
    return override_dir.parent / PAGE_CACHE


def _stat(path: Path) -> list:
    try:
        info = os.stat(path)
    except OSError:
        return [str(path)]
    return [str(path), info.st_mtime_ns, info.st_ctime_ns, info.st_size, info.st_ino]


def cache_key(settings, template_dirs: list[Path], catalogs: list[Path]) -> list:
    """What the cached facts depend on, by file metadata (no file is read): any change makes a new key."""
    from . import __version__

    key: list[Any] = [_VERSION, sys.version, __version__, repr(sorted(vars(settings).items()))]
    for folder in template_dirs:
        key.append(_stat(folder))  # a file added or removed changes the folder's mtime
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            names = []
        key.extend(_stat(folder / name) for name in names)
    key.extend(_stat(path) for path in catalogs)
    # The code that makes and fills the format strings (a change of it need not change the version).
    here = Path(__file__).parent
    key.extend(_stat(here / name) for name in OWN_CODE)
    key.extend(_library_stats())
    return key


def _library_stats() -> list:
    """The installed Jinja, MarkupSafe and Babel (an upgrade may change how a page is written)."""
    from importlib.util import find_spec

    stats = []
    for name in ("jinja2", "markupsafe", "babel"):
        try:
            spec = find_spec(name)
        except (ImportError, ValueError):
            spec = None
        stats.append(_stat(Path(spec.origin)) if spec is not None and spec.origin else [name])
    return stats


class CacheFile:
    """One site's cache as read from its file: the header at once, the shapes when first needed."""

    def __init__(self, path: Path, key: list, header: dict, body: bytes):
        self.path = path
        self.key = key
        self.fingerprint: str = header["fingerprint"]
        self._digest = header.get("body")
        self._body = body
        self._parsed: dict | None = None

    @property
    def body(self) -> dict:
        """The shapes and languages; empty if the file was damaged (then Jinja draws every page)."""
        if self._parsed is None:
            self._parsed = {}
            if hashlib.sha256(self._body).hexdigest() == self._digest:
                try:
                    parsed = json.loads(self._body)
                except ValueError:
                    parsed = None
                if isinstance(parsed, dict):
                    self._parsed = parsed
        return self._parsed


def read(path: Path, key: list) -> CacheFile | None:
    """The cache at ``path`` if it is ours, private, intact and for ``key``; else None."""
    data = read_private(path, _MAX_BYTES)
    if data is None:
        return None
    try:
        head, _, body = data.partition(b"\n")
        header = json.loads(head)
        if header.get("key") != key or not isinstance(header.get("fingerprint"), str):
            return None
        return CacheFile(path, key, header, body)
    except (ValueError, TypeError, AttributeError):
        return None


def write(path: Path, header: dict, body: dict) -> None:
    """Write the cache atomically, mode 0600; a folder we may not write in just means no cache."""
    text = json.dumps(body, ensure_ascii=False).encode("utf-8")
    write_private(path, json.dumps({**header, "body": hashlib.sha256(text).hexdigest()}).encode("utf-8") + b"\n" + text)


# --- the workspace's page cache -----------------------------------------------------


class PageCache:
    """A site's page cache for one command, owned by its workspace: read when first needed, and
    saved by the workspace when the command succeeded (never by a command that failed).

    The key is taken when this is made, before any template or asset is read: a
    file that changes later gives the next run another key. The workspace hands
    ``pages()`` to its renderer and tells this cache which renderer to learn
    from (``learn_from``); ``save`` writes what that renderer drew or compiled.
    """

    def __init__(self, path: Path, settings, template_dirs: list[Path], catalogs: list[Path]):
        self.path = path
        self.settings = settings
        self.key = cache_key(settings, template_dirs, catalogs)
        self._read = False
        self._stored: CacheFile | None = None
        self._pages: CachedPages | None = None
        self._renderer: Any = None

    def _file(self) -> CacheFile | None:
        """The file for this key, read once (its pages are parsed only when first drawn from)."""
        if not self._read:
            self._stored, self._read = read(self.path, self.key), True
        return self._stored

    @property
    def fingerprint(self) -> str | None:
        """The templates' fingerprint the file holds for this key (None: missing, stale or damaged), read
        without parsing its pages: all a build with nothing to do needs (pages.PageWriter.build)."""
        stored = self._file()
        return stored.fingerprint if stored is not None else None

    def pages(self) -> "CachedPages":
        """The pages this cache can draw (none if the file is missing, stale or damaged)."""
        if self._pages is None:
            self._pages = CachedPages(self._file(), self.settings)
        return self._pages

    def learn_from(self, renderer) -> None:
        """Keep what ``renderer`` learns (its checked shapes, its languages) for ``save``."""
        self._renderer = renderer

    def save(self) -> None:
        """Write what this run learnt, merged with what the file held; nothing if it learnt nothing."""
        renderer = self._renderer
        self._renderer = None
        if renderer is None or not renderer.learnt:
            return
        try:
            header, body = _export(renderer, self.pages().stored, self.key)
        except Exception:  # noqa: BLE001 — a cache is never worth a failed command
            return
        write(self.path, header, body)


# --- drawing pages from the cache --------------------------------------------------


class LightVoice:
    """How a language writes money, percentages and dates (facts.PageFormats), from the cache: no Jinja,
    no Babel; and the ``ngettext`` the compiled page needs for the "older entries" line."""

    def __init__(self, settings, language: str, facts: dict):
        from . import money
        from .dates import LocalDates, prime_dates

        self.language = language
        self.currency = settings.currency
        self.locale: str = facts["locale"]
        self.lang: str = facts["lang"]
        money.prime(self.currency, self.locale, facts["money"])
        prime_dates(self.locale, facts["dates"])
        self.dates = LocalDates(self.locale, settings.timezone)
        self.percents: dict[int, str] = {int(p): text for p, text in facts.get("percents", {}).items()}
        self.env = _LightEnv(facts.get("catalog"))
        self.money: Callable[[int], str] = money.money_formatter(self.currency, self.locale)

    def percent(self, percent: int) -> str:
        text = self.percents.get(percent)
        if text is None:  # not learnt (the cache is for these settings' tips): Babel writes it
            from babel.numbers import format_percent

            text = self.percents[percent] = format_percent(Decimal(percent) / 100, locale=self.locale)
        return text


class _LightEnv:
    """A template environment's ``globals`` as far as the compiled page uses them (``ngettext``)."""

    def __init__(self, catalog: str | None):
        self._catalog = catalog
        self._globals: dict | None = None

    @property
    def globals(self) -> dict:
        if self._globals is None:
            import gettext

            from .i18n import gettext_globals

            # Babel's Translations is gettext's GNUTranslations, loaded from the same file.
            if self._catalog:
                with open(self._catalog, "rb") as file:
                    translations: gettext.NullTranslations = gettext.GNUTranslations(file)
            else:
                translations = gettext.NullTranslations()
            self._globals = gettext_globals(translations)
        return self._globals


def _format_key(key) -> str:
    if key == "whole":
        return "whole"
    if key[0] in ("prefix", "suffix"):
        return json.dumps([key[0], list(key[1])])
    before, variant = key
    return json.dumps(["row", list(before) if before is not None else None, list(variant)])


def _parse_format_key(text: str):
    if text == "whole":
        return "whole"
    parts = json.loads(text)
    if parts[0] in ("prefix", "suffix"):
        return (parts[0], tuple(parts[1]))
    return (tuple(parts[1]) if parts[1] is not None else None, tuple(parts[2]))


def _tupled(value):
    """A JSON array (lists in lists) as the tuples it was written from."""
    return tuple(_tupled(item) for item in value) if isinstance(value, list) else value


class CachedPages:
    """Pages drawn from the cache file (render.PageSource): a compiled page whose shapes come from the file."""

    def __init__(self, stored: CacheFile | None, settings):
        from .compiled_page import PageCompiler, PageShape

        self.stored = stored
        self.settings = settings
        self.fingerprint: str | None = stored.fingerprint if stored is not None else None
        self.voices: dict[str, LightVoice | None] = {}
        self.compiler = PageCompiler(None)
        self.drawn = 0
        body = stored.body if stored is not None else {}
        texts = body.get("texts", [])
        # The pay blocks' checked shapes (compiled_pay.py): (language, tips, layout) -> constant texts and holes.
        self.pay_shapes: dict[tuple, list[str]] = _stored_pay_shapes(body)
        for key, data in body.get("shapes", []):
            try:
                formats = {_parse_format_key(k): texts[i] for k, i in data["formats"].items()}
                # (singular, plural, variables): a shape is only compiled when the call has no variables
                older: tuple | None = (data["older"][0], data["older"][1], {}) if data["older"] is not None else None
                self.compiler.shapes[tuple(key)] = PageShape.restored(
                    self.compiler, data["has_entries"], older, formats
                )
            except (KeyError, TypeError, ValueError, IndexError, AttributeError):
                continue

    def formats(self, language: str) -> LightVoice | None:
        """How ``language`` is written, from the cache; None if the cache does not know it."""
        if language not in self.voices:
            facts = self.stored.body.get("languages", {}).get(language) if self.stored is not None else None
            try:
                self.voices[language] = LightVoice(self.settings, language, facts) if facts else None
            except (KeyError, TypeError, ValueError, OSError, AttributeError):
                self.voices[language] = None
        return self.voices[language]

    def page(self, formats, facts: "PageFacts") -> str | None:
        """The page of these facts from the cached shapes, or None (then Jinja renders it)."""
        if not self.compiler.shapes:
            return None
        try:
            html = self.compiler.page(formats, facts)
        except Exception:  # noqa: BLE001 — a cache that does not fit this code: Jinja draws the page
            return None
        if html is not None:
            self.drawn += 1
        return html


# --- learning and saving ------------------------------------------------------------


def _export(renderer, stored: CacheFile | None, key: list) -> tuple[dict, dict]:
    """The cache's content after this run: the old cache's shapes and languages, and what this run learnt."""
    from . import money
    from .compiled_page import PageShape, Unusable
    from .dates import date_facts
    from .i18n import catalog_file

    body = stored.body if stored is not None else {}
    languages: dict = dict(body.get("languages", {}))
    shapes: dict[tuple, dict] = {}
    old_texts = body.get("texts", [])
    for shape_key, data in body.get("shapes", []):
        try:
            formats = {k: old_texts[i] for k, i in data["formats"].items()}
            shapes[tuple(shape_key)] = {"has_entries": data["has_entries"], "older": data["older"], "formats": formats}
        except (KeyError, TypeError, IndexError):
            continue
    compiler = renderer.learnt_compiler()
    if compiler is not None:
        for shape_key, shape in compiler.shapes.items():
            if not isinstance(shape, PageShape) or not shape.checked or shape_key in shapes:
                continue
            try:
                formats = shape.completed_formats()
            except Unusable:
                continue
            shapes[shape_key] = {
                "has_entries": shape.has_entries,
                "older": list(shape.older_call[:2]) if shape.older_call is not None else None,
                "formats": {_format_key(k): v for k, v in formats.items()},
            }
    settings = renderer.settings
    for language, voice in renderer.voices_made().items():
        if language in languages:
            continue
        catalog = catalog_file(language)
        languages[language] = {
            "locale": voice.locale,
            "lang": voice.lang,
            "money": money.formatting_facts(settings.currency, voice.locale),
            "dates": date_facts(voice.locale, settings.timezone),
            "percents": {str(p): voice.percent(p) for p in settings.tips},
            "catalog": str(catalog) if catalog is not None else None,
        }
    texts: list[str] = []
    index: dict[str, int] = {}
    kept = []
    for shape_key, data in shapes.items():
        numbered = {}
        for k, text in data["formats"].items():
            if text not in index:
                index[text] = len(texts)
                texts.append(text)
            numbered[k] = index[text]
        kept.append([list(shape_key), {**data, "formats": numbered}])
    pay_shapes = _stored_pay_shapes(body)
    pay_shapes.update(renderer.learnt_pay_shapes())
    header = {"key": key, "fingerprint": renderer.fingerprint}
    return header, {
        "languages": languages,
        "shapes": kept,
        "texts": texts,
        "pay_shapes": [[list(k), tokens] for k, tokens in pay_shapes.items()],
    }


def _stored_pay_shapes(body: dict) -> dict[tuple, list[str]]:
    """The pay blocks' checked shapes (compiled_pay.py) a cache's body holds: (language, tip percents,
    layout) -> the block's constant texts and holes, alternating."""
    shapes = {}
    for item in body.get("pay_shapes", []):
        try:
            key, tokens = item
            holes = tokens[1::2]
            if len(key) == 3 and len(tokens) % 2 and all(isinstance(t, str) for t in tokens):
                if all(hole.isdigit() for hole in holes):
                    shapes[_tupled(key)] = tokens
        except (TypeError, ValueError):
            continue
    return shapes
