"""The compiled pay block: ``_pay_options.html`` compiled once per shape, with holes for the values.

An outstanding page of a site with ``[[pay]]`` methods shows its pay options
(CONTRACT §8). Rendering them through Jinja for every page cost more than the
rest of the page; but the block's text depends on the page only through its
values (the reference, each option's totals, links, QR codes and texts to
copy). So, as compiled_page.py does for the page, the real template is
rendered once per *shape* (language, tip choices, each option's method and
which of its parts are there) from options whose every value is a unique
sentinel, and split on the sentinels into constant text and holes. A block is
then the constant text joined with its options' values, escaped as Jinja's
autoescape escapes them; a QR code (already escaped Markup) goes in as it is.
The first block of every shape is compared with Jinja's own output, and a shape
that does not match (a site's own template, a translation that moves a value)
is left to Jinja, so the bytes are always Jinja's. Nothing here computes a
value: the options (pay_methods.PayBlock.options) are the only source.
"""

import re
from collections.abc import Callable, Sequence

from markupsafe import Markup, escape

from .pay_methods import PayOption, PayVariant

_OPEN, _CLOSE = "\ue002", "\ue003"  # private-use characters: escaping leaves them alone
_UNUSABLE = object()

# draw(language, tips, options, reference) renders the block with Jinja.
Draw = Callable[[str, tuple, Sequence[PayOption], str], str]


def _s(key: str) -> str:
    return f"{_OPEN}{key}{_CLOSE}"


def _tokens(text: str) -> list[str] | None:
    """[const, key, const, key, ..., const], or None if a sentinel is cut apart."""
    out: list[str] = []
    rest = text
    while True:
        start = rest.find(_OPEN)
        if start < 0:
            if _CLOSE in rest:
                return None
            out.append(rest)
            return out
        end = rest.find(_CLOSE, start)
        if end < 0 or _CLOSE in rest[:start] or _OPEN in rest[start + 1 : end]:
            return None
        out.append(rest[:start])
        out.append(rest[start + 1 : end])
        rest = rest[end + 1 :]


def _escaped(text: str) -> str:
    """``text`` as autoescape writes it (most values have nothing to escape: they are kept as they are)."""
    return str(escape(text)) if _TO_ESCAPE.search(text) else text


_TO_ESCAPE = re.compile("[&<>\"']")


def layout_of(options: Sequence[PayOption], reference: str) -> tuple[tuple, list[str]]:
    """The options' layout (everything the template branches on, but no value) and their values, in the
    order of their holes: escaped as autoescape escapes them, QR codes (Markup) as they are."""
    values = [_escaped(reference)]
    add = values.append
    layout = []
    for o in options:
        add(_escaped(o.name))
        variants = []
        for v in o.variants:
            add(_escaped(v.total))
            url, qr, copy = v.url, v.qr_code, v.copy
            if url is not None:
                add(_escaped(url))
            if qr is not None:
                add(str(qr))  # Markup: escaped when it was drawn
            for _, text in copy:
                add(_escaped(text))
            variants.append((v.percent, url is not None, qr is not None, tuple([w for w, _ in copy]) if copy else ()))
        for _, text in o.copy:
            add(_escaped(text))
        layout.append((o.method, tuple(variants), tuple([w for w, _ in o.copy])))
    return tuple(layout), values


def _sentinel_options(options: Sequence[PayOption]) -> list[PayOption]:
    """Options of the same layout whose every value is a sentinel: the number of its place in
    ``layout_of``'s values (0 is the reference)."""
    count = iter(range(1, 1 << 30))

    def hole() -> str:
        return _s(str(next(count)))

    out = []
    for o in options:
        name = hole()
        variants = []
        for v in o.variants:
            total = hole()
            url = hole() if v.url is not None else None
            qr = Markup(hole()) if v.qr_code is not None else None
            variants.append(PayVariant(v.percent, total, url, qr, tuple((w, hole()) for w, _ in v.copy)))
        common = tuple((w, hole()) for w, _ in o.copy)
        out.append(PayOption(o.method, name, variants, common))
    return out


class _Shape:
    """One shape's block: its constant text between the holes and which value fills each hole (joined,
    not ``str.format``: a quarter of the time), and whether its first block matched Jinja's."""

    __slots__ = ("texts", "holes", "checked")

    def __init__(self, tokens: list[str]):
        self.texts = tokens  # [const, hole, const, ..., const]: each hole's place is overwritten by fill
        self.holes = [int(key) for key in tokens[1::2]]
        self.checked = False

    def fill(self, values: list[str]) -> str:
        out = self.texts.copy()
        out[1::2] = [values[at] for at in self.holes]
        return "".join(out)


class PayBlockCompiler:
    """The compiled pay blocks of one renderer (owned by it, never shared)."""

    def __init__(self, draw: Draw):
        self.draw = draw
        self.shapes: dict[tuple, object] = {}
        self.filled = 0  # blocks drawn from a compiled shape (not by Jinja)
        self.learnt = False  # a shape was compiled and checked in this run (worth keeping in the page cache)

    def restore(self, shapes: dict[tuple, list[str]]) -> None:
        """Take shapes an earlier run compiled and checked (page_cache.py keeps them: ``checked_shapes``)."""
        for key, tokens in shapes.items():
            shape = _Shape(tokens)
            shape.checked = True
            self.shapes[key] = shape

    def checked_shapes(self) -> dict[tuple, list[str]]:
        """Every shape whose block matched Jinja's, by key: its constant texts and holes (``_Shape.texts``)."""
        return {key: shape.texts for key, shape in self.shapes.items() if isinstance(shape, _Shape) and shape.checked}

    def block(self, language: str, tips: tuple, options: Sequence[PayOption], reference: str) -> str:
        """The ``#pay-options`` block of these options, exactly as Jinja draws it."""
        layout, values = layout_of(options, reference)
        key = (language, tuple([t.percent for t in tips]), layout)
        shape = self.shapes.get(key)
        if shape is None:
            shape = self.shapes[key] = self._compile(language, tips, options, len(values))
        if shape is _UNUSABLE:
            return self.draw(language, tips, options, reference)
        assert isinstance(shape, _Shape)
        html = shape.fill(values)
        if not shape.checked:
            jinja = self.draw(language, tips, options, reference)
            if html != jinja:
                self.shapes[key] = _UNUSABLE
                return jinja
            shape.checked = self.learnt = True
        self.filled += 1
        return html

    def _compile(self, language: str, tips: tuple, options: Sequence[PayOption], holes: int) -> object:
        tokens = _tokens(self.draw(language, tips, _sentinel_options(options), _s("0")))
        if tokens is None:
            return _UNUSABLE
        if any(not key.isdigit() or int(key) >= holes for key in tokens[1::2]):
            return _UNUSABLE
        return _Shape(tokens)
