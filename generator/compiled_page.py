"""The compiled page: the customer page's constant text, compiled once with holes for the values.

For each page *shape* (``PageFacts.shape``: language, state, how the balance is
sized, whether the tips show and how wide, whether there are entries, whether
older entries are mentioned, whether pay options fill their slot) the real
Jinja template is rendered once from facts whose every value is a unique
sentinel. The output is split on the sentinels into constant text and holes; a
page is then the constant text joined with its facts' values, escaped as
Jinja's autoescape escapes them (``markupsafe.escape``). Nothing here computes a
value of the page: the facts (facts.py) are the only source.

The rows of the entries table repeat, so they are compiled per variant
(``facts.VARIANTS``): a page with one row of each variant gives the text
before, inside and after a row, a page with two rows the text between them.
Every compiled shape is checked against the structure it must have, and its
first page against Jinja's own output; anything that does not match (a site's
own template, a translation that moves or transforms a value) is left to
Jinja, so the bytes are always Jinja's.
"""

import re
from collections.abc import Callable

from markupsafe import Markup, escape

from .dates import Moment
from .facts import VARIANTS, EntryLine, PageFacts, TipChoice

_OPEN, _CLOSE = "\ue000", "\ue001"  # private-use characters: escaping leaves them alone
_SENTINEL = re.compile(f"{_OPEN}([^{_OPEN}{_CLOSE}]*){_CLOSE}")
_ROW_FIELDS = ("date", "date_iso", "description", "amount")


_UNUSABLE = object()
_ESCAPED = re.compile("[&<>'\"]")  # what markupsafe.escape changes
# Bound of each exact cache (escaped texts; money per language). The build's memory counts
# the whole process tree, and the helper keeps its own copies: at 65,536 entries a cache a
# 20,000-page build's main process peaked at 71 MB, at 8,192 at 57 MB.
CACHE_ENTRIES = 8192


def _s(key: str) -> str:
    return f"{_OPEN}{key}{_CLOSE}"


def _tokens(text: str) -> list[str]:
    """Split a rendered page into [const, key, const, key, ..., const]."""
    return _SENTINEL.split(text)


class Unusable(Exception):
    """The shape (or one of its formats) cannot be compiled exactly: the caller renders it with Jinja."""


class PageShape:
    """One shape's compiled text: constant chunks around holes, and its rows by variant."""

    def __init__(self, compiler: "PageCompiler", voice, facts: PageFacts):
        self.compiler = compiler
        self.voice = voice
        self.sentinels = _sentinel_facts(facts)  # the shape's facts, every value a sentinel
        self.has_entries = bool(facts.entries)
        self.older_call: tuple | None = None
        self.checked = False
        self._rows: dict[tuple, tuple] = {}  # variant -> (prefix tokens, inner tokens, suffix tokens)
        self._seps: dict[tuple, str] = {}
        self._formats: dict = {}
        self.numbered_rows: dict[int, str] = {}  # row_format by variant numbers (see fill)
        self.older_texts: dict[int, str] = {}  # the "older entries" line by how many
        if not self.has_entries:
            self.tokens = self._render([])
            self._check_keys(self.tokens, set())

    @classmethod
    def restored(cls, compiler: "PageCompiler", has_entries: bool, older_call: tuple | None, formats: dict):
        """A checked shape from its format strings (the page cache's): no template to make other formats from."""
        shape = cls.__new__(cls)
        shape.compiler = compiler
        shape.voice = None
        shape.has_entries = has_entries
        shape.older_call = older_call
        shape.checked = True
        shape._rows, shape._seps, shape._formats = {}, {}, dict(formats)
        shape.numbered_rows, shape.older_texts = {}, {}
        shape.tokens = []
        return shape

    def completed_formats(self) -> dict:
        """Every format string a page of this shape may need (each row variant, each pair of rows), made now;
        a variant this shape cannot draw is left out (Jinja draws such a page)."""
        if not self.has_entries:
            self.whole_format()
            return dict(self._formats)
        usable = []
        for variant in VARIANTS:
            try:
                self.prefix_format(variant)
                self.suffix_format(variant)
                self.row_format(None, variant)
                usable.append(variant)
            except Unusable:
                continue
        for before in usable:
            for variant in usable:
                try:
                    self.row_format(before, variant)
                except Unusable:
                    continue
        return dict(self._formats)

    # --- compiling --------------------------------------------------------------

    def _render(self, rows: list) -> list[str]:
        calls = []

        def ngettext(singular, plural, num, /, **variables):
            calls.append((singular, plural, variables))
            return Markup(_s("older"))

        lines = [
            EntryLine(_s(f"e{i}date"), _s(f"e{i}date_iso"), _s(f"e{i}description"), _s(f"e{i}amount"), kind, voided)
            for i, (kind, voided) in enumerate(rows)
        ]
        draw = self.compiler.draw
        if draw is None:
            raise Unusable  # a compiler of cached shapes only: this format is not among them
        text = draw(self.voice, self.sentinels._replace(entries=lines), {"ngettext": ngettext})
        if calls:
            if len(calls) != 1 or calls[0][2] or (self.older_call is not None and self.older_call != calls[0]):
                raise Unusable
            self.older_call = calls[0]
        return _tokens(text)

    def _check_keys(self, tokens: list[str], rows: set[str]) -> None:
        for key in tokens[1::2]:
            if key not in self.compiler.page_keys and key[:2] not in rows:
                raise Unusable
        if any(_OPEN in c or _CLOSE in c for c in tokens[0::2]):
            raise Unusable

    def _row(self, variant: tuple) -> tuple:
        done = self._rows.get(variant)
        if done is None:
            tokens = self._render([variant])
            self._check_keys(tokens, {"e0"})
            at = [i for i in range(1, len(tokens), 2) if tokens[i].startswith("e0")]
            if not at:
                raise Unusable
            first, last = at[0], at[-1]
            inner = tokens[first : last + 1]
            if any(not k.startswith("e0") for k in inner[0::2]):
                raise Unusable  # a page value inside a row
            # Row keys without the row number: "date", "amount", ...
            # (inner starts and ends with a key: keys at even places, constant text between)
            inner = [t[2:] if i % 2 == 0 else t for i, t in enumerate(inner)]
            if any(k not in _ROW_FIELDS for k in inner[0::2]):
                raise Unusable
            done = self._rows[variant] = (tokens[:first], inner, tokens[last + 1 :])
        return done

    def _sep(self, before: tuple, after: tuple) -> str:
        sep = self._seps.get((before, after))
        if sep is None:
            first, second = self._row(before), self._row(after)
            tokens = self._render([before, after])
            self._check_keys(tokens, {"e0", "e1"})
            # Expected: prefix(before) + inner(before) + [sep] + inner(after) + suffix(after).
            head = first[0] + _numbered(first[1], "e0")
            tail = _numbered(second[1], "e1") + second[2]
            if tokens[: len(head)] != head or tokens[len(tokens) - len(tail) :] != tail:
                raise Unusable
            middle = tokens[len(head) : len(tokens) - len(tail)]
            if len(middle) != 1:
                raise Unusable
            sep = self._seps[(before, after)] = middle[0]
        return sep

    # --- format strings (the fast fill) --------------------------------------------

    def whole_format(self) -> str:
        fmt = self._formats.get("whole")
        if fmt is None:
            fmt = self._formats["whole"] = _format(self.tokens, named=True)
        return fmt

    def prefix_format(self, variant: tuple) -> str:
        fmt = self._formats.get(("prefix", variant))
        if fmt is None:
            fmt = self._formats[("prefix", variant)] = _format(self._row(variant)[0], named=True)
        return fmt

    def suffix_format(self, variant: tuple) -> str:
        fmt = self._formats.get(("suffix", variant))
        if fmt is None:
            fmt = self._formats[("suffix", variant)] = _format(self._row(variant)[2], named=True)
        return fmt

    def row_format(self, before: tuple | None, variant: tuple) -> str:
        """The text from the end of the row before (None: the page's text) to the end of this row."""
        fmt = self._formats.get((before, variant))
        if fmt is None:
            inner = self._row(variant)[1]
            tokens = ["" if before is None else self._sep(before, variant), *inner, ""]
            fmt = self._formats[(before, variant)] = _format(tokens, named=False)
        return fmt

    # --- filling ----------------------------------------------------------------

    def fill(self, voice, facts: PageFacts) -> str:
        """The page of these facts: the shape's constant text with the facts' values, escaped."""
        esc = self.compiler.esc
        as_of = facts.as_of
        values = {
            "name": str(escape(facts.customer_name)),
            "balance": esc(facts.balance),
            "total": esc(facts.total),
            "asof_text": esc(as_of.text),
            "asof_iso": esc(as_of.iso),
        }
        tips = facts.tips
        if tips:
            for (amount_key, total_key, minor_key), tip in zip(_tip_keys(len(tips)), tips, strict=True):
                values[amount_key] = esc(tip.amount)
                values[total_key] = esc(tip.total)
                values[minor_key] = str(tip.total_minor)
        if facts.pay_options is not None:
            values["pay_options"] = str(facts.pay_options)  # already escaped: the slot's promise
        entries = facts.entries
        older = facts.older
        if older:
            if self.older_call is None and entries:
                self._row(VARIANTS[_number(entries[0])])  # compiling a row records the older-entries call
            if self.older_call is None:
                raise Unusable
            text = self.older_texts.get(older)
            if text is None:
                singular, plural, _ = self.older_call
                text = str(voice.env.globals["ngettext"](singular, plural, older))
                if len(self.older_texts) < CACHE_ENTRIES:
                    self.older_texts[older] = text
            values["older"] = text
        if not entries:
            return self.whole_format().format_map(values)
        # A row's text is found by (number of the row before, or -1) * 8 + its own number.
        rows = self.numbered_rows
        kind_number = _KIND_NUMBER
        special = _ESCAPED.search
        out = []
        before = -1
        for date, date_iso, description, amount, kind, voided in entries:
            variant = kind_number[kind] + voided
            if before < 0:
                out.append(self.prefix_format(VARIANTS[variant]).format_map(values))
            row = rows.get(before * 8 + variant)
            if row is None:
                row = rows[before * 8 + variant] = self.row_format(
                    VARIANTS[before] if before >= 0 else None, VARIANTS[variant]
                )
            # Most rows need no escaping at all (a date's ISO form never does: it is digits and dashes).
            if special(description) or special(amount) or special(date):
                out.append(row.format(esc(date), date_iso, esc(description), esc(amount)))
            else:
                out.append(row.format(date, date_iso, description, amount))
            before = variant
        out.append(self.suffix_format(VARIANTS[before]).format_map(values))
        return "".join(out)


_KIND_NUMBER = {kind: n for n, (kind, voided) in enumerate(VARIANTS) if not voided}


def _number(entry: EntryLine) -> int:
    return _KIND_NUMBER[entry.kind] + entry.voided


_TIP_KEYS = [(f"tip{i}amount", f"tip{i}total", f"tip{i}minor") for i in range(16)]


def _tip_keys(count: int) -> list[tuple[str, str, str]]:
    """The page's keys for each tip choice (a site offers a handful)."""
    if count <= len(_TIP_KEYS):
        return _TIP_KEYS[:count]
    return [(f"tip{i}amount", f"tip{i}total", f"tip{i}minor") for i in range(count)]


def _sentinel_facts(facts: PageFacts) -> PageFacts:
    """Facts of the same shape whose every value is a sentinel (the compiled text's holes)."""
    return facts._replace(
        customer_name=_s("name"),
        balance=_s("balance"),
        total=_s("total"),
        as_of=Moment(text=_s("asof_text"), iso=_s("asof_iso")),
        tips=tuple(
            TipChoice(
                percent=t.percent,
                label=t.label,
                amount=_s(f"tip{i}amount"),
                total=_s(f"tip{i}total"),
                total_minor=_s(f"tip{i}minor"),  # type: ignore[arg-type]
                checked=t.checked,
            )
            for i, t in enumerate(facts.tips)
        ),
        older=1 if facts.older else 0,
        entries=[],
        pay_options=Markup(_s("pay_options")) if facts.pay_options is not None else None,
    )


def _format(tokens: list[str], *, named: bool) -> str:
    """A ``str.format`` string for [const, key, const, ..., const]: page keys by name, row fields by place."""
    out = []
    for i, token in enumerate(tokens):
        if i % 2 == 0:
            out.append(token.replace("{", "{{").replace("}", "}}"))
        else:
            out.append(f"{{{token}}}" if named else f"{{{_ROW_FIELDS.index(token)}}}")
    return "".join(out)


def _numbered(inner: list[str], prefix: str) -> list[str]:
    return [prefix + t if i % 2 == 0 else t for i, t in enumerate(inner)]


class PageCompiler:
    """The compiled shapes of one renderer's customer pages (owned by the renderer, never shared)."""

    def __init__(self, draw: Callable[[object, PageFacts, dict], str] | None):
        # draw(voice, facts, overrides) renders facts with Jinja (the overrides added to the template's
        # variables): each shape is compiled from it and its first page compared with it. None: only
        # the shapes given (from the page cache, checked when they were saved) are drawn.
        self.draw = draw
        self.shapes: dict[tuple, object] = {}
        self.page_keys = {"name", "balance", "total", "asof_text", "asof_iso", "older", "pay_options"}
        self.escaped: dict[str, str] = {}

    def esc(self, text: str) -> str:
        """``text`` escaped as Jinja's autoescape escapes it (cached: dates, amounts and texts repeat)."""
        cache = self.escaped
        done = cache.get(text)
        if done is None:
            done = str(escape(text)) if _ESCAPED.search(text) else text
            if len(cache) >= CACHE_ENTRIES:
                cache.clear()
            cache[text] = done
        return done

    def page(self, voice, facts: PageFacts) -> str | None:
        """The page of these facts, or None if Jinja must render it."""
        key = facts.shape
        shape = self.shapes.get(key)
        if shape is _UNUSABLE:
            return None
        try:
            if shape is None:
                if self.draw is None:
                    return None
                for keys in _tip_keys(len(facts.tips)):
                    self.page_keys.update(keys)
                shape = self.shapes[key] = PageShape(self, voice, facts)
            assert isinstance(shape, PageShape)
            html = shape.fill(voice, facts)
        except Unusable:
            self.shapes[key] = _UNUSABLE
            return None
        if not shape.checked:
            assert self.draw is not None  # shapes from the page cache were checked when saved
            if html != self.draw(voice, facts, {}):
                self.shapes[key] = _UNUSABLE
                return None
            shape.checked = True
        return html
