"""Posting money through the CLI (CONTRACT §2): charge, credit, void, amounts, dates, idempotency keys.

Also the ledger's own guarantees as other programs see them (CONTRACT §5): the
database refuses UPDATE and DELETE on entries, and accepts a direct INSERT.
"""

import datetime as dt
import json
import sqlite3
from contextlib import closing
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import Paylink, make_site
from sitepages import balance_text, dump, ledger, snapshot_path

POSTED_KEYS = {"entry_id", "customer_id", "amount", "amount_minor", "balance", "balance_minor", "state"}


def entry_count(site: Path) -> int:
    with closing(ledger(site)) as conn, conn:
        return conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0]


@pytest.fixture
def jane(paylink) -> int:
    """Customer 1, Jane (ref JANE), on the USD site."""
    return paylink.json("customer", "add", "Jane", "--ref", "JANE")["id"]


# --- charge and credit ------------------------------------------------------------------


def test_charge_json(paylink, jane):
    posted = paylink.json("charge", "JANE", "12.5", "Drain cleaning")
    assert posted == {
        "entry_id": 1,
        "customer_id": jane,
        "amount": "12.50",
        "amount_minor": 1250,
        "balance": "12.50",
        "balance_minor": 1250,
        "state": "outstanding",
    }


def test_credit_json_has_negative_amount(paylink, jane):
    posted = paylink.json("credit", "1", "20", "Paid by check")
    assert set(posted) == POSTED_KEYS
    assert posted == {
        "entry_id": 1,
        "customer_id": jane,
        "amount": "-20.00",
        "amount_minor": -2000,
        "balance": "-20.00",
        "balance_minor": -2000,
        "state": "credit",
    }


def test_text_output(paylink, jane):
    out = paylink.ok("charge", "JANE", "1234.5", "Roof").stdout
    assert out == "Charged $1,234.50 to Jane (entry 1). Balance: $1,234.50 (outstanding).\n"
    out = paylink.ok("credit", "JANE", "1234.5", "Paid").stdout
    assert out == "Credited $1,234.50 to Jane (entry 2). Balance: $0.00 (zero).\n"


def test_balance_is_charges_minus_credits_and_state_follows_it(paylink, jane):
    steps = [
        ("charge", "30", 3000, "outstanding"),
        ("credit", "12.50", 1750, "outstanding"),
        ("credit", "20", -250, "credit"),
        ("charge", "2.5", 0, "zero"),
        ("charge", "0.01", 1, "outstanding"),
    ]
    for kind, amount, balance, state in steps:
        posted = paylink.json(kind, "JANE", amount, f"{kind} {amount}")
        assert (posted["balance_minor"], posted["state"]) == (balance, state)
    row = paylink.json("customer", "list")[0]
    assert (row["balance"], row["balance_minor"], row["state"]) == ("0.01", 1, "outstanding")


def test_balances_are_per_customer(paylink, jane):
    paylink.ok("customer", "add", "Bob")
    paylink.ok("charge", "1", "10", "Jane's job")
    paylink.ok("charge", "2", "3", "Bob's job")
    paylink.ok("credit", "1", "4", "Jane pays some")
    balances = {row["id"]: row["balance_minor"] for row in paylink.json("customer", "list")}
    assert balances == {1: 600, 2: 300}


BAD_AMOUNTS = [
    ("+5", "is not a decimal number"),
    ("1e3", "is not a decimal number"),
    ("1,00", "is not a decimal number"),
    ("1_000", "is not a decimal number"),
    ("€5", "is not in USD"),
    ("abc", "is not a decimal number"),
    ("NaN", "is not a decimal number"),
    ("Infinity", "is not a decimal number"),
    ("0x10", "is not a decimal number"),
    ("１２", "is not a decimal number"),  # full-width digits
    ("١٢", "is not a decimal number"),  # Arabic-Indic digits
    ("12.", "is not a decimal number"),
    (".5", "is not a decimal number"),
    ("12.5.0", "is not a decimal number"),
    ("", "is not a decimal number"),
    ("12.505", "has too many decimals — USD takes at most 2 decimal places"),
    ("12.500", "has too many decimals — USD takes at most 2 decimal places"),
    ("0", "is zero — give an amount above zero"),
    ("0.00", "is zero — give an amount above zero"),
    ("1000000000.01", "is too large — the most is 1,000,000,000 USD"),
    ("10000000000", "is too large — the most is 1,000,000,000 USD"),
]


@pytest.fixture(scope="module")
def linked_site(tmp_path_factory) -> Paylink:
    """One site for tests that change nothing (each proves it): Jane (1, ref JANE) with a link."""
    paylink = Paylink(make_site(tmp_path_factory.mktemp("posting") / "site"))
    paylink.ok("customer", "add", "Jane", "--ref", "JANE")
    paylink.ok("link", "generate", "JANE")
    return paylink


@pytest.mark.parametrize("kind", ["charge", "credit"])
@pytest.mark.parametrize(("amount", "problem"), BAD_AMOUNTS, ids=[repr(a) for a, _ in BAD_AMOUNTS])
def test_bad_amount_is_refused_and_nothing_written(linked_site, kind, amount, problem):
    paylink, site, jane = linked_site, linked_site.site, 1
    page = snapshot_path(site, jane).read_bytes()
    before = dump(site)

    # "--" so that "-5" reaches the amount check instead of reading as an option.
    result = paylink.fails(kind, "--", "JANE", amount, "Work")

    assert result.stderr.startswith(f"Error: Amount {amount!r} {problem}")
    assert result.stdout == ""
    assert dump(site) == before
    assert snapshot_path(site, jane).read_bytes() == page


def test_a_huge_amount_is_refused_in_one_short_line(site, paylink, jane):
    result = paylink.fails("charge", "JANE", "9" * 5000, "Work")
    assert result.stderr == "Error: Amount '99999999999999999999…' is too large — the most is 1,000,000,000 USD\n"
    assert entry_count(site) == 0


@pytest.mark.parametrize(
    ("kind", "amount", "message"),
    [
        (
            "charge",
            "-50",
            "Error: Amount '-50' is negative — to take money off, post a credit of a positive amount: paylink credit JANE 50 \"Work\"",
        ),
        (
            "credit",
            "-50",
            "Error: Amount '-50' is negative — to add to what they owe, post a charge of a positive amount: paylink charge JANE 50 \"Work\"",
        ),
        ("charge", "-$1,200.00", "Error: Amount '-$1,200.00' is negative — to take money off, post a credit"),
        ("credit", "(5)", "Error: Amount '(5)' is negative — to add to what they owe, post a charge"),
    ],
)
def test_a_negative_amount_says_to_use_the_other_kind(site, paylink, jane, kind, amount, message):
    # No "--": the command must not read "-50" as options -5 and -0.
    result = paylink.fails(kind, "JANE", amount, "Work")
    assert result.exit_code == 1
    assert result.stderr.startswith(message)
    assert entry_count(site) == 0


def test_an_unquoted_description_says_to_quote_it(site, paylink, jane):
    result = paylink.fails("charge", "JANE", "50", "Drain", "cleaning", "--json")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        'Error: The description must be one argument: put it in quotes, e.g. paylink charge JANE 50 "Drain cleaning"'
    )
    assert entry_count(site) == 0


@pytest.mark.parametrize("args", [("--dat", "2026-01-05"), ("-x",), ("--dat=2026-01-05",)])
def test_a_misspelt_option_is_still_refused(site, paylink, jane, args):
    result = paylink.fails("charge", "JANE", "50", "Work", *args)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: No such option '{args[0].split('=')[0]}'")
    assert entry_count(site) == 0


def test_amounts_and_dates_as_the_locale_writes_them(paylink, jane):
    posted = paylink.json("charge", "JANE", "$1,200.00", "Boiler", "--date", "11/20/2025")
    assert (posted["amount"], posted["amount_minor"]) == ("1200.00", 120000)
    assert posted_at(paylink, posted["entry_id"]) == "2025-11-20T12:00:00Z"
    assert paylink.json("credit", "JANE", "1,200", "Paid", "--date", "1/2/25")["balance_minor"] == 0
    assert paylink.json("charge", "JANE", "USD 7.5", "Valve")["amount_minor"] == 750


def test_amounts_and_dates_on_a_german_site(tmp_path):
    paylink = Paylink(make_site(tmp_path / "de", "--currency", "EUR", "--locale", "de_DE"))
    paylink.ok("customer", "add", "Jana")
    posted = paylink.json("charge", "1", "1.200,50 €", "Heizung", "--date", "20.11.2025")
    assert posted["amount_minor"] == 120050
    assert posted_at(paylink, posted["entry_id"]) == "2025-11-20T12:00:00Z"
    assert paylink.json("credit", "1", "12,5", "Anzahlung")["balance_minor"] == 120050 - 1250
    refused = paylink.fails("charge", "1", "1,200.50", "Job")
    assert refused.stderr.startswith(
        "Error: Amount '1,200.50' is not a decimal number — write it like 12.50 or 1.200,50"
    )
    refused = paylink.fails("charge", "1", "5", "Job", "--date", "11/20/2025")
    assert refused.stderr.startswith(
        "Error: Date '11/20/2025' is not a date — write it as YYYY-MM-DD (2026-03-31) or as 20.11.2026"
    )
    assert entry_count(paylink.site) == 2


def test_largest_amount_is_accepted(paylink, jane):
    posted = paylink.json("charge", "JANE", "1000000000", "Everything")
    assert (posted["amount"], posted["amount_minor"]) == ("1000000000.00", 100_000_000_000)
    posted = paylink.json("charge", "JANE", "1000000000.00", "Everything again")
    assert (posted["balance"], posted["balance_minor"]) == ("2000000000.00", 200_000_000_000)


def test_leading_zeros_are_only_digits(paylink, jane):
    assert paylink.json("charge", "JANE", "007.50", "Spy work")["amount_minor"] == 750


def test_jpy_has_no_decimals(tmp_path):
    paylink = Paylink(make_site(tmp_path / "yen", "--currency", "JPY", "--locale", "ja_JP"))
    paylink.ok("customer", "add", "Taro")

    result = paylink.fails("charge", "1", "12.5", "Work")
    assert result.stderr.startswith("Error: Amount '12.5' has too many decimals — JPY takes no decimals")
    assert entry_count(paylink.site) == 0

    posted = paylink.json("charge", "1", "1250", "Work")
    assert posted == {
        "entry_id": 1,
        "customer_id": 1,
        "amount": "1250",
        "amount_minor": 1250,
        "balance": "1250",
        "balance_minor": 1250,
        "state": "outstanding",
    }
    assert paylink.json("credit", "1", "1000000000", "Max")["balance"] == "-999998750"
    assert paylink.fails("charge", "1", "1000000001", "Too much").stderr.startswith(
        "Error: Amount '1000000001' is too large"
    )


def test_kwd_has_three_decimals(tmp_path):
    paylink = Paylink(make_site(tmp_path / "kwd", "--currency", "KWD"))
    paylink.ok("customer", "add", "Fahad")

    posted = paylink.json("charge", "1", "1.234", "Work")
    assert (posted["amount"], posted["amount_minor"], posted["balance"]) == ("1.234", 1234, "1.234")
    assert paylink.json("charge", "1", "12.5", "More")["amount"] == "12.500"
    assert paylink.json("credit", "1", "0.001", "Fils")["balance"] == "13.733"

    result = paylink.fails("charge", "1", "1.2345", "Work")
    assert result.stderr.startswith("Error: Amount '1.2345' has too many decimals — KWD takes at most 3 decimal places")
    assert entry_count(paylink.site) == 3


# --- dates ------------------------------------------------------------------------------------


def posted_at(paylink, entry_id: int) -> str:
    entries = paylink.json("customer", "show", "1")["entries"]
    return next(e["posted_at"] for e in entries if e["id"] == entry_id)


def test_date_is_noon_of_that_day_in_utc_site(paylink, jane):
    entry = paylink.json("charge", "JANE", "10", "Work", "--date", "2026-01-05")["entry_id"]
    assert posted_at(paylink, entry) == "2026-01-05T12:00:00Z"


@pytest.mark.parametrize(
    ("day", "expected"), [("2026-01-05", "2026-01-05T18:00:00Z"), ("2026-07-05", "2026-07-05T17:00:00Z")]
)
def test_date_is_noon_in_the_site_time_zone(tmp_path, day, expected):
    paylink = Paylink(make_site(tmp_path / "chicago", "--timezone", "America/Chicago"))
    paylink.ok("customer", "add", "Jane")
    entry = paylink.json("credit", "1", "10", "Paid", "--date", day)["entry_id"]
    assert posted_at(paylink, entry) == expected


def test_no_date_or_todays_date_means_now(tmp_path):
    zone = "Pacific/Kiritimati"  # UTC+14: its today is often UTC's tomorrow, and that is not the future
    paylink = Paylink(make_site(tmp_path / "kiritimati", "--timezone", zone))
    paylink.ok("customer", "add", "Jane")
    start = dt.datetime.now(dt.UTC).replace(microsecond=0)
    today = dt.datetime.now(ZoneInfo(zone)).date().isoformat()

    first = paylink.json("charge", "1", "10", "Now")["entry_id"]
    second = paylink.json("charge", "1", "10", "Today", "--date", today)["entry_id"]

    end = dt.datetime.now(dt.UTC)
    for entry in (first, second):
        moment = dt.datetime.strptime(posted_at(paylink, entry), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
        assert start <= moment <= end


@pytest.mark.parametrize(
    "day", ["2026-02-30", "2026-13-01", "2026-1-5", "05.01.2026", "13/01/2026", "yesterday", "2026-01-05T10:00"]
)
def test_invalid_date_is_refused(site, paylink, jane, day):
    result = paylink.fails("charge", "JANE", "10", "Work", "--date", day)
    assert result.stderr.startswith(f"Error: Date {day!r} is not a date — write it as YYYY-MM-DD")
    assert entry_count(site) == 0


def test_future_date_is_refused(site, paylink, jane):
    day = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=2)).isoformat()
    result = paylink.fails("credit", "JANE", "10", "Work", "--date", day)
    assert result.stderr.startswith(f"Error: Date {day} is in the future")
    assert entry_count(site) == 0


# --- idempotency keys --------------------------------------------------------------------------


def test_retry_with_the_same_key_prints_the_first_result_and_posts_nothing(site, paylink, jane):
    first = paylink.ok("charge", "JANE", "12.50", "Job 17", "--key", "job-17", "--json").stdout
    paylink.ok("charge", "JANE", "5", "Another job")  # the balance moves on between the two tries

    retry = paylink.ok("charge", "JANE", "12.50", "Job 17", "--key", "job-17", "--json").stdout

    assert retry == first
    assert json.loads(first)["balance_minor"] == 1250
    assert entry_count(site) == 2
    assert paylink.json("customer", "show", "JANE")["balance_minor"] == 1750


def test_retry_of_a_credit_with_the_same_key(site, paylink, jane):
    first = paylink.ok("credit", "JANE", "3", "Cash", "--key", "pay-1", "--json").stdout
    assert paylink.ok("credit", "1", "3", "Cash", "--key", "pay-1", "--json").stdout == first
    assert entry_count(site) == 1


@pytest.mark.parametrize(
    ("kind", "amount", "description"),
    [("charge", "12.51", "Job 17"), ("charge", "12.50", "Job 18"), ("credit", "12.50", "Job 17")],
    ids=["other-amount", "other-description", "credit-not-charge"],
)
def test_same_key_with_other_details_is_refused(site, paylink, jane, kind, amount, description):
    paylink.ok("charge", "JANE", "12.50", "Job 17", "--key", "job-17")
    before = dump(site)

    result = paylink.fails(kind, "JANE", amount, description, "--key", "job-17")

    assert result.stderr.startswith(
        "Error: Key 'job-17' was already used for entry 1 with another amount or description"
    )
    assert dump(site) == before


def test_same_key_on_another_customer_is_independent(site, paylink, jane):
    paylink.ok("customer", "add", "Bob")
    a = paylink.json("charge", "JANE", "10", "Job", "--key", "k1")
    b = paylink.json("charge", "2", "10", "Job", "--key", "k1")
    c = paylink.json("charge", "2", "99", "Other job", "--key", "k2")
    assert (a["entry_id"], b["entry_id"], c["entry_id"]) == (1, 2, 3)
    assert (a["customer_id"], b["customer_id"]) == (1, 2)
    assert entry_count(site) == 3


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("", "Error: The idempotency key is empty — give an idempotency key"),
        ("k" * 201, "Error: The idempotency key is longer than 200 characters"),
    ],
    ids=["empty", "too-long"],
)
def test_bad_key_is_refused(site, paylink, jane, key, message):
    result = paylink.fails("charge", "JANE", "10", "Job", "--key", key)
    assert result.stderr.startswith(message)
    assert entry_count(site) == 0


def test_a_bad_retry_is_still_checked_before_the_key(site, paylink, jane):
    paylink.ok("charge", "JANE", "10", "Job", "--key", "k1")
    result = paylink.fails("charge", "JANE", "abc", "Job", "--key", "k1")
    assert result.stderr.startswith("Error: Amount 'abc' is not a decimal number")
    assert entry_count(site) == 1


# --- void -----------------------------------------------------------------------------------


def test_void_posts_the_reversing_entry(site, paylink, jane):
    paylink.ok("charge", "JANE", "12.50", "Wrong job")
    paylink.ok("charge", "JANE", "4", "Right job")

    voided = paylink.json("void", "1")

    assert voided == {
        "entry_id": 3,
        "customer_id": jane,
        "amount": "-12.50",
        "amount_minor": -1250,
        "balance": "4.00",
        "balance_minor": 400,
        "state": "outstanding",
    }
    with closing(ledger(site)) as conn, conn:
        original = conn.execute("SELECT amount_minor, description FROM entries WHERE id = 1").fetchone()
    assert original == (1250, "Wrong job")  # the original stays as it was


def test_void_of_a_credit_is_positive(paylink, jane):
    paylink.ok("credit", "JANE", "7.25", "Refund by mistake")
    voided = paylink.json("void", "1")
    assert (voided["amount"], voided["amount_minor"], voided["balance_minor"], voided["state"]) == (
        "7.25",
        725,
        0,
        "zero",
    )


def test_void_reason_shows_in_the_description(paylink, jane):
    paylink.ok("charge", "JANE", "12.50", "Drain cleaning")
    paylink.ok("void", "1", "--reason", "typed the wrong amount")
    newest = paylink.json("customer", "show", "JANE")["entries"][0]
    assert newest["id"] == 2
    assert "typed the wrong amount" in newest["description"]
    assert "Drain cleaning" in newest["description"]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("1", "Error: Entry 1 was already voided by entry 2"),
        ("2", "Error: Entry 2 is itself a void"),
        ("999", "Error: No entry with id 999"),
        ("99999999999999999999999", "Error: No entry with id 99999999999999999999999"),
    ],
    ids=["twice", "a-void", "unknown", "huge"],
)
def test_void_refusals_write_nothing(site, paylink, jane, entry, message):
    paylink.ok("charge", "JANE", "12.50", "Job")
    paylink.ok("void", "1")
    before = dump(site)

    result = paylink.fails("void", entry)

    assert result.stderr.startswith(message)
    assert dump(site) == before


def test_void_needs_a_positive_entry_id(site, paylink, jane):
    assert paylink.fails("void", "0").exit_code == 2
    assert paylink.fails("void", "abc").exit_code == 2
    assert entry_count(site) == 0


# --- pages follow postings -------------------------------------------------------------------


def test_posting_updates_the_page_before_returning(site, paylink, jane):
    paylink.ok("link", "generate", "JANE")
    assert balance_text(site, jane) == "$0.00"
    paylink.ok("charge", "JANE", "12.50", "Job")
    assert balance_text(site, jane) == "$12.50"
    paylink.ok("credit", "JANE", "20", "Paid")
    assert balance_text(site, jane) == "$7.50"  # a credit is shown as a positive amount
    paylink.ok("void", "2")
    assert balance_text(site, jane) == "$12.50"


# --- the ledger as other programs see it -------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE entries SET amount_minor = 1 WHERE id = 1",
        "UPDATE entries SET description = 'edited'",
        "DELETE FROM entries WHERE id = 1",
        "DELETE FROM entries",
    ],
)
def test_database_refuses_to_edit_or_delete_entries(site, paylink, jane, statement):
    paylink.ok("charge", "JANE", "12.50", "Job")
    before = dump(site)
    conn = sqlite3.connect(site / "paylink.db")
    try:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute(statement)
        conn.commit()
    finally:
        conn.close()
    assert dump(site) == before


def test_another_program_may_insert_entries(site, paylink, jane):
    paylink.ok("link", "generate", "JANE")
    paylink.ok("charge", "JANE", "10", "Job")
    with closing(sqlite3.connect(site / "paylink.db")) as conn, conn:
        conn.execute(
            "INSERT INTO entries (customer_id, amount_minor, description, posted_at) VALUES (?, ?, ?, ?)",
            (jane, -250, "Paid at the till", "2026-01-02T09:30:00Z"),
        )

    shown = paylink.json("customer", "show", "JANE")
    assert (shown["balance"], shown["balance_minor"], shown["state"]) == ("7.50", 750, "outstanding")
    assert any(e["description"] == "Paid at the till" and e["amount_minor"] == -250 for e in shown["entries"])

    paylink.ok("build")
    assert balance_text(site, jane) == "$7.50"
    # The posting commands see it too.
    assert paylink.json("charge", "JANE", "1", "More")["balance_minor"] == 850


def test_balance_is_exact_beyond_float_precision(site, paylink, jane):
    """Balances are summed as integers: a float sum would lose the last cent above 2**53."""
    with closing(sqlite3.connect(site / "paylink.db")) as conn, conn:
        conn.executemany(
            "INSERT INTO entries (customer_id, amount_minor, description, posted_at) VALUES (?, ?, ?, ?)",
            [(jane, 2**53, "Huge", "2026-01-01T00:00:00Z"), (jane, 1, "One cent", "2026-01-02T00:00:00Z")],
        )
    assert paylink.json("customer", "show", "JANE")["balance_minor"] == 2**53 + 1
    assert paylink.json("customer", "list")[0]["balance"] == "90071992547409.93"
    assert paylink.json("charge", "JANE", "0.01", "Another cent")["balance_minor"] == 2**53 + 2
