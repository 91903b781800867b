"""The QR cache: the images of the pay options' QR codes drawn before, so a rebuild does not draw them again.

A QR code depends only on the bytes it carries (pay_methods.qr_bytes: the
method's details, the amount, the reference), and encoding one (zxing-cpp's
Reed-Solomon and mask choice) then drawing its PNG is most of what a page of a
QR method costs. This file keeps, per site, each code's finished image (the
PNG in base64, as the page's ``data:`` URI carries it, and its side in pixels)
under the first 16 bytes of the SHA-256 of its bytes: a changed detail or
amount is another key, so a code is never stale, only unused; a warm build
looks a code up and pastes it. It lives in ``<site>/.paylink-qr.cache`` (mode
0600, written atomically, only by a command that succeeded: the workspace saves
it), is bounded (the codes this run used first, then the older ones, up to
``MAX_CODES`` and ``_MAX_BYTES``), and anything missing, damaged, loosened or
another user's means the codes are drawn again. Deleting it is always safe.
"""

import hashlib
import json
import struct
from collections.abc import Callable, Iterator
from itertools import accumulate
from pathlib import Path

from .cachefile import read_private, write_private

QR_CACHE = ".paylink-qr.cache"
_VERSION = 3
# About 600 bytes a code of a SEPA GiroCode's size: 65,536 codes (4 tip choices of 16,384 pages) are 40 MB.
MAX_CODES = 65536
_MAX_BYTES = 48 << 20
_KEY_BYTES = 16
_LENGTH_BYTES = 2  # each code's stored length (its side, 2 bytes, then its base64 text): at most 65,535
# A run that needs at most this many codes (a command writing a page or two) neither reads nor writes the file.
SMALL_RUN = 16

_BASE64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="

Image = tuple[str, int]  # (a PNG in base64, its side in pixels: pay_methods.qr_png)


def code_key(data: bytes) -> bytes:
    """The cache's key of a QR code carrying ``data``."""
    return hashlib.sha256(data).digest()[:_KEY_BYTES]


def _pack(image: Image) -> bytes:
    png, side = image
    return side.to_bytes(2, "big") + png.encode("ascii")


def _unpack(packed: bytes) -> Image:
    return packed[2:].decode("ascii"), int.from_bytes(packed[:2], "big")


class Stored:
    """The codes of a cache file by key, each sliced out of the file's bytes only when it is used (a build
    uses each page's few, and a helper process only its share)."""

    __slots__ = ("_body", "_index", "_ends")

    def __init__(self, body: bytes = b"", keys: list[bytes] | None = None, ends: list[int] | None = None):
        self._body = body
        self._index = dict(zip(keys or [], range(len(keys or [])), strict=True))
        self._ends = ends or [0]

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, key: bytes) -> bool:
        return key in self._index

    def get(self, key: bytes) -> bytes | None:
        at = self._index.get(key)
        return None if at is None else self._body[self._ends[at] : self._ends[at + 1]]

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        body, ends = self._body, self._ends
        for key, at in self._index.items():
            yield key, body[ends[at] : ends[at + 1]]


class QrCodes:
    """A site's QR cache for one command, owned by its workspace: read once the run has needed more than
    ``SMALL_RUN`` codes, saved by the workspace when the command succeeded and used a code the file did
    not hold. A command that writes a page or two (a charge) draws its few codes (about 0.3 ms each)
    rather than read and rewrite a file of thousands."""

    def __init__(self, path: Path | None):
        self.path = path
        self._stored: Stored | None = None
        self.used: dict[bytes, bytes] = {}  # what this run looked up or drew, in order
        self.looked_up = 0
        self.drawn = 0  # codes this run encoded (not found in the file, or before it was read)
        self._new: list[bytes] = []  # keys drawn since take_new

    @property
    def stored(self) -> Stored:
        """The file's codes by key (none if it is missing, damaged or not ours)."""
        if self._stored is None:
            self._stored = read(self.path) if self.path is not None else Stored()
        return self._stored

    def image(self, data: bytes, draw: Callable[[], Image]) -> Image:
        """The image of the QR code carrying ``data``: from the cache, else ``draw()`` (and kept)."""
        key = code_key(data)
        self.looked_up += 1
        packed = self.used.get(key)
        if packed is None and (self._stored is not None or self.looked_up > SMALL_RUN):
            packed = self.stored.get(key)
            if packed is not None and not packed[2:].translate(None, _BASE64):  # else: not ours, draw it
                self.used[key] = packed
            else:
                packed = None
        if packed is not None:
            return _unpack(packed)
        image = draw()
        self.drawn += 1
        if len(self.used) < MAX_CODES:  # what the file can hold, and no more in memory
            self.used[key] = _pack(image)
            self._new.append(key)
        return image

    def learn(self, codes: list[tuple[bytes, bytes]]) -> None:
        """Keep codes another process of this run drew (a build's helper processes: ``take_new``)."""
        for key, packed in codes:
            if key not in self.used and len(self.used) < MAX_CODES:
                self.used[key] = packed
                self.drawn += 1

    def take_new(self) -> list[tuple[bytes, bytes]]:
        """The codes drawn since the last call (a helper process sends them to its parent, who saves them)."""
        new, self._new = self._new, []
        return [(key, self.used[key]) for key in new]

    def save(self) -> None:
        """Write the codes this run used, then the file's others, up to MAX_CODES; nothing for a small run,
        or if the file held every code this run used."""
        if self.path is None or not self.drawn or (self._stored is None and len(self.used) <= SMALL_RUN):
            return
        stored = self.stored
        if all(key in stored for key in self.used):
            return
        codes: dict[bytes, bytes] = {}
        room = _MAX_BYTES - 4096  # the header's room
        for key, packed in (*self.used.items(), *stored.items()):
            if len(codes) >= MAX_CODES:
                break
            if (
                key not in codes
                and len(packed) < 1 << 8 * _LENGTH_BYTES
                and room >= _KEY_BYTES + _LENGTH_BYTES + len(packed)
            ):
                codes[key] = packed
                room -= _KEY_BYTES + _LENGTH_BYTES + len(packed)
        write(self.path, codes)


def read(path: Path) -> Stored:
    """The codes of the cache at ``path``, or none if it is missing, not ours, loosened or damaged."""
    data = read_private(path, _MAX_BYTES)
    if data is None:
        return Stored()
    head, _, body = data.partition(b"\n")
    try:
        header = json.loads(head)
        if header.get("version") != _VERSION or hashlib.sha256(body).hexdigest() != header.get("body"):
            return Stored()
    except (ValueError, AttributeError):
        return Stored()
    count = header.get("codes")
    if not isinstance(count, int) or count < 0:
        return Stored()
    index = count * (_KEY_BYTES + _LENGTH_BYTES)  # the keys, then each code's length, then the codes
    if len(body) < index:
        return Stored()
    lengths = struct.unpack(f">{count}H", body[count * _KEY_BYTES : index])
    if sum(lengths) != len(body) - index or min(lengths, default=3) < 3:
        return Stored()
    keys = [body[at : at + _KEY_BYTES] for at in range(0, count * _KEY_BYTES, _KEY_BYTES)]
    return Stored(body, keys, list(accumulate(lengths, initial=index)))


def write(path: Path, codes: dict[bytes, bytes]) -> None:
    """Write the cache atomically, mode 0600 (a folder we may not write in just means no cache)."""
    # All keys, then all lengths, then the codes: read back with a few slices, not a loop over fields.
    lengths = struct.pack(f">{len(codes)}H", *map(len, codes.values()))
    body = b"".join((*codes, lengths, *codes.values()))
    header = json.dumps({"version": _VERSION, "codes": len(codes), "body": hashlib.sha256(body).hexdigest()})
    write_private(path, header.encode("ascii") + b"\n" + body)
