"""The compiled page: the customer page's constant text, compiled once with holes for the values.

For each page *shape* (language, state, how the balance is sized, whether the
tips show and how wide, whether there are entries, whether older entries are
mentioned) the real Jinja template is rendered once with a unique sentinel in
place of every value. The output is split on the sentinels into constant text
and holes; a page is then the constant text joined with its values, escaped as
Jinja's autoescape escapes them (``markupsafe.escape``).

The rows of the entries table repeat, so they are compiled per variant (charge,
credit or void; voided or not): a page with one row of each variant gives the
text before, inside and after a row, a page with two rows the text between
them. Every compiled shape is checked against the structure it must have, and
its first page against Jinja's own output; anything that does not match (a
site's own template, a translation that moves or transforms a value) is left to
Jinja, so the bytes are always Jinja's.
"""

import re
from collections.abc import Callable

from markupsafe import Markup, escape

from .money import tip_minor
from .render import EntryLine, Moment, TipChoice, _reversed_description, _size, voided_ids

_OPEN, _CLOSE = "\ue000", "\ue001"  # private-use characters: escaping leaves them alone
_SENTINEL = re.compile(f"{_OPEN}([^{_OPEN}{_CLOSE}]*){_CLOSE}")
# A row's variants: (kind, voided).
VARIANTS = tuple((kind, voided) for kind in ("charge", "credit", "reversal") for voided in (False, True))
_ROW_FIELDS = ("date", "date_iso", "description", "amount")


# The page's keys for each tip choice (a site offers a handful).
def _tip_keys(count: int) -> list[tuple[str, str, str]]:
    return [(f"tip{i}amount", f"tip{i}total", f"tip{i}minor") for i in range(count)]


_TIP_KEYS = _tip_keys(16)
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


class _Unusable(Exception):
    """The shape cannot be compiled exactly: the caller renders it with Jinja."""


class PageShape:
    """One shape's compiled text: constant chunks around holes, and its rows by variant."""

    def __init__(self, compiler: "PageCompiler", voice, key: tuple, context: dict):
        self.compiler = compiler
        self.voice = voice
        self.context = context  # the sentinel context (entries filled in per render)
        self.has_entries = key[4]
        self.older_call: tuple | None = None
        self.checked = False
        self._rows: dict[tuple, tuple] = {}  # variant -> (prefix tokens, inner tokens, suffix tokens)
        self._seps: dict[tuple, str] = {}
        self._formats: dict = {}
        self.numbered_rows: dict[int, str] = {}  # row_format by numbers (see PageCompiler.fast_page)
        self.older_texts: dict[int, str] = {}  # the "older entries" line by how many
        if not self.has_entries:
            self.tokens = self._render([])
            self._check_keys(self.tokens, set())

    # --- compiling --------------------------------------------------------------

    def _render(self, rows: list) -> list[str]:
        calls = []

        def ngettext(singular, plural, num, /, **variables):
            calls.append((singular, plural, variables))
            return Markup(_s("older"))

        lines = [
            EntryLine(
                date=_s(f"e{i}date"),
                date_iso=_s(f"e{i}date_iso"),
                description=_s(f"e{i}description"),
                amount=_s(f"e{i}amount"),
                kind=kind,
                voided=voided,
            )
            for i, (kind, voided) in enumerate(rows)
        ]
        text = self.voice.page_template.render({**self.context, "entries": lines, "ngettext": ngettext})
        if calls:
            if len(calls) != 1 or calls[0][2] or (self.older_call is not None and self.older_call != calls[0]):
                raise _Unusable
            self.older_call = calls[0]
        return _tokens(text)

    def _check_keys(self, tokens: list[str], rows: set[str]) -> None:
        for key in tokens[1::2]:
            if key not in self.compiler.page_keys and key[:2] not in rows:
                raise _Unusable
        if any(_OPEN in c or _CLOSE in c for c in tokens[0::2]):
            raise _Unusable

    def _row(self, variant: tuple) -> tuple:
        done = self._rows.get(variant)
        if done is None:
            tokens = self._render([variant])
            self._check_keys(tokens, {"e0"})
            at = [i for i in range(1, len(tokens), 2) if tokens[i].startswith("e0")]
            if not at:
                raise _Unusable
            first, last = at[0], at[-1]
            inner = tokens[first : last + 1]
            if any(not k.startswith("e0") for k in inner[0::2]):
                raise _Unusable  # a page value inside a row
            # Row keys without the row number: "date", "amount", ...
            # (inner starts and ends with a key: keys at even places, constant text between)
            inner = [t[2:] if i % 2 == 0 else t for i, t in enumerate(inner)]
            if any(k not in _ROW_FIELDS for k in inner[0::2]):
                raise _Unusable
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
                raise _Unusable
            middle = tokens[len(head) : len(tokens) - len(tail)]
            if len(middle) != 1:
                raise _Unusable
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

    def fill(self, values: dict, rows: list, older: int) -> str:
        if self.has_entries:
            self._row(rows[0][0])  # compiled (and the older-entries call recorded) before it is needed
        if older:
            if self.older_call is None:
                raise _Unusable
            singular, plural, _ = self.older_call
            values["older"] = str(self.voice.env.globals["ngettext"](singular, plural, older))
        if not self.has_entries:
            return "".join([t if i % 2 == 0 else values[t] for i, t in enumerate(self.tokens)])
        out: list[str] = []
        first_variant = rows[0][0]
        prefix, inner, _ = self._row(first_variant)
        out.extend(t if i % 2 == 0 else values[t] for i, t in enumerate(prefix))
        previous = None
        for variant, fields in rows:
            if previous is not None:
                out.append(self._sep(previous, variant))
            inner = self._row(variant)[1]
            out.extend(fields[t] if i % 2 == 0 else t for i, t in enumerate(inner))
            previous = variant
        assert previous is not None  # a page with rows has a last one
        suffix = self._row(previous)[2]
        out.extend(t if i % 2 == 0 else values[t] for i, t in enumerate(suffix))
        return "".join(out)


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

    def __init__(self, renderer, check: Callable[[object, dict], str]):
        # check(voice, context) renders a page with Jinja: each shape's first page is compared with it.
        self.renderer = renderer
        self.check = check
        self.money: dict[str, dict[int, tuple[str, str]]] = {}  # language -> minor -> (text, escaped)
        self.dates: dict[str, dict[str, tuple[str, str]]] = {}  # language -> day -> escaped (date, iso)
        self.shapes: dict[tuple, object] = {}
        self.page_keys = {"name", "balance", "total", "asof_text", "asof_iso", "older"}
        self.escaped: dict[str, str] = {}

    def _esc(self, text: str) -> str:
        cache = self.escaped
        done = cache.get(text)
        if done is None:
            done = str(escape(text))
            if len(cache) >= CACHE_ENTRIES:
                cache.clear()
            cache[text] = done
        return done

    def _money(self, voice, minor: int) -> tuple[str, str]:
        cache = self.money.get(voice.language)
        if cache is None:
            cache = self.money[voice.language] = {}
        done = cache.get(minor)
        if done is None:
            text = voice.format_money(minor)
            if len(cache) >= CACHE_ENTRIES:
                cache.clear()
            # Digits never need escaping; only a currency sign or separator could.
            escaped = str(escape(text)) if _ESCAPED.search(text) else text
            done = cache[minor] = (text, escaped)
        return done

    def fast_page(self, voice, statement) -> str | None:
        """The page, straight from the statement, if its shape is compiled and checked; else None."""
        renderer = self.renderer
        money = self._money
        esc = self._esc
        balance = statement.balance_minor
        state = "outstanding" if balance > 0 else "credit" if balance < 0 else "zero"
        balance_text, balance_escaped = money(voice, -balance if balance < 0 else balance)
        values = {"balance": balance_escaped, "total": money(voice, balance if state == "outstanding" else 0)[1]}
        tips_wide = False
        ntips = 0
        if state == "outstanding" and renderer.settings.tips:
            choices = (0, *renderer.settings.tips)
            keys = _TIP_KEYS[: len(choices)] if len(choices) <= len(_TIP_KEYS) else _tip_keys(len(choices))
            for (amount_key, total_key, minor_key), percent in zip(keys, choices, strict=True):
                tip = tip_minor(balance, percent)
                total_text, total_escaped = money(voice, balance + tip)
                values[amount_key] = money(voice, tip)[1]
                values[total_key] = total_escaped
                values[minor_key] = str(balance + tip)
                if len(total_text) > 10:
                    tips_wide = True
                ntips += 1
        shown = statement.entries
        older = max(0, (statement.entry_count or len(shown)) - len(shown))
        key = (voice.language, state, _size(balance_text), tips_wide, bool(shown), bool(older), ntips)
        shape = self.shapes.get(key)
        if not isinstance(shape, PageShape) or not shape.checked:
            return None
        values["name"] = str(escape(statement.customer_name))
        as_of = renderer._moment(voice, statement.last_change)
        values["asof_text"] = esc(as_of.text)
        values["asof_iso"] = esc(as_of.iso)
        try:
            if older:
                if shape.older_call is None:
                    return None
                text = shape.older_texts.get(older)
                if text is None:
                    singular, plural, _ = shape.older_call
                    text = str(voice.env.globals["ngettext"](singular, plural, older))
                    if len(shape.older_texts) < CACHE_ENTRIES:
                        shape.older_texts[older] = text
                values["older"] = text
            if not shown:
                return shape.whole_format().format_map(values)
            voids = statement.voids
            voided = voided_ids(shown, voids)
            entry_date = renderer._entry_date
            utc = renderer.utc
            dates = self.dates.get(voice.language)
            if dates is None:
                dates = self.dates[voice.language] = {}
            amounts = self.money[voice.language]  # made by money() above
            texts = self.escaped
            # Rows by number: VARIANTS[n] is (kind, voided), n = 2 * kind's place + voided; a row's
            # text is found by (number of the row before, or -1) * 8 + its own number.
            rows = shape.numbered_rows
            out = []
            before = -1
            for entry in shown:
                entry_id, _, amount_minor, description, posted_at, voids_entry_id = entry
                if voids_entry_id is not None:
                    variant = 4 + (entry_id in voided)
                    description = _reversed_description(entry, voids.get(entry_id))
                else:
                    variant = (0 if amount_minor > 0 else 2) + (entry_id in voided)
                if before < 0:
                    out.append(shape.prefix_format(VARIANTS[variant]).format_map(values))
                # As Renderer._entry_date: on a UTC site, paylink's own "...T10:00:00Z" form is cached by day.
                day = (
                    posted_at[:10]
                    if utc and len(posted_at) == 20 and posted_at[10] == "T" and posted_at[19] == "Z"
                    else posted_at
                )
                date = dates.get(day)
                if date is None:
                    date_text, date_iso = entry_date(voice, posted_at)
                    if len(dates) >= CACHE_ENTRIES:
                        dates.clear()
                    date = dates[day] = (esc(date_text), esc(date_iso))
                amount = amounts.get(amount_minor)
                if amount is None:
                    amount = money(voice, amount_minor)
                text = texts.get(description)
                if text is None:
                    text = esc(description)
                row = rows.get(before * 8 + variant)
                if row is None:
                    row = rows[before * 8 + variant] = shape.row_format(
                        VARIANTS[before] if before >= 0 else None, VARIANTS[variant]
                    )
                out.append(row.format(date[0], date[1], text, amount[1]))
                before = variant
            assert before >= 0  # the suffix follows the last row drawn
            out.append(shape.suffix_format(VARIANTS[before]).format_map(values))
        except _Unusable:
            self.shapes[key] = _UNUSABLE
            return None
        return "".join(out)

    def page(self, voice, context: dict) -> str | None:
        """The page for this Jinja context, or None if it must be rendered by Jinja."""
        tips = context["tips"]
        entries = context["entries"]
        older = context["older"]
        key = (
            voice.language,
            context["state"],
            context["balance_size"],
            context["tips_wide"],
            bool(entries),
            bool(older),
            len(tips),
        )
        shape = self.shapes.get(key)
        if shape is _UNUSABLE:
            return None
        try:
            if shape is None:
                for i in range(len(tips)):
                    self.page_keys.update((f"tip{i}amount", f"tip{i}total", f"tip{i}minor"))
                shape = self.shapes[key] = PageShape(self, voice, key, self._sentinel_context(context))
            assert isinstance(shape, PageShape)
            esc = self._esc
            as_of = context["as_of"]
            values = {
                "name": str(escape(context["customer"]["name"])),
                "balance": esc(context["balance"]),
                "total": esc(context["total"]),
                "asof_text": esc(as_of.text),
                "asof_iso": esc(as_of.iso),
            }
            for i, tip in enumerate(tips):
                values[f"tip{i}amount"] = esc(tip.amount)
                values[f"tip{i}total"] = esc(tip.total)
                values[f"tip{i}minor"] = str(tip.total_minor)
            rows = [
                (
                    (e.kind, e.voided),
                    {
                        "date": esc(e.date),
                        "date_iso": esc(e.date_iso),
                        "description": str(escape(e.description)),
                        "amount": esc(e.amount),
                    },
                )
                for e in entries
            ]
            html = shape.fill(values, rows, older)
        except _Unusable:
            self.shapes[key] = _UNUSABLE
            return None
        if not shape.checked:
            if html != self.check(voice, context):
                self.shapes[key] = _UNUSABLE
                return None
            shape.checked = True
        return html

    def _sentinel_context(self, context: dict) -> dict:
        return {
            **context,
            "customer": {"name": _s("name")},
            "balance": _s("balance"),
            "total": _s("total"),
            "as_of": Moment(text=_s("asof_text"), iso=_s("asof_iso")),
            "tips": [
                TipChoice(
                    percent=t.percent,
                    label=t.label,
                    amount=_s(f"tip{i}amount"),
                    total=_s(f"tip{i}total"),
                    total_minor=_s(f"tip{i}minor"),  # type: ignore[arg-type]
                    checked=t.checked,
                )
                for i, t in enumerate(context["tips"])
            ],
            "older": 1 if context["older"] else 0,
        }
