"""Pages with ``[[pay]]`` methods drawn fast (CONTRACT §8): the compiled pay block gives Jinja's bytes, and the
QR cache (``.paylink-qr.cache``) never gives a stale code and is ignored when damaged.

Sites are real (the CLI makes and changes them, the ledger is a real SQLite file); the QR codes are read
back from the built pages by rasterising their SVG path here and decoding it with zxing-cpp's reader.
"""

import json
import os
import re
import stat
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from conftest import Paylink, make_site
from sitepages import live_snapshot

HOSTILE_REF = "<b>\"x\" & 'y'</b>"
# One site per currency, with every method that takes it; customer-visible details made hostile where allowed.
SITES = {
    "USD": [
        'method = "paypal"\nhandle = "testplumbing"',
        'method = "venmo"\nhandle = "@Test-Plumbing"',
        'method = "cashapp"\ncashtag = "$TestPlumbing"',
        'method = "stripe"\nurl = "https://buy.stripe.com/test_4gw5nO"',
        'method = "link"\nurl = "https://pay.example.com/p?a={amount}&r={reference}"\nlabel = "<i>Pay</i> & \\"go\\" \'now\'"',
        'method = "bank"\ndetails = "<script>alert(1)</script> & \\"First\\" Bank"',
    ],
    "EUR": ['method = "sepa"\niban = "DE89 3704 0044 0532 0130 00"\nname = "Mueller & <Soehne> \\"GmbH\\""'],
    "CHF": [
        'method = "swiss_qr"\niban = "CH9300762011623852957"\nname = "Robert & Schneider AG"\naddress = "Rue du Lac 1268, 2501 Biel"'
    ],
    "INR": ['method = "upi"\nvpa = "shop.owner@okaxis"\nname = "Sharma & Sons"'],
    "BRL": ['method = "pix"\nkey = "fulano@example.com"\nname = "Padaria Sao Joao"\ncity = "Sao Paulo"'],
}


def site_with(root: Path, currency: str, tables: list[str], *, tips: str | None = None) -> Paylink:
    site = make_site(root, "--currency", currency, "--email", "billing@example.com")
    with open(site / "paylink.toml", "r+", encoding="utf-8") as settings:
        text = settings.read()
        if tips is not None:
            text = f"tips = {tips}\n" + text
        settings.seek(0)
        settings.write(text + "".join(f"\n[[pay]]\n{table}\n" for table in tables))
    return Paylink(site)


def add_customers(paylink: Paylink) -> list[int]:
    """Customers whose pages differ in every value the pay block shows: reference, language, email, totals."""
    ids = []
    for name, args, amounts in [
        ("Jane", ["--ref", HOSTILE_REF, "--email", "jane+<x>@example.com"], ["30.00", "10.05"]),
        ("Ana", ["--language", "es"], ["1234.56"]),
        ("Bo", ["--ref", "B-7"], ["0.99"]),
        ("Cy", ["--language", "es", "--ref", "<es>&"], ["99999.99", "0.01"]),
        ("Di", [], ["5"]),
    ]:
        customer_id = paylink.json("customer", "add", name, *args)["id"]
        for amount in amounts:
            paylink.ok("charge", str(customer_id), amount, "Work")
        paylink.ok("link", "generate", str(customer_id))
        ids.append(customer_id)
    return ids


@pytest.mark.parametrize(("currency", "tips"), [(c, None) for c in SITES] + [("USD", "[]"), ("EUR", "[5]")])
def test_the_compiled_pay_block_gives_jinjas_bytes(tmp_path, currency, tips):
    """Every method, English and Spanish pages, hostile text: each page drawn with the compiled pay block
    (its second and later blocks of a shape are filled, not rendered) equals the page Jinja renders."""
    from paylink import page_records
    from paylink.actions import Workspace
    from paylink.render import Renderer

    paylink = site_with(tmp_path / "site", currency, SITES[currency], tips=tips)
    ids = add_customers(paylink)
    with Workspace.find(str(paylink.site)) as ws:
        statements = [s for _, s in page_records.statements(ws.conn, ids)]
        fast = Renderer(ws.settings, ws.site.templates_dir)
        jinja = Renderer(ws.settings, ws.site.templates_dir, fast_gettext=False)
        for _ in range(2):  # the second round fills every shape's block from its compiled text
            for statement in statements:
                page = fast.page(statement)
                assert page == jinja.page(statement)
                assert 'id="pay-options"' in page
        assert fast.pay_compiler.filled == 2 * len(statements)
        assert {"en", "es"} <= {key[0] for key in fast.pay_compiler.shapes}
    built = (paylink.site / "build" / "p" / live_snapshot(paylink.site, ids[0])).read_text(encoding="utf-8")
    assert "&lt;b&gt;&#34;x&#34; &amp; &#39;y&#39;&lt;/b&gt;" in built and HOSTILE_REF not in built


# --- the QR cache ----------------------------------------------------------------------------------------


def qr_texts(site: Path, customer_id: int) -> dict[int, str]:
    """The text of each tip choice's QR code on the customer's built page, read back from its SVG."""
    page = BeautifulSoup(
        (site / "build" / "p" / live_snapshot(site, customer_id)).read_text(encoding="utf-8"), "html.parser"
    )
    return {
        int(variant["data-tip"]): decode_svg(variant.select_one("svg.pay-qr__code"))
        for variant in page.select('#pay-options .pay-option[data-method="sepa"] .pay-variant')
    }


def decode_svg(svg) -> str:
    """Rasterise a QR code's SVG (its one dark path: filled rectangles, or lines stroked 1 module wide;
    M/m moves, h/v lines, z) and decode it with zxing-cpp."""
    import zxingcpp
    from PIL import Image, ImageDraw

    size = int(svg["viewbox"].split()[2])
    scale = 6
    image = Image.new("L", (size * scale, size * scale), 255)
    draw = ImageDraw.Draw(image)
    dark = [p for p in svg.select("path") if "#000" in (p.get("fill"), p.get("stroke"))]
    assert len(dark) == 1
    stroked = dark[0].get("stroke") == "#000"
    assert not stroked or dark[0]["stroke-width"] == "1"
    x = y = start_x = start_y = 0.0
    points: list[tuple[float, float]] = []
    for command, args in re.findall(r"([MmHhVvZz])([^MmHhVvZz]*)", dark[0]["d"]):
        numbers = [float(n) for n in args.replace(",", " ").split()]
        if command in "Mm":
            x, y = (numbers[0], numbers[1]) if command == "M" else (x + numbers[0], y + numbers[1])
            start_x, start_y, points = x, y, [(x, y)]
        elif command in "Hh":
            to = numbers[0] if command == "H" else x + numbers[0]
            if stroked:  # a line 1 wide along y: the modules from x to ``to`` of the row around it
                left, right = sorted((x, to))
                draw.rectangle((left * scale, (y - 0.5) * scale, right * scale - 1, (y + 0.5) * scale - 1), fill=0)
            x = to
            points.append((x, y))
        elif command in "Vv":
            assert not stroked
            y = numbers[0] if command == "V" else y + numbers[0]
            points.append((x, y))
        else:
            xs, ys = [p[0] for p in points], [p[1] for p in points]
            draw.rectangle((min(xs) * scale, min(ys) * scale, max(xs) * scale - 1, max(ys) * scale - 1), fill=0)
            x, y = start_x, start_y
    found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    assert len(found) == 1
    return found[0].bytes.decode("iso-8859-1")  # the GiroCode's character set 2 (names here are ASCII)


def cache_header(site: Path) -> dict:
    return json.loads((site / ".paylink-qr.cache").read_bytes().partition(b"\n")[0])


SEPA = 'method = "sepa"\niban = "DE89370400440532013000"\nname = "Bench Plumbing"'


def sepa_site(root: Path, customers: int = 5) -> tuple[Paylink, list[int]]:
    """A SEPA site whose customers owe 40.05, 41.05, ...: four codes a page (no tip, 18, 20, 25 %), built in full."""
    paylink = site_with(root, "EUR", [SEPA])
    ids = []
    for n in range(customers):
        customer_id = paylink.json("customer", "add", f"C{n}", "--ref", f"J-{n}")["id"]
        paylink.ok("charge", str(customer_id), f"{40 + n}.05", "Work")
        paylink.ok("link", "generate", str(customer_id))
        ids.append(customer_id)
    paylink.ok("build", "--full")
    return paylink, ids


def test_a_rebuild_draws_no_code_again_and_a_changed_amount_or_detail_makes_a_new_one(tmp_path):
    paylink, ids = sepa_site(tmp_path / "site")
    customer_id = ids[0]
    cache = paylink.site / ".paylink-qr.cache"
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    assert cache_header(paylink.site)["codes"] == 4 * len(ids)  # one a tip choice: none, 18, 20, 25 %
    codes = qr_texts(paylink.site, customer_id)
    assert [line for line in codes[0].split("\n") if line.startswith("EUR")] == ["EUR40.05"]
    assert "EUR47.26" in codes[18].split("\n") and "Bench Plumbing" in codes[0].split("\n")

    before = cache.stat()
    paylink.ok("build", "--full")
    after = cache.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)  # every code was in it
    assert qr_texts(paylink.site, customer_id) == codes

    paylink.ok("charge", str(customer_id), "1.00", "More work")  # one page: its codes drawn, the file untouched
    assert "EUR41.05" in qr_texts(paylink.site, customer_id)[0].split("\n")
    after = cache.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    paylink.ok("build", "--full")
    assert "EUR41.05" in qr_texts(paylink.site, customer_id)[0].split("\n")
    assert cache_header(paylink.site)["codes"] == 4 * len(ids) + 4  # the new amounts' codes, and the old ones kept

    toml = paylink.site / "paylink.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace("Bench Plumbing", "Other Name"), encoding="utf-8")
    paylink.ok("build")
    fields = qr_texts(paylink.site, customer_id)[0].split("\n")
    assert "Other Name" in fields and "Bench Plumbing" not in fields and "EUR41.05" in fields
    assert cache_header(paylink.site)["codes"] == 4 * len(ids) * 2 + 4


@pytest.mark.parametrize("damage", ["body", "header", "truncated", "loose mode", "garbage"])
def test_a_damaged_cache_is_ignored_and_replaced(tmp_path, damage):
    paylink, ids = sepa_site(tmp_path / "site")
    customer_id = ids[0]
    cache = paylink.site / ".paylink-qr.cache"
    good_codes = qr_texts(paylink.site, customer_id)
    page = paylink.site / "build" / "p" / live_snapshot(paylink.site, customer_id)
    good_page = page.read_bytes()
    data = cache.read_bytes()
    head, _, body = data.partition(b"\n")
    if damage == "body":  # another code's modules under these keys: the digest no longer matches
        data = head + b"\n" + body[:40] + bytes(b ^ 0xFF for b in body[40:80]) + body[80:]
    elif damage == "header":
        data = b'{"version": 2, "body": "0"}\n' + body
    elif damage == "truncated":
        data = data[: len(data) - 30]
    elif damage == "garbage":
        data = os.urandom(len(data))
    cache.write_bytes(data)
    if damage == "loose mode":
        cache.chmod(0o644)
    paylink.ok("build", "--full")
    assert page.read_bytes() == good_page
    assert qr_texts(paylink.site, customer_id) == good_codes
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600 and cache_header(paylink.site)["codes"] == 4 * len(ids)


def test_a_site_without_pay_methods_has_no_qr_cache(tmp_path):
    paylink = site_with(tmp_path / "site", "USD", [])
    customer_id = paylink.json("customer", "add", "Jane")["id"]
    paylink.ok("charge", str(customer_id), "5", "Work")
    paylink.ok("link", "generate", str(customer_id))
    paylink.ok("build", "--full")
    assert not (paylink.site / ".paylink-qr.cache").exists()


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="helper processes need a second core")
def test_codes_drawn_by_helper_processes_are_kept(tmp_path):
    paylink, ids = sepa_site(tmp_path / "site", customers=6)
    (paylink.site / ".paylink-qr.cache").unlink()
    env = {"PAYLINK_PARALLEL_MIN_PAGES": "2"}
    paylink.ok("build", "--full", env=env)
    assert cache_header(paylink.site)["codes"] == 4 * len(ids)
    assert "EUR45.05" in qr_texts(paylink.site, ids[-1])[0].split("\n")
