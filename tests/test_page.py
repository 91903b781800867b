"""The customer page (CONTRACT §4): what each state shows, its hooks, its safety and its formatting.

Pages are built by the real CLI into a real site and read back from build/p,
found through the ledger's ``links`` table, and parsed with BeautifulSoup.
"""

import datetime as dt
import json
import re
from contextlib import closing
from decimal import Decimal
from pathlib import Path

import pytest
from babel.numbers import format_currency
from conftest import Paylink, make_site
from sitepages import build_files, half_up, insert_entry, ledger, parse, read_page, snapshot_path, text_of

TIP_PERCENTS = ["0", "18", "20", "25"]


def usd(amount: str) -> str:
    return format_currency(Decimal(amount), "USD", locale="en_US")


def add_customer(paylink: Paylink, name: str, *entries: tuple[str, str, str, str], link: bool = True) -> int:
    """Add a customer, post (kind, amount, description, date) entries, give them a link; return the id."""
    customer_id = paylink.json("customer", "add", name)["id"]
    for kind, amount, description, date in entries:
        paylink.ok(kind, str(customer_id), amount, description, "--date", date)
    if link:
        paylink.ok("link", "generate", str(customer_id))
    return customer_id


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> dict:
    """One site (USD, en_US, UTC, with phone and email) with a customer in every state."""
    root = make_site(
        tmp_path_factory.mktemp("page") / "site", "--phone", "(555) 010-0100", "--email", "billing@example.com"
    )
    paylink = Paylink(root)
    ids = {
        "outstanding": add_customer(paylink, "Olive Owens", ("charge", "10.05", "Drain repair", "2025-03-01")),
        "zero": add_customer(
            paylink,
            "Zed Zimmer",
            ("charge", "40.00", "Boiler check", "2025-03-02"),
            ("credit", "40.00", "Paid in cash", "2025-03-03"),
        ),
        "credit": add_customer(
            paylink,
            "Cora Cole",
            ("charge", "20.00", "Tap washer", "2025-03-01"),
            ("credit", "27.25", "Overpayment", "2025-03-04"),
        ),
        "half": add_customer(paylink, "Hal Hart", ("charge", "10.10", "Valve", "2025-03-01")),
        "fresh": add_customer(paylink, "Fern Fresh"),
    }
    # 25 entries in one import; every fifth is a credit.
    many = paylink.json("customer", "add", "Manny Many")["id"]
    lines = ["customer,kind,amount,description,date"]
    for i in range(1, 26):
        kind = "credit" if i % 5 == 0 else "charge"
        lines.append(f"{many},{kind},{i}.50,Visit {i:02d},2025-01-{i:02d}")
    csv = root.parent / "many.csv"
    csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert paylink.json("import", "entries", str(csv)) == {"imported": 25, "skipped": 0}
    paylink.ok("link", "generate", str(many))
    ids["many"] = many
    return {"root": root, "ids": ids}


def page_of(shop: dict, key: str):
    return read_page(shop["root"], shop["ids"][key])


# --- each state ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "state", "balance"),
    [("outstanding", "outstanding", "$10.05"), ("zero", "zero", "$0.00"), ("credit", "credit", "$7.25")],
)
def test_main_carries_the_state_and_balance_is_the_formatted_amount(shop, key, state, balance):
    soup = page_of(shop, key)
    mains = soup.select("main")
    assert len(mains) == 1 and mains[0]["data-state"] == state
    assert text_of(soup, "#balance") == balance


def test_zero_balance_shows_success_and_no_payment(shop):
    soup = page_of(shop, "zero")
    main_text = " ".join(soup.main.get_text().split()).lower()
    assert "nothing is owed" in main_text
    assert soup.select("input[name=tip]") == []
    assert soup.select("form#payment-form") == []
    assert soup.select("form") == []


def test_credit_names_the_credit_and_shows_no_payment(shop):
    soup = page_of(shop, "credit")
    balance = soup.select_one("#balance")
    sentence = " ".join(balance.find_parent(["h1", "h2", "p"]).get_text().split())
    assert "credit" in sentence.lower() and "$7.25" in sentence, sentence
    assert "-" not in balance.get_text() and "\u2212" not in balance.get_text()
    assert soup.select("input[name=tip]") == []
    assert soup.select("form#payment-form") == []


def test_customer_with_no_entries_has_zero_balance_and_empty_table(shop):
    soup = page_of(shop, "fresh")
    assert soup.main["data-state"] == "zero"
    assert text_of(soup, "#balance") == "$0.00"
    assert soup.select("details#recent-charges tbody tr") == []


def test_outstanding_offers_tips_with_half_up_amounts(shop):
    soup = page_of(shop, "outstanding")
    radios = soup.select("input[type=radio][name=tip]")
    assert [r["value"] for r in radios] == TIP_PERCENTS
    assert [r.has_attr("checked") for r in radios] == [True, False, False, False]
    # 10.05 x 18% = 1.809 -> 1.81; x 20% = 2.01; x 25% = 2.5125 -> 2.51
    assert [int(r["data-total-minor"]) for r in radios] == [1005, 1186, 1206, 1256]
    for radio in radios:
        tip = half_up(1005, int(radio["value"]))
        assert int(radio["data-total-minor"]) == 1005 + tip
        label = soup.select_one(f'label[for="{radio["id"]}"]')
        assert usd(str(Decimal(tip) / 100)) in label.get_text(), label
    assert text_of(soup, "#total") == "$10.05"


def test_tip_rounds_half_up_not_to_even(shop):
    """10.10 x 25% = 2.525: half-up gives 2.53 where banker's rounding would give 2.52."""
    soup = page_of(shop, "half")
    radio = soup.select_one("input[name=tip][value='25']")
    assert int(radio["data-total-minor"]) == 1010 + 253
    assert "$2.53" in soup.select_one(f'label[for="{radio["id"]}"]').get_text()
    for r in soup.select("input[name=tip]"):
        assert int(r["data-total-minor"]) == 1010 + half_up(1010, int(r["value"]))


def test_payment_form_has_unchecked_consents_disabled_submit_and_coming_soon(shop):
    soup = page_of(shop, "outstanding")
    forms = soup.select("form#payment-form")
    assert len(forms) == 1
    form = forms[0]
    save = form.select("input[type=checkbox][name=save_card]")
    sms = form.select("input[type=checkbox][name=sms_consent]")
    assert len(save) == 1 and len(sms) == 1
    assert not save[0].has_attr("checked") and not sms[0].has_attr("checked")
    save_label = " ".join(form.select_one(f'label[for="{save[0]["id"]}"]').get_text().split())
    assert save_label == "Save card for future payments"
    consent = " ".join(form.select_one(f'label[for="{sms[0]["id"]}"]').get_text().split())
    assert "Test Plumbing" in consent
    assert "STOP" in consent
    assert "message and data rates" in consent.lower()
    submits = form.select("button[type=submit], input[type=submit]")
    assert len(submits) == 1 and submits[0].has_attr("disabled")
    assert "coming soon" in form.get_text().lower()


def test_recent_charges_lists_last_twenty_newest_first_with_signed_amounts(shop):
    soup = page_of(shop, "many")
    details = soup.select("details#recent-charges")
    assert len(details) == 1
    assert details[0].summary.get_text().strip() == "View recent charges"
    rows = details[0].select("tbody tr")
    assert len(rows) == 20
    expected = []
    for i in range(25, 5, -1):
        sign = "-" if i % 5 == 0 else ""
        expected.append((f"2025-01-{i:02d}", f"Jan {i}, 2025", f"Visit {i:02d}", usd(f"{sign}{i}.50")))
    seen = []
    for row in rows:
        cells = row.select("td")
        assert len(cells) == 3
        seen.append((cells[0].time["datetime"], *(c.get_text().strip() for c in cells)))
    assert seen == expected
    assert seen[0][3] == "-$25.50"  # a credit shows a minus


def test_credit_row_shows_a_minus(shop):
    rows = page_of(shop, "credit").select("details#recent-charges tbody tr")
    assert [[c.get_text().strip() for c in r.select("td")][1:] for r in rows] == [
        ["Overpayment", "-$27.25"],
        ["Tap washer", "$20.00"],
    ]


@pytest.mark.parametrize("key", ["outstanding", "zero", "credit"])
def test_privacy_note_and_meta(shop, key):
    soup = page_of(shop, key)
    assert "anyone with this link" in soup.get_text().lower()
    assert len(soup.select('meta[name="robots"][content="noindex"]')) == 1
    assert len(soup.select('meta[name="referrer"][content="no-referrer"]')) == 1
    assert soup.html["lang"] == "en-US"
    assert soup.select("header") and soup.select("footer")


@pytest.mark.parametrize("key", ["outstanding", "zero", "credit", "many"])
def test_no_inline_script_style_or_handlers(shop, key):
    html = snapshot_path(shop["root"], shop["ids"][key]).read_text(encoding="utf-8")
    soup = parse(html)
    for script in soup.find_all("script"):
        assert script.get("src"), "a script without src"
        assert not script.get_text().strip(), "an inline script body"
    assert soup.find_all("style") == []
    for tag in soup.find_all(True):
        assert "style" not in tag.attrs, tag
        assert not [a for a in tag.attrs if a.lower().startswith("on")], tag
    assert "javascript:" not in html.lower()


def _references(soup) -> list[str]:
    return [
        tag[attr]
        for tag in soup.find_all(True)
        for attr in ("src", "href", "action", "formaction")
        if tag.has_attr(attr)
    ]


@pytest.mark.parametrize("key", ["outstanding", "zero", "credit"])
def test_every_reference_is_same_origin_and_exists(shop, key):
    root = shop["root"]
    soup = page_of(shop, key)
    refs = _references(soup)
    assert any(r.startswith("/assets/") for r in refs)
    assert "tel:5550100100" in refs and "mailto:billing@example.com" in refs
    for ref in refs:
        if ref.startswith(("tel:", "mailto:")):
            continue
        assert ref.startswith("/") and not ref.startswith("//"), ref
        assert (root / "build" / ref.lstrip("/")).is_file(), f"{ref} is not in build/"


@pytest.mark.parametrize("name", ["404.html", "410.html"])
def test_error_pages_are_same_origin_and_noindex(shop, name):
    root = shop["root"]
    soup = parse((root / "build" / name).read_text(encoding="utf-8"))
    assert len(soup.select('meta[name="robots"][content="noindex"]')) == 1
    assert "Test Plumbing" in soup.get_text()
    for ref in _references(soup):
        if not ref.startswith(("tel:", "mailto:")):
            assert ref.startswith("/") and not ref.startswith("//") and (root / "build" / ref.lstrip("/")).is_file(), (
                ref
            )


def test_every_input_has_a_label(shop):
    soup = page_of(shop, "outstanding")
    for field in soup.select("input, select, textarea"):
        assert field.get("id") and soup.select_one(f'label[for="{field["id"]}"]'), field


# --- time zone -------------------------------------------------------------------


def test_as_of_and_dates_are_in_the_sites_time_zone(tmp_path):
    root = make_site(tmp_path / "ny", "--timezone", "America/New_York")
    paylink = Paylink(root)
    winter = add_customer(paylink, "Winnie", ("charge", "5.00", "Winter job", "2025-01-15"))
    summer = add_customer(paylink, "Sunny", ("charge", "5.00", "Summer job", "2025-07-15"))
    # 03:30 UTC on the 16th is 22:30 on the 15th in New York.
    insert_entry(root, winter, 100, "Late call", posted_at="2025-01-16T03:30:00Z")
    paylink.ok("build")

    soup = read_page(root, winter)
    as_of = soup.select_one("#as-of time")
    assert as_of["datetime"] == "2025-01-15T22:30:00-05:00"
    assert as_of.get_text() == "Jan 15, 2025, 10:30\u202fPM EST"
    first = soup.select_one("details#recent-charges tbody tr td time")
    assert (first["datetime"], first.get_text()) == ("2025-01-15", "Jan 15, 2025")

    soup = read_page(root, summer)
    as_of = soup.select_one("#as-of time")
    assert as_of["datetime"] == "2025-07-15T12:00:00-04:00"
    assert as_of.get_text() == "Jul 15, 2025, 12:00\u202fPM EDT"


def test_newest_first_and_as_of_follow_time_not_text(site, paylink):
    customer_id = add_customer(paylink, "Tess")
    insert_entry(site, customer_id, 100, "Morning", posted_at="2025-01-15T10:00:00Z")
    insert_entry(site, customer_id, 200, "Noon", posted_at="2025-01-15 12:00:00")  # datetime('now') writes this form
    paylink.ok("build")
    soup = read_page(site, customer_id)
    assert [r.select("td")[1].get_text() for r in soup.select("details#recent-charges tbody tr")] == ["Noon", "Morning"]
    assert soup.select_one("#as-of time")["datetime"] == "2025-01-15T12:00:00+00:00"


# --- hostile text ------------------------------------------------------------------

HOSTILE = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "' onmouseover='x",
    "{{7*7}}",
    "</textarea><b>bold</b>",
    "abc\u202edcba.exe",
]
HOSTILE_BUSINESS = '<script>alert(1)</script> "Bob\'s" & <i>Sons</i>'


def _assert_only_text(html: str, soup, literals: list[str]) -> None:
    text = soup.get_text()
    for literal in literals:
        assert literal in text, f"{literal!r} is not shown as text"
    assert "<script>alert" not in html
    assert "<img" not in html and "<b>" not in html and "<i>" not in html and "</textarea>" not in html
    assert soup.find_all(["img", "b", "i", "textarea"]) == []
    for script in soup.find_all("script"):
        assert script.get("src", "").startswith("/assets/") and not script.get_text().strip()
    for tag in soup.find_all(True):
        assert not [a for a in tag.attrs if a.lower().startswith("on")], tag


def test_hostile_names_and_descriptions_are_only_text(tmp_path):
    root = make_site(tmp_path / "hostile", "--name", HOSTILE_BUSINESS)
    paylink = Paylink(root)
    for i, name in enumerate(HOSTILE):
        description = HOSTILE[(i + 1) % len(HOSTILE)]
        customer_id = add_customer(paylink, name, ("charge", "12.00", description, "2025-02-01"))
        path = snapshot_path(root, customer_id)
        html = path.read_text(encoding="utf-8")
        soup = parse(html)
        _assert_only_text(html, soup, [name, description, HOSTILE_BUSINESS])
        assert soup.title.get_text().startswith(HOSTILE_BUSINESS)
        consent = soup.select_one(f'label[for="{soup.select_one("input[name=sms_consent]")["id"]}"]')
        assert HOSTILE_BUSINESS in consent.get_text()
    for name in ("404.html", "410.html"):
        html = (root / "build" / name).read_text(encoding="utf-8")
        _assert_only_text(html, parse(html), [HOSTILE_BUSINESS])


# --- locale ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "currency", "amount", "shown", "lang", "tip25_minor"),
    [
        ("en_US", "USD", "1234.50", "$1,234.50", "en-US", 30863),  # 308.625 -> 308.63
        # paylink has no German pages: the words are English, money is written for English in Germany.
        ("de_DE", "EUR", "1234.50", "1.234,50\u00a0€", "en-DE", 30863),
        ("ja_JP", "JPY", "1250", "¥1,250", "en-JP", 313),  # 312.5 -> 313
    ],
)
def test_money_is_formatted_for_the_locale(tmp_path, locale, currency, amount, shown, lang, tip25_minor):
    assert format_currency(Decimal(amount), currency, locale=lang.replace("-", "_")) == shown
    root = make_site(tmp_path / locale, "--currency", currency, "--locale", locale)
    paylink = Paylink(root)
    customer_id = add_customer(paylink, "Lou", ("charge", amount, "Work", "2025-01-15"))
    soup = read_page(root, customer_id)
    assert soup.html["lang"] == lang
    assert text_of(soup, "#balance") == shown
    assert text_of(soup, "#total") == shown
    tip = soup.select_one("input[name=tip][value='25']")
    balance_minor = int(tip["data-total-minor"]) - tip25_minor
    assert str(Decimal(balance_minor).scaleb(-len(amount.partition(".")[2]))) == amount
    tip_text = format_currency(
        Decimal(tip25_minor).scaleb(-len(amount.partition(".")[2])), currency, locale=lang.replace("-", "_")
    )
    assert tip_text in soup.select_one(f'label[for="{tip["id"]}"]').get_text()
    row_amount = soup.select_one(
        "details#recent-charges tbody tr td.amount, details#recent-charges tbody tr td:last-child"
    )
    assert row_amount.get_text().strip() == shown


# --- determinism -----------------------------------------------------------------


def _same_ledger(root: Path) -> list[int]:
    paylink = Paylink(root)
    return [
        add_customer(paylink, "Ann", ("charge", "10.05", "Repair", "2025-01-10")),
        add_customer(
            paylink, "Ben", ("charge", "4.00", "Part", "2025-01-11"), ("credit", "4.00", "Cash", "2025-01-12")
        ),
        add_customer(paylink, "Cat", ("credit", "3.00", "Refund", "2025-01-13")),
    ]


def test_full_build_twice_is_byte_identical(shop):
    paylink = Paylink(shop["root"])
    paylink.ok("build", "--full")
    first = build_files(shop["root"])
    assert paylink.json("build", "--full")["written"] == len(shop["ids"])
    assert build_files(shop["root"]) == first


def test_two_sites_with_the_same_ledger_build_the_same_bytes(tmp_path):
    one, two = make_site(tmp_path / "one"), make_site(tmp_path / "two")
    ids_one, ids_two = _same_ledger(one), _same_ledger(two)
    assert ids_one == ids_two
    for customer_id in ids_one:
        a, b = snapshot_path(one, customer_id), snapshot_path(two, customer_id)
        assert a.name != b.name  # different links...
        assert a.read_bytes() == b.read_bytes()  # ...same page
    files_one, files_two = build_files(one), build_files(two)
    assert sorted(k for k in files_one if not k.startswith("p/")) == sorted(
        k for k in files_two if not k.startswith("p/")
    )
    for name in ("404.html", "410.html", "robots.txt"):
        assert files_one[name] == files_two[name]


def test_page_shows_no_trace_of_when_it_was_rendered(shop):
    """A page read from build/ shows no trace of when it was rendered: only ledger times appear."""
    html = snapshot_path(shop["root"], shop["ids"]["outstanding"]).read_text(encoding="utf-8")
    years = set(re.findall(r"\b20\d\d\b", html))
    assert years == {"2025"}, years


# --- CONTRACT §4 as revised: languages, paying honestly, history, tips, contacts -----------

ADDRESS = "12 Main St, Springfield, IL 62701"
CONSENT_PARTS = ["automated", "message frequency varies", "message and data rates may apply", "reply stop", "help"]


def add_settings(root: Path, **values) -> None:
    """Add settings to paylink.toml, as a business edits the file."""
    lines = []
    for key, value in values.items():
        if isinstance(value, list | tuple):
            lines.append(f"{key} = [{', '.join(str(v) for v in value)}]")
        else:
            lines.append(f"{key} = {json.dumps(value, ensure_ascii=False)}")
    with open(root / "paylink.toml", "a", encoding="utf-8") as settings:
        settings.write("\n".join(lines) + "\n")


def set_language(root: Path, customer_id: int, language: str | None) -> None:
    """Give a customer a language the way another program would (the customers table)."""
    with closing(ledger(root)) as conn, conn:
        conn.execute("UPDATE customers SET language = ? WHERE id = ?", (language, customer_id))


def import_entries(paylink: Paylink, customer_id: int, count: int, first_day: int = 1) -> None:
    """Post ``count`` charges (every fifth a credit) dated one a day from 2025-01-01, in one import."""
    lines = ["customer,kind,amount,description,date"]
    for i in range(first_day, first_day + count):
        kind = "credit" if i % 5 == 0 else "charge"
        day = dt.date(2025, 1, 1) + dt.timedelta(days=i - 1)
        lines.append(f"{customer_id},{kind},{i}.25,Visit {i:02d},{day.isoformat()}")
    csv = paylink.site.parent / f"entries-{customer_id}.csv"
    csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert paylink.json("import", "entries", str(csv)) == {"imported": count, "skipped": 0}


def entry_id(paylink: Paylink, kind: str, customer_id: int, amount: str, description: str, date: str) -> int:
    return paylink.json(kind, str(customer_id), amount, description, "--date", date)["entry_id"]


def visible_text(soup) -> str:
    return " ".join(soup.body.get_text(" ").split())


@pytest.fixture(scope="module")
def town(tmp_path_factory) -> dict:
    """A site with an address, and customers in English and in Spanish in every state, with voids."""
    root = make_site(
        tmp_path_factory.mktemp("town") / "site", "--phone", "(555) 010-0100", "--email", "billing@example.com"
    )
    add_settings(root, address=ADDRESS)
    paylink = Paylink(root)
    paylink.ok("build")  # settings changed: the error pages are rewritten
    ids: dict[str, int] = {}

    def customer(key: str, name: str, language: str | None, *entries) -> int:
        ids[key] = add_customer(paylink, name, *entries, link=False)
        if language:
            set_language(root, ids[key], language)
        return ids[key]

    for language, suffix in ((None, ""), ("es", "_es")):
        voids = customer(f"voids{suffix}", "Vera Void", language)
        entry_id(paylink, "charge", voids, "100.00", "Repipe", "2025-02-01")
        deposit = entry_id(paylink, "credit", voids, "30.00", "Deposit", "2025-02-02")
        callout = entry_id(paylink, "charge", voids, "50.00", "Call-out", "2025-02-03")
        paylink.ok("void", str(deposit), "--reason", "duplicate import")
        paylink.ok("void", str(callout))
        customer(f"outstanding{suffix}", "Olive Owens", language, ("charge", "10.05", "Drain repair", "2025-03-01"))
        customer(
            f"zero{suffix}",
            "Zed Zimmer",
            language,
            ("charge", "40.00", "Boiler check", "2025-03-02"),
            ("credit", "40.00", "Paid in cash", "2025-03-03"),
        )
        customer(f"credit{suffix}", "Cora Cole", language, ("credit", "7.25", "Overpayment", "2025-03-04"))
        import_entries(paylink, customer(f"many{suffix}", "Manny Many", language), 25)
    import_entries(paylink, customer("twenty", "Tia Twenty", None), 20)
    import_entries(paylink, customer("twentyone", "Tom Twentyone", None), 21)
    for customer_id in ids.values():
        paylink.ok("link", "generate", str(customer_id))
    return {"root": root, "ids": ids, "paylink": paylink}


def town_page(town: dict, key: str):
    return read_page(town["root"], town["ids"][key])


# --- paying, honestly ---------------------------------------------------------------


def test_pay_notice_says_coming_soon_with_default_instructions_before_the_card_fields(town):
    soup = town_page(town, "outstanding")
    notices = soup.select("#pay-notice")
    assert len(notices) == 1
    notice = " ".join(notices[0].get_text().split())
    assert "coming soon" in notice.lower()
    # Default pay_instructions: contact the business, with its phone and email as links.
    assert notices[0].select('a[href="tel:5550100100"]') and notices[0].select('a[href="mailto:billing@example.com"]')
    assert "(555) 010-0100" in notice and "billing@example.com" in notice
    # The form itself says so where the card fields are.
    assert "coming soon" in soup.select_one("form#payment-form fieldset.card legend").get_text().lower()
    # In document order the notice comes before every card field.
    order = [tag for tag in soup.find_all(True) if tag.get("id") in ("pay-notice", "cc-name", "cc-number")]
    assert [tag["id"] for tag in order] == ["pay-notice", "cc-name", "cc-number"]


def test_pay_instructions_setting_is_shown(tmp_path):
    root = make_site(tmp_path / "zelle")
    add_settings(root, pay_instructions="Zelle to pay@example.com, or a check to 1 Elm St")
    paylink = Paylink(root)
    customer_id = add_customer(paylink, "Pat", ("charge", "20.00", "Work", "2025-01-15"))
    notice = text_of(read_page(root, customer_id), "#pay-notice")
    assert "coming soon" in notice.lower()
    assert "Zelle to pay@example.com, or a check to 1 Elm St" in notice


def test_card_fields_checkboxes_and_button_are_disabled_tips_stay_live(town):
    form = town_page(town, "outstanding").select_one("form#payment-form")
    card_fields = form.select("input:not([type=radio]):not([type=checkbox])")
    assert {f["id"] for f in card_fields} >= {"cc-name", "cc-number", "cc-exp", "cc-csc", "postal-code"}
    for field in card_fields:
        assert field.has_attr("disabled"), field
    for name in ("save_card", "sms_consent"):
        box = form.select_one(f"input[type=checkbox][name={name}]")
        assert box.has_attr("disabled") and not box.has_attr("checked"), box
    buttons = form.select("button[type=submit], input[type=submit]")
    assert len(buttons) == 1 and buttons[0].has_attr("disabled")
    radios = form.select("input[type=radio][name=tip]")
    assert radios and not any(r.has_attr("disabled") for r in radios)
    assert not any(f.has_attr("disabled") for f in form.select("fieldset"))  # a disabled fieldset would lock tips


def test_button_says_the_total_and_each_tip_carries_its_button_words(town):
    soup = town_page(town, "outstanding")
    assert text_of(soup, "form#payment-form button[type=submit]") == "Pay $10.05"
    for radio in soup.select("input[name=tip]"):
        assert radio["data-pay"] == f"Pay {radio['data-total']}"
        assert radio["data-total"] == usd(str(Decimal(int(radio["data-total-minor"])) / 100))


def test_consent_label_names_business_frequency_rates_stop_and_help(town):
    soup = town_page(town, "outstanding")
    box = soup.select_one("input[type=checkbox][name=sms_consent]")
    label = " ".join(soup.select_one(f'label[for="{box["id"]}"]').get_text().split())
    assert "Test Plumbing" in label
    for part in CONSENT_PARTS:
        assert part in label.lower(), (part, label)
    assert "STOP" in label and "HELP" in label


# --- tips from settings -------------------------------------------------------------


def test_tips_follow_the_setting(tmp_path):
    root = make_site(tmp_path / "tips")
    add_settings(root, tips=[10, 15])
    paylink = Paylink(root)
    customer_id = add_customer(paylink, "Tipper", ("charge", "5000.00", "Repipe", "2025-01-15"))
    soup = read_page(root, customer_id)
    radios = soup.select("input[type=radio][name=tip]")
    assert [r["value"] for r in radios] == ["0", "10", "15"]
    assert [r.has_attr("checked") for r in radios] == [True, False, False]
    assert [int(r["data-total-minor"]) for r in radios] == [500000, 550000, 575000]
    assert "$500.00" in soup.select_one('label[for="tip-10"]').get_text()
    assert "No tip" in soup.select_one('label[for="tip-0"]').get_text()


def test_no_tips_when_the_setting_is_empty(tmp_path):
    root = make_site(tmp_path / "notips")
    add_settings(root, tips=[])
    paylink = Paylink(root)
    customer_id = add_customer(paylink, "Nora", ("charge", "75.00", "Service", "2025-01-15"))
    html = snapshot_path(root, customer_id).read_text(encoding="utf-8")
    soup = parse(html)
    assert soup.select("input[name=tip]") == []
    assert soup.select("fieldset.tips") == [] and "Add a tip" not in html
    assert text_of(soup, "#total") == "$75.00"
    assert text_of(soup, "form#payment-form button[type=submit]") == "Pay $75.00"
    assert soup.select("script") == []  # nothing for JavaScript to do


# --- history: voids, older entries -------------------------------------------------


def test_a_voided_entry_shows_once_struck_through_and_canceled_and_its_void_not_at_all(town):
    soup = town_page(town, "voids")
    assert soup.main["data-state"] == "outstanding" and text_of(soup, "#balance") == "$100.00"
    rows = soup.select("details#recent-charges tbody tr")
    cells = [[" ".join(c.get_text().split()) for c in r.select("td")][1:] for r in rows]
    voided = [r.get("class") == ["voided"] for r in rows]
    assert cells == [
        ["Call-out Canceled", "$50.00"],
        ["Deposit Canceled", "-$30.00"],  # a canceled credit still shows as the credit it was
        ["Repipe", "$100.00"],
    ]
    assert voided == [True, True, False]
    for row in rows[:2]:  # struck through: the description in <s>, the amount by the stylesheet
        assert row.select_one("td s") is not None and row.select_one("td s").get_text() in ("Call-out", "Deposit")
        assert row.select_one("span.badge").get_text() == "Canceled"
    deposit = rows[1].select_one("td.amount")
    assert "amount--credit" in deposit["class"]
    page = soup.get_text()
    assert "duplicate import" not in page  # a void's reason is for the business only
    assert "entry" not in soup.select_one("details#recent-charges tbody").get_text().lower()


def test_a_void_of_an_entry_older_than_those_shown_shows_nothing_and_counts_for_nothing(tmp_path):
    root = make_site(tmp_path / "oldvoid")
    paylink = Paylink(root)
    customer_id = add_customer(paylink, "Olga", link=False)
    first = entry_id(paylink, "charge", customer_id, "9.99", "First visit", "2024-12-01")
    import_entries(paylink, customer_id, 20)
    paylink.ok("void", str(first), "--reason", "typed <the> wrong amount")
    paylink.ok("link", "generate", str(customer_id))
    soup = read_page(root, customer_id)
    rows = soup.select("details#recent-charges tbody tr")
    assert len(rows) == 20  # the newest 20 entries that are not voids
    assert soup.select("tr.voided") == []
    assert "First visit" not in soup.get_text() and "wrong amount" not in soup.get_text()
    assert text_of(soup, "#older-entries").startswith("1 older entry is not shown.")  # the void is not counted


def test_the_newest_twenty_rows_are_shown_whatever_the_voids(tmp_path):
    """Voids never take a row: 25 entries, three of the newest voided, show 20 rows and "5 older"."""
    root = make_site(tmp_path / "manyvoids")
    paylink = Paylink(root)
    customer_id = add_customer(paylink, "Vic", link=False)
    import_entries(paylink, customer_id, 25)
    with closing(ledger(root)) as conn:
        newest = [r[0] for r in conn.execute("SELECT id FROM entries ORDER BY id DESC LIMIT 3")]
    for entry in newest:
        paylink.ok("void", str(entry), "--reason", "secret reason")
    paylink.ok("link", "generate", str(customer_id))
    soup = read_page(root, customer_id)
    rows = soup.select("details#recent-charges tbody tr")
    assert len(rows) == 20
    assert len(soup.select("tbody tr.voided")) == 3
    assert "secret reason" not in str(soup)
    assert text_of(soup, "#older-entries").startswith("5 older entries are not shown.")


@pytest.mark.parametrize(
    ("key", "older"),
    [("many", "5 older entries are not shown."), ("twentyone", "1 older entry is not shown."), ("twenty", None)],
)
def test_older_entries_says_how_many_are_not_shown(town, key, older):
    soup = town_page(town, key)
    assert len(soup.select("details#recent-charges tbody tr")) == 20
    found = soup.select("#older-entries")
    if older is None:
        assert found == []
    else:
        assert len(found) == 1 and older in " ".join(found[0].get_text().split())
        assert found[0].find_parent("details") is not None


# --- contacts -------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["outstanding", "zero", "credit"])
def test_contacts_name_phone_email_and_address(town, key):
    soup = town_page(town, key)
    contacts = soup.select_one("footer address")
    text = " ".join(contacts.get_text().split())
    assert "Test Plumbing" in text and ADDRESS in text
    assert contacts.select_one('a[href="tel:5550100100"]').get_text() == "(555) 010-0100"
    assert contacts.select_one('a[href="mailto:billing@example.com"]').get_text() == "billing@example.com"
    # The name heads the page once and names whom to contact once, not a bare repeat.
    assert soup.select_one("header").get_text().strip() == "Test Plumbing"
    assert [p.get_text().strip() for p in soup.select("footer p")] != ["Test Plumbing"]


@pytest.mark.parametrize("name", ["404.html", "410.html"])
def test_error_pages_carry_the_contacts(town, name):
    soup = parse((town["root"] / "build" / name).read_text(encoding="utf-8"))
    text = visible_text(soup)
    assert "Test Plumbing" in text and ADDRESS in text
    assert soup.select('a[href="tel:5550100100"]') and soup.select('a[href="mailto:billing@example.com"]')


def test_amounts_dates_and_phones_are_marked_unbreakable(town):
    """The stylesheet keeps these on one line; the browser test measures it."""
    soup = town_page(town, "outstanding")
    for selector in ("#balance", "#total", ".tip__amount", "#as-of time", "footer a[href^='tel:']"):
        for element in soup.select(selector):
            assert "nowrap" in element.get("class", []), element
    css = next(p for p in (town["root"] / "build" / "assets").iterdir() if p.suffix == ".css").read_text()
    assert ".nowrap { white-space: nowrap; }" in css
    assert re.search(r"\.amount \{[^}]*white-space: nowrap", css)
    assert re.search(r"td:first-child \{ white-space: nowrap; \}", css)


# --- languages ------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["outstanding", "zero", "credit", "voids", "many"])
def test_spanish_customer_gets_a_spanish_page(town, state):
    soup = town_page(town, f"{state}_es")
    assert soup.html["lang"] == "es-US"
    assert soup.select_one("details#recent-charges summary").get_text().strip() == "Ver cargos recientes"
    text = visible_text(soup)
    assert "Anyone with this link" not in text and "Cualquier persona con este enlace" in text
    # Money for Spanish in the US (es_US), dates too: "1 mar 2025".
    if state == "outstanding":
        assert text_of(soup, "#balance") == "$10.05"
        assert soup.select_one("details#recent-charges tbody td").get_text() == "1 mar 2025"
        assert text_of(soup, "form#payment-form button[type=submit]") == "Pagar $10.05"
        consent = soup.select_one('label[for="sms_consent"]').get_text()
        assert "Test Plumbing" in consent and "STOP" in consent and "HELP" in consent
    if state == "voids":
        rows = soup.select("details#recent-charges tbody tr.voided")
        assert len(rows) == 2 and all("Cancelado" in r.select_one(".badge").get_text() for r in rows)
        assert "duplicate import" not in soup.get_text()
    if state == "many":
        assert "No se muestran 5 movimientos anteriores." in text_of(soup, "#older-entries")


def test_english_customer_on_the_same_site_stays_english(town):
    soup = town_page(town, "outstanding")
    assert soup.html["lang"] == "en-US"
    assert soup.select_one("details#recent-charges summary").get_text().strip() == "View recent charges"


def test_site_language_sets_pages_and_error_pages(tmp_path):
    root = make_site(tmp_path / "es", "--phone", "555-0100")
    add_settings(root, language="es")
    paylink = Paylink(root)
    paylink.ok("build")
    spanish = add_customer(paylink, "Sol", ("charge", "12.00", "Trabajo", "2025-01-15"))
    english = add_customer(paylink, "Ed", ("charge", "12.00", "Work", "2025-01-15"), link=False)
    set_language(root, english, "en")
    paylink.ok("link", "generate", str(english))
    assert read_page(root, spanish).html["lang"] == "es-US"
    assert read_page(root, english).html["lang"] == "en-US"
    for name, heading in (("404.html", "Página no encontrada"), ("410.html", "Este enlace ya no funciona")):
        soup = parse((root / "build" / name).read_text(encoding="utf-8"))
        assert soup.html["lang"] == "es-US"
        assert soup.h1.get_text() == heading
        assert "Teléfono" in visible_text(soup)


def test_spanish_on_a_site_without_a_spanish_locale_keeps_the_sites_money(tmp_path):
    """es on a de_DE site: Babel has no es_DE, so money and dates are written for de_DE."""
    root = make_site(tmp_path / "de", "--locale", "de_DE", "--currency", "EUR")
    paylink = Paylink(root)
    customer_id = add_customer(paylink, "Sara", ("charge", "1234.50", "Arbeit", "2025-01-15"), link=False)
    set_language(root, customer_id, "es")
    paylink.ok("link", "generate", str(customer_id))
    soup = read_page(root, customer_id)
    assert soup.html["lang"] == "es"
    assert text_of(soup, "#balance") == "1.234,50\u00a0€"
    assert soup.select_one("details#recent-charges tbody td").get_text() == "15.01.2025"


def test_changing_a_customers_language_rewrites_their_page(town, tmp_path):
    root = make_site(tmp_path / "switch")
    paylink = Paylink(root)
    customer_id = add_customer(paylink, "Lia", ("charge", "3.00", "Fix", "2025-01-15"))
    assert read_page(root, customer_id).html["lang"] == "en-US"
    set_language(root, customer_id, "es")
    paylink.ok("build")
    assert read_page(root, customer_id).html["lang"] == "es-US"


# --- never broken: huge amounts and long names still render whole ------------------


def test_huge_balance_and_long_name_render_whole(tmp_path):
    root = make_site(tmp_path / "huge")
    paylink = Paylink(root)
    name = ("Bartholomew-" * 17)[:200]
    customer_id = add_customer(paylink, name, ("charge", "12345678.90", "Everything", "2025-01-15"))
    soup = read_page(root, customer_id)
    assert text_of(soup, "#balance") == "$12,345,678.90"
    assert "summary__amount--long" in soup.select_one("#balance")["class"]
    assert name in soup.select_one(".greeting").get_text()


def test_entry_dates_on_a_utc_site_follow_each_entrys_own_day(site, paylink):
    customer_id = add_customer(paylink, "Uma")
    for moment in ("2025-01-15T00:00:01Z", "2025-01-15T23:59:59Z", "2025-01-16T00:00:00Z", "2025-01-16 08:00:00"):
        insert_entry(site, customer_id, 100, moment, posted_at=moment)
    paylink.ok("build")
    cells = [r.select_one("td time") for r in read_page(site, customer_id).select("details#recent-charges tbody tr")]
    assert [(c["datetime"], c.get_text()) for c in cells] == [
        ("2025-01-16", "Jan 16, 2025"),
        ("2025-01-16", "Jan 16, 2025"),
        ("2025-01-15", "Jan 15, 2025"),
        ("2025-01-15", "Jan 15, 2025"),
    ]


# --- "as of" a page with no entries -------------------------------------------------------------


@pytest.mark.parametrize("customers", [1, 9], ids=["one by one", "a streamed batch"])
def test_as_of_of_a_page_without_entries_is_when_the_customer_was_added(tmp_path, customers):
    """With no entry, the balance last changed when the customer was added: both ways pages.py reads
    the ledger (one customer at a time, and a batch of 8 or more in one pass) say so."""
    root = make_site(tmp_path / "asof", "--timezone", "America/Chicago")
    with closing(ledger(root)) as conn, conn:
        for i in range(customers):
            conn.execute(
                "INSERT INTO customers (name, email, phone, ref, created_at) VALUES (?, NULL, NULL, NULL, ?)",
                (f"New {i}", f"2026-01-0{1 + i}T18:30:00Z"),
            )
    paylink = Paylink(root)
    paylink.ok("link", "generate", "--all")
    for i in range(customers):
        soup = read_page(root, i + 1)
        when = soup.select_one("#as-of time")
        assert when["datetime"] == f"2026-01-0{1 + i}T12:30:00-06:00"
        assert when.get_text() == f"Jan {1 + i}, 2026, 12:30\u202fPM CST"
