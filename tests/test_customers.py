"""Customers through the CLI (CONTRACT §2): `customer add`, `customer list`, `customer show`."""

import pytest
from conftest import Paylink, make_site
from paylink.ledger import find_customer, post_entry
from paylink.storage import connect
from sitepages import dump

LIST_KEYS = {"id", "name", "ref", "balance", "balance_minor", "state", "url"}


def test_add_with_every_field(paylink):
    added = paylink.json(
        "customer", "add", "Jane Doe", "--email", "jane@example.com", "--phone", "555-0100", "--ref", "JD-1"
    )
    assert added == {
        "id": 1,
        "name": "Jane Doe",
        "email": "jane@example.com",
        "phone": "555-0100",
        "ref": "JD-1",
        "language": None,
    }


def test_add_with_only_a_name(paylink):
    assert paylink.json("customer", "add", "Bob") == {
        "id": 1,
        "name": "Bob",
        "email": None,
        "phone": None,
        "ref": None,
        "language": None,
    }
    assert paylink.json("customer", "add", "  Carol  ")["name"] == "Carol"
    assert paylink.json("customer", "add", "Bob")["id"] == 3  # names need not be unique


def test_add_text_output(paylink):
    assert (
        paylink.ok("customer", "add", "Jane Doe", "--ref", "JD-1").stdout == "Added customer 1: Jane Doe (ref JD-1)\n"
    )


def test_duplicate_ref_is_refused_and_nothing_written(site, paylink):
    paylink.ok("customer", "add", "Jane", "--ref", "JANE")
    listed = paylink.json("customer", "list")
    before = dump(site)

    result = paylink.fails("customer", "add", "Another Jane", "--ref", "JANE")

    assert result.stderr.startswith("Error: Another customer already has ref 'JANE'")
    assert paylink.json("customer", "list") == listed
    assert dump(site) == before


BAD_CUSTOMERS = [
    (["12345", "--ref", "2024"], "Error: Ref '2024' is all digits"),
    (["", "--ref", "OK-1"], "Error: The name is empty"),
    (["   "], "Error: The name is empty"),
    (["Line\nbreak"], "Error: The name contains a control character"),
    (["x" * 201], "Error: The name is longer than 200 characters"),
    (["Jane", "--email", "jane.example.com"], "Error: Email 'jane.example.com' is not an email address"),
    (["Jane", "--phone", "call me"], "Error: Phone 'call me' is not a phone number"),
]


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> Paylink:
    """One site for tests that change nothing (each proves it): Jane (1, ref JANE)."""
    paylink = Paylink(make_site(tmp_path_factory.mktemp("customers") / "site"))
    paylink.ok("customer", "add", "Jane", "--ref", "JANE")
    return paylink


@pytest.mark.parametrize(("args", "message"), BAD_CUSTOMERS, ids=[m for _, m in BAD_CUSTOMERS])
def test_bad_customer_is_refused_and_nothing_written(shared, args, message):
    paylink, site = shared, shared.site
    before = dump(site)
    result = paylink.fails("customer", "add", *args)
    assert result.stderr.startswith(message)
    assert result.stdout == ""
    assert dump(site) == before


def test_list_is_empty_without_customers(paylink):
    assert paylink.json("customer", "list") == []
    assert paylink.ok("customer", "list").stdout.startswith("No customers yet.")


def test_list_rows_carry_balance_state_and_link(paylink):
    paylink.ok("customer", "add", "Owes", "--ref", "OWES")
    paylink.ok("customer", "add", "In Credit")
    paylink.ok("customer", "add", "Square")
    paylink.ok("charge", "OWES", "12.50", "Repair")
    paylink.ok("credit", "2", "5", "Deposit")
    paylink.ok("charge", "3", "7", "Visit")
    paylink.ok("credit", "3", "7", "Paid")
    url = paylink.json("link", "generate", "OWES")["url"]

    rows = paylink.json("customer", "list")

    assert all(set(row) == LIST_KEYS for row in rows)
    assert rows == [
        {
            "id": 1,
            "name": "Owes",
            "ref": "OWES",
            "balance": "12.50",
            "balance_minor": 1250,
            "state": "outstanding",
            "url": url,
        },
        {
            "id": 2,
            "name": "In Credit",
            "ref": None,
            "balance": "-5.00",
            "balance_minor": -500,
            "state": "credit",
            "url": None,
        },
        {"id": 3, "name": "Square", "ref": None, "balance": "0.00", "balance_minor": 0, "state": "zero", "url": None},
    ]


def test_list_text_shows_money_for_people(paylink):
    paylink.ok("customer", "add", "Jane", "--ref", "JANE")
    paylink.ok("charge", "JANE", "1234.5", "Roof")
    lines = paylink.ok("customer", "list").stdout.splitlines()
    assert lines[0].split() == ["ID", "NAME", "REF", "BALANCE", "STATE", "LINK"]
    assert lines[1].split() == ["1", "Jane", "JANE", "$1,234.50", "outstanding", "(no", "link)"]


@pytest.mark.parametrize("key", ["1", "JD-1"])
def test_show_by_id_or_ref(paylink, key):
    paylink.ok("customer", "add", "Jane Doe", "--email", "jane@example.com", "--phone", "555-0100", "--ref", "JD-1")
    paylink.ok("charge", "1", "20", "Boiler service", "--date", "2026-01-05")
    paylink.ok("credit", "JD-1", "5.25", "Cash")
    row = paylink.json("customer", "list")[0]

    shown = paylink.json("customer", "show", key)

    assert set(shown) == LIST_KEYS | {"email", "phone", "language", "reminders", "reference", "entries"}
    assert shown["reference"] == "JD-1"
    assert {k: shown[k] for k in LIST_KEYS} == row
    assert shown["balance"] == "14.75" and shown["balance_minor"] == 1475
    assert shown["email"] == "jane@example.com"
    assert shown["phone"] == "555-0100"
    newest, oldest = shown["entries"]
    assert (newest["amount"], newest["amount_minor"], newest["description"]) == ("-5.25", -525, "Cash")
    assert (oldest["amount"], oldest["amount_minor"], oldest["description"]) == ("20.00", 2000, "Boiler service")
    assert oldest["posted_at"] == "2026-01-05T12:00:00Z"
    assert newest["id"] == 2 and oldest["id"] == 1


def test_show_lists_the_last_20_entries_newest_first(site, paylink):
    paylink.ok("customer", "add", "Jane")
    conn = connect(site / "paylink.db")
    try:
        jane = find_customer(conn, 1)
        for day in range(1, 26):
            post_entry(conn, jane, day * 100, f"Visit {day}", posted_at=f"2026-01-{day:02d}T12:00:00Z")
    finally:
        conn.close()

    shown = paylink.json("customer", "show", "1")

    assert len(shown["entries"]) == 20
    assert [e["description"] for e in shown["entries"]] == [f"Visit {day}" for day in range(25, 5, -1)]
    assert [e["id"] for e in shown["entries"]] == list(range(25, 5, -1))
    # The balance is over every entry, not just the 20 shown.
    assert shown["balance_minor"] == sum(day * 100 for day in range(1, 26))


def test_show_text(paylink):
    paylink.ok("customer", "add", "Jane Doe", "--ref", "JD-1")
    out = paylink.ok("customer", "show", "JD-1").stdout
    assert out.splitlines()[0] == "Jane Doe (customer 1, ref JD-1)"
    assert "  Balance: $0.00 (zero)" in out
    assert "No entries yet." in out


UNKNOWN = [
    (["customer", "show", "999"], "Error: No customer with id 999"),
    (["customer", "show", "nope"], "Error: No customer with ref 'nope'"),
    (["customer", "show", "99999999999999999999999"], "Error: No customer with id 99999999999999999999999"),
    (["customer", "show", "²"], "Error: No customer with ref '²'"),
    (["charge", "999", "10", "Work"], "Error: No customer with id 999"),
    (["credit", "nope", "10", "Work"], "Error: No customer with ref 'nope'"),
    (["link", "generate", "999"], "Error: No customer with id 999"),
    (["link", "show", "999"], "Error: No customer with id 999"),
    (["link", "rotate", "999", "--yes"], "Error: No customer with id 999"),
    (["link", "revoke", "nope", "--yes"], "Error: No customer with ref 'nope'"),
]


@pytest.mark.parametrize(("args", "message"), UNKNOWN, ids=[" ".join(a) for a, _ in UNKNOWN])
def test_unknown_customer(shared, args, message):
    paylink, site = shared, shared.site
    before = dump(site)
    result = paylink.fails(*args)
    assert result.stderr.startswith(message + " — ")
    assert dump(site) == before
