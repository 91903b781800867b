"""The edge: a plain WSGI application that turns a signed link into its snapshot.

It knows two things, the build folder and the signing keys, and shares only
``generator.tokens`` and ``generator.layout`` with the rest of paylink. Each
request path is matched against a short allowlist of exact shapes; nothing a
client sends is ever joined onto a file-system path, so ``..``, encoded
slashes, NUL bytes and the like never reach a file: they match nothing and get
a 404. A valid token names its snapshot only through ``layout.snapshot_name``,
a digest, so a file name found in ``build/`` is not a URL either.
"""

import hashlib
import logging
import os
import re
import sys
import threading
import time
from http import HTTPStatus
from pathlib import Path

from generator import layout
from generator.tokens import LinkSigner, NoSigningKey, load_keys

# Longer paths get 414; shorter junk, even 10 KB of it, is just "not found".
MAX_PATH_LENGTH = 16384
ASSET_RE = re.compile(r"/assets/[a-z0-9-]+\.[0-9a-f]{16}\.(css|js|svg)\Z", re.ASCII)
# No allowlisted URL needs any of these in its raw (undecoded) form. Servers
# that hand over the raw target (gunicorn's RAW_URI) let us refuse a path that
# would only match after decoding, instead of trusting the decoder.
HOSTILE_RAW_RE = re.compile(r"%(?:2f|5c|00|2e)|\\|//|\.\.", re.IGNORECASE)
# Runs that could be (part of) a token, for scrubbing stray paths in the log.
TOKEN_LIKE_RE = re.compile(r"[A-Za-z0-9_.-]{16,}")

CONTENT_TYPES = {
    "html": "text/html; charset=utf-8",
    "txt": "text/plain; charset=utf-8",
    "css": "text/css; charset=utf-8",
    "js": "text/javascript; charset=utf-8",
    "svg": "image/svg+xml",
}
NO_STORE = "no-store"
IMMUTABLE = "public, max-age=31536000, immutable"  # asset names carry their content hash
CSP = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
    "form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    ("Referrer-Policy", "no-referrer"),  # the URL is the secret: never send it onwards
    ("X-Robots-Tag", "noindex"),
    ("X-Content-Type-Options", "nosniff"),
    ("Content-Security-Policy", CSP),
    ("X-Frame-Options", "DENY"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
]
# Used only when the builder has not written its own pages (yet).
FALLBACK_404 = (
    b'<!doctype html><html lang="en"><meta charset="utf-8"><title>Not found</title>'
    b"<h1>Not found</h1><p>There is no page at this address.</p></html>\n"
)
FALLBACK_410 = (
    b'<!doctype html><html lang="en"><meta charset="utf-8"><title>Link no longer works</title>'
    b"<h1>This link no longer works</h1><p>Please contact the business for a new link.</p></html>\n"
)
FALLBACK_ROBOTS = b"User-agent: *\nDisallow: /\n"

log = logging.getLogger("paylink.edge")


class EdgeConfigError(Exception):
    """The environment does not say where the build folder or the signing keys are."""


def token_fingerprint(token: str) -> str:
    """Return the first 8 hex digits of SHA-256(token): names a link in logs without revealing it."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()[:8]


def loggable_path(path: str) -> str:
    """Return ``path`` safe for the access log: no token, no control characters."""
    if path.startswith("/p/"):
        return f"/p/{token_fingerprint(path[3:])}…"
    # Stray paths may still carry a token (/P/<token>, //p/<token>) or a forged newline.
    escaped = path.encode("unicode_escape").decode("ascii")
    return TOKEN_LIKE_RE.sub(lambda m: f"{token_fingerprint(m.group())}…", escaped)[:300]


def _send(environ, start_response, status: int, body: bytes, headers: list[tuple[str, str]]) -> bytes:
    """Start the response with the security headers; return the body to send (none for HEAD)."""
    start_response(f"{status} {HTTPStatus(status).phrase}",
                   [("Content-Length", str(len(body))), *headers, *SECURITY_HEADERS])
    return b"" if environ.get("REQUEST_METHOD") == "HEAD" else body


def _no_follow(path: str, flags: int) -> int:
    # A symlink planted in build/ must not lead outside it: refuse to follow one.
    return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC)


class Edge:
    """The WSGI application for one build folder and one key list (newest last)."""

    def __init__(self, build_dir: Path, keys: list[str]):
        # absolute(), not resolve(): a deploy that swaps a ``build`` symlink is followed.
        self.build_dir = Path(build_dir).absolute()
        self.build_root = str(self.build_dir)
        self.signer = LinkSigner(keys)

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        method = environ.get("REQUEST_METHOD", "")
        try:
            status, body, headers = self.respond(environ)
        except Exception:  # answer with our headers, not the server's bare 500
            log.exception("error serving %s", loggable_path(environ.get("PATH_INFO", "")))
            status, body, headers = self.page(500, b"Internal error\n", "txt")
        sent = _send(environ, start_response, status, body, headers)
        log.info(
            "%s %s %d %d %.1fms",
            method.encode("unicode_escape").decode("ascii")[:16],
            loggable_path(environ.get("PATH_INFO", "")),
            status,
            len(sent),
            (time.perf_counter() - started) * 1000,
        )
        return [sent]

    def respond(self, environ) -> tuple[int, bytes, list[tuple[str, str]]]:
        """Return (status, body, headers) for a request; the order of checks is part of the contract."""
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            status, body, headers = self.page(405, b"Method not allowed\n", "txt")
            return status, body, [("Allow", "GET, HEAD"), *headers]
        # A GET has no body. Content-Length with Transfer-Encoding is the request
        # smuggling pattern; some servers (granian/hyper) drop Content-Length before
        # we see it, so any Transfer-Encoding at all is refused.
        if "HTTP_TRANSFER_ENCODING" in environ:
            return self.page(400, b"Bad request\n", "txt")
        path = environ.get("PATH_INFO", "")
        if len(path) > MAX_PATH_LENGTH:
            return self.page(414, b"URI too long\n", "txt")
        raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
        if raw is not None and HOSTILE_RAW_RE.search(raw.partition("?")[0]):
            return self.not_found()
        if path.startswith("/p/"):
            return self.link_page(path[3:])
        match = ASSET_RE.match(path)
        if match:
            body = self.read(layout.ASSETS_DIR, path[len("/assets/"):])
            if body is None:
                return self.not_found()
            return 200, body, [("Content-Type", CONTENT_TYPES[match[1]]), ("Cache-Control", IMMUTABLE)]
        if path == "/robots.txt":
            body = self.read(layout.ROBOTS)
            return self.page(200, FALLBACK_ROBOTS if body is None else body, "txt")
        return self.not_found()

    def link_page(self, token: str):
        """200 with the snapshot of a live link, 410 for a rotated/revoked one, 404 for anything not ours."""
        # verify() checks TOKEN_RE first, which admits only the canonical base64 spelling:
        # one link has exactly one URL, and any mutation of a token is a 404.
        link_id = self.signer.verify(token)
        if link_id is None:
            return self.not_found()
        snapshot = self.read(layout.SNAPSHOT_DIR, layout.snapshot_name(link_id))
        if snapshot is None:
            gone = self.read(layout.GONE_PAGE)
            return self.page(410, FALLBACK_410 if gone is None else gone, "html")
        return self.page(200, snapshot, "html")

    def not_found(self):
        body = self.read(layout.NOT_FOUND_PAGE)
        return self.page(404, FALLBACK_404 if body is None else body, "html")

    @staticmethod
    def page(status: int, body: bytes, kind: str):
        return status, body, [("Content-Type", CONTENT_TYPES[kind]), ("Cache-Control", NO_STORE)]

    def read(self, *parts: str) -> bytes | None:
        """Return a file of build/ whole (pages are a few KB), or None if it does not exist.

        ``parts`` are our own constants or names matched by an allowlist regex,
        never raw request text. No directory listing; one open() per request,
        two for a 410 (the missing snapshot, then the 410 page). Plain ``os``
        calls: pathlib's parsing cost more than the read itself.
        """
        try:
            fd = _no_follow(os.path.join(self.build_root, *parts), os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            chunks = []
            while chunk := os.read(fd, 65536):
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)


def make_application(build_dir: Path, keys: list[str]) -> Edge:
    """Return the edge WSGI application serving ``build_dir``, verifying tokens with ``keys``."""
    return Edge(build_dir, keys)


def config_from_env() -> tuple[Path, list[str]]:
    """Return (build_dir, keys) from PAYLINK_BUILD_DIR or PAYLINK_SITE plus PAYLINK_SECRET_KEY.

    Raises ``EdgeConfigError`` naming what is missing, so a server can refuse to start.
    """
    site = os.environ.get("PAYLINK_SITE")
    build = os.environ.get("PAYLINK_BUILD_DIR")
    if build:
        build_dir = Path(build)
    elif site:
        build_dir = Path(site) / "build"
    else:
        raise EdgeConfigError("set PAYLINK_BUILD_DIR (the build folder) or PAYLINK_SITE (the site folder)")
    if not build_dir.is_dir():
        raise EdgeConfigError(f"build folder {build_dir} does not exist — run `paylink build` first")
    try:
        keys = load_keys(Path(site) / "paylink.key" if site else None)
    except NoSigningKey as exc:
        raise EdgeConfigError(str(exc)) from exc
    return build_dir, keys


def configure_access_log() -> None:
    """Send the edge's access log to stderr, unless the host program already configured it."""
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s paylink.edge %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False


class EnvConfiguredApplication:
    """``edge.app:application``: builds the edge from the environment on the first request.

    Importing this module never fails, so any WSGI server can load it; a bad
    configuration answers 500 and says why on stderr. Call ``config_from_env()``
    at start-up to fail before serving instead.
    """

    def __init__(self):
        self._edge: Edge | None = None
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        edge = self._edge or self._configure()
        if edge is None:
            return [_send(environ, start_response, *Edge.page(500, b"Edge not configured\n", "txt"))]
        return edge(environ, start_response)

    def _configure(self) -> Edge | None:
        with self._lock:  # threads of one worker may all arrive first
            if self._edge is None:
                try:
                    build_dir, keys = config_from_env()
                except EdgeConfigError as exc:
                    print(f"paylink edge: not configured: {exc}", file=sys.stderr, flush=True)
                    return None
                configure_access_log()
                self._edge = make_application(build_dir, keys)
            return self._edge


application = EnvConfiguredApplication()
