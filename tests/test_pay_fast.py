"""Pages with ``[[pay]]`` methods drawn fast (CONTRACT §8): the compiled pay block gives Jinja's bytes, and the
QR cache (``.paylink-qr.cache``) never gives a stale code and is ignored when damaged; each QR code's PNG
is its code module for module, with its quiet zone (and the Swiss QR-bill's cross where the standard puts it).

Sites are real (the CLI makes and changes them, the ledger is a real SQLite file); the QR codes are read
back from the built pages' PNGs (``data:`` URIs) with Pillow and decoded with zxing-cpp's reader.
"""

import base64
import io
import json
import os
import stat
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from conftest import Paylink, make_site
from PIL import Image
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


def test_a_pay_page_is_drawn_from_the_page_cache_without_templates_or_babel(tmp_path):
    """After a build, the pay blocks' shapes are in the page cache: a later run draws every outstanding
    page, English and Spanish, with no Voice (no Jinja environment, no Babel) and Jinja's bytes."""
    from paylink import page_records
    from paylink.actions import Workspace
    from paylink.render import Renderer

    paylink = site_with(tmp_path / "site", "EUR", SITES["EUR"])
    ids = add_customers(paylink)
    paylink.ok("build", "--full")
    with Workspace.find(str(paylink.site)) as ws:
        statements = [s for _, s in page_records.statements(ws.conn, ids)]
        cached = Renderer(ws.settings, ws.site.templates_dir, cached=ws.page_cache.pages(), qr_codes=ws.qr_codes)
        jinja = Renderer(ws.settings, ws.site.templates_dir, fast_gettext=False)
        for statement in statements:
            assert cached.page(statement) == jinja.page(statement)
        assert cached.voices_made() == {} and not cached.learnt
        assert cached.pay_compiler.filled == len(statements) and {"en", "es"} <= {
            key[0] for key in cached.pay_compiler.shapes
        }


# --- the QR cache ----------------------------------------------------------------------------------------


def qr_texts(site: Path, customer_id: int) -> dict[int, str]:
    """The text of each tip choice's QR code on the customer's built page, read back from its PNG."""
    page = BeautifulSoup(
        (site / "build" / "p" / live_snapshot(site, customer_id)).read_text(encoding="utf-8"), "html.parser"
    )
    return {
        int(variant["data-tip"]): decode_png(variant.select_one("img.pay-qr__code"))
        for variant in page.select('#pay-options .pay-option[data-method="sepa"] .pay-variant')
    }


def png_of(img) -> Image.Image:
    """The PNG of a QR code's ``<img>`` (a ``data:`` URI), checked to be what the tag says: 1 bit a pixel,
    square, as wide as its width attribute."""
    start = "data:image/png;base64,"
    assert img["src"].startswith(start) and img["alt"]
    image = Image.open(io.BytesIO(base64.b64decode(img["src"][len(start) :], validate=True)))
    assert image.format == "PNG" and image.mode == "1"
    assert image.size == (int(img["width"]), int(img["height"])) and image.width == image.height
    return image


def decode_png(img) -> str:
    """Decode a QR code's ``<img>`` with zxing-cpp (enlarged without smoothing, as the page shows it)."""
    import zxingcpp

    image = png_of(img).convert("L")
    image = image.resize((image.width * 4, image.height * 4), Image.Resampling.NEAREST)
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
    for n, other in enumerate(ids):  # each page's codes, most of them from the file: its own amounts
        texts = qr_texts(paylink.site, other)
        for percent in (0, 18, 20, 25):
            balance = 4005 + 100 * n
            total = balance + (balance * percent + 50) // 100  # the tip rounded half up to the cent
            assert f"EUR{total // 100}.{total % 100:02d}" in texts[percent].split("\n")

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


# --- the QR codes' images ---------------------------------------------------------------------------------


def code_modules(data: bytes) -> list[list[bool]]:
    """The QR code of ``data`` as zxing-cpp encodes it (error correction M, as paylink asks), True for dark."""
    import zxingcpp

    image = zxingcpp.create_barcode(data, zxingcpp.BarcodeFormat.QRCode, ec_level="M").to_image(
        scale=1, add_quiet_zones=False
    )
    size = image.shape[0]
    cells = bytes(memoryview(image))
    return [[cells[y * size + x] < 128 for x in range(size)] for y in range(size)]


@pytest.mark.parametrize("currency", ["EUR", "CHF", "INR", "BRL"])
def test_each_qr_image_is_its_code_module_for_module_inside_a_white_quiet_zone(tmp_path, currency):
    """Every tip's code: each module one pixel (the Swiss QR-bill's, 4 × 4), dark ones black, a white quiet
    zone of 4 modules inside the image; the Swiss QR-bill's cross is the only place that differs."""
    import zxingcpp

    paylink = site_with(tmp_path / "site", currency, SITES[currency])
    customer_id = add_customers(paylink)[1]
    page = BeautifulSoup(
        (paylink.site / "build" / "p" / live_snapshot(paylink.site, customer_id)).read_text(encoding="utf-8"),
        "html.parser",
    )
    images = page.select("#pay-options img.pay-qr__code")
    assert len(images) == 4 and len({img["src"] for img in images}) == 4  # one a tip choice, each its own
    for img in images:
        png = png_of(img).convert("L")
        found = zxingcpp.read_barcodes(png.resize((png.width * 4, png.height * 4), Image.Resampling.NEAREST))
        assert len(found) == 1
        modules = code_modules(found[0].bytes)
        size = len(modules)
        scale = png.width // (size + 8)
        assert png.width == (size + 8) * scale and scale == (4 if currency == "CHF" else 1)
        pixels = png.load()
        assert pixels is not None
        cross = (size / 2 - size * 7 / 92 - 1, size / 2 + size * 7 / 92 + 1)  # in modules, the cross's edge too
        for y in range(-4, size + 4):
            for x in range(-4, size + 4):
                dark = 0 <= x < size and 0 <= y < size and modules[y][x]
                if currency == "CHF" and cross[0] <= x < cross[1] and cross[0] <= y < cross[1]:
                    continue
                for dy in range(scale):
                    for dx in range(scale):
                        assert pixels[(x + 4) * scale + dx, (y + 4) * scale + dy] == (0 if dark else 255), (x, y)


def test_the_swiss_qr_bill_code_carries_the_swiss_cross_in_its_middle(tmp_path):
    """SIX's QR-bill: a Swiss cross of 7 mm on the code's 46 mm (quiet zones left out), centred: a black
    square with a white edge round it and a white cross on it."""
    paylink = site_with(tmp_path / "site", "CHF", SITES["CHF"])
    customer_id = add_customers(paylink)[0]
    page = BeautifulSoup(
        (paylink.site / "build" / "p" / live_snapshot(paylink.site, customer_id)).read_text(encoding="utf-8"),
        "html.parser",
    )
    for img in page.select("#pay-options img.pay-qr__code"):
        png = png_of(img).convert("L")
        pixels = png.load()
        assert pixels is not None
        side, scale = png.width, 4
        inner = side - 2 * 4 * scale  # pixels of the code without its quiet zones
        middle, want = side // 2, inner * 7 / 46  # the cross's square, in pixels

        def run(x: int, y: int, dx: int, dy: int, pixels=pixels) -> int:  # the last black pixel from (x, y) on
            while pixels[x + dx, y + dy] == 0:
                x, y = x + dx, y + dy
            return x if dx else y

        beside = middle + round(want * 0.4)  # inside the square, off the cross's arms
        top, bottom = run(beside, middle, 0, -1), run(beside, middle, 0, 1) + 1
        left, right = run(middle, beside, -1, 0), run(middle, beside, 1, 0) + 1
        for low, high in ((top, bottom), (left, right)):
            assert abs((high - low) - want) <= 1 and abs((low + high) / 2 - side / 2) <= 0.5
        arm, bar = want * 0.6, want * 0.2
        for y in range(top - 1, bottom + 1):
            for x in range(left - 1, right + 1):
                ring = y in (top - 1, bottom) or x in (left - 1, right)
                dx, dy = abs(x + 0.5 - side / 2), abs(y + 0.5 - side / 2)
                cross = (dx < bar / 2 - 1 and dy < arm / 2 - 1) or (dy < bar / 2 - 1 and dx < arm / 2 - 1)
                square = not (dx < bar / 2 + 1 and dy < arm / 2 + 1) and not (dy < bar / 2 + 1 and dx < arm / 2 + 1)
                if ring or cross:
                    assert pixels[x, y] == 255, (x, y)  # the white edge round the square, the white cross
                elif square:
                    assert pixels[x, y] == 0, (x, y)


@pytest.mark.parametrize("currency", ["CHF", "EUR"])
def test_a_swiss_qr_bills_text_for_each_amount_is_qrbills_own(currency):
    """The QR-bill's text is made once a page and each tip's amount put in its place: for every amount it
    equals what qrbill itself writes for a bill of that amount; an amount a QR-bill cannot carry is refused."""
    from paylink.money import major_string
    from paylink.pay_methods import Payer, PayMethod, offers, swiss_bill

    method = PayMethod(
        "swiss_qr",
        (
            ("iban", "CH9300762011623852957"),
            ("name", "Robert & Schneider AG"),
            ("address", "Rue du Lac 1268, 2501 Biel"),
        ),
    )
    payer = Payer(7, "<es>&")
    offer = offers(method, currency, payer)
    for minor in (1, 5, 99, 100, 4005, 123456, 99_999_999_999):
        code = offer(minor, major_string(minor, currency)).qr
        assert code == swiss_bill(dict(method.details), currency, minor, payer.rf).qr_data(), minor
    with pytest.raises(ValueError):
        offer(100_000_000_000, major_string(100_000_000_000, currency))


def test_the_pix_crc_is_crc16_ccitt_false():
    from paylink.pay_methods import crc16_ccitt

    assert crc16_ccitt(b"123456789") == 0x29B1  # the catalogued check value of CRC-16/CCITT-FALSE
