"""The ``[[pay]]`` options in Chromium (CONTRACT §4 and §8): each QR code, decoded from a screenshot with
zxing-cpp, is exactly its standard's payload for the chosen tip and the customer's reference; choosing a tip
changes every option's amount with JavaScript and without; the first option is on the first phone screen;
nothing scrolls sideways at 320 px; one printed sheet with the QR codes and no tip choices; axe finds nothing.

Sites are built with the real CLI and served by the real edge (its CSP included) on 127.0.0.1.
"""

import binascii
import io
import os
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import Paylink
from edgeserver import start_edge
from paylink.tokens import parse_keys
from stdnum import iso11649
from test_page_browser import AXE, AXE_RUN, CHROMIUM, CHROMIUM_ARGS, LINES_OF, Tabs, _pages_in
from test_pay import IBAN_CH, IBAN_DE, emv, epc_fields, pay_site, totals

pytestmark = pytest.mark.browser

# The sites: currency and methods (each QR method at least once).
SITES = {
    "eur": ("EUR", ["sepa", "swiss_qr", "paypal", "bank"]),
    "inr": ("INR", ["upi"]),
    "brl": ("BRL", ["pix"]),
    "usd": ("USD", ["venmo", "cashapp", "stripe", "link"]),
}
QR_SITE = {"sepa": "eur", "swiss_qr": "eur", "upi": "inr", "pix": "brl"}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """{site: (origin, page path of the customer who owes 40.05, of one with 26 entries)}, each behind its own edge."""
    edges, out = [], {}
    try:
        for key, (currency, methods) in SITES.items():
            root = tmp_path_factory.mktemp(f"pay-{key}") / "site"
            paylink, customer_id = pay_site(root, methods, currency)
            many = _many_entries(paylink)
            paths = {
                name: urlsplit(paylink.json("link", "show", str(cid))["url"]).path
                for name, cid in (("owes", customer_id), ("many", many))
            }
            keys = parse_keys((root / "paylink.key").read_text(encoding="utf-8"))
            edge = start_edge(root / "build", keys, tmp_path_factory.mktemp(f"edge-{key}") / "edge.log")
            edges.append(edge)
            out[key] = (edge.origin, paths)
        yield out
    finally:
        for edge in edges:
            edge.stop()


def _many_entries(paylink: Paylink) -> int:
    customer_id = paylink.json("customer", "add", "Manny Many", "--ref", "MANNY")["id"]
    for i in range(1, 27):
        kind = "credit" if i % 6 == 0 else "charge"
        paylink.ok(
            kind, str(customer_id), f"{i * 3}.45", f"Monthly maintenance visit {i:02d}", "--date", f"2025-01-{i:02d}"
        )
    paylink.ok("link", "generate", str(customer_id))
    return customer_id


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def tabs(browser) -> Tabs:
    """One reused Chromium page per set of context options (see test_page_browser.Tabs)."""
    return Tabs(browser)


def visible_variant(page, method: str):
    variant = page.locator(f'.pay-option[data-method="{method}"] .pay-variant:visible')
    assert variant.count() == 1, f"{variant.count()} visible variants of {method}"
    return variant


def decode_qr(locator, *, sharp: bool = False) -> list[str]:
    """The QR codes in a screenshot of ``locator``, decoded; ``sharp``: also check that it is drawn
    without smoothing (each module a block of black or white, hardly a grey pixel between)."""
    import zxingcpp
    from PIL import Image

    image = Image.open(io.BytesIO(locator.screenshot()))
    if sharp:
        grey = image.convert("L").histogram()
        assert sum(grey[48:208]) <= 0.01 * sum(grey), "the QR code is smoothed, not drawn module by module"
    return [_text(barcode.bytes) for barcode in zxingcpp.read_barcodes(image)]


def _text(data: bytes) -> str:
    """The payload as its standard says to read its bytes: an EPC code by its character set field
    (2: ISO 8859-1, 1: UTF-8), everything else as UTF-8 (Swiss QR-bill) or ASCII (UPI, Pix)."""
    if data.startswith(b"BCD\n002\n2\n"):
        return data.decode("iso-8859-1")
    return data.decode("utf-8")


def check_payload(method: str, payload: str, total: str) -> None:
    """The payload as its standard defines it, for ``total`` and the customer's reference (ref jane-1)."""
    if method == "sepa":
        fields = epc_fields(payload)
        assert fields[:7] == ["BCD", "002", "2", "SCT", "COBADEFFXXX", "Müller & Söhne GmbH", IBAN_DE]
        assert fields[7] == f"EUR{total}" and fields[8] == ""
        assert fields[9] == "RF27JANE1" and iso11649.is_valid(fields[9]) and fields[10] == ""
    elif method == "swiss_qr":
        lines = payload.split("\r\n") if "\r\n" in payload else payload.split("\n")
        assert lines[:4] == ["SPC", "0200", "1", IBAN_CH]
        assert lines[4:11] == ["S", "Robert Schneider AG", "Rue du Lac 1268", "", "2501", "Biel", "CH"]
        assert lines[18:20] == [total, "EUR"]
        assert lines[27:29] == ["SCOR", "RF27JANE1"] and lines[30] == "EPD"
    elif method == "upi":
        assert payload.startswith("upi://pay?")
        assert parse_qs(urlsplit(payload).query) == {
            "pa": ["shop.owner@okaxis"],
            "pn": ["Sharma Stores"],
            "am": [total],
            "cu": ["INR"],
            "tn": ["jane-1"],
        }
    else:  # pix
        assert f"{binascii.crc_hqx(payload[:-4].encode(), 0xFFFF):04X}" == payload[-4:]
        fields = emv(payload)
        assert emv(fields["26"]) == {"00": "br.gov.bcb.pix", "01": "fulano@example.com"}
        assert fields["53"] == "986" and fields["54"] == total and emv(fields["62"]) == {"05": "JANE1"}


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "nojs"])
@pytest.mark.parametrize("method", ["sepa", "swiss_qr", "upi", "pix"])
def test_each_qr_code_decodes_to_the_standard_payload_for_each_tip(tabs, served, method, javascript):
    origin, paths = served[QR_SITE[method]]
    page, errors = tabs.open(origin + paths["owes"], java_script_enabled=javascript)
    for percent in (18, 0, 25, 20):
        page.locator(f'label[for="tip-{percent}"]').click()
        assert page.locator(f"#tip-{percent}").is_checked()
        code = visible_variant(page, method).locator("img.pay-qr__code")
        code.scroll_into_view_if_needed()
        decoded = decode_qr(code, sharp=True)
        assert len(decoded) == 1, decoded
        check_payload(method, decoded[0], totals()[percent])
    assert errors == []


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "nojs"])
def test_choosing_a_tip_changes_every_links_amount(tabs, served, javascript):
    origin, paths = served["usd"]
    page, errors = tabs.open(origin + paths["owes"], java_script_enabled=javascript)
    for percent in (20, 0, 25, 18):
        total = totals()[percent]
        page.locator(f'label[for="tip-{percent}"]').click()
        assert page.locator(f"#tip-{percent}").is_checked()
        venmo = visible_variant(page, "venmo").locator("a").get_attribute("href")
        assert parse_qs(urlsplit(venmo).query)["amount"] == [total]
        assert visible_variant(page, "cashapp").locator("a").get_attribute("href").endswith(f"/{total}")
        assert f"${total}" in visible_variant(page, "stripe").inner_text()
        assert f"a={total}&" in visible_variant(page, "link").locator("a").get_attribute("href")
        if javascript:
            page.wait_for_function(
                "want => document.getElementById('total').textContent === want", arg=f"${total}", timeout=2000
            )
    assert errors == []


def test_copy_buttons_copy_with_javascript_and_text_is_selectable_without(tabs, served):
    origin, paths = served["eur"]
    page, errors = tabs.open(origin + paths["owes"], permissions=["clipboard-read", "clipboard-write"])
    button = page.locator('.pay-option[data-method="sepa"] .pay-copy__button').nth(1)
    assert button.is_visible()
    button.click()
    assert page.evaluate("navigator.clipboard.readText()") == IBAN_DE
    assert errors == []
    page, _ = tabs.open(origin + paths["owes"], java_script_enabled=False)
    assert not page.locator(".pay-copy__button").first.is_visible()
    assert page.locator('.pay-option[data-method="sepa"] .pay-copy__text').nth(1).inner_text() == IBAN_DE


@pytest.mark.parametrize("site", list(SITES))
def test_first_option_is_on_the_first_phone_screen(tabs, served, site):
    origin, paths = served[site]
    page, _ = tabs.open(origin + paths["owes"])
    assert page.locator("#pay-notice").count() == 0 and page.locator("#payment-form").count() == 0
    first = page.locator("#pay-options .pay-option").first.bounding_box()
    assert first is not None and 0 <= first["y"] < 844, first


@pytest.mark.parametrize("width", [320, 390])
@pytest.mark.parametrize("site", list(SITES))
def test_nothing_breaks_or_scrolls_sideways(tabs, served, site, width):
    origin, paths = served[site]
    page, errors = tabs.open(origin + paths["owes"], width=width)
    page.locator('label[for="tip-25"]').click()
    measured = page.evaluate(LINES_OF, "#balance, #total, .tip__amount, .pay-variant__amount")
    assert [text for text, lines in measured if lines != 1] == []
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert page.evaluate("[...document.querySelectorAll('.pay-option')].every(e => e.scrollWidth <= e.clientWidth)")
    assert errors == []


@pytest.mark.parametrize("paper", ["Letter", "A4"])
@pytest.mark.parametrize("who", ["owes", "many"])
def test_prints_on_one_sheet_with_the_qr_codes_and_no_tips(tabs, served, paper, who):
    origin, paths = served["eur"]
    # Drawn 4 device pixels a CSS pixel, about a printer's 300 dpi: the 18 mm codes must come out sharp.
    page, _ = tabs.open(origin + paths[who], width=1280, device_scale_factor=4)
    page.locator('label[for="tip-20"]').click()  # paper shows the balance whatever was chosen
    page.emulate_media(media="print")
    assert not page.locator("input[name=tip]").first.is_visible()
    for method in ("sepa", "swiss_qr"):
        variant = visible_variant(page, method)
        assert variant.get_attribute("data-tip") == "0"
        code = variant.locator("img.pay-qr__code")
        assert code.is_visible()
        if who == "owes":
            decoded = decode_qr(code, sharp=True)
            assert len(decoded) == 1, decoded
            check_payload(method, decoded[0], totals()[0])
    assert _pages_in(page.pdf(format=paper)) == 1


@pytest.mark.parametrize("method", ["sepa", "swiss_qr"])
def test_the_statements_qr_codes_print_sharp_and_decode(tabs, tmp_path, method):
    """``statement --html``, opened as the file it is and printed: each bank QR code (30 mm) decodes to its
    standard's payload for the closing balance, at about a printer's resolution."""
    paylink, customer_id = pay_site(tmp_path / "site", [method, "paypal"], "EUR")
    target = tmp_path / "statement.html"
    paylink.ok("statement", str(customer_id), "--html", str(target))
    page, errors = tabs.open(target.as_uri(), width=1280, device_scale_factor=4)
    page.emulate_media(media="print")
    code = page.locator(f'#pay-methods .pay-method[data-method="{method}"] img.pay-qr__code')
    assert code.is_visible()
    decoded = decode_qr(code, sharp=True)
    assert len(decoded) == 1, decoded
    check_payload(method, decoded[0], totals()[0])
    assert _pages_in(page.pdf(format="A4")) == 1 and errors == []


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("site", list(SITES))
def test_axe_finds_no_violations(tabs, served, site, scheme):
    origin, paths = served[site]
    page, _ = tabs.open(origin + paths["owes"], scheme=scheme, bypass_csp=True)
    page.locator('label[for="tip-18"]').click()
    page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    assert page.evaluate(AXE_RUN) == []


def test_screenshot(tabs, served, tmp_path):
    """The README's screenshot (docs/screenshots/pay-eur-390-light.png came from here with $PAYLINK_SCREENSHOTS)."""
    keep = Path(os.environ["PAYLINK_SCREENSHOTS"]) if os.environ.get("PAYLINK_SCREENSHOTS") else tmp_path
    keep.mkdir(parents=True, exist_ok=True)
    origin, paths = served["eur"]
    page, errors = tabs.open(origin + paths["owes"])
    page.locator('label[for="tip-18"]').click()
    shot = keep / "pay-eur-390-light.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes().startswith(b"\x89PNG") and errors == []
