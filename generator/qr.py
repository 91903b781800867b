"""QR codes of customers' links: drawn in a terminal, written as SVG or PNG, or inlined in a statement.

segno makes them without Pillow. The code is made at error correction level M
or better (segno boosts it when the link fits), which survives a crumpled
paper invoice.
"""

import io
from pathlib import Path

from .errors import InvalidInput

FILE_KINDS = {".svg": "svg", ".png": "png"}


def make(url: str):
    """The QR code of a URL (a segno QRCode)."""
    import segno

    return segno.make(url, error="m", micro=False)


def terminal_text(url: str) -> str:
    """The QR code drawn with block characters, for a terminal (dark modules on a light background)."""
    out = io.StringIO()
    make(url).terminal(out=out, compact=True)
    return out.getvalue()


def file_kind(path: Path) -> str:
    """``svg`` or ``png``, by the file's extension; anything else is refused."""
    kind = FILE_KINDS.get(path.suffix.lower())
    if kind is None:
        raise InvalidInput(
            f"QR code file {str(path)[:80]} is not .svg or .png — name it e.g. jane-qr.svg or jane-qr.png"
        )
    return kind


def file_bytes(url: str, path: Path) -> bytes:
    """The QR code as the bytes of an SVG or PNG file, chosen by ``path``'s extension."""
    kind = file_kind(path)
    out = io.BytesIO()
    make(url).save(out, kind=kind, scale=8, border=4)
    return out.getvalue()


def svg_inline(url: str, *, scale: int = 3, title: str | None = "QR code of the customer's link") -> str:
    """The QR code as an ``<svg>`` element to put inside an HTML page (no XML declaration).

    ``title=None`` leaves the title out, for a page that names the code itself in its own language.
    """
    return make(url).svg_inline(scale=scale, border=4, omitsize=True, title=title)
