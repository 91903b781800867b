"""What the two edges (edge/app.py and the Worker, edge/worker/src/index.js) and the builder agree on.

- The Worker's constants, evaluated by node, equal ``layout``'s and ``tokens``' (headers, CSP, the link
  prefix, names, patterns, languages).
- Both compare signatures in constant time (checked in their source).
- The build writes the 404 and 410 pages in every language paylink has, and the real edge over HTTP
  picks one by the request's Accept-Language (tests/vectors/accept_language.json; test_worker.py runs
  the same cases against the Worker).
"""

import ast
import inspect
import json
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
from edgeserver import request, running_edge
from paylink import layout, tokens
from sitepages import token_of

REPO = Path(__file__).resolve().parents[1]
WORKER_SOURCE = REPO / "edge" / "worker" / "src" / "index.js"
VECTORS = Path(__file__).parent / "vectors"

# The Worker's constants, as node evaluates them (the module's top level runs; its handler does not).
DUMP_CONSTANTS = textwrap.dedent(
    """
    console.log(JSON.stringify({
      LINK_SALT, SNAPSHOT_DIR, ASSETS_DIR, NOT_FOUND_PAGE, GONE_PAGE, ROBOTS, LINK_PREFIX, LANGUAGES,
      ERROR_VARY, CONTENT_TYPES, NO_STORE, IMMUTABLE, CSP, SECURITY_HEADERS, MAX_LANGUAGE_RANGES,
      TOKEN_RE: TOKEN_RE.source, ASSET_NAME_RE: ASSET_NAME_RE.source, LANGUAGE_RANGE_RE: LANGUAGE_RANGE_RE.source,
      ERROR_PAGE_NAMES: LANGUAGES.map((language) => errorPageName(NOT_FOUND_PAGE, language)),
    }));
    """
)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_worker_constants_equal_layouts():
    from paylink.edge import app

    source = WORKER_SOURCE.read_text(encoding="utf-8")
    assert source.count("export default {") == 1
    script = source.replace("export default {", "const worker = {") + DUMP_CONSTANTS
    done = subprocess.run(
        ["node", "--input-type=module"], input=script, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    worker = json.loads(done.stdout)

    assert worker["CSP"] == layout.CSP
    assert [tuple(pair) for pair in worker["SECURITY_HEADERS"]] == list(layout.SECURITY_HEADERS)
    assert worker["LINK_PREFIX"] == layout.LINK_PREFIX
    assert tuple(worker["ERROR_VARY"]) == layout.ERROR_VARY
    assert tuple(worker["LANGUAGES"]) == layout.LANGUAGES
    assert worker["ERROR_PAGE_NAMES"] == [
        layout.error_page_name(layout.NOT_FOUND_PAGE, lang) for lang in layout.LANGUAGES
    ]
    assert worker["MAX_LANGUAGE_RANGES"] == layout.MAX_LANGUAGE_RANGES
    assert worker["CONTENT_TYPES"] == layout.CONTENT_TYPES
    assert (worker["NO_STORE"], worker["IMMUTABLE"]) == (layout.NO_STORE, layout.IMMUTABLE)
    names = ("SNAPSHOT_DIR", "ASSETS_DIR", "NOT_FOUND_PAGE", "GONE_PAGE", "ROBOTS")
    assert {name: worker[name] for name in names} == {name: getattr(layout, name) for name in names}
    assert worker["LINK_SALT"] == tokens.LINK_SALT
    # The patterns: the same text between Python's \A..\Z and JavaScript's ^..$.
    assert worker["TOKEN_RE"] == "^" + tokens.TOKEN_RE.pattern.removesuffix(r"\Z") + "$"
    assert worker["ASSET_NAME_RE"] == "^" + layout.ASSET_NAME_RE.pattern.removesuffix(r"\Z") + "$"
    assert worker["LANGUAGE_RANGE_RE"] == "^" + layout._LANGUAGE_RANGE_RE.pattern.removesuffix(r"\Z") + "$"
    # The Python edge sends layout's headers, not copies of its own.
    assert app.PAGE_HEADERS["html"][-len(layout.SECURITY_HEADERS) :] == layout.SECURITY_HEADERS
    assert layout.ERROR_VARY in app.ERROR_HEADERS


def _function_source(source: str, name: str) -> str:
    """The text of a top-level JavaScript function, up to the next top-level declaration."""
    start = source.index(f"function {name}(")
    end = re.compile(r"^(?:async function|function|const|class|export) ", re.M).search(source, start + 1)
    return source[start : end.start() if end else len(source)]


def test_both_edges_compare_signatures_in_constant_time():
    """tokens.py compares with hmac.compare_digest; the Worker lets crypto.subtle.verify compare, never a loop."""
    verify = textwrap.dedent(inspect.getsource(tokens.LinkSigner.verify))
    calls = {ast.unparse(node.func) for node in ast.walk(ast.parse(verify)) if isinstance(node, ast.Call)}
    assert "hmac.compare_digest" in calls
    compared = [
        node
        for node in ast.walk(ast.parse(verify))
        if isinstance(node, ast.Compare) and "signature" in ast.unparse(node)
    ]
    assert compared == [], "the signature is compared with ==/!= (not constant time)"

    js = _function_source(WORKER_SOURCE.read_text(encoding="utf-8"), "verify")
    assert "crypto.subtle.verify(" in js
    # No comparison of signature bytes in JavaScript: no indexing of the signature, no byte loop that returns early.
    assert not re.search(r"signature\s*\[", js)
    assert not re.search(r"[!=]==?\s*signature|signature\s*[!=]==?", js)
    # Nor anywhere else: the Worker signs only to derive a key, and a derived key can verify and nothing
    # more (a sign-and-compare in a helper would throw, and the token vectors at both edges would fail).
    source = WORKER_SOURCE.read_text(encoding="utf-8")
    signing = [m.start() for m in re.finditer(r"crypto\.subtle\.sign\(", source)]
    derive = _function_source(source, "deriveKey")
    assert len(signing) == 1 and derive.count("crypto.subtle.sign(") == 1, "crypto.subtle.sign outside deriveKey"
    assert re.search(r"return hmacKey\(derived, \[\"verify\"\]\);", derive), "a derived key may do more than verify"


@pytest.fixture(scope="module")
def spanish_site(tmp_path_factory):
    """A Spanish site with a live link and a rotated one, built by the real CLI."""
    from conftest import Paylink, make_site

    root = tmp_path_factory.mktemp("languages")
    site = make_site(root / "site", "--locale", "es_MX", "--name", "Fontanería Ruiz")
    paylink = Paylink(site)
    paylink.ok("customer", "add", "Ana", "--ref", "ana")
    old = token_of(paylink.json("link", "generate", "ana")["url"])
    paylink.ok("link", "rotate", "ana", "--yes")
    return site, old


def test_the_build_writes_the_error_pages_in_every_language(spanish_site):
    site, _ = spanish_site
    build = site / layout.BUILD_DIR
    assert sorted(p.name for p in build.iterdir() if p.name.startswith(("404", "410"))) == sorted(layout.ERROR_PAGES)
    headings = {
        (layout.NOT_FOUND_PAGE, "es"): "Página no encontrada",
        (layout.NOT_FOUND_PAGE, "en"): "Page not found",
        (layout.GONE_PAGE, "es"): "Este enlace ya no funciona",
        (layout.GONE_PAGE, "en"): "This link no longer works",
    }
    for (page, language), heading in headings.items():
        html = (build / layout.error_page_name(page, language)).read_text(encoding="utf-8")
        assert re.search(f'<html lang="{language}[-"]', html) and heading in html, (page, language)
    # The site's own page (no language in its name) is in the site's language: Spanish here.
    for page in (layout.NOT_FOUND_PAGE, layout.GONE_PAGE):
        assert (build / page).read_bytes() == (build / layout.error_page_name(page, "es")).read_bytes()


def test_the_edge_picks_the_error_page_by_accept_language(spanish_site, tmp_path):
    site, rotated = spanish_site
    build = site / layout.BUILD_DIR
    keys = tokens.load_keys(site / layout.KEY_FILE)
    cases = json.loads((VECTORS / "accept_language.json").read_text())["cases"]
    failures = []
    with running_edge(build, keys, tmp_path / "edge.log") as server:
        for case in cases:
            header = case["accept_language"]
            extra = b"" if header is None else f"Accept-Language: {header}\r\n".encode("latin-1")
            for status, target, page in (
                (404, "/nowhere", layout.NOT_FOUND_PAGE),
                (410, f"/p/{rotated}", layout.GONE_PAGE),
            ):
                resp = request(server.port, target, extra=extra)
                expected = (build / layout.error_page_name(page, case["language"])).read_bytes()
                if (resp.status, resp.body, resp.headers.get("vary")) != (status, expected, "Accept-Language"):
                    failures.append((header, status, resp.status))
        # A page is one URL for every language: no Vary on a snapshot or an asset.
        live = request(server.port, "/robots.txt", extra=b"Accept-Language: es\r\n")
        assert live.status == 200 and "vary" not in live.headers
    assert failures == []
    # The English page really is English and the Spanish one Spanish (the site's is Spanish).
    assert b"Page not found" in (build / "404.en.html").read_bytes()
    assert b"no encontrada" in (build / "404.html").read_bytes()


def test_any_wsgi_server_gets_the_same_choice(spanish_site):
    """The WSGI adapter hands Accept-Language to the edge as the ASGI one does (gunicorn, uWSGI)."""
    from paylink.edge.app import make_application

    site, rotated = spanish_site
    build = site / layout.BUILD_DIR
    edge = make_application(build, tokens.load_keys(site / layout.KEY_FILE))
    for header, language in [("en-GB,en;q=0.9", "en"), ("es", "es"), (None, None), ("de", None), ("en", "en")]:
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": f"/p/{rotated}"}
        if header is not None:
            environ["HTTP_ACCEPT_LANGUAGE"] = header
        started = []
        body = b"".join(edge(environ, lambda status, headers, started=started: started.append((status, dict(headers)))))
        assert started[0][0] == "410 Gone" and started[0][1]["Vary"] == "Accept-Language"
        assert body == (build / layout.error_page_name(layout.GONE_PAGE, language)).read_bytes(), header
