"""The fast paths of issue 13 behave exactly as the slow ones: the settings cache, the import's page
bookkeeping, the edge's prebuilt headers. Behaviour only; the bench measures the speed."""

import io
import json
import os
import re
import sqlite3
import stat
from contextlib import closing
from pathlib import Path

import pytest
from conftest import one_error_line
from paylink import imports, money
from paylink.edge.app import token_fingerprint
from paylink.settings import load_settings, load_settings_cached

CACHE = ".paylink-settings.cache"


def test_a_valid_settings_file_is_cached_privately(site: Path, paylink):
    paylink.ok("customer", "add", "Ann")
    cache = site / CACHE
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    held = json.loads(cache.read_text(encoding="utf-8"))
    assert held["settings"]["name"] == "Test Plumbing"
    assert held["money"]["digits"] == 2
    assert not (site / "build" / CACHE).exists()


def test_an_unchanged_settings_file_is_read_from_the_cache(site: Path, paylink):
    paylink.ok("customer", "add", "Ann")
    cache = site / CACHE
    held = json.loads(cache.read_text(encoding="utf-8"))
    assert held["money"]["affixes"][0] == ["$", ""]
    held["money"]["affixes"][0] = ["US$", ""]  # what only the cache says
    cache.write_text(json.dumps(held), encoding="utf-8")
    assert "US$5.00" in paylink.ok("charge", "1", "5", "Work").stdout


def test_any_change_to_the_settings_file_validates_it_again(site: Path, paylink):
    paylink.ok("customer", "add", "Ann")
    settings = site / "paylink.toml"
    info = settings.stat()
    text = settings.read_text(encoding="utf-8")
    # Same size, same mtime: only the bytes differ.
    settings.write_text(text.replace('currency = "USD"', 'currency = "XXQ"'), encoding="utf-8")
    os.utime(settings, ns=(info.st_atime_ns, info.st_mtime_ns))
    assert settings.stat().st_size == info.st_size
    assert "unknown currency" in one_error_line(paylink("charge", "1", "5", "Work"))
    # An invalid file is never cached: it is an error on every command, not only the first.
    assert "unknown currency" in one_error_line(paylink("customer", "list"))
    assert "unknown currency" in one_error_line(paylink("charge", "1", "5", "Work"))
    settings.write_text(text, encoding="utf-8")
    assert "$5.00" in paylink.ok("charge", "1", "5", "Work").stdout


def test_a_locale_change_is_seen_at_once(site: Path, paylink):
    paylink.ok("customer", "add", "Ann")
    assert "$5.00" in paylink.ok("charge", "1", "5", "Work").stdout
    settings = site / "paylink.toml"
    settings.write_text(settings.read_text(encoding="utf-8").replace("en_US", "de_DE"), encoding="utf-8")
    assert "5,00\xa0$" in paylink.ok("charge", "1", "5", "Work").stdout
    assert json.loads((site / CACHE).read_text(encoding="utf-8"))["settings"]["locale"] == "de_DE"


@pytest.mark.parametrize(
    "damage",
    ["garbage", "empty", "wrong-types", "unknown-setting", "loosened", "folder"],
)
def test_a_damaged_cache_is_ignored_and_replaced(site: Path, paylink, damage):
    paylink.ok("customer", "add", "Ann")
    cache = site / CACHE
    held = json.loads(cache.read_text(encoding="utf-8"))
    if damage == "garbage":
        cache.write_bytes(b"\xff\x00{not json")
    elif damage == "empty":
        cache.write_bytes(b"")
    elif damage == "wrong-types":
        held["settings"]["tips"] = "lots"
        held["money"]["affixes"] = 5
        cache.write_text(json.dumps(held), encoding="utf-8")
    elif damage == "unknown-setting":
        held["settings"]["colour"] = "red"
        cache.write_text(json.dumps(held), encoding="utf-8")
    elif damage == "loosened":
        held["money"]["affixes"][0] = ["US$", ""]
        cache.write_text(json.dumps(held), encoding="utf-8")
        cache.chmod(0o644)  # anyone's edit is not trusted
    else:
        cache.unlink()
        cache.mkdir()
    result = paylink.ok("charge", "1", "5", "Work")
    assert "to Ann" in result.stdout and "$5.00" in result.stdout and "US$" not in result.stdout
    if damage != "folder":
        again = json.loads(cache.read_text(encoding="utf-8"))
        assert again["settings"]["name"] == "Test Plumbing" and again["settings"]["tips"] == [18, 20, 25]
        assert again["money"]["affixes"][0] == ["$", ""]
        assert stat.S_IMODE(cache.stat().st_mode) == 0o600


def test_cached_settings_equal_validated_ones(site: Path):
    path = site / "paylink.toml"
    path.write_text(
        'name = "Café Ünïcode"\ncurrency = "kwd"\nlocale = "ar-EG"\ntimezone = "Asia/Kuwait"\n'
        'base_url = "https://pay.example.com/"\ntips = [10, 15]\n',
        encoding="utf-8",
    )
    fresh = load_settings(path)
    first = load_settings_cached(path, site / CACHE)
    second = load_settings_cached(path, site / CACHE)
    assert fresh == first == second
    assert second.currency == "KWD" and second.base_url == "https://pay.example.com" and second.tips == (10, 15)


@pytest.mark.parametrize(
    ("currency", "locale"), [("USD", "en_US"), ("EUR", "de_DE"), ("KWD", "ar_EG"), ("JPY", "ja_JP")]
)
def test_money_from_cached_facts_equals_babel(currency, locale):
    facts = json.loads(json.dumps(money.formatting_facts(currency, locale)))
    money.prime(currency, locale, facts)
    for minor in (0, 1, 5, 99, 123_456, 10**11 + 3, -1, -123_456):
        assert money.format_money(minor, currency, locale) == money.babel_money(minor, currency, locale)


# --- the edge: prebuilt headers, the access log formatted off the request path


def _edge_site(site: Path, paylink):
    from paylink.edge.app import AccessLog, make_application
    from paylink.tokens import load_keys

    paylink.ok("customer", "add", "Ann")
    paylink.ok("charge", "1", "5", "Work")
    url = paylink.json("link", "generate", "1")
    token = json.dumps(url).split("/p/")[1].split('"')[0]
    stream = io.StringIO()
    log = AccessLog(stream, interval_s=3600)
    return make_application(site / "build", load_keys(site / "paylink.key"), log), log, stream, token


def test_the_access_log_says_what_it_said_and_hides_tokens(site: Path, paylink):
    edge, log, stream, token = _edge_site(site, paylink)
    status, _, length, body = edge.respond("GET", f"/p/{token}", {})
    assert status == 200 and length == len(body)
    edge.respond("HEAD", "/nowhere\n200 GET /forged", {})
    log("a plain line")
    edge.respond("PO\x00ST", f"//p/{token}", {})
    assert stream.getvalue() == ""  # nothing formatted or written until flushed
    log.flush()
    lines = stream.getvalue().splitlines()
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d paylink\.edge "
    assert re.fullmatch(stamp + rf"GET /p/{token_fingerprint(token)}… 200 {len(body)} \d+\.\dms", lines[0])
    assert re.fullmatch(stamp + r"HEAD /nowhere\\n200 GET /forged 404 0 \d+\.\dms", lines[1])
    assert re.fullmatch(stamp + "a plain line", lines[2])
    assert re.fullmatch(stamp + r"PO\\x00ST //p/[0-9a-f]{8}… 405 19 \d+\.\dms", lines[3])
    assert len(lines) == 4 and token not in stream.getvalue()
    log.flush()
    assert len(stream.getvalue().splitlines()) == 4  # each line once


def wsgi_get(edge, method: str, path: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """One request through the edge's WSGI interface: (status, the header list it was given, body)."""
    started = []
    body = b"".join(edge({"REQUEST_METHOD": method, "PATH_INFO": path}, lambda s, h: started.append((s, h))))
    return int(started[0][0].split()[0]), started[0][1], body


def test_prebuilt_headers_are_never_shared_with_a_caller(site: Path, paylink):
    edge, _, _, token = _edge_site(site, paylink)
    _, first, body = wsgi_get(edge, "GET", f"/p/{token}")
    first.append(("X-Mine", "1"))
    first[1] = ("Content-Type", "text/plain")
    _, again, _ = wsgi_get(edge, "GET", f"/p/{token}")
    assert ("X-Mine", "1") not in again and dict(again)["Content-Type"] == "text/html; charset=utf-8"
    _, head, nothing = wsgi_get(edge, "HEAD", f"/p/{token}")
    assert nothing == b"" and head == [h for h in again]
    _, missing, _ = wsgi_get(edge, "GET", "/nowhere")
    _, refused, _ = wsgi_get(edge, "POST", "/nowhere")
    assert ("Allow", "GET, HEAD") in refused and ("Allow", "GET, HEAD") not in missing


def test_asgi_sends_the_same_headers_as_wsgi(site: Path, paylink, monkeypatch):
    import asyncio

    from paylink.edge.app import EnvConfiguredApplication

    _, _, _, token = _edge_site(site, paylink)
    monkeypatch.setenv("PAYLINK_SITE", str(site))
    monkeypatch.delenv("PAYLINK_BUILD_DIR", raising=False)
    app = EnvConfiguredApplication()
    wsgi = app.edge()
    for method, path in [("GET", f"/p/{token}"), ("HEAD", f"/p/{token}"), ("GET", "/robots.txt"), ("DELETE", "/x")]:
        sent = []

        async def send(message, sent=sent):
            sent.append(message)

        scope = {"type": "http", "method": method, "path": path, "raw_path": path.encode(), "headers": []}
        asyncio.run(app.asgi(scope, None, send))
        status, headers, body = wsgi_get(wsgi, method, path)
        assert sent[0]["status"] == status
        assert sent[0]["headers"] == [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        assert sent[1]["body"] == body


# --- the import: pages marked once per chunk, the page trigger put back exactly


def _ledger_query(site: Path, sql: str, *args):
    with closing(sqlite3.connect(site / "paylink.db")) as conn, conn:
        return conn.execute(sql, args).fetchall()


def _trigger_sql(site: Path):
    return _ledger_query(site, "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY name")


def _page_text(site: Path, customer_id: int) -> str:
    ((snapshot,),) = _ledger_query(
        site, "SELECT snapshot FROM links WHERE customer_id = ? AND retired_at IS NULL", customer_id
    )
    return (site / "build" / "p" / snapshot).read_text(encoding="utf-8")


@pytest.fixture
def three(paylink, monkeypatch):
    """Three linked customers, and imports written in chunks of two rows (so several chunks in a test)."""
    monkeypatch.setattr(imports, "IMPORT_CHUNK", 2)
    for name in ("Ann", "Bob", "Cy"):
        paylink.ok("customer", "add", name, "--ref", name.upper())
    paylink.ok("link", "generate", "--all")


def test_an_import_marks_and_writes_every_page_it_touched(site: Path, paylink, three, tmp_path):
    triggers = _trigger_sql(site)
    rows = "".join(f"{c},charge,{n + 1},Import row {n} for {c}\n" for n, c in enumerate(["ANN", "2", "ANN", "CY", "2"]))
    csv_file = tmp_path / "entries.csv"
    csv_file.write_text("customer,kind,amount,description\n" + rows, encoding="utf-8")
    paylink.ok("import", "entries", str(csv_file))
    assert _trigger_sql(site) == triggers  # the page trigger is back, exactly as it was
    assert _ledger_query(site, "SELECT COUNT(*) FROM pending_pages") == [(0,)]
    for customer_id, rows_of in ((1, (0, 2)), (2, (1, 4)), (3, (3,))):
        page = _page_text(site, customer_id)
        for n in rows_of:
            assert f"Import row {n} for" in page, (customer_id, n)


def test_other_programs_inserts_still_mark_pages_after_an_import(site: Path, paylink, three, tmp_path):
    csv_file = tmp_path / "entries.csv"
    csv_file.write_text("customer,kind,amount,description\nANN,charge,5,First\nBOB,charge,6,Second\n", encoding="utf-8")
    paylink.ok("import", "entries", str(csv_file))
    with closing(sqlite3.connect(site / "paylink.db")) as conn, conn:
        conn.execute(
            "INSERT INTO entries (customer_id, amount_minor, description, posted_at)"
            " VALUES (3, 700, 'By another program', '2026-01-02T03:04:05Z')"
        )
    assert _ledger_query(site, "SELECT customer_id FROM pending_pages") == [(3,)]
    paylink.ok("build")
    assert "By another program" in _page_text(site, 3)


def test_a_refused_import_leaves_the_trigger_and_the_ledger_as_they_were(site: Path, paylink, three, tmp_path):
    triggers = _trigger_sql(site)
    entries = _ledger_query(site, "SELECT COUNT(*) FROM entries")
    good = "".join(f"ANN,charge,{n + 1},Row {n}\n" for n in range(5))  # three chunks written before the bad row
    csv_file = tmp_path / "entries.csv"
    csv_file.write_text("customer,kind,amount,description\n" + good + "NOBODY,charge,1,Bad\n", encoding="utf-8")
    assert "NOBODY" in one_error_line(paylink("import", "entries", str(csv_file)))
    assert _trigger_sql(site) == triggers
    assert _ledger_query(site, "SELECT COUNT(*) FROM entries") == entries
    assert _ledger_query(site, "SELECT COUNT(*) FROM pending_pages") == [(0,)]


def test_an_import_reads_columns_in_any_order_and_names_bad_rows(site: Path, paylink, three, tmp_path):
    csv_file = tmp_path / "entries.csv"
    long = "x" * 200
    csv_file.write_text(
        f"Description ; Extra ; AMOUNT ; customer ; kind\nFine ; a ; 1 ; ANN ; charge\n{long}\x07 ; b ; 2 ; BOB ; charge\n",
        encoding="utf-8",
    )
    line = one_error_line(paylink("import", "entries", str(csv_file)))
    assert "line 3" in line and "control character" in line and long not in line
    csv_file.write_text("Description;Extra;AMOUNT;customer;kind\nFine;a;1;ANN;Charge\n", encoding="utf-8")
    paylink.ok("import", "entries", str(csv_file))
    assert "Fine" in _page_text(site, 1)


def test_a_command_that_fails_writes_no_cache(site: Path, paylink):
    paylink.ok("customer", "add", "Ann")
    cache = site / CACHE
    cache.unlink()
    one_error_line(paylink("charge", "99", "5", "Work"))  # valid settings, but no such customer
    assert not cache.exists()
    paylink.ok("charge", "1", "5", "Work")
    assert cache.exists()
