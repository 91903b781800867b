"""The edge (CONTRACT §3, §6): real HTTP against `python -m paylink.edge.serve`, plus a few in-process checks.

The build folder is made with the real token and layout code. Canary files sit
just outside build/; no response may ever contain them.
"""

import hashlib
import io
import json
import logging
import os
import signal
import socket
import string
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from edgeserver import (
    Response,
    RunningServer,
    clean_env,
    edge_argv,
    free_port,
    parse_response,
    request,
    running_edge,
    send_raw,
    start_edge,
)
from itsdangerous import Signer
from paylink import layout
from paylink.edge.app import (
    EnvConfiguredApplication,
    loggable_path,
    make_application,
    token_fingerprint,
)
from paylink.tokens import LinkSigner, new_key, new_link_id
from processes import alive, children_of

VECTORS = Path(__file__).resolve().parent / "vectors"
ALPHABET = string.ascii_letters + string.digits + "-_"
CSP = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
    "form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "referrer-policy": "no-referrer",
    "x-robots-tag": "noindex",
    "x-content-type-options": "nosniff",
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
}
ASSETS = {
    "paylink.0123456789abcdef.css": (b"main{color:#123}\n", "text/css"),
    "tip-total.fedcba9876543210.js": (b"document.title;\n", "text/javascript"),
    "logo.00112233aabbccdd.svg": (b'<svg xmlns="http://www.w3.org/2000/svg"/>\n', "image/svg+xml"),
}
CANARY = b"CANARY-outside-build-7f3a"


# --- the site ------------------------------------------------------------------


@dataclass
class Site:
    root: Path
    build: Path
    old_key: str
    new_key: str
    live: str  # token (new key) of a live link
    live_old_key: str  # token signed with the previous key, link still live
    rotated: str  # valid signature, snapshot removed by a rotation
    revoked: str  # valid signature, snapshot removed by a revocation
    other_link: str  # a second live link
    foreign: str  # the live link id signed with another site's key
    live_snapshot: bytes
    snapshot_file: str  # the live snapshot's file name inside build/p

    @property
    def keys(self) -> list[str]:
        return [self.old_key, self.new_key]

    @property
    def secrets(self) -> list[bytes]:
        """What must never appear in a response or in the log."""
        return [CANARY, self.old_key.encode(), self.new_key.encode()]


def write_snapshot(build: Path, link_id: str, text: str) -> bytes:
    body = f'<!doctype html><html><body><main data-state="outstanding">{text}</main></body></html>'.encode()
    (build / layout.SNAPSHOT_DIR / layout.snapshot_name(link_id)).write_bytes(body)
    return body


def make_site(root: Path) -> Site:
    """A build/ as the builder leaves it, with canaries next to it."""
    build = root / "build"
    (build / layout.SNAPSHOT_DIR).mkdir(parents=True)
    (build / layout.ASSETS_DIR).mkdir()
    old_key, new_key_ = new_key(), new_key()
    old_signer, signer = LinkSigner([old_key]), LinkSigner([old_key, new_key_])
    live_id, old_id, other_id = new_link_id(), new_link_id(), new_link_id()
    live_snapshot = write_snapshot(build, live_id, "LIVE-SNAPSHOT balance 12.50")
    write_snapshot(build, old_id, "OLD-KEY-SNAPSHOT")
    write_snapshot(build, other_id, "OTHER-SNAPSHOT")
    (build / layout.SNAPSHOT_DIR / f"{layout.TEMP_PREFIX}abc123").write_bytes(b"TEMP-LEFTOVER " + CANARY)
    (build / layout.NOT_FOUND_PAGE).write_bytes(b"<!doctype html><title>Not found</title><p>NOT-FOUND-PAGE</p>\n")
    (build / layout.GONE_PAGE).write_bytes(b"<!doctype html><title>Gone</title><p>GONE-PAGE: contact us</p>\n")
    (build / layout.ROBOTS).write_bytes(b"User-agent: *\nDisallow: /\n")
    for name, (body, _) in ASSETS.items():
        (build / layout.ASSETS_DIR / name).write_bytes(body)
    (root / "secret.txt").write_bytes(CANARY)
    (root / "paylink.key").write_text(f"{old_key}\n{new_key_}\n")
    return Site(
        root=root,
        build=build,
        old_key=old_key,
        new_key=new_key_,
        live=signer.sign(live_id),
        live_old_key=old_signer.sign(old_id),
        rotated=signer.sign(new_link_id()),
        revoked=signer.sign(new_link_id()),
        other_link=signer.sign(other_id),
        foreign=LinkSigner([new_key()]).sign(live_id),
        live_snapshot=live_snapshot,
        snapshot_file=layout.snapshot_name(live_id),
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Site:
    return make_site(tmp_path_factory.mktemp("site"))


# --- the server ----------------------------------------------------------------


def start_server(site: Site, log_path: Path, keys: list[str] | None = None) -> RunningServer:
    return start_edge(site.build, site.keys if keys is None else keys, log_path)


@pytest.fixture(scope="module")
def server(site, tmp_path_factory):
    with running_edge(site.build, site.keys, tmp_path_factory.mktemp("log") / "edge.log") as srv:
        yield srv


def assert_secure(resp: Response, cache: str = "no-store") -> None:
    """Every response: the §6 headers, Content-Length, nothing secret."""
    for name, value in SECURITY_HEADERS.items():
        assert resp.headers.get(name) == value, name
    assert resp.headers["cache-control"] == cache
    assert "unsafe-inline" not in resp.headers["content-security-policy"]
    assert "content-length" in resp.headers


def assert_no_secret(site: Site, data: bytes) -> None:
    for secret in site.secrets:
        assert secret not in data
    assert b"TEMP-LEFTOVER" not in data


# --- §6: links ---------------------------------------------------------------------


def test_live_link_serves_its_snapshot(server, site):
    resp = request(server.port, f"/p/{site.live}")
    assert resp.status == 200
    assert resp.body == site.live_snapshot
    assert resp.headers["content-type"] == "text/html; charset=utf-8"
    assert int(resp.headers["content-length"]) == len(site.live_snapshot)
    assert_secure(resp)


def test_each_link_serves_its_own_snapshot(server, site):
    other = request(server.port, f"/p/{site.other_link}")
    assert other.status == 200
    assert b"OTHER-SNAPSHOT" in other.body and b"LIVE-SNAPSHOT" not in other.body


def test_head_sends_headers_and_no_body(server, site):
    raw = send_raw(server.port, f"HEAD /p/{site.live} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    resp = parse_response(raw)
    assert resp.status == 200
    assert int(resp.headers["content-length"]) == len(site.live_snapshot)
    assert resp.body == b""
    assert_secure(resp)


@pytest.mark.parametrize("which", ["rotated", "revoked"])
def test_rotated_or_revoked_link_is_gone(server, site, which):
    resp = request(server.port, f"/p/{getattr(site, which)}")
    assert resp.status == 410
    assert resp.body == (site.build / layout.GONE_PAGE).read_bytes()
    assert resp.headers["content-type"] == "text/html; charset=utf-8"
    assert_secure(resp)


def test_head_of_gone_link(server, site):
    resp = request(server.port, f"/p/{site.rotated}", method="HEAD")
    assert resp.status == 410 and resp.body == b""
    assert int(resp.headers["content-length"]) == len((site.build / layout.GONE_PAGE).read_bytes())


def test_token_signed_with_previous_key_still_works(server, site):
    resp = request(server.port, f"/p/{site.live_old_key}")
    assert resp.status == 200
    assert b"OLD-KEY-SNAPSHOT" in resp.body


def test_dropping_the_old_key_stops_its_links(site, tmp_path):
    srv = start_server(site, tmp_path / "edge.log", keys=[site.new_key])
    try:
        assert request(srv.port, f"/p/{site.live_old_key}").status == 404
        assert request(srv.port, f"/p/{site.live}").status == 200
    finally:
        srv.stop()


def token_mutations(site: Site) -> dict[str, str]:
    token = site.live
    link_id, _, signature = token.partition(".")
    cases = {}
    for i, char in enumerate(token):
        if char == ".":
            cases[f"dot-{i}"] = token[:i] + "A" + token[i + 1 :]
            continue
        index = ALPHABET.index(char)
        for step in (1, 4, 32):  # step 1 on the last character hits the base64 spare bits
            cases[f"flip-{i}+{step}"] = token[:i] + ALPHABET[(index + step) % 64] + token[i + 1 :]
    cases |= {
        "truncated-1": token[:-1],
        "truncated-10": token[:-10],
        "id-and-dot": f"{link_id}.",
        "id-only": link_id,
        "signature-only": signature,
        "extended": token + "A",
        "extended-padding": token + "=",
        "trailing-slash": token + "/",
        "swapcase": token.swapcase(),
        "swapcase-id": f"{link_id.swapcase()}.{signature}",
        "swapcase-signature": f"{link_id}.{signature.swapcase()}",
        "other-links-signature": f"{link_id}.{site.other_link.partition('.')[2]}",
        "other-sites-key": site.foreign,
        "other-salt": Signer(site.new_key, salt="other", key_derivation="hmac", digest_method=hashlib.sha256)
        .sign(link_id)
        .decode(),
        "snapshot-file-name": site.snapshot_file,
        "snapshot-file-stem": site.snapshot_file.removesuffix(".html"),
    }
    return {name: t for name, t in cases.items() if t != token}


def test_every_mutation_of_a_token_is_not_found(server, site):
    not_found_page = (site.build / layout.NOT_FOUND_PAGE).read_bytes()
    failures = []
    for name, token in token_mutations(site).items():
        resp = request(server.port, f"/p/{token}")
        if resp.status != 404 or resp.body != not_found_page:
            failures.append((name, resp.status))
        assert_secure(resp)
        assert_no_secret(site, resp.raw)
        assert b"LIVE-SNAPSHOT" not in resp.raw
    assert failures == []


# --- §6: hostile paths ---------------------------------------------------------------


def vector_paths(token: str, snapshot_file: str) -> list[bytes]:
    """The hostile request targets of tests/vectors/paths.json (shared with the Worker's tests), filled in."""
    cases = json.loads((VECTORS / "paths.json").read_text(encoding="utf-8"))["cases"]
    assert cases and all(case["status"] == 404 for case in cases)
    fill = {"{token}": token, "{snapshot}": snapshot_file, "{snapshot_stem}": snapshot_file.removesuffix(".html")}
    paths = []
    for case in cases:
        path = case["path"]
        for placeholder, value in fill.items():
            path = path.replace(placeholder, value)
        paths.append(path.encode("latin-1"))
    return paths


def hostile_paths(site: Site) -> list[bytes]:
    paths = vector_paths(site.live, site.snapshot_file) + [
        b"/p/" + b"../" * 3400 + b"secret.txt",  # about 10 KB
        b"/" + b"a" * 10_000,
        b"/assets/paylink.0123456789abcdef.css/..",
        b"/assets/PAYLINK.0123456789ABCDEF.CSS",
        b"/assets/paylink.0123456789abcdef.html",
        b"/assets/paylink.0123456789abcde.css",
        b"/assets/missing.0123456789abcdef.css",
        b"/assets/./paylink.0123456789abcdef.css",
    ]
    assert max(map(len, paths)) <= 16384
    return paths


def test_hostile_paths_are_not_found_and_never_leak(server, site):
    not_found_page = (site.build / layout.NOT_FOUND_PAGE).read_bytes()
    failures = []
    for path in hostile_paths(site):
        resp = request(server.port, path)
        if resp.status != 404 or resp.body != not_found_page:
            failures.append((path[:80], resp.status))
        assert_secure(resp)
        assert_no_secret(site, resp.raw)
        assert b"root:" not in resp.raw and b"LIVE-SNAPSHOT" not in resp.raw
    assert failures == []


def test_path_past_16_kb_is_414(server, site):
    resp = request(server.port, "/p/" + "a" * 16_400)
    assert resp.status == 414
    assert_secure(resp)


def test_query_string_does_not_change_the_answer(server, site):
    assert request(server.port, f"/p/{site.live}?utm_source=chat").body == site.live_snapshot
    assert request(server.port, "/p/x?../../secret.txt").status == 404


# --- §6: methods, framing ---------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PROPFIND", "get"])
def test_other_methods_are_405_with_allow(server, site, method):
    for path in (f"/p/{site.live}", "/p/../secret.txt", "/robots.txt"):
        resp = request(server.port, path, method=method, extra=b"Content-Length: 0\r\n")
        assert resp.status == 405
        assert resp.headers["allow"] == "GET, HEAD"
        assert_secure(resp)
        assert b"LIVE-SNAPSHOT" not in resp.raw


def test_content_length_with_transfer_encoding_is_refused_without_smuggling(server, site):
    smuggled = f"GET /p/{site.live} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    for headers in (
        b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
    ):
        raw = send_raw(
            server.port, b"GET /robots.txt HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n0\r\n\r\n" + smuggled, timeout=3
        )
        assert raw.startswith(b"HTTP/1.1 400 "), raw[:40]
        assert raw.count(b"HTTP/1.1 ") == 1  # no second (smuggled) response
        assert b"LIVE-SNAPSHOT" not in raw
        assert_secure(parse_response(raw))


# --- public files -------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ASSETS))
def test_assets_are_served_immutable_with_their_type(server, site, name):
    body, content_type = ASSETS[name]
    resp = request(server.port, f"/assets/{name}")
    assert resp.status == 200 and resp.body == body
    assert resp.headers["content-type"].split(";")[0] == content_type
    assert_secure(resp, cache="public, max-age=31536000, immutable")
    head = request(server.port, f"/assets/{name}", method="HEAD")
    assert head.body == b"" and int(head.headers["content-length"]) == len(body)


def test_robots_txt(server, site):
    resp = request(server.port, "/robots.txt")
    assert resp.status == 200 and resp.body == b"User-agent: *\nDisallow: /\n"
    assert resp.headers["content-type"].startswith("text/plain")
    assert_secure(resp)


# --- logging and lifecycle ------------------------------------------------------------------


def test_access_log_names_requests_without_tokens(server, site):
    request(server.port, f"/p/{site.live}")
    request(server.port, f"/p/{site.live[:-1]}")
    request(server.port, f"/P/{site.other_link}")
    expected = f"GET /p/{token_fingerprint(site.live)}… 200 {len(site.live_snapshot)}"
    deadline = time.monotonic() + 5
    while expected not in server.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    log = server.log()
    assert expected in log
    for token in (site.live, site.live[:-1], site.other_link, site.live_old_key, site.rotated, site.foreign):
        assert token not in log
        assert token.partition(".")[0] not in log  # not even the link id
        assert token.partition(".")[2][:20] not in log
    assert_no_secret(site, log.encode())


def test_edge_refuses_to_start_without_build_dir_or_key(tmp_path):
    env = clean_env()
    port = free_port()
    no_key = subprocess.run(
        edge_argv(tmp_path, port), env=env, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL
    )
    assert no_key.returncode != 0 and no_key.stderr.startswith("Error: no signing key")
    env["PAYLINK_SECRET_KEY"] = new_key()
    missing = tmp_path / "nope"
    no_dir = subprocess.run(
        edge_argv(missing, port), env=env, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL
    )
    assert no_dir.returncode != 0 and f"Error: build folder {missing} does not exist" in no_dir.stderr


def test_second_server_on_a_busy_port_refuses_to_start(server, site, tmp_path):
    """granian binds with SO_REUSEPORT; without the check two sites would share one port."""
    log = tmp_path / "second.log"
    with open(log, "wb") as out:
        second = subprocess.Popen(
            edge_argv(site.build, server.port),
            env=clean_env(PAYLINK_SECRET_KEY=new_key()),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=out,
        )
    started = RunningServer(server.port, second, log)
    try:
        second.wait(timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail("a second edge server started on a port already in use")
    finally:
        started.stop()  # a no-op once it has exited; stops it gracefully (workers too) if it started
    assert second.returncode != 0
    assert started.log().startswith(f"Error: cannot listen on 127.0.0.1:{server.port}")
    assert request(server.port, f"/p/{site.live}").status == 200  # the first one still answers alone


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_server_stops_cleanly_on_signal(site, tmp_path, sig):
    srv = start_server(site, tmp_path / "edge.log")
    try:
        assert request(srv.port, f"/p/{site.live}").status == 200
    finally:
        status = srv.stop(sig)
    assert status == 0
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", srv.port), timeout=1).close()


def test_a_server_killed_outright_leaves_no_worker_serving(site, tmp_path):
    """SIGKILL gives the server no chance to stop its workers: each asked, as it started, to die with it."""
    srv = start_server(site, tmp_path / "edge.log")
    try:
        assert request(srv.port, f"/p/{site.live}").status == 200  # a worker answers: it has started
        workers = children_of(srv.process.pid)
        assert workers, "the edge runs its worker in a process of its own"
    finally:
        srv.process.kill()
        srv.process.wait()
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [pid for pid in workers if alive(pid)]
    for pid in left:  # never leave one behind, even when the test fails
        os.kill(pid, signal.SIGKILL)
    assert not left, "a worker outlived the server that was killed"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # and nothing listens on its port any more
        try:
            socket.create_connection(("127.0.0.1", srv.port), timeout=1).close()
        except OSError:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"port {srv.port} still answers after the server and its workers were killed")


# --- in process: the WSGI callable itself -------------------------------------------------


def call(app, path: str, method: str = "GET", **extra) -> tuple[int, dict[str, str], bytes]:
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "test",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": io.StringIO(),
        "wsgi.url_scheme": "http",
        **extra,
    }
    started = {}

    def start_response(status, headers, exc_info=None):
        started["status"], started["headers"] = status, headers

    body = b"".join(app(environ, start_response))
    headers = dict(started["headers"])
    assert len(headers) == len(started["headers"])  # no header sent twice
    if method == "HEAD":
        assert body == b""
    else:
        assert int(headers["Content-Length"]) == len(body)
    return int(started["status"].split()[0]), headers, body


@pytest.fixture
def app(site):
    return make_application(site.build, site.keys)


def test_allowlist_in_process(app, site):
    assert call(app, f"/p/{site.live}")[0] == 200
    assert call(app, "/robots.txt")[0] == 200
    assert call(app, "/assets/paylink.0123456789abcdef.css")[0] == 200
    for path in (
        "/p/../secret.txt",
        "/p/x\x00",
        "/p/\xc0\xae\xc0\xae",
        f"/p/{site.live}\n",
        f"/p/{site.live}/",
        "/robots.txt\x00",
        "/assets/paylink.0123456789abcdef.css\n",
        "/" + "a" * 10_000,
    ):
        status, headers, body = call(app, path)
        assert status == 404, repr(path[:40])
        assert headers["Referrer-Policy"] == "no-referrer" and headers["Cache-Control"] == "no-store"
        assert CANARY not in body
    assert call(app, "/" + "a" * 16_383)[0] == 404
    assert call(app, "/" + "a" * 16_384)[0] == 414


def test_raw_uri_is_checked_when_the_server_gives_it(app, site):
    """A server that normalised the path must not turn a hostile raw target into a page."""
    for raw in (
        "/x/..%2F..%2Frobots.txt",
        "/%2e/robots.txt",
        "/robots.txt%00",
        "//robots.txt",
        "/a/../robots.txt",
        "/\\robots.txt",
        "/ROBOTS.TXT%2e",
    ):
        assert call(app, "/robots.txt", RAW_URI=raw)[0] == 404, raw
        assert call(app, "/robots.txt", REQUEST_URI=raw)[0] == 404, raw
    assert call(app, f"/p/{site.live}", RAW_URI=f"/p%2F{site.live}")[0] == 404
    assert call(app, f"/p/{site.live}", RAW_URI=f"/p/{site.live}?next=..%2F")[0] == 200  # only the path counts


def test_method_then_framing_checks_come_first(app, site):
    assert call(app, "/p/../x", method="POST")[1]["Allow"] == "GET, HEAD"
    status, headers, _ = call(app, f"/p/{site.live}", CONTENT_LENGTH="5", HTTP_TRANSFER_ENCODING="chunked")
    assert status == 400 and headers["X-Robots-Tag"] == "noindex"
    assert call(app, "/" + "a" * 20_000, HTTP_TRANSFER_ENCODING="chunked")[0] == 400


def test_only_the_canonical_spelling_of_a_signature_verifies(app, site):
    """base64's spare bits would let four spellings of one token verify; the edge takes one."""
    head = site.live[:-1]
    working = [c for c in ALPHABET if call(app, f"/p/{head}{c}")[0] == 200]
    assert working == [site.live[-1]]
    assert site.live[-1] in "AEIMQUYcgkosw048"  # zero spare bits


def test_fallback_pages_when_the_builder_wrote_none(site, tmp_path):
    build = tmp_path / "build"
    (build / layout.SNAPSHOT_DIR).mkdir(parents=True)
    bare = make_application(build, site.keys)
    status, _, body = call(bare, "/nope")
    assert status == 404 and b"Not found" in body
    status, _, body = call(bare, f"/p/{site.live}")
    assert status == 410 and b"contact the business" in body
    assert call(bare, "/robots.txt")[2] == b"User-agent: *\nDisallow: /\n"


def test_symlink_in_build_is_not_followed(site, tmp_path):
    build = tmp_path / "build"
    (build / layout.SNAPSHOT_DIR).mkdir(parents=True)
    link_id = new_link_id()
    (build / layout.SNAPSHOT_DIR / layout.snapshot_name(link_id)).symlink_to(site.root / "secret.txt")
    token = LinkSigner(site.keys).sign(link_id)
    edge = make_application(build, site.keys)
    edge_log = logging.getLogger("paylink.edge")
    edge_log.addHandler(handler := logging.NullHandler())
    try:
        status, _, body = call(edge, f"/p/{token}")
    finally:
        edge_log.removeHandler(handler)
    assert status == 500 and CANARY not in body


def test_log_lines_hide_tokens_and_control_characters(site):
    assert loggable_path(f"/p/{site.live}") == f"/p/{token_fingerprint(site.live)}…"
    assert site.live not in loggable_path(f"//p/{site.live}")
    assert "\n" not in loggable_path("/x\nGET /forged 200")
    assert loggable_path("/assets/paylink.css") == "/assets/paylink.css"


def test_access_log_in_process(site):
    lines = []
    edge = make_application(site.build, site.keys, access_log=lines.append)
    call(edge, f"/p/{site.live}", method="HEAD")
    assert len(lines) == 1 and lines[0].startswith(f"HEAD /p/{token_fingerprint(site.live)}… 200 0 ")


def test_application_from_environment(site, monkeypatch, capsys):
    monkeypatch.setattr(logging.getLogger("paylink.edge"), "handlers", [logging.NullHandler()])
    monkeypatch.delenv("PAYLINK_SITE", raising=False)
    monkeypatch.delenv("PAYLINK_BUILD_DIR", raising=False)
    monkeypatch.delenv("PAYLINK_SECRET_KEY", raising=False)
    unconfigured = EnvConfiguredApplication()
    status, headers, _ = call(unconfigured, f"/p/{site.live}")
    assert status == 500 and headers["Cache-Control"] == "no-store"
    assert "paylink edge: not configured: set PAYLINK_BUILD_DIR" in capsys.readouterr().err

    monkeypatch.setenv("PAYLINK_SITE", str(site.root))  # build/ and paylink.key of the site
    assert call(EnvConfiguredApplication(), f"/p/{site.live}")[2] == site.live_snapshot

    monkeypatch.delenv("PAYLINK_SITE")
    monkeypatch.setenv("PAYLINK_BUILD_DIR", str(site.build))
    monkeypatch.setenv("PAYLINK_SECRET_KEY", site.new_key)
    configured = EnvConfiguredApplication()
    assert call(configured, f"/p/{site.live}")[0] == 200
    assert call(configured, f"/p/{site.live_old_key}")[0] == 404  # only the new key given
