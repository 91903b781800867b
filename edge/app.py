"""The edge: turns a signed link into its snapshot, with one ``respond`` and thin WSGI and ASGI adapters.

It knows two things, the build folder and the signing keys, and shares only
``paylink.tokens`` and ``paylink.layout`` with the rest of paylink (every name,
header and pattern the builder and the Worker agree on lives in ``layout``).
``Edge.respond(method, raw_path, headers)`` answers one request given as the
client sent it; ``Edge`` is a WSGI application and ``asgi_application`` (what
`paylink serve` runs under granian) the same over ASGI, each a few lines that
only unpack the request and send the answer.

Each request path is matched against a short allowlist of exact shapes;
nothing a client sends is ever joined onto a file-system path, so ``..``,
encoded slashes, NUL bytes and the like never reach a file: they match nothing
and get a 404. A valid token names its snapshot only through
``layout.snapshot_name``, a digest, so a file name found in ``build/`` is not a
URL either. The 404 and 410 pages are chosen by the request's
``Accept-Language`` (``layout.preferred_language``), as the Worker chooses.

Per request: a token asked for before skips its HMAC (verified tokens remember
their snapshot's path), a file asked for before is one ``stat`` away
(``FileCache``), and the access-log line is made with a timestamp formatted
once a second. Headers are prebuilt tuples: a request only adds its length.
"""

import atexit
import hashlib
import logging
import os
import re
import stat
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from http import HTTPStatus
from pathlib import Path
from time import perf_counter
from urllib.parse import quote, unquote

from paylink import layout
from paylink.layout import BUILD_DIR_ENV, LINK_PREFIX, SITE_ENV, preferred_language
from paylink.tokens import LinkSigner, NoSigningKey, load_keys

# Longer paths get 414; shorter junk, even 10 KB of it, is just "not found".
MAX_PATH_LENGTH = 16384
ASSET_PREFIX = f"/{layout.ASSETS_DIR}/"
ROBOTS_PATH = f"/{layout.ROBOTS}"
# No allowlisted URL needs any of these in its raw (undecoded) form: a path that would only
# match after decoding is refused instead of trusting the decoder.
HOSTILE_RAW_RE = re.compile(r"%(?:2f|5c|00|2e)|\\|//|\.\.", re.IGNORECASE)
# Runs that could be (part of) a token, for scrubbing stray paths in the log.
TOKEN_LIKE_RE = re.compile(r"[A-Za-z0-9_.-]{16,}")

# (status, headers after Content-Length, Content-Length, body to send): what ``respond`` returns.
Answer = tuple[int, tuple[tuple[str, str], ...], int, bytes]


def _tail(*headers: tuple[str, str]) -> tuple[tuple[str, str], ...]:
    """A response's headers after Content-Length: built once per kind of response, never per request."""
    return (*headers, *layout.SECURITY_HEADERS)


# Every response's headers but Content-Length, by kind: constants, so a request only adds its length.
PAGE_HEADERS = {
    kind: _tail(("Content-Type", ctype), ("Cache-Control", layout.NO_STORE))
    for kind, ctype in layout.CONTENT_TYPES.items()
}
ASSET_HEADERS = {
    ext: _tail(("Content-Type", ctype), ("Cache-Control", layout.IMMUTABLE))
    for ext, ctype in layout.CONTENT_TYPES.items()
}
HTML_HEADERS = PAGE_HEADERS["html"]
TEXT_HEADERS = PAGE_HEADERS["txt"]
# The 404 and 410 pages: in the language the request asks for, so caches keep one per language.
ERROR_HEADERS = _tail(
    ("Content-Type", layout.CONTENT_TYPES["html"]), ("Cache-Control", layout.NO_STORE), layout.ERROR_VARY
)
NOT_ALLOWED_HEADERS = (("Allow", "GET, HEAD"), *TEXT_HEADERS)
STATUS_LINES = {status.value: f"{status.value} {status.phrase}" for status in HTTPStatus}
_ENCODED: dict[int, tuple[tuple, list[tuple[bytes, bytes]]]] = {}


def _encoded(tail: tuple[tuple[str, str], ...]) -> list[tuple[bytes, bytes]]:
    """The headers as ASGI's bytes pairs, encoded once per constant header tuple."""
    found = _ENCODED.get(id(tail))
    if found is None or found[0] is not tail:
        found = _ENCODED[id(tail)] = (tail, [(k.encode("latin-1"), v.encode("latin-1")) for k, v in tail])
    return found[1]


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
NOT_CONFIGURED = b"Edge not configured\n"

log = logging.getLogger("paylink.edge")  # failures only; requests go to the AccessLog


class EdgeConfigError(Exception):
    """The environment does not say where the build folder or the signing keys are."""


def token_fingerprint(token: str) -> str:
    """Return the first 8 hex digits of SHA-256(token): names a link in logs without revealing it."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()[:8]


def loggable_path(path: str) -> str:
    """Return ``path`` safe for the access log: no token, no control characters."""
    if path.startswith(LINK_PREFIX):
        return f"{LINK_PREFIX}{token_fingerprint(path[len(LINK_PREFIX) :])}…"
    # Stray paths may still carry a token (/P/<token>, //p/<token>) or a forged newline.
    escaped = path.encode("unicode_escape").decode("ascii")
    return TOKEN_LIKE_RE.sub(lambda m: f"{token_fingerprint(m.group())}…", escaped)[:300]


# Paths already made loggable (a page and its assets are asked for again and again): a bounded
# memo of a pure function, emptied when full, so an access-log line costs about 1 µs, not 2.5.
_LOGGABLE: dict[str, str] = {}
_LOGGABLE_MAX = 4096
_PLAIN_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"))


def access_line(method: str, path: str, status: int, size: int, elapsed_ms: float) -> str:
    """One request's access-log line: no token, no control characters."""
    if method not in _PLAIN_METHODS:
        method = method.encode("unicode_escape").decode("ascii")[:16]
    return f"{method} {_loggable(path)} {status} {size} {elapsed_ms:.1f}ms"


def _loggable(path: str) -> str:
    """``loggable_path``, remembered."""
    shown = _LOGGABLE.get(path)
    if shown is None:
        if len(_LOGGABLE) >= _LOGGABLE_MAX:
            _LOGGABLE.clear()
        shown = _LOGGABLE[path] = loggable_path(path)
    return shown


_READ_SIZE = 65536
SNAPSHOT_PATHS_KEPT = 4096  # verified tokens remembered (about 0.5 MB), all forgotten when full
LANGUAGE_HEADERS_KEPT = 1024  # Accept-Language headers remembered, all forgotten when full
_UNPARSED = "?"  # not a language: the header has not been parsed yet


def _no_follow(path: str, flags: int) -> int:
    # A symlink planted in build/ must not lead outside it: refuse to follow one.
    return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC)


class Edge:
    """The edge for one build folder and one key list (newest last); a WSGI application."""

    def __init__(self, build_dir: Path, keys: list[str], access_log: Callable[[str], None] | None = None):
        # absolute(), not resolve(): a deploy that swaps a ``build`` symlink is followed.
        self.build_dir = Path(build_dir).absolute()
        self.build_root = str(self.build_dir)
        self.snapshot_root = os.path.join(self.build_root, layout.SNAPSHOT_DIR, "")
        self.files = FileCache()
        # token -> its snapshot's path, for tokens that verified: a pure function of the token and
        # the keys (both fixed here), so a link asked for again skips the HMAC and the digest.
        self.snapshot_paths: dict[str, str] = {}
        self.signer = LinkSigner(keys)
        self.access_log = access_log
        # Accept-Language header -> the language it picks (None: the site's), a pure function remembered.
        self.languages: dict[str, str | None] = {}
        # status -> (the page in the site's language, {language: its page}, the built-in page)
        self.error_pages = {
            status: (
                os.path.join(self.build_root, page),
                {lang: os.path.join(self.build_root, layout.error_page_name(page, lang)) for lang in layout.LANGUAGES},
                fallback,
            )
            for status, page, fallback in (
                (404, layout.NOT_FOUND_PAGE, FALLBACK_404),
                (410, layout.GONE_PAGE, FALLBACK_410),
            )
        }

    def __call__(self, environ, start_response):
        """WSGI: answer one request."""
        return wsgi_adapter(self.respond, environ, start_response)

    def respond(self, method: str, raw_path: str, headers: Mapping[str, str]) -> Answer:
        """Answer one request and log it: (status, headers after Content-Length, Content-Length, body to send).

        ``raw_path`` is the request target as the client sent it (percent-encoded;
        a query is ignored) and ``headers`` its headers by lower-case name (the edge
        reads ``transfer-encoding`` and ``accept-language``). The headers returned
        are one of the prebuilt tuples; HEAD's Content-Length is the GET body's.
        """
        started = perf_counter()
        path = raw_path.partition("?")[0]
        try:
            status, body, tail = self._answer(method, path, headers)
        except Exception:  # answer with our headers, not the server's bare 500
            log.exception("error serving %s", loggable_path(path))
            status, body, tail = 500, b"Internal error\n", TEXT_HEADERS
        sent = b"" if method == "HEAD" else body
        access_log = self.access_log
        if access_log is not None:
            elapsed_ms = (perf_counter() - started) * 1000
            if type(access_log) is AccessLog:  # formatted later, in its flushing thread
                access_log.record(method, path, status, len(sent), elapsed_ms)
            else:
                access_log(access_line(method, path, status, len(sent), elapsed_ms))
        return status, tail, len(body), sent

    def _answer(
        self, method: str, raw: str, headers: Mapping[str, str]
    ) -> tuple[int, bytes, tuple[tuple[str, str], ...]]:
        """(status, body, prebuilt headers) for a request (its raw path without the query); the order of
        checks is part of the contract."""
        if method != "GET" and method != "HEAD":
            return 405, b"Method not allowed\n", NOT_ALLOWED_HEADERS
        # A GET has no body. Content-Length with Transfer-Encoding is the request
        # smuggling pattern; some servers (granian/hyper) drop Content-Length before
        # we see it, so any Transfer-Encoding at all is refused.
        if "transfer-encoding" in headers:
            return 400, b"Bad request\n", TEXT_HEADERS
        # Decoded as a WSGI server fills PATH_INFO (one character per byte), as the Worker decodes.
        path = unquote(raw, "latin-1") if "%" in raw else raw
        if len(path) > MAX_PATH_LENGTH:
            return 414, b"URI too long\n", TEXT_HEADERS
        if HOSTILE_RAW_RE.search(raw):
            return self.error_page(404, headers)
        if path.startswith(LINK_PREFIX):
            return self.link_page(path[len(LINK_PREFIX) :], headers)
        match = layout.ASSET_NAME_RE.match(path, len(ASSET_PREFIX)) if path.startswith(ASSET_PREFIX) else None
        if match:
            body = self.read(layout.ASSETS_DIR, path[len(ASSET_PREFIX) :])
            if body is None:
                return self.error_page(404, headers)
            return 200, body, ASSET_HEADERS[match[1]]
        if path == ROBOTS_PATH:
            body = self.read(layout.ROBOTS)
            return 200, FALLBACK_ROBOTS if body is None else body, TEXT_HEADERS
        return self.error_page(404, headers)

    def link_page(self, token: str, headers: Mapping[str, str]):
        """200 with the snapshot of a live link, 410 for a rotated/revoked one, 404 for anything not ours."""
        # verify() checks TOKEN_RE first, which admits only the canonical base64 spelling:
        # one link has exactly one URL, and any mutation of a token is a 404.
        path = self.snapshot_paths.get(token)
        if path is None:
            link_id = self.signer.verify(token)
            if link_id is None:
                return self.error_page(404, headers)
            path = self.snapshot_root + layout.snapshot_name(link_id)
            if len(self.snapshot_paths) >= SNAPSHOT_PATHS_KEPT:
                self.snapshot_paths.clear()
            self.snapshot_paths[token] = path
        snapshot = self.read_file(path)
        if snapshot is None:
            return self.error_page(410, headers)
        return 200, snapshot, HTML_HEADERS

    def error_page(self, status: int, headers: Mapping[str, str]):
        """The 404 or 410 page in the language the request prefers, else in the site's, else the built-in one."""
        site_page, by_language, fallback = self.error_pages[status]
        header = headers.get("accept-language")
        if header is None:
            language = None
        else:
            # A browser sends the same header with every request: parse each one once.
            languages = self.languages
            language = languages.get(header, _UNPARSED)
            if language is _UNPARSED:
                if len(languages) >= LANGUAGE_HEADERS_KEPT:
                    languages.clear()
                language = languages[header] = preferred_language(header)
        body = None if language is None else self.read_file(by_language[language])
        if body is None:
            body = self.read_file(site_page)
        return status, fallback if body is None else body, ERROR_HEADERS

    def read(self, *parts: str) -> bytes | None:
        """Return a file of build/ whole (pages are a few KB), or None if it does not exist.

        ``parts`` are our own constants or names matched by an allowlist regex,
        never raw request text. No directory listing; one open() per request,
        two for a 410 (the missing snapshot, then the 410 page). Plain ``os``
        calls: pathlib's parsing cost more than the read itself.
        """
        return self.read_file(os.path.join(self.build_root, *parts))

    def read_file(self, path: str) -> bytes | None:
        """``read`` for a path already joined (``snapshot_root`` + a snapshot's name).

        A file read before comes from memory if one ``stat`` finds the very same file
        (see ``FileCache``); a rewritten page is a new file and is read from disk at once.
        """
        cached = self.files.get(path)
        if cached is not None:
            try:
                found = os.stat(path, follow_symlinks=False)
            except FileNotFoundError:
                self.files.forget(path)
                return None
            if _identity(found) == cached[0]:
                return cached[1]
        try:
            fd = _no_follow(path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            # A file asked for a second time is kept (its identity taken before its bytes, so a
            # change made while reading shows in the next stat); one asked for once costs no more.
            identity = _identity(os.fstat(fd)) if self.files.wanted(path) else None
            # A short read of a regular file is its end: one read() for a page, not two.
            chunk = os.read(fd, _READ_SIZE)
            if len(chunk) < _READ_SIZE:
                body = chunk
            else:
                chunks = [chunk]
                while chunk := os.read(fd, _READ_SIZE):
                    chunks.append(chunk)
                body = b"".join(chunks)
        finally:
            os.close(fd)
        if identity is not None:
            self.files.keep(path, identity, body)
        return body


def _identity(found: os.stat_result) -> tuple[int, int, int, int, int, int]:
    """What tells one file from another at a path: a replaced or rewritten file differs in one of these."""
    return (found.st_ino, found.st_dev, found.st_size, found.st_mtime_ns, found.st_ctime_ns, found.st_mode)


class FileCache:
    """The last files of ``build/`` the edge read, kept while one ``stat`` finds them unchanged.

    A file is served from memory only while the file at its path has the same
    inode, device, size, mode, mtime and ctime as when it was read. The builder
    replaces a page by renaming a new file over it, so a rewritten page has a
    new inode and is read at once; a file changed in place changes its ctime.
    Only files whose ctime was at least a second old when read are kept, so a
    file replaced within the same clock tick, whose inode number the system
    reused, cannot pass for the one kept (its ctime would be later). The
    kernel sets ctime; no tool can set it back. Bounded in files and bytes,
    the oldest dropped first.

    Only a file asked for a second time (among the last few thousand paths) is
    kept: a stat costs about half an open, read and close, and a page asked for
    once (most of them, on a site of many customers) costs one dict lookup more,
    not an fstat and an eviction.
    """

    SETTLED_NS = 1_000_000_000

    def __init__(self, max_files: int = 1024, max_bytes: int = 16 << 20):
        self.max_files, self.max_bytes = max_files, max_bytes
        self._files: dict[str, tuple[tuple[int, int, int, int, int, int], bytes]] = {}
        self._bytes = 0
        self._seen: dict[str, None] = {}  # paths asked for once
        self._lock = threading.Lock()  # for changes only: a lookup is one dict.get
        self.get = self._files.get

    def wanted(self, path: str) -> bool:
        """Whether a file about to be read should be kept: it was asked for before."""
        seen = self._seen
        if path in seen:
            return True
        if len(seen) >= self.max_files * 4:
            seen.clear()
        seen[path] = None
        return False

    def keep(self, path: str, identity: tuple[int, int, int, int, int, int], body: bytes) -> None:
        """Keep a file just read, if it is a settled regular file of the size its stat gave."""
        if (
            not stat.S_ISREG(identity[5])
            or len(body) != identity[2]
            or len(body) > self.max_bytes // 16
            or time.time_ns() - identity[4] < self.SETTLED_NS
        ):
            return
        with self._lock:
            self._drop(path)
            files = self._files
            while files and (len(files) >= self.max_files or self._bytes + len(body) > self.max_bytes):
                self._drop(next(iter(files)))
            files[path] = (identity, body)
            self._bytes += len(body)

    def forget(self, path: str) -> None:
        with self._lock:
            self._drop(path)

    def _drop(self, path: str) -> None:
        gone = self._files.pop(path, None)
        if gone is not None:
            self._bytes -= len(gone[1])


def make_application(build_dir: Path, keys: list[str], access_log: Callable[[str], None] | None = None) -> Edge:
    """Return the edge WSGI application serving ``build_dir``, verifying tokens with ``keys``.

    ``access_log``, if given, receives one line per request (tokens already hidden).
    """
    return Edge(build_dir, keys, access_log)


def config_from_env() -> tuple[Path, list[str]]:
    """Return (build_dir, keys) from PAYLINK_BUILD_DIR or PAYLINK_SITE plus PAYLINK_SECRET_KEY (``layout``'s names).

    Raises ``EdgeConfigError`` naming what is missing, so a server can refuse to start.
    """
    site = os.environ.get(SITE_ENV)
    build = os.environ.get(BUILD_DIR_ENV)
    if build:
        build_dir = Path(build)
    elif site:
        build_dir = Path(site) / layout.BUILD_DIR
    else:
        raise EdgeConfigError(f"set {BUILD_DIR_ENV} (the build folder) or {SITE_ENV} (the site folder)")
    if not build_dir.is_dir():
        raise EdgeConfigError(f"build folder {build_dir} does not exist — run `paylink build` first")
    try:
        keys = load_keys(Path(site) / layout.KEY_FILE if site else None)
    except NoSigningKey as exc:
        raise EdgeConfigError(str(exc)) from exc
    return build_dir, keys


class AccessLog:
    """Access-log lines to a stream (stderr), written in batches at least once a second.

    The ``logging`` module costs more per request than the edge's own work
    (a record, a formatted timestamp, a lock and a flush each time): with it the
    edge served about half the requests per second. Each line is made when
    logged, with a timestamp formatted once a second, and kept in order; a
    daemon thread only joins and writes them. (When that thread formatted the
    lines too, it held the GIL for a second's worth of lines at a time, and
    under granian the waiting cost ~10 µs a request.)
    """

    def __init__(self, stream=None, interval_s: float = 1.0):
        self.stream = stream or sys.stderr
        # deque: append and popleft are atomic, so requests never wait for a lock.
        self._pending: deque[str] = deque()
        self._flushing = threading.Lock()
        self._stamp: tuple[int, str] = (-1, "")  # (second, its text): replaced whole, so threads agree
        threading.Thread(target=self._flush_every, args=(interval_s,), daemon=True, name="paylink-access-log").start()
        atexit.register(self._flush_at_exit)

    def __call__(self, line: str) -> None:
        """Log a line as it is."""
        self._pending.append(f"{self._stamped()} paylink.edge {line}\n")

    def record(self, method: str, path: str, status: int, size: int, elapsed_ms: float) -> None:
        """Log a request (the line ``access_line`` makes); nothing is written until the next flush."""
        if method not in _PLAIN_METHODS:
            method = method.encode("unicode_escape").decode("ascii")[:16]
        shown = _LOGGABLE.get(path) or _loggable(path)
        self._pending.append(f"{self._stamped()} paylink.edge {method} {shown} {status} {size} {elapsed_ms:.1f}ms\n")

    def _stamped(self) -> str:
        now = int(time.time())
        stamp = self._stamp
        if now != stamp[0]:  # strftime once a second, not per line
            stamp = self._stamp = (now, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)))
        return stamp[1]

    def flush(self) -> None:
        with self._flushing:  # the timer and atexit: one at a time, lines in order
            pending = self._pending
            popleft = pending.popleft
            lines = [popleft() for _ in range(len(pending))]
            if lines:
                self.stream.write("".join(lines))
                self.stream.flush()

    def _flush_at_exit(self) -> None:
        try:
            self.flush()
        except (OSError, ValueError):  # the stream was closed first
            pass

    def _flush_every(self, interval_s: float) -> None:
        while True:
            time.sleep(interval_s)
            try:
                self.flush()
            except (OSError, ValueError):  # stderr closed at shutdown
                return


def wsgi_adapter(respond: Callable[[str, str, Mapping[str, str]], Answer], environ, start_response):
    """Answer a WSGI request with ``respond``: the raw target where the server gives it (gunicorn's
    ``RAW_URI``), else ``PATH_INFO`` encoded again, so ``respond`` decodes every path the same way."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw is None:
        raw = quote(environ.get("PATH_INFO", ""), safe="/;:@&=+$,!~*'()", encoding="latin-1")
    headers: dict[str, str] = {}
    if "HTTP_TRANSFER_ENCODING" in environ:
        headers["transfer-encoding"] = environ["HTTP_TRANSFER_ENCODING"]
    accept_language = environ.get("HTTP_ACCEPT_LANGUAGE")
    if accept_language is not None:
        headers["accept-language"] = accept_language
    status, tail, length, body = respond(environ.get("REQUEST_METHOD", ""), raw, headers)
    start_response(STATUS_LINES[status], [("Content-Length", str(length)), *tail])
    return [body]


async def asgi_adapter(respond: Callable[[str, str, Mapping[str, str]], Answer], scope, send) -> None:
    """Answer an ASGI HTTP request with ``respond``.

    ASGI hands over ``raw_path``, the path as the client sent it, so the raw-path
    check (``/p%2F<token>``, ``%00``, ``..``) runs exactly as under a WSGI server
    that gives ``RAW_URI``. Without it the check cannot run: the request is
    refused rather than the decoder trusted. (granian's RSGI interface gives only
    the decoded path, so the edge offers none.)
    """
    headers: dict[str, str] = {}
    for name, value in scope["headers"]:
        if name == b"transfer-encoding" or name == b"accept-language":
            key = name.decode("latin-1")
            headers[key] = f"{headers[key]},{value.decode('latin-1')}" if key in headers else value.decode("latin-1")
    raw_path = scope.get("raw_path")
    raw = raw_path.decode("latin-1") if raw_path is not None else "//"
    status, tail, length, body = respond(scope["method"], raw, headers)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"Content-Length", b"%d" % length), *_encoded(tail)],
        }
    )
    await send({"type": "http.response.body", "body": body})


class EnvConfiguredApplication:
    """``paylink.edge.app:application``: builds the edge from the environment on the first request.

    Importing this module never fails, so any WSGI server can load it; a bad
    configuration answers 500 and says why on stderr. Call ``config_from_env()``
    at start-up to fail before serving instead.
    """

    def __init__(self):
        self._edge: Edge | None = None
        self._lock = threading.Lock()

    def respond(self, method: str, raw_path: str, headers: Mapping[str, str]) -> Answer:
        """``Edge.respond`` of the configured edge; 500 while it is not configured."""
        edge = self._edge or self.edge()
        if edge is None:
            return 500, TEXT_HEADERS, len(NOT_CONFIGURED), b"" if method == "HEAD" else NOT_CONFIGURED
        return edge.respond(method, raw_path, headers)

    def __call__(self, environ, start_response):
        """WSGI."""
        return wsgi_adapter(self.respond, environ, start_response)

    async def asgi(self, scope, receive, send):
        """ASGI (lifespan off): what `paylink serve` runs under granian."""
        if scope["type"] == "http":  # no lifespan or websocket work
            await asgi_adapter(self.respond, scope, send)

    def edge(self) -> Edge | None:
        """The configured edge, built on first use; None (and one stderr line) if misconfigured."""
        if self._edge is not None:
            return self._edge
        with self._lock:  # threads of one worker may all arrive first
            if self._edge is None:
                try:
                    build_dir, keys = config_from_env()
                except EdgeConfigError as exc:
                    print(f"paylink edge: not configured: {exc}", file=sys.stderr, flush=True)
                    return None
                self._edge = make_application(build_dir, keys, AccessLog())
            return self._edge


application = EnvConfiguredApplication()
# `paylink serve`'s target (granian, ASGI without lifespan): the same edge, with the raw path checked.
asgi_application = application.asgi
