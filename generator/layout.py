"""Where things live: the site's files, and ``build/`` as the builder writes it and every edge reads it.

This is the whole agreement between the builder and the edges (the Python
edge, the publisher that mirrors ``build/`` to a bucket, and the Worker, which
repeats these values in JavaScript and is tested against them): the
environment an edge reads, file names, asset names and their pattern, the link
prefix, content types, cache and security headers, and which error page a
request's ``Accept-Language`` picks.

Nothing here may reveal a token. A snapshot's file name is a digest of the
link's random id, so a reader of ``build/`` can neither make a working link
nor tell one customer's page from another's.
"""

import hashlib
import re

# --- the site folder
SETTINGS_FILE = "paylink.toml"
DB_FILE = "paylink.db"
KEY_FILE = "paylink.key"
BUILD_DIR = "build"
TEMPLATES_DIR = "site_templates"

# --- the environment an edge (and every command) reads
SITE_ENV = "PAYLINK_SITE"  # the site folder: its build/ and paylink.key
BUILD_DIR_ENV = "PAYLINK_BUILD_DIR"  # the build folder alone (an edge deployment without the site)
KEY_ENV = "PAYLINK_SECRET_KEY"  # the signing keys, newline- or comma-separated, newest last

# The languages paylink has page texts for (site_templates/locale/): error pages are written in each.
LANGUAGES = ("en", "es")

# --- inside build/
SNAPSHOT_DIR = "p"
ASSETS_DIR = "assets"
NOT_FOUND_PAGE = "404.html"  # in the site's language; 404.<language>.html in each of LANGUAGES
GONE_PAGE = "410.html"  # the same for a rotated or revoked link
ROBOTS = "robots.txt"
TEMP_PREFIX = ".tmp-"

# A link is LINK_PREFIX + token; its snapshot is SNAPSHOT_DIR/snapshot_name(link id).
LINK_PREFIX = "/p/"


# An asset's name carries the first 16 hex digits of its content's SHA-256: name.<hash>.<ext>.
ASSET_HASH_HEX = 16
ASSET_NAME_RE = re.compile(r"[a-z0-9-]+\.[0-9a-f]{16}\.(css|js|svg)\Z", re.ASCII)

CONTENT_TYPES = {
    "html": "text/html; charset=utf-8",
    "txt": "text/plain; charset=utf-8",
    "css": "text/css; charset=utf-8",
    "js": "text/javascript; charset=utf-8",
    "svg": "image/svg+xml",
}
NO_STORE = "no-store"  # pages: a balance must never be served from a cache
IMMUTABLE = "public, max-age=31536000, immutable"  # assets: their names change with their content

# Every response of every edge carries these, after Content-Type and Cache-Control (CONTRACT §6).
# img-src data:: the pay options' QR codes are PNGs inside the page itself (a data: image loads nothing).
CSP = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
    "form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = (
    ("Referrer-Policy", "no-referrer"),  # the URL is the secret: never send it onwards
    ("X-Robots-Tag", "noindex"),
    ("X-Content-Type-Options", "nosniff"),
    ("Content-Security-Policy", CSP),
    ("X-Frame-Options", "DENY"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
)
# The 404 and 410 pages depend on the request's Accept-Language: a cache must keep one per language.
ERROR_VARY = ("Vary", "Accept-Language")

# 32 hex characters (128 bits) of SHA-256: enough to never collide, short in a listing.
_SNAPSHOT_DIGEST_HEX = 32


def snapshot_name(link_id: str) -> str:
    """Return the file name (inside ``SNAPSHOT_DIR``) of the snapshot for a link id."""
    digest = hashlib.sha256(b"paylink.snapshot\x00" + link_id.encode("ascii")).hexdigest()
    return digest[:_SNAPSHOT_DIGEST_HEX] + ".html"


def asset_name(file_name: str, data: bytes) -> str:
    """Return the content-hashed name of an asset: ``paylink.css`` -> ``paylink.<16 hex>.css``."""
    stem, _, ext = file_name.rpartition(".")
    return f"{stem}.{hashlib.sha256(data).hexdigest()[:ASSET_HASH_HEX]}.{ext}"


def content_type(name: str) -> str:
    """The Content-Type of a file of ``build/`` by its extension."""
    return CONTENT_TYPES[name.rpartition(".")[2]]


def cache_control(relative_path: str) -> str:
    """The Cache-Control an edge sends for a file of ``build/`` (path relative to it, with ``/``)."""
    return IMMUTABLE if relative_path.startswith(ASSETS_DIR + "/") else NO_STORE


def error_page_name(page: str, language: str | None = None) -> str:
    """The file of an error page (``NOT_FOUND_PAGE`` or ``GONE_PAGE``) in a language: ``404.es.html``.

    Without a language, the page in the site's own language (``404.html``).
    """
    if language is None:
        return page
    stem, _, ext = page.rpartition(".")
    return f"{stem}.{language}.{ext}"


# Every error page the builder writes, and so every one an edge may serve and publish may send.
ERROR_PAGES = tuple(
    error_page_name(page, language) for page in (NOT_FOUND_PAGE, GONE_PAGE) for language in (None, *LANGUAGES)
)
# The fixed names of build/ besides snapshots and assets: what publish sends with them.
STATIC_FILES = (*ERROR_PAGES, ROBOTS)

# One entry of Accept-Language: a language range and its optional q-value (RFC 9110 §12.4.2, §12.5.4).
_LANGUAGE_RANGE_RE = re.compile(
    r"[ \t]*([A-Za-z]{1,8}(?:[-_][A-Za-z0-9]{1,8})*|\*)[ \t]*(?:;[ \t]*[qQ][ \t]*=[ \t]*([01](?:\.[0-9]{0,3})?))?[ \t]*\Z",
    re.ASCII,
)
MAX_LANGUAGE_RANGES = 64  # entries of Accept-Language read; the rest is ignored


def preferred_language(accept_language: str | None) -> str | None:
    """The language of ``LANGUAGES`` a request's ``Accept-Language`` prefers, or None: the site's own.

    The highest q-value wins (the first listed among equals); a range counts by
    its primary tag (``es-MX`` is ``es``); ``q=0`` refuses a language; ``*`` and
    an entry paylink cannot read stand for the site's language. The Worker
    (edge/worker/src/index.js) does exactly this; tests/vectors/accept_language.json
    holds the cases both edges pass. q-values are compared in thousandths, as integers.
    """
    if not accept_language:
        return None
    best, best_q = None, 0
    for entry in accept_language.split(",", MAX_LANGUAGE_RANGES)[:MAX_LANGUAGE_RANGES]:
        match = _LANGUAGE_RANGE_RE.match(entry)
        if match is None:
            continue
        tag, q = match.groups()
        quality = 1000 if q is None else int(q[0]) * 1000 + int((q[2:] + "000")[:3])
        if quality > 1000 or quality <= best_q:
            continue
        primary = tag.replace("_", "-").partition("-")[0].lower()
        if primary in LANGUAGES:
            best, best_q = primary, quality
        elif primary == "*":
            best, best_q = None, quality
    return best
