"""Where things live: the site's files, and ``build/`` as the builder writes it and every edge reads it.

This is the whole agreement between the builder and the edges (the Python
edge, the publisher that mirrors ``build/`` to a bucket, and the Worker, which
repeats these values in JavaScript and is tested against them): file names,
asset names and their pattern, content types and cache headers.

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
SITE_ENV = "PAYLINK_SITE"

# --- inside build/
SNAPSHOT_DIR = "p"
ASSETS_DIR = "assets"
NOT_FOUND_PAGE = "404.html"
GONE_PAGE = "410.html"
ROBOTS = "robots.txt"
TEMP_PREFIX = ".tmp-"


def fixed_files() -> tuple[str, ...]:
    """The files at the top of ``build/`` that every site has (error pages, robots.txt): with the
    live links' pages and the assets, all an edge serves and all ``publish`` may upload."""
    return (NOT_FOUND_PAGE, GONE_PAGE, ROBOTS)


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
