"""`paylink statement` (CONTRACT §2): a period's entries with running balance, as text, JSON, CSV and printable HTML."""

import csv
import io
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Paylink, make_site
from sitepages import insert_entry, parse

ENTRY_KEYS = {"id", "date", "description", "amount", "amount_minor", "balance", "balance_minor", "voided", "voids"}


@pytest.fixture
def site(tmp_path: Path) -> Path:
    return make_site(
        tmp_path / "site",
        "--timezone",
        "America/Chicago",
        "--phone",
        "555-0100",
        "--email",
        "billing@example.com",
        "--address",
        "12 Water St, Springfield",
        "--base-url",
        "https://pay.example.com",
    )


@pytest.fixture
def paylink(site: Path) -> Paylink:
    """Jane: four entries in February and March 2026 (Chicago time), one of them voided."""
    p = Paylink(site)
    p.ok("customer", "add", "Jane Doe", "--ref", "JANE")
    p.ok("customer", "add", "Other Person")
    p.ok("charge", "JANE", "100", "January work", "--date", "2026-01-15")  # 1
    p.ok("charge", "2", "999", "Not Jane's", "--date", "2026-02-01")  # 2
    p.ok("charge", "JANE", "40.25", "February work", "--date", "2026-02-10")  # 3
    # 03:00 UTC on March 2 is 21:00 on March 1 in Chicago.
    insert_entry(site, 1, -5000, "Check 1001", "2026-03-02T03:00:00Z")  # 4
    p.ok("charge", "JANE", "10", "Wrong charge", "--date", "2026-03-05")  # 5
    p.ok("void", "5", "--reason", "typo")  # 6, today
    return p


def test_the_whole_history_oldest_first_with_running_balance(paylink):
    stmt = paylink.json("statement", "JANE")
    assert set(stmt) == {
        "customer_id",
        "opening_balance",
        "opening_balance_minor",
        "closing_balance",
        "closing_balance_minor",
        "entries",
    }
    assert stmt["customer_id"] == 1
    assert stmt["opening_balance"] == "0.00" and stmt["opening_balance_minor"] == 0
    entries = stmt["entries"]
    assert all(set(e) == ENTRY_KEYS for e in entries)
    assert [e["id"] for e in entries] == [1, 3, 4, 5, 6]
    assert [e["amount_minor"] for e in entries] == [10000, 4025, -5000, 1000, -1000]
    assert [e["balance_minor"] for e in entries] == [10000, 14025, 9025, 10025, 9025]
    assert [e["balance"] for e in entries] == ["100.00", "140.25", "90.25", "100.25", "90.25"]
    assert entries[2]["amount"] == "-50.00"
    assert [e["date"] for e in entries[:4]] == ["2026-01-15", "2026-02-10", "2026-03-01", "2026-03-05"]
    assert [e["voided"] for e in entries] == [False, False, False, True, False]
    assert [e["voids"] for e in entries] == [None, None, None, None, 5]
    assert stmt["closing_balance"] == "90.25" and stmt["closing_balance_minor"] == 9025
    assert stmt["closing_balance_minor"] == paylink.json("customer", "show", "JANE")["balance_minor"]


def test_a_period_has_an_opening_balance_and_both_ends_included(paylink):
    stmt = paylink.json("statement", "jane", "--from", "2026-02-10", "--to", "2026-03-01")
    assert stmt["opening_balance_minor"] == 10000
    assert [e["id"] for e in stmt["entries"]] == [3, 4]
    assert [e["balance_minor"] for e in stmt["entries"]] == [14025, 9025]
    assert stmt["closing_balance_minor"] == 9025 == stmt["opening_balance_minor"] + 4025 - 5000


def test_days_are_the_sites_time_zone(paylink):
    # The check was written at 03:00 UTC on March 2: March 1 in Chicago.
    assert [
        e["id"] for e in paylink.json("statement", "JANE", "--from", "2026-03-02", "--to", "2026-03-04")["entries"]
    ] == []
    assert [
        e["id"] for e in paylink.json("statement", "JANE", "--from", "2026-03-01", "--to", "2026-03-01")["entries"]
    ] == [4]


def test_only_from_or_only_to(paylink):
    since = paylink.json("statement", "JANE", "--from", "2026-03-01")
    assert since["opening_balance_minor"] == 14025 and [e["id"] for e in since["entries"]] == [4, 5, 6]
    until = paylink.json("statement", "JANE", "--to", "2026-02-28")
    assert until["opening_balance_minor"] == 0 and [e["id"] for e in until["entries"]] == [1, 3]
    assert until["closing_balance_minor"] == 14025


def test_an_empty_period(paylink):
    stmt = paylink.json("statement", "JANE", "--from", "2025-01-01", "--to", "2025-12-31")
    assert stmt["entries"] == [] and stmt["opening_balance_minor"] == 0 and stmt["closing_balance_minor"] == 0
    assert (
        "No entries in this period."
        in paylink.ok("statement", "JANE", "--from", "2025-01-01", "--to", "2025-12-31").stdout
    )


def test_a_customer_without_entries(paylink):
    stmt = paylink.json("statement", "2", "--from", "2026-03-01")
    assert stmt["opening_balance_minor"] == 99900 and stmt["entries"] == []
    assert stmt["closing_balance_minor"] == 99900


def test_csv_has_the_json_columns(paylink):
    rows = list(csv.reader(io.StringIO(paylink.ok("statement", "JANE", "--csv").stdout)))
    assert rows[0] == [
        "id",
        "date",
        "description",
        "amount",
        "amount_minor",
        "balance",
        "balance_minor",
        "voided",
        "voids",
    ]
    assert rows[1] == ["1", "2026-01-15", "January work", "100.00", "10000", "100.00", "10000", "false", ""]
    assert rows[4][0] == "5" and rows[4][7] == "true"
    assert rows[5][0] == "6" and rows[5][8] == "5" and rows[5][2].startswith("Void of entry 5")
    assert len(rows) == 6


def test_text_is_a_readable_table(paylink):
    out = paylink.ok("statement", "JANE", "--from", "2026-02-01").stdout
    lines = out.splitlines()
    assert lines[0].startswith("Statement for Jane Doe (customer 1, ref JANE)")
    assert any("Opening balance" in line and "$100.00" in line for line in lines)
    assert any("Closing balance" in line and "$90.25" in line for line in lines)
    assert any("Wrong charge (voided)" in line for line in lines)
    assert any(line.split()[:2] == ["4", "2026-03-01"] and line.rstrip().endswith("$90.25") for line in lines)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2026-13-01"], "Error: --from date '2026-13-01' is not a date — write it as YYYY-MM-DD"),
        (["--to", "March 3"], "Error: --to date 'March 3' is not a date"),
        (
            ["--from", "2026-03-02", "--to", "2026-03-01"],
            "Error: The period starts 2026-03-02 after it ends 2026-03-01",
        ),
    ],
)
def test_bad_dates(paylink, args, message):
    assert paylink.fails("statement", "JANE", *args).stderr.startswith(message)


def test_unknown_customer(paylink):
    result = paylink.fails("statement", "JAEN")
    assert result.stderr.startswith("Error: No customer with ref 'JAEN' — did you mean JANE (Jane Doe)?")


def test_csv_and_json_together_is_a_usage_error(paylink):
    result = paylink("statement", "JANE", "--csv", "--json")
    assert result.exit_code == 2 and result.stderr.startswith("Error: ")


# --- the printable statement ---------------------------------------------------------------


def test_html_statement_has_everything_the_customer_needs(tmp_path, site, paylink):
    paylink.ok("link", "generate", "JANE")
    target = tmp_path / "out" / "jane.html"
    target.parent.mkdir()

    result = paylink.ok("statement", "JANE", "--from", "2026-02-01", "--html", str(target))

    assert str(target) in result.stdout
    assert os.stat(target).st_mode & 0o077 == 0
    html = target.read_text(encoding="utf-8")
    soup = parse(html)
    text = " ".join(soup.get_text().split())
    for expected in ("Test Plumbing", "12 Water St, Springfield", "555-0100", "billing@example.com", "Jane Doe"):
        assert expected in text
    assert soup.select_one("#opening-balance").get_text() == "$100.00"
    assert soup.select_one("#closing-balance").get_text() == "$90.25"
    rows = soup.select("#statement-entries tbody tr.entry")
    # The void of "Wrong charge" is not a row of its own: the charge shows once, canceled.
    assert len(rows) == 3
    assert "February work" in rows[0].get_text() and "$140.25" in rows[0].get_text()
    canceled = soup.select("#statement-entries tr.canceled")
    assert len(canceled) == 1 and "Wrong charge" in canceled[0].get_text() and "Canceled" in canceled[0].get_text()
    assert "typo" not in html and "Void" not in html  # a void's reason is for the business only
    assert "Statement" in text and soup.select_one("time[datetime]") is not None
    # A self-contained local file: nothing loaded from anywhere, and the QR code inline.
    assert soup.select("link[rel=stylesheet], script, img[src^=http]") == []
    assert soup.select_one("svg path") is not None
    # Money is formatted, never raw minor units, and the token is not printed as text.
    url = paylink.json("link", "show", "JANE")["url"]
    assert url not in html


def test_html_without_a_link_has_no_qr_code(tmp_path, paylink):
    target = tmp_path / "jane.html"
    paylink.ok("statement", "JANE", "--html", str(target))
    assert parse(target.read_text()).select("svg") == []


def test_html_with_json_prints_the_json(tmp_path, paylink):
    target = tmp_path / "jane.html"
    assert paylink.json("statement", "JANE", "--html", str(target))["closing_balance_minor"] == 9025
    assert target.is_file()


@pytest.fixture
def short_site(site: Path, paylink: Paylink) -> Iterator[Path]:
    """The site moved to a short folder: an error quotes a path to 80 characters, and pytest's own
    folders (longer under pytest-xdist) would cut ``.../site/build`` off before its last part."""
    short = Path(tempfile.mkdtemp(prefix="paylink-"))
    try:
        yield Path(shutil.move(site, short / "site"))
    finally:
        shutil.rmtree(short)


@pytest.mark.parametrize("where", ["build/jane.html", "build/p/jane.html", "build"])
def test_html_is_never_written_into_build(short_site, where):
    site = short_site
    before = sorted(p.name for p in (site / "build").rglob("*"))
    result = Paylink(site).fails("statement", "JANE", "--html", str(site / where))
    assert "build" in result.stderr
    assert sorted(p.name for p in (site / "build").rglob("*")) == before


def test_html_through_a_symlink_into_build_is_refused(tmp_path, site, paylink):
    (tmp_path / "shortcut").symlink_to(site / "build")
    result = paylink.fails("statement", "JANE", "--html", str(tmp_path / "shortcut" / "jane.html"))
    assert "inside build/" in result.stderr
    assert not (site / "build" / "jane.html").exists()


def test_html_over_the_ledger_is_refused(site, paylink):
    before = (site / "paylink.db").read_bytes()
    result = paylink.fails("statement", "JANE", "--html", str(site / "paylink.db"))
    assert "paylink.db" in result.stderr
    assert (site / "paylink.db").read_bytes() == before


@pytest.mark.browser
def test_html_prints_on_one_sheet_for_20_entries_and_its_qr_scans(tmp_path, site):
    image_module = pytest.importorskip("PIL.Image")
    zxingcpp = pytest.importorskip("zxingcpp")
    from playwright.sync_api import sync_playwright

    paylink = Paylink(site)
    paylink.ok("customer", "add", "Maximilian Bartholomew Longname-Smythe", "--ref", "MAX")
    for day in range(1, 21):
        paylink.ok(
            "charge",
            "MAX",
            f"{day * 37}.{day:02d}",
            f"Service visit {day}: replaced a valve and tested",
            "--date",
            f"2026-01-{day:02d}",
        )
    url = paylink.json("link", "generate", "MAX")["url"]
    short, long_ = tmp_path / "short.html", tmp_path / "long.html"
    paylink.ok("statement", "MAX", "--html", str(short))
    for day in range(1, 29):
        paylink.ok("credit", "MAX", "1", f"Payment {day}", "--date", f"2026-02-{day:02d}")
    paylink.ok("statement", "MAX", "--html", str(long_))

    def pages(pdf: bytes) -> int:
        return pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            page.goto(short.as_uri())
            assert pages(page.pdf(format="A4")) == 1
            assert pages(page.pdf(format="Letter")) == 1
            qr = page.locator(".qr svg").screenshot()
            page.goto(long_.as_uri())
            assert pages(page.pdf(format="Letter")) >= 2
        finally:
            browser.close()
    decoded = [b.text for b in zxingcpp.read_barcodes(image_module.open(io.BytesIO(qr)))]
    assert decoded == [url]


# --- the customer's statement: their language, canceled entries, totals ------------------------


def html_statement(paylink: Paylink, tmp_path: Path, customer: str, *args: str):
    target = tmp_path / f"{customer}-{len(list(tmp_path.glob('*.html')))}.html"
    paylink.ok("statement", customer, *args, "--html", str(target))
    return target.read_text(encoding="utf-8"), parse(target.read_text(encoding="utf-8"))


def spanish_words() -> set[str]:
    """Every word of the Spanish catalog's translations, and the Spanish month and day names (dates)."""
    from babel import Locale
    from babel.messages.pofile import read_po

    po = Path(__file__).resolve().parent.parent / "site_templates/locale/es/LC_MESSAGES/messages.po"
    with open(po, "rb") as file:
        catalog = read_po(file, locale="es")
    words: set[str] = set()
    for message in catalog:
        strings = message.string if isinstance(message.string, tuple | list) else (message.string,)
        for string in strings:
            words.update(w.lower() for w in re.findall(r"[^\W\d_]+", re.sub(r"%\(\w+\)[sd]", " ", string)))
    es = Locale.parse("es_US")
    for names in (es.months["format"], es.months["stand-alone"], es.days["format"]):
        for width in names.values():
            for name in width.values():
                words.update(w.lower() for w in re.findall(r"[^\W\d_]+", name))
    return words


@pytest.fixture
def spanish(tmp_path: Path) -> tuple[Paylink, list[str]]:
    """Juana reads Spanish on an en_US site; two entries of hers were voided. Returns the CLI and her own data."""
    site = make_site(
        tmp_path / "es-site",
        "--timezone",
        "America/Chicago",
        "--phone",
        "555-0100",
        "--email",
        "cobros@example.com",
        "--address",
        "12 Water St, Springfield",
        "--base-url",
        "https://pay.example.com",
    )
    p = Paylink(site)
    p.ok("customer", "add", "Juana Pérez", "--ref", "JUANA", "--language", "es", "--email", "juana@example.com")
    p.ok("charge", "JUANA", "1200.50", "Caldera nueva", "--date", "2026-01-15")  # 1
    p.ok("credit", "JUANA", "200", "Cheque 1001", "--date", "2026-01-20")  # 2
    p.ok("charge", "JUANA", "99", "Cargo duplicado", "--date", "2026-02-03")  # 3
    p.ok("void", "3", "--reason", "duplicate charge typed twice")  # 4: a void must never count as a payment
    p.ok("credit", "JUANA", "50", "Cheque rebotado", "--date", "2026-02-05")  # 5
    p.ok("void", "5", "--reason", "bounced")  # 6: a voided payment is no payment, its void no charge
    p.ok("link", "generate", "JUANA")
    data = ["Test Plumbing", "12 Water St, Springfield", "555-0100", "cobros@example.com", "Juana Pérez", "JUANA"]
    data += ["juana@example.com", "Caldera nueva", "Cheque 1001", "Cargo duplicado", "Cheque rebotado"]
    return p, data


def test_a_spanish_customers_statement_is_wholly_spanish(tmp_path, spanish):
    paylink, data = spanish
    html, soup = html_statement(paylink, tmp_path, "JUANA")
    assert soup.html["lang"] == "es-US"
    known = spanish_words()
    texts = [soup.title.get_text()] + [s for s in soup.body.find_all(string=True) if s.parent.name != "style"]
    texts += [tag["aria-label"] for tag in soup.select("[aria-label]")]
    left_over = []
    for text in texts:
        for value in sorted(data, key=len, reverse=True):
            text = text.replace(value, " ")
        left_over += [w for w in re.findall(r"[^\W\d_]+", text) if w.lower() not in known]
    assert left_over == [], f"words not from the Spanish catalog: {sorted(set(left_over))}"
    words = {w.lower() for w in re.findall(r"[^\W\d_]+", soup.get_text())}
    for english in ("statement", "balance", "charges", "payments", "credits", "canceled", "date", "amount"):
        assert english not in words
    # Money and dates are written for Spanish in the site's territory (es_US), as on her page.
    assert soup.select_one("#closing-balance").get_text() == "$1,000.50"
    assert "15 ene 2026" in soup.select_one("#statement-entries").get_text()
    closing_label = soup.select_one(".summary .closing th").get_text()
    assert closing_label == "Saldo pendiente"
    assert [tag.get_text() for tag in soup.select("tr.canceled .tag")] == ["Cancelado", "Cancelado"]
    for reason in ("duplicate", "bounced", "Void"):
        assert reason not in html


def test_statement_totals_leave_out_canceled_entries(tmp_path, spanish):
    paylink, _ = spanish
    _, soup = html_statement(paylink, tmp_path, "JUANA")
    rows = soup.select("#statement-entries tr.entry")
    # Four entries shown (the two voids are not), the voided ones once each, struck through.
    assert [r.select_one(".desc").get_text() for r in rows] == [
        "Caldera nueva",
        "Cheque 1001",
        "Cargo duplicado",
        "Cheque rebotado",
    ]
    assert ["canceled" in r["class"] for r in rows] == [False, False, True, True]
    assert soup.select_one("#opening-balance").get_text() == "$0.00"
    assert soup.select_one("#total-charges").get_text() == "$1,200.50"  # not 1,299.50, nor + the voided payment
    assert soup.select_one("#total-credits").get_text() == "$200.00"  # not 299 (void of a charge), nor 250
    assert soup.select_one("#total-canceled-earlier") is None
    assert soup.select_one("#closing-balance").get_text() == "$1,000.50"
    # The running balance skips canceled entries: it never jumps where a void is hidden.
    assert [r.select("td.num")[-1].get_text() for r in rows] == ["$1,200.50", "$1,000.50", "$1,000.50", "$1,000.50"]
    # The owner's views keep every entry, voids included.
    stmt = paylink.json("statement", "JUANA")
    assert [e["id"] for e in stmt["entries"]] == [1, 2, 3, 5, 4, 6]  # the voids were posted today
    assert [e["voids"] for e in stmt["entries"]] == [None, None, None, None, 3, 5]
    assert [e["voided"] for e in stmt["entries"]] == [False, False, True, True, False, False]
    assert stmt["closing_balance_minor"] == 100050


def test_a_void_of_an_entry_before_the_period_is_a_cancellation_apart(tmp_path, spanish):
    """The charge was in January, its void today: a March-on statement cannot show the charge canceled,
    so it shows the cancellation (no reason) and totals it apart; the balances still add up."""
    paylink, _ = spanish
    paylink.ok("customer", "add", "Luis Gómez", "--ref", "LUIS", "--language", "es")
    paylink.ok("charge", "LUIS", "80", "Instalación", "--date", "2026-01-10")  # 7
    paylink.ok("charge", "LUIS", "30", "Revisión", "--date", "2026-01-25")  # 8
    paylink.ok("void", "8", "--reason", "never done")  # 9, today
    paylink.ok("credit", "LUIS", "5", "Descuento")  # 10, today
    html, soup = html_statement(paylink, tmp_path, "LUIS", "--from", "2026-03-01")
    assert soup.select_one("#opening-balance").get_text() == "$110.00"
    assert soup.select_one("#total-charges").get_text() == "$0.00"
    assert soup.select_one("#total-credits").get_text() == "$5.00"
    assert soup.select_one("#total-canceled-earlier").get_text() == "-$30.00"
    assert soup.select_one("#closing-balance").get_text() == "$75.00"  # 110 + 0 - 5 - 30
    rows = soup.select("#statement-entries tr.entry")
    assert [r.select_one(".desc").get_text() for r in rows] == ["Cancelado: Revisión", "Descuento"]
    assert "never done" not in html and "Void" not in html
    assert (
        soup.select_one("#total-canceled-earlier").find_previous("th").get_text() == "Movimientos anteriores cancelados"
    )
    # A statement for January alone, when the charge still stood, counts it (its void is after the period).
    _, january = html_statement(paylink, tmp_path, "LUIS", "--to", "2026-01-31")
    assert january.select("tr.canceled") == []
    assert january.select_one("#total-charges").get_text() == "$110.00"
    assert january.select_one("#closing-balance").get_text() == "$110.00"
    assert paylink.json("statement", "LUIS", "--to", "2026-01-31")["closing_balance_minor"] == 11000


def test_an_english_statement_says_canceled(tmp_path, paylink):
    html, soup = html_statement(paylink, tmp_path, "JANE")
    assert soup.html["lang"] == "en-US"
    assert [t.get_text() for t in soup.select("tr.canceled .tag")] == ["Canceled"]
    assert soup.select_one("#total-charges").get_text() == "$140.25"  # the canceled $10 left out
    assert soup.select_one("#total-credits").get_text() == "$50.00"  # its void is no payment
