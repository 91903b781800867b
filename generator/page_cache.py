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
import weakref
from pathlib import Path
from typing import Any

from . import layout
from .cachefile import read_private, write_private

PAGE_CACHE = ".paylink-pages.cache"
_OWN_CODE = ("page_cache.py", "compiled_page.py", "render.py", "money.py", "i18n.py", "model.py")
# Bump when what the cache holds, or how a page is drawn from it, changes.
_VERSION = 1
_MAX_BYTES = 8 << 20
_VARIANTS = tuple((kind, voided) for kind in ("charge", "credit", "reversal") for voided in (False, True))


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
    key.extend(_stat(here / name) for name in _OWN_CODE)
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


class PageCache:
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


def read(path: Path, key: list) -> PageCache | None:
    """The cache at ``path`` if it is ours, private, intact and for ``key``; else None."""
    data = read_private(path, _MAX_BYTES)
    if data is None:
        return None
    try:
        head, _, body = data.partition(b"\n")
        header = json.loads(head)
        if header.get("key") != key or not isinstance(header.get("fingerprint"), str):
            return None
        return PageCache(path, key, header, body)
    except (ValueError, TypeError, AttributeError):
        return None


def write(path: Path, header: dict, body: dict) -> None:
    """Write the cache atomically, mode 0600; a folder we may not write in just means no cache."""
    text = json.dumps(body, ensure_ascii=False).encode("utf-8")
    write_private(path, json.dumps({**header, "body": hashlib.sha256(text).hexdigest()}).encode("utf-8") + b"\n" + text)


# --- drawing pages from the cache --------------------------------------------------


class LightVoice:
    """What the compiled page needs of a language's Voice, without Jinja or Babel.

    Anything else a page needs is taken from the real Voice, made on first use
    (importing Jinja): slower, never different.
    """

    def __init__(self, renderer, language: str, facts: dict):
        from . import money

        settings = renderer.settings
        self._renderer = renderer
        self.language = language
        self.currency = settings.currency
        self.locale: str = facts["locale"]
        self.lang: str = facts["lang"]
        self.entry_dates: dict[str, tuple[str, str]] = {}
        money.prime(self.currency, self.locale, facts["money"])
        from .render import prime_dates

        prime_dates(self.locale, facts["dates"])
        self.env = _LightEnv(facts.get("catalog"))

    def money(self, minor: int) -> str:
        from .money import format_money

        return format_money(minor, self.currency, self.locale)

    @property
    def format_money(self):
        """The money formatter itself (as ``Voice.format_money``)."""
        from .money import money_formatter

        return money_formatter(self.currency, self.locale)

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._renderer.voice(self.language), name)


class _LightEnv:
    """A template environment's ``globals`` as far as the compiled page uses them (``ngettext``)."""

    def __init__(self, catalog: str | None):
        self._catalog = catalog
        self._globals: dict | None = None

    @property
    def globals(self) -> dict:
        if self._globals is None:
            import gettext

            from .render import gettext_globals

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


class CachedPages:
    """A renderer's pages drawn from the cache: a compiled page whose shapes come from the file."""

    def __init__(self, renderer, cache: PageCache):
        from .compiled_page import PageCompiler

        self.renderer = renderer
        self.cache = cache
        self.voices: dict[str, LightVoice | None] = {}
        self.compiler = PageCompiler(renderer, _never_checked)
        self.loaded_shapes: dict[tuple, dict] = {}
        self.drawn = 0
        body = cache.body
        shapes = body.get("shapes", [])
        texts = body.get("texts", [])
        for key, data in shapes:
            try:
                key = tuple(key)
                formats = {_parse_format_key(k): texts[i] for k, i in data["formats"].items()}
                # (singular, plural, variables): a shape is only compiled when the call has no variables
                older: tuple | None = (data["older"][0], data["older"][1], {}) if data["older"] is not None else None
                self.compiler.shapes[key] = _restored_shape(self.compiler, data["has_entries"], older, formats)
                self.loaded_shapes[key] = data
            except (KeyError, TypeError, ValueError, IndexError, AttributeError):
                continue

    def voice(self, language: str) -> LightVoice | None:
        if language not in self.voices:
            facts = self.cache.body.get("languages", {}).get(language)
            try:
                self.voices[language] = LightVoice(self.renderer, language, facts) if facts else None
            except (KeyError, TypeError, ValueError, OSError, AttributeError):
                self.voices[language] = None
        return self.voices[language]

    def page(self, language: str, statement) -> str | None:
        """The page from the cached shapes, or None (then Jinja renders it)."""
        voice = self.voice(language)
        if voice is None or not self.compiler.shapes:
            return None
        try:
            html = self.compiler.fast_page(voice, statement)
        except Exception:  # noqa: BLE001 — a cache that does not fit this code: Jinja draws the page
            return None
        if html is not None:
            self.drawn += 1
        return html


def _never_checked(voice, context) -> str:
    raise AssertionError("a cached shape is checked already")  # pragma: no cover


def _restored_shape(compiler, has_entries: bool, older_call, formats: dict):
    from .compiled_page import PageShape, _Unusable

    class RestoredShape(PageShape):
        """A checked shape read from the cache: its format strings, and no template to make others from."""

        def __init__(self):  # noqa: D107 — nothing is rendered: the formats were checked when cached
            self.compiler = compiler
            self.voice = None
            self.context = {}
            self.has_entries = has_entries
            self.older_call = older_call
            self.checked = True
            self._rows = {}
            self._seps = {}
            self._formats = dict(formats)
            self.numbered_rows = {}
            self.older_texts = {}
            self.tokens = []

        def _render(self, rows):
            raise _Unusable  # a format the cache lacks: Jinja draws this page

    return RestoredShape()


# --- learning and saving ------------------------------------------------------------

# Renderers that learnt something, by cache file: weakly held, so a renderer never outlives
# its run (``watch`` makes one per change). The CLI turns them into plain data before it
# closes the workspace (``prepare_pending``) and writes that if the command succeeded.
_PENDING: dict[Path, weakref.ref] = {}
_READY: dict[Path, tuple[dict, dict]] = {}


def remember(renderer) -> None:
    """Save what ``renderer`` learnt into its site's cache if the command succeeds (``save_pending``)."""
    if renderer.cache_path is not None:
        _PENDING[renderer.cache_path] = weakref.ref(renderer)


def prepare_pending() -> None:
    """Take what this run's live renderers learnt, as the data to write (before they are dropped)."""
    while _PENDING:
        path, ref = _PENDING.popitem()
        renderer = ref()
        if renderer is None:
            continue
        try:
            _READY[path] = _export(renderer)
        except Exception:  # noqa: BLE001 — a cache is never worth a failed command
            continue


def forget_pending() -> None:
    """Drop what a failed command would have saved."""
    _PENDING.clear()
    _READY.clear()


def save_pending() -> None:
    """Write the caches this run learnt (the CLI calls this when a command succeeded)."""
    prepare_pending()
    while _READY:
        path, (header, body) = _READY.popitem()
        write(path, header, body)


def _export(renderer) -> tuple[dict, dict]:
    """The cache's content after this run: the old cache's shapes and languages, and what this run learnt."""
    from . import money
    from .render import date_facts

    key = renderer.cache_key
    old = renderer.loaded_page_cache
    body = old.body if old is not None else {}
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
        from .compiled_page import PageShape, _Unusable

        for shape_key, shape in compiler.shapes.items():
            if not isinstance(shape, PageShape) or not shape.checked or shape_key in shapes:
                continue
            try:
                _complete(shape)
            except _Unusable:
                continue
            shapes[shape_key] = {
                "has_entries": shape.has_entries,
                "older": list(shape.older_call[:2]) if shape.older_call is not None else None,
                "formats": {_format_key(k): v for k, v in shape._formats.items()},
            }
    settings = renderer.settings
    for language, voice in renderer.voices_made().items():
        if language in languages:
            continue
        from .i18n import catalog_file

        catalog = catalog_file(language)
        languages[language] = {
            "locale": voice.locale,
            "lang": voice.lang,
            "money": money.formatting_facts(settings.currency, voice.locale),
            "dates": date_facts(voice.locale, settings.timezone),
            "catalog": str(catalog) if catalog is not None else None,
        }
    texts: list[str] = []
    index: dict[str, int] = {}
    stored = []
    for shape_key, data in shapes.items():
        numbered = {}
        for k, text in data["formats"].items():
            if text not in index:
                index[text] = len(texts)
                texts.append(text)
            numbered[k] = index[text]
        stored.append([list(shape_key), {**data, "formats": numbered}])
    header = {"key": key, "fingerprint": renderer.fingerprint}
    return header, {"languages": languages, "shapes": stored, "texts": texts}


def _complete(shape) -> None:
    """Make every format string a page of this shape may need (each row variant, each pair of rows)."""
    if not shape.has_entries:
        shape.whole_format()
        return
    from .compiled_page import _Unusable

    usable = []
    for variant in _VARIANTS:
        try:
            shape.prefix_format(variant)
            shape.suffix_format(variant)
            shape.row_format(None, variant)
            usable.append(variant)
        except _Unusable:
            continue
    for before in usable:
        for variant in usable:
            try:
                shape.row_format(before, variant)
            except _Unusable:
                continue
