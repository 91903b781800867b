"""The Cloudflare Worker (edge/worker/) gives the same answers as the Python edge (CONTRACT §6, §7).

The Worker runs in workerd through Miniflare (edge/worker/test/serve.mjs). Its
R2 bucket is filled by `paylink publish` itself: the harness also serves a
small S3-compatible endpoint that writes into that very bucket, and the site's
`publish_endpoint` points at it, so what the Worker serves is exactly what
paylink's publisher sent, and a deletion is seen by the next request.

Every request is sent byte for byte over a socket, to the Worker and to the
Python edge (``paylink.edge.app``, given the raw target as a WSGI server that
passes ``RAW_URI`` does); status, body and headers must agree.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
from http.client import HTTPResponse
from pathlib import Path

import pytest
from conftest import Paylink, make_site
from paylink import layout
from paylink.edge.app import make_application
from paylink.tokens import LinkSigner, new_key
from s3server import s3_client, use_fake_credentials
from sitepages import token_of

REPO = Path(__file__).resolve().parents[1]
WORKER = REPO / "edge" / "worker"
VECTORS = Path(__file__).parent / "vectors"
BUCKET = "paylink-test"
PREFIX = "shop"
COMPARED_HEADERS = [
    "content-length",
    "content-type",
    "cache-control",
    "allow",
    "referrer-policy",
    "x-robots-tag",
    "x-content-type-options",
    "content-security-policy",
    "x-frame-options",
    "cross-origin-opener-policy",
    "cross-origin-resource-policy",
    "vary",
]

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or not (WORKER / "node_modules" / "miniflare").is_dir(),
    reason="the Worker's JavaScript dependencies are not installed: run `npm ci` in edge/worker (scripts/test does)",
)


class Worker:
    """The Worker in workerd, plus the S3-compatible endpoint into its R2 bucket."""

    def __init__(self, keys: list[str], prefix: str = PREFIX):
        env = {**os.environ, "WRANGLER_SEND_METRICS": "false", "NO_COLOR": "1"}
        self.process = subprocess.Popen(
            # --name=value: a key may begin with "-", which node's parseArgs would take for an option.
            ["node", "test/serve.mjs", f"--keys={','.join(keys)}", f"--prefix={prefix}", f"--bucket={BUCKET}"],
            cwd=WORKER,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=sys.stderr,
            text=True,
        )
        line = self.process.stdout.readline()
        if not line:
            self.process.wait(timeout=10)
            self.process.stdin.close()
            self.process.stdout.close()
            raise RuntimeError(f"the Worker did not start (exit {self.process.returncode})")
        urls = json.loads(line)
        self.url, self.s3 = urls["worker"], urls["s3"]
        self.host, self.port = self.url.removeprefix("http://").split(":")

    def stop(self) -> None:
        self.process.stdin.close()  # the harness stops at the end of its input
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()

    def request(self, method: str, target: str, extra: str = "") -> tuple[int, dict, bytes]:
        """Send one request exactly as given (no client normalising); ``extra``: header lines, a blank line, a body."""
        with socket.create_connection((self.host, int(self.port)), timeout=10) as sock:
            head = f"{method} {target} HTTP/1.1\r\nHost: pay.example.com\r\nConnection: close\r\n"
            sock.sendall((head + (extra or "\r\n")).encode())
            response = HTTPResponse(sock, method=method)
            response.begin()
            body = response.read()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def python_edge(edge, method: str, target: str, headers: dict[str, str] | None = None) -> tuple[int, dict, bytes]:
    """The Python edge's answer to the same request target (and headers, by lower-case name)."""
    status, tail, length, body = edge.respond(method, target, headers or {})
    return status, {"content-length": str(length), **{k.lower(): v for k, v in tail}}, body


def without_dot_segments(target: str) -> str:
    """The target as a URL parser resolves it: ``.`` and ``..`` segments (also as ``%2e``) removed.

    workerd (like Cloudflare's edge) does this before any Worker code runs, so
    the Worker never sees ``/./robots.txt``, only ``/robots.txt``. The Python
    edge is then asked the resolved question; every other request is compared as sent.
    """
    path, mark, query = target.partition("?")
    out: list[str] = []
    segments = path.split("/")[1:]
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        plain = segment.lower().replace("%2e", ".")
        if plain == ".":
            if last:
                out.append("")
        elif plain == "..":
            if out:
                out.pop()
            if last:
                out.append("")
        else:
            out.append(segment)
    return "/" + "/".join(out) + mark + query


def assert_same(worker: Worker, edge, method: str, target: str) -> int:
    expected = python_edge(edge, method, without_dot_segments(target))
    got = worker.request(method, target)
    assert got[0] == expected[0], f"{method} {target}: Worker {got[0]}, Python edge {expected[0]}"
    assert got[2] == expected[2], f"{method} {target}: bodies differ"
    for name in COMPARED_HEADERS:
        assert got[1].get(name) == expected[1].get(name), f"{method} {target}: {name}"
    return got[0]


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """A site published by `paylink publish` into the Worker's R2 bucket; the Worker serving it."""
    use_fake_credentials()
    root = tmp_path_factory.mktemp("worker")
    site = make_site(root / "site", "--base-url", "https://pay.example.com")
    keys = (site / layout.KEY_FILE).read_text().split()
    worker = Worker(keys)
    try:
        with (site / layout.SETTINGS_FILE).open("a") as toml:
            toml.write(f'publish = "s3://{BUCKET}/{PREFIX}"\npublish_endpoint = "{worker.s3}"\n')
        paylink = Paylink(site)
        for name, ref in [("Jane Doe", "jane"), ("Sam Roe", "sam"), ("Ann Poe", "ann"), ("Bo Li", "bo")]:
            paylink.ok("customer", "add", name, "--ref", ref)
        paylink.ok("link", "generate", "--all")
        paylink.ok("charge", "jane", "120.50", "Boiler repair")
        paylink.ok("credit", "bo", "20", "Deposit")
        urls = {ref: paylink.json("link", "show", ref)["url"] for ref in ("jane", "sam", "ann", "bo")}
        paylink.ok("link", "rotate", "sam", "--yes")
        paylink.ok("link", "revoke", "ann", "--yes")
        paylink.json("publish", "--full")
        yield {"site": site, "paylink": paylink, "worker": worker, "keys": keys, "urls": urls}
    finally:
        worker.stop()


def test_the_worker_answers_as_the_python_edge(published):
    site, worker, keys, urls = published["site"], published["worker"], published["keys"], published["urls"]
    edge = make_application(site / "build", keys)
    jane, sam, ann = token_of(urls["jane"]), token_of(urls["sam"]), token_of(urls["ann"])
    foreign = LinkSigner([new_key()]).sign(jane.partition(".")[0])
    forged = jane.partition(".")[0] + "." + sam.partition(".")[2]
    css = next(n for n in os.listdir(site / "build" / layout.ASSETS_DIR) if n.endswith(".css"))
    snapshot = layout.snapshot_name(jane.partition(".")[0])
    cases = {
        f"/p/{jane}": 200,
        f"/p/{token_of(urls['bo'])}": 200,
        f"/p/{sam}": 410,  # rotated
        f"/p/{ann}": 410,  # revoked
        f"/p/{forged}": 404,
        f"/p/{foreign}": 404,
        f"/p/{jane[:-1]}": 404,
        f"/p/{jane}=": 404,
        f"/p/{jane}?utm_source=sms": 200,
        f"/assets/{css}": 200,
        "/assets/paylink.0000000000000000.css": 404,
        "/robots.txt": 200,
        "/": 404,
        "/404.html": 404,
        f"/p/{snapshot}": 404,
        f"/p%2F{jane}": 404,
        f"/p/..%2F{jane}": 404,
        "/p/%2e%2e/paylink.key": 404,
        "/p/..\\paylink.key": 404,
        "//p/" + jane: 404,
        "/p/" + "A" * 20000: 414,
    }
    for target, status in cases.items():
        assert assert_same(worker, edge, "GET", target) == status, target
    for method in ("HEAD", "GET"):
        assert assert_same(worker, edge, method, f"/p/{jane}") == 200
    for method in ("POST", "PUT", "DELETE", "OPTIONS", "PATCH"):
        assert assert_same(worker, edge, method, f"/p/{jane}") == 405
    # A GET with a body is the request-smuggling pattern: 400 at both edges.
    chunked = worker.request("GET", f"/p/{jane}", "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    expected = python_edge(edge, "GET", f"/p/{jane}", {"transfer-encoding": "chunked"})
    assert (chunked[0], chunked[2]) == (expected[0], expected[2]) == (400, b"Bad request\n")
    live = worker.request("GET", f"/p/{jane}")[2]
    assert live == (site / "build" / layout.SNAPSHOT_DIR / snapshot).read_bytes()
    assert b"120.50" in live


def test_hostile_paths_are_404_at_both_edges(published):
    site, worker, keys, urls = published["site"], published["worker"], published["keys"], published["urls"]
    file = VECTORS / "paths.json"
    if not file.exists():
        pytest.skip("tests/vectors/paths.json is not in this checkout")
    edge = make_application(site / "build", keys)
    jane = token_of(urls["jane"])
    snapshot = layout.snapshot_name(jane.partition(".")[0])
    for case in json.loads(file.read_text())["cases"]:
        target = (
            case["path"]
            .replace("{token}", jane)
            .replace("{snapshot_stem}", snapshot.removesuffix(".html"))
            .replace("{snapshot}", snapshot)
        )
        if target == "*":  # an asterisk-form target is refused by workerd's HTTP layer before any Worker runs
            continue
        status = assert_same(worker, edge, "GET", target)
        if without_dot_segments(target) == target:  # else the runtime answered the resolved URL (see above)
            assert status == case["status"], target


def test_rotate_and_revoke_are_410_at_the_worker_when_the_command_returns(published):
    paylink, worker = published["paylink"], published["worker"]
    paylink.ok("customer", "add", "Cy Doe", "--ref", "cy")
    old = token_of(paylink.json("link", "generate", "cy")["url"])
    assert worker.request("GET", f"/p/{old}")[0] == 200
    new = token_of(paylink.json("link", "rotate", "cy", "--yes")["url"])
    assert worker.request("GET", f"/p/{old}")[0] == 410
    assert worker.request("GET", f"/p/{new}")[0] == 200
    paylink.ok("charge", "cy", "7.25", "Fuse")
    assert b"7.25" in worker.request("GET", f"/p/{new}")[2]
    paylink.ok("link", "revoke", "cy", "--yes")
    status, _, body = worker.request("GET", f"/p/{new}")
    assert status == 410
    assert body == (published["site"] / "build" / layout.GONE_PAGE).read_bytes()


def test_token_vectors_agree_at_both_edges(tmp_path):
    file = VECTORS / "tokens.json"
    if not file.exists():
        pytest.skip("tests/vectors/tokens.json is not in this checkout")
    use_fake_credentials()
    vectors = json.loads(file.read_text())
    build = tmp_path / "build"
    (build / layout.SNAPSHOT_DIR).mkdir(parents=True)
    for case in vectors["cases"]:
        if case["snapshot"]:
            (build / layout.SNAPSHOT_DIR / case["snapshot"]).write_text(f"snapshot of {case['name']}\n")
    worker = Worker(vectors["keys"], prefix="")
    try:
        client = s3_client(worker.s3)
        for path in build.rglob("*.html"):
            client.put_object(Bucket=BUCKET, Key=path.relative_to(build).as_posix(), Body=path.read_bytes())
        edge = make_application(build, vectors["keys"])
        for case in vectors["cases"]:
            assert assert_same(worker, edge, "GET", case["path"]) == case["status"], case["name"]
        # No 404.html or 410.html in the bucket: both edges fall back to the same built-in pages.
        assert worker.request("GET", "/nothing")[2] == python_edge(edge, "GET", "/nothing")[2]
    finally:
        worker.stop()


def test_error_pages_follow_accept_language_alike_at_both_edges(tmp_path):
    """tests/vectors/accept_language.json: the same 404 and 410 page, chosen by Accept-Language, at both edges."""
    use_fake_credentials()
    vectors = json.loads((VECTORS / "accept_language.json").read_text())
    tokens = json.loads((VECTORS / "tokens.json").read_text())
    rotated = next(case for case in tokens["cases"] if case["status"] == 410)
    build = tmp_path / "build"
    build.mkdir()
    for name in layout.ERROR_PAGES:
        (build / name).write_bytes(f"<!doctype html><p>PAGE {name}</p>\n".encode())
    worker = Worker(tokens["keys"], prefix="")
    try:
        client = s3_client(worker.s3)
        for path in build.iterdir():
            client.put_object(Bucket=BUCKET, Key=path.name, Body=path.read_bytes())
        edge = make_application(build, tokens["keys"])
        for case in vectors["cases"]:
            header = case["accept_language"]
            extra = "\r\n" if header is None else f"Accept-Language: {header}\r\n\r\n"
            for status, target, page in (
                (404, "/nowhere", layout.NOT_FOUND_PAGE),
                (410, rotated["path"], layout.GONE_PAGE),
            ):
                expected = (build / layout.error_page_name(page, case["language"])).read_bytes()
                got = worker.request("GET", target, extra)
                at_python = python_edge(edge, "GET", target, {} if header is None else {"accept-language": header})
                assert (got[0], got[2]) == (status, expected), (header, status)
                assert (at_python[0], at_python[2]) == (status, expected), (header, status)
                assert got[1]["vary"] == at_python[1]["vary"] == "Accept-Language"
        # A build from before the language pages: the site's page, whatever the browser asks for.
        client.delete_object(Bucket=BUCKET, Key=layout.error_page_name(layout.NOT_FOUND_PAGE, "es"))
        (build / layout.error_page_name(layout.NOT_FOUND_PAGE, "es")).unlink()
        spanish = worker.request("GET", "/nowhere", "Accept-Language: es\r\n\r\n")
        assert spanish[2] == python_edge(edge, "GET", "/nowhere", {"accept-language": "es"})[2]
        assert spanish[2] == (build / layout.NOT_FOUND_PAGE).read_bytes()
    finally:
        worker.stop()


def test_a_worker_without_keys_answers_500_as_an_unconfigured_python_edge(monkeypatch):
    from paylink.edge.app import EnvConfiguredApplication

    for name in ("PAYLINK_SITE", "PAYLINK_BUILD_DIR", "PAYLINK_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    answers = []
    body = b"".join(
        EnvConfiguredApplication()(
            {"REQUEST_METHOD": "GET", "PATH_INFO": "/robots.txt"}, lambda status, headers: answers.append(status)
        )
    )
    worker = Worker([])
    try:
        status, headers, worker_body = worker.request("GET", "/robots.txt")
    finally:
        worker.stop()
    assert answers == ["500 Internal Server Error"]
    assert (status, worker_body) == (500, body) == (500, b"Edge not configured\n")
    assert headers["cache-control"] == "no-store"


def test_wrangler_accepts_the_deployment_config(tmp_path):
    """`wrangler deploy --dry-run` reads wrangler.toml and bundles the Worker without uploading anything."""
    done = subprocess.run(
        ["npx", "--no-install", "wrangler", "deploy", "--dry-run", "--outdir", str(tmp_path)],
        cwd=WORKER,
        env={**os.environ, "WRANGLER_SEND_METRICS": "false", "NO_COLOR": "1", "CI": "true"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "env.BUILD (paylink-build)" in done.stdout and "R2 Bucket" in done.stdout
    assert "env.PREFIX" in done.stdout
    assert (tmp_path / "index.js").exists()
