"""Getting paid (CONTRACT §8): ``[[pay]]`` settings, the reference, each method's payload on the built page,
the share texts and the printed statement.

Sites are made and changed with the real CLI; pages are read from build/ as the edge serves them. Each
payload is checked against its own standard here, independently of paylink's code: the EPC069-12 field
order, the Pix BR Code's EMV fields and CRC (``binascii.crc_hqx``), the UPI link's parameters.
(The QR codes themselves are decoded from Chromium in test_pay_browser.py.)
"""

import binascii
import json
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from bs4 import BeautifulSoup
from conftest import Paylink, make_site
from sitepages import dump, live_snapshot
from stdnum import iso11649

IBAN_DE = "DE89370400440532013000"
IBAN_CH = "CH9300762011623852957"

# One site per method: (currency, the [[pay]] table's lines).
METHODS = {
    "sepa": ("EUR", ['iban = "DE89 3704 0044 0532 0130 00"', 'name = "Müller & Söhne GmbH"', 'bic = "COBADEFFXXX"']),
    "swiss_qr": (
        "CHF",
        [f'iban = "{IBAN_CH}"', 'name = "Robert Schneider AG"', 'address = "Rue du Lac 1268, 2501 Biel"'],
    ),
    "upi": ("INR", ['vpa = "shop.owner@okaxis"', 'name = "Sharma Stores"']),
    "pix": ("BRL", ['key = "fulano@example.com"', 'name = "Padaria São João"', 'city = "São Paulo"']),
    "paypal": ("USD", ['handle = "testplumbing"']),
    "venmo": ("USD", ['handle = "@Test-Plumbing"']),
    "cashapp": ("USD", ['cashtag = "$TestPlumbing"']),
    "stripe": ("USD", ['url = "https://buy.stripe.com/test_4gw5nO"']),
    "link": (
        "USD",
        [
            'url = "https://pay.example.com/p?a={amount}&m={amount_minor}&c={currency}&r={reference}"',
            'label = "Example Pay"',
        ],
    ),
    "bank": ("USD", ['details = "First Bank, routing 011000015, account 123456789"']),
}
BALANCE = "40.05"
TIPS = (0, 18, 20, 25)


def totals(balance: str = BALANCE) -> dict[int, str]:
    """Balance plus each tip, rounded half-up to cents (CONTRACT §4), as plain decimals."""
    base = Decimal(balance)
    return {p: str(base + (base * p / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)) for p in TIPS}


def pay_site(root: Path, methods: list[str], currency: str, *, ref: str | None = "jane-1") -> tuple[Paylink, int]:
    """A site with these methods and one customer who owes BALANCE, with a live link."""
    site = make_site(root, "--currency", currency, "--email", "billing@example.com")
    with open(site / "paylink.toml", "a", encoding="utf-8") as settings:
        for method in methods:
            settings.write(f'\n[[pay]]\nmethod = "{method}"\n' + "\n".join(METHODS[method][1]) + "\n")
    paylink = Paylink(site)
    args = ["customer", "add", "Jane Doe", "--email", "jane@example.com"] + (["--ref", ref] if ref else [])
    customer_id = paylink.json(*args)["id"]
    paylink.ok("charge", str(customer_id), "30.00", "Call-out")
    paylink.ok("charge", str(customer_id), "10.05", "Drain repair")
    paylink.ok("link", "generate", str(customer_id))
    return paylink, customer_id


def page_of(paylink: Paylink, customer_id: int) -> BeautifulSoup:
    snapshot = live_snapshot(paylink.site, customer_id)
    return BeautifulSoup((paylink.site / "build" / "p" / snapshot).read_text(encoding="utf-8"), "html.parser")


def variants(page: BeautifulSoup, method: str) -> dict[int, BeautifulSoup]:
    option = page.select_one(f'#pay-options .pay-option[data-method="{method}"]')
    assert option is not None, method
    return {int(v["data-tip"]): v for v in option.select(".pay-variant")}


def epc_fields(payload: str) -> list[str]:
    """EPC069-12 version 002: LF-separated fields; trailing empty ones may be left out."""
    fields = payload.split("\n")
    return fields + [""] * (11 - len(fields))


def emv(payload: str) -> dict[str, str]:
    """An EMV merchant-presented QR payload as {tag: value} (two-digit tag, two-digit length)."""
    out, i = {}, 0
    while i < len(payload):
        tag, length = payload[i : i + 2], int(payload[i + 2 : i + 4])
        out[tag] = payload[i + 4 : i + 4 + length]
        i += 4 + length
    return out


# --- settings ---------------------------------------------------------------------------------------------


BAD = [
    (
        "sepa",
        "EUR",
        ['iban = "DE89370400440532013001"', 'name = "X"'],
        "iban 'DE89370400440532013001' is not a valid IBAN",
    ),
    ("sepa", "EUR", [f'iban = "{IBAN_DE}"', 'name = "X"', 'bic = "COBA"'], "bic 'COBA' is not a valid BIC"),
    ("sepa", "USD", [f'iban = "{IBAN_DE}"', 'name = "X"'], "sepa does not take USD"),
    ("sepa", "EUR", [f'iban = "{IBAN_DE}"'], "name is missing"),
    (
        "swiss_qr",
        "CHF",
        ['iban = "CH9300762011623852958"', 'name = "X"', 'address = "Rue 1, 2501 Biel"'],
        "is not a valid IBAN",
    ),
    ("swiss_qr", "CHF", [f'iban = "{IBAN_DE}"', 'name = "X"', 'address = "Rue 1, 2501 Biel"'], "is not from CH or LI"),
    ("swiss_qr", "CHF", [f'iban = "{IBAN_CH}"', 'name = "X"', 'address = "Biel"'], "address 'Biel' is not"),
    (
        "swiss_qr",
        "USD",
        [f'iban = "{IBAN_CH}"', 'name = "X"', 'address = "Rue 1, 2501 Biel"'],
        "swiss_qr does not take USD",
    ),
    ("upi", "INR", ['vpa = "not a vpa"', 'name = "X"'], "vpa 'not a vpa' is not a UPI address"),
    ("upi", "USD", ['vpa = "a@okaxis"', 'name = "X"'], "upi does not take USD"),
    ("pix", "BRL", ['key = "123.456.789-00"', 'name = "X"', 'city = "Rio"'], "is not a Pix key"),
    ("pix", "EUR", ['key = "a@example.com"', 'name = "X"', 'city = "Rio"'], "pix does not take EUR"),
    ("paypal", "USD", ['handle = "no spaces please"'], "cannot be a PayPal.me name"),
    ("paypal", "INR", ['handle = "shop"'], "paypal does not take INR"),
    ("venmo", "USD", ['handle = "ab"'], "cannot be a Venmo username"),
    ("venmo", "EUR", ['handle = "good-handle"'], "venmo does not take EUR"),
    ("cashapp", "USD", ['cashtag = "$12345"'], "cannot be a Cash App $Cashtag"),
    ("cashapp", "EUR", ['cashtag = "$shop"'], "cashapp does not take EUR"),
    ("stripe", "USD", ['url = "http://buy.stripe.com/x"'], "is not an https address"),
    ("link", "USD", ['url = "https://pay.example.com/{amount}/{nope}"', 'label = "X"'], "unknown placeholder {nope}"),
    ("link", "USD", ['url = "javascript:alert(1)"', 'label = "X"'], "is not an https address"),
    ("bank", "USD", ['details = ""'], "details is missing"),
    ("bank", "USD", ['details = "x"', 'colour = "red"'], "unknown setting 'colour'"),
]


@pytest.mark.parametrize(("method", "currency", "lines", "says"), BAD, ids=[f"{b[0]}-{b[3][:20]}" for b in BAD])
def test_a_bad_pay_setting_is_an_error_naming_the_table_and_nothing_is_written(tmp_path, method, currency, lines, says):
    site = make_site(tmp_path / "site", "--currency", currency)
    paylink = Paylink(site)
    before, build_before = dump(site), sorted(p.name for p in (site / "build").rglob("*"))
    with open(site / "paylink.toml", "a", encoding="utf-8") as settings:
        settings.write('\n[[pay]]\nmethod = "bank"\ndetails = "Cash at the counter"\n')
        settings.write(f'\n[[pay]]\nmethod = "{method}"\n' + "\n".join(lines) + "\n")
    for command in (["build"], ["customer", "add", "Jane"]):
        result = paylink.fails(*command)
        line = result.stderr.strip()
        assert f"[[pay]] 2 ({method}): " in line, line
        assert says in line, line
        assert " — " in line
    assert dump(site) == before
    assert sorted(p.name for p in (site / "build").rglob("*")) == build_before


def test_an_unknown_method_is_an_error(tmp_path):
    site = make_site(tmp_path / "site")
    with open(site / "paylink.toml", "a", encoding="utf-8") as settings:
        settings.write('\n[[pay]]\nmethod = "bitcoin"\naddress = "x"\n')
    line = Paylink(site).fails("build").stderr
    assert "[[pay]] 1: method 'bitcoin' is not one paylink knows — use one of sepa, swiss_qr" in line


def test_pay_settings_are_checked_again_when_the_file_changes_after_the_cache(tmp_path):
    paylink, _ = pay_site(tmp_path / "site", ["venmo"], "USD")
    paylink.ok("build")  # the settings cache now holds the valid file
    toml = paylink.site / "paylink.toml"
    toml.write_text(toml.read_text().replace("@Test-Plumbing", "x"), encoding="utf-8")
    assert "cannot be a Venmo username" in paylink.fails("build").stderr
    toml.write_text(toml.read_text().replace('handle = "x"', 'handle = "Good-Name"'), encoding="utf-8")
    paylink.ok("build")
    paylink.ok("build")  # from the cache: the same methods, the same page
    page = page_of(paylink, 1)
    assert "https://venmo.com/Good-Name?txn=pay&amount=40.05&note=jane-1" == variants(page, "venmo")[0].a["href"]


# --- the reference -------------------------------------------------------------------------------------------


def test_customer_show_gives_the_payment_reference(tmp_path):
    site = make_site(tmp_path / "site")
    paylink = Paylink(site)
    jane = paylink.json("customer", "add", "Jane", "--ref", "JANE-7")["id"]
    bob = paylink.json("customer", "add", "Bob")["id"]
    assert paylink.json("customer", "show", str(jane))["reference"] == "JANE-7"
    assert paylink.json("customer", "show", str(bob))["reference"] == f"C{bob}"
    assert f"Payment reference: C{bob}" in paylink.ok("customer", "show", str(bob)).stdout


# --- payloads on the page -------------------------------------------------------------------------------------


def test_sepa_girocode_payload_and_details(tmp_path):
    paylink, customer_id = pay_site(tmp_path / "site", ["sepa"], "EUR")
    page = page_of(paylink, customer_id)
    rf = paylink.json("customer", "show", str(customer_id))["reference"]
    assert rf == "jane-1"
    for percent, total in totals().items():
        variant = variants(page, "sepa")[percent]
        assert variant.select_one("img.pay-qr__code[alt]")["src"].startswith("data:image/png;base64,")
        assert f"€{total}" in variant.get_text()
    # The payload itself comes from the same function the page uses; its decoded QR is checked in Chromium.
    from paylink.pay_methods import PayMethod, epc_payload, qr_bytes

    method = PayMethod("sepa", (("iban", IBAN_DE), ("name", "Müller & Söhne GmbH"), ("bic", "COBADEFFXXX")))
    fields = epc_fields(epc_payload(method, 4005, "RF27JANE1"))
    # Character set 2 (ISO 8859-1) where the name allows; the QR code carries those bytes.
    assert fields[:8] == ["BCD", "002", "2", "SCT", "COBADEFFXXX", "Müller & Söhne GmbH", IBAN_DE, "EUR40.05"]
    assert fields[9] == "RF27JANE1" and iso11649.is_valid(fields[9]) and fields[10] == ""
    assert qr_bytes("sepa", epc_payload(method, 4005, "RF27JANE1")).split(b"\n")[5] == "Müller & Söhne GmbH".encode(
        "latin-1"
    )
    polish = PayMethod("sepa", (("iban", IBAN_DE), ("name", "Łódź Sp. z o.o.")))
    fields = epc_fields(epc_payload(polish, 100, "RF27JANE1"))
    assert fields[2] == "1" and fields[5] == "Łódź Sp. z o.o." and fields[4] == ""  # UTF-8, no BIC
    assert qr_bytes("sepa", epc_payload(polish, 100, "RF27JANE1")).split(b"\n")[5] == "Łódź Sp. z o.o.".encode()
    copy = [c.get_text() for c in page.select('.pay-option[data-method="sepa"] .pay-copy__text')]
    assert copy == ["Müller & Söhne GmbH", IBAN_DE, "COBADEFFXXX", "RF27JANE1"]


@pytest.mark.parametrize("method", ["paypal", "venmo", "cashapp", "stripe", "link"])
def test_each_link_carries_the_amount_for_each_tip_and_the_reference(tmp_path, method):
    paylink, customer_id = pay_site(tmp_path / "site", [method], "USD", ref="Jane Doe/7")
    page = page_of(paylink, customer_id)
    found = variants(page, method)
    assert sorted(found) == list(TIPS)
    for percent, total in totals().items():
        href = found[percent].a["href"]
        query = parse_qs(urlsplit(href).query)
        if method == "paypal":
            assert href == f"https://paypal.me/testplumbing/{total}USD"
        elif method == "venmo":
            assert href.startswith("https://venmo.com/Test-Plumbing?")
            assert query == {"txn": ["pay"], "amount": [total], "note": ["Jane Doe/7"]}
        elif method == "cashapp":
            assert href == f"https://cash.app/$TestPlumbing/{total}"
        elif method == "stripe":
            assert href.startswith("https://buy.stripe.com/test_4gw5nO?")
            assert query == {"client_reference_id": ["JANEDOE7"], "prefilled_email": ["jane@example.com"]}
            assert f"${Decimal(total):,}" in found[percent].get_text()  # which amount to enter
        else:
            assert urlsplit(href).netloc == "pay.example.com"
            cents = str(int(Decimal(total) * 100))
            assert query == {"a": [total], "m": [cents], "c": ["USD"], "r": ["Jane Doe/7"]}
            assert "Jane%20Doe%2F7" in href  # the placeholder's value is URL-encoded
        assert found[percent].a.get("rel") == ["noopener", "noreferrer"]
    assert page.select_one("#pay-notice") is None and page.select_one("form#payment-form") is None


def test_upi_link_has_the_specs_parameters(tmp_path):
    paylink, customer_id = pay_site(tmp_path / "site", ["upi"], "INR", ref=None)
    page = page_of(paylink, customer_id)
    for percent, total in totals().items():
        variant = variants(page, "upi")[percent]
        href = variant.a["href"]
        assert href.startswith("upi://pay?")
        assert parse_qs(urlsplit(href).query) == {
            "pa": ["shop.owner@okaxis"],
            "pn": ["Sharma Stores"],
            "am": [total],
            "cu": ["INR"],
            "tn": [f"C{customer_id}"],
        }
        assert variant.select_one("img.pay-qr__code[alt]")["src"].startswith("data:image/png;base64,")


def test_pix_copia_e_cola_is_a_valid_br_code_for_each_tip(tmp_path):
    paylink, customer_id = pay_site(tmp_path / "site", ["pix"], "BRL", ref="jane-1")
    page = page_of(paylink, customer_id)
    for percent, total in totals().items():
        code = variants(page, "pix")[percent].select_one(".pay-copy__text").get_text()
        assert code[-8:-4] == "6304"
        assert f"{binascii.crc_hqx(code[:-4].encode(), 0xFFFF):04X}" == code[-4:]  # CRC-16/CCITT-FALSE
        fields = emv(code)
        assert fields["00"] == "01" and fields["52"] == "0000" and fields["53"] == "986" and fields["58"] == "BR"
        assert emv(fields["26"]) == {"00": "br.gov.bcb.pix", "01": "fulano@example.com"}
        assert fields["54"] == total
        assert fields["59"] == "Padaria Sao Joao" and fields["60"] == "Sao Paulo"
        assert emv(fields["62"]) == {"05": "JANE1"}


def test_swiss_qr_bill_carries_amount_and_scor_reference(tmp_path):
    paylink, customer_id = pay_site(tmp_path / "site", ["swiss_qr"], "CHF")
    page = page_of(paylink, customer_id)
    copy = [c.get_text() for c in page.select('.pay-option[data-method="swiss_qr"] .pay-copy__text')]
    assert copy == ["Robert Schneider AG", IBAN_CH, "RF27JANE1"]
    assert len(variants(page, "swiss_qr")) == 4
    from paylink.pay_methods import swiss_bill

    details = {"iban": IBAN_CH, "name": "Robert Schneider AG", "address": "Rue du Lac 1268, 2501 Biel"}
    lines = swiss_bill(details, "CHF", 4726, "RF27JANE1").qr_data().split("\r\n")
    assert lines[:4] == ["SPC", "0200", "1", IBAN_CH]
    assert lines[18:20] == ["47.26", "CHF"]
    assert lines[27:29] == ["SCOR", "RF27JANE1"] and lines[-1] == "EPD"


def test_bank_details_and_reference_to_copy(tmp_path):
    paylink, customer_id = pay_site(tmp_path / "site", ["bank"], "USD")
    page = page_of(paylink, customer_id)
    for percent, total in totals().items():
        assert f"${total}" in variants(page, "bank")[percent].get_text()
    copy = [c.get_text() for c in page.select('.pay-option[data-method="bank"] .pay-copy__text')]
    assert copy == ["First Bank, routing 011000015, account 123456789", "jane-1"]


def test_options_follow_the_settings_order_and_zero_or_credit_pages_have_none(tmp_path):
    paylink, customer_id = pay_site(tmp_path / "site", ["venmo", "bank", "paypal"], "USD")
    page = page_of(paylink, customer_id)
    assert [o["data-method"] for o in page.select("#pay-options .pay-option")] == ["venmo", "bank", "paypal"]
    assert [r["value"] for r in page.select("input[type=radio][name=tip]")] == ["0", "18", "20", "25"]
    assert page.select_one("#total").get_text() == "$40.05"
    paylink.ok("credit", str(customer_id), "40.05", "Paid")
    page = page_of(paylink, customer_id)
    assert page.select_one("main")["data-state"] == "zero"
    assert page.select_one("#pay-options") is None and page.select_one("#pay-notice") is None


def test_a_site_without_pay_keeps_its_page_and_assets(tmp_path):
    plain = make_site(tmp_path / "plain")
    paylink = Paylink(plain)
    customer_id = paylink.json("customer", "add", "Jane")["id"]
    paylink.ok("charge", str(customer_id), "40.05", "Work")
    paylink.ok("link", "generate", str(customer_id))
    page = page_of(paylink, customer_id)
    assert page.select_one("#pay-notice") is not None and page.select_one("#pay-options") is None
    assert not any(p.name.startswith("pay.") for p in (plain / "build" / "assets").iterdir())


def test_customer_text_is_escaped_in_the_options(tmp_path):
    site = make_site(tmp_path / "site")
    with open(site / "paylink.toml", "a", encoding="utf-8") as settings:
        settings.write('\n[[pay]]\nmethod = "bank"\ndetails = "<script>alert(1)</script> & co"\n')
    paylink = Paylink(site)
    customer_id = paylink.json("customer", "add", "Jane", "--ref", "<b>x</b>")["id"]
    paylink.ok("charge", str(customer_id), "5", "Work")
    paylink.ok("link", "generate", str(customer_id))
    html = (site / "build" / "p" / live_snapshot(site, customer_id)).read_text(encoding="utf-8")
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in html
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html


# --- share and statement ---------------------------------------------------------------------------------------


def test_share_text_and_email_name_each_method_with_the_amount(tmp_path):
    paylink, customer_id = pay_site(tmp_path / "site", ["venmo", "bank"], "USD")
    shared = paylink.json("link", "share", str(customer_id))
    venmo = "Pay by Venmo: https://venmo.com/Test-Plumbing?txn=pay&amount=40.05&note=jane-1"
    bank = "Pay by bank transfer: 40.05 USD to First Bank, routing 011000015, account 123456789, reference jane-1"
    for text in (shared["sms"], shared["email_body"]):
        assert venmo in text.splitlines() and bank in text.splitlines()


def test_spanish_share_text_names_the_methods_in_spanish(tmp_path):
    paylink, customer_id = pay_site(tmp_path / "site", ["paypal", "bank"], "USD")
    paylink.ok("customer", "edit", str(customer_id), "--language", "es")
    sms = paylink.json("link", "share", str(customer_id))["sms"]
    assert "Pague con PayPal: https://paypal.me/testplumbing/40.05USD" in sms.splitlines()
    assert any(line.startswith("Pague con transferencia bancaria: 40.05 USD a First Bank") for line in sms.splitlines())


def test_statement_prints_the_methods_for_the_closing_balance(tmp_path):
    paylink, customer_id = pay_site(tmp_path / "site", ["sepa", "paypal"], "EUR")
    target = tmp_path / "statement.html"
    paylink.ok("statement", str(customer_id), "--html", str(target))
    page = BeautifulSoup(target.read_text(encoding="utf-8"), "html.parser")
    methods = page.select("#pay-methods .pay-method")
    assert [m["data-method"] for m in methods] == ["sepa", "paypal"]
    code = methods[0].select_one("img.pay-qr__code")
    assert code["src"].startswith("data:image/png;base64,") and "RF27JANE1" in methods[0].get_text()
    assert methods[1].a["href"] == "https://paypal.me/testplumbing/40.05EUR"
    assert json.dumps(page.get_text()).count("<script") == 0
