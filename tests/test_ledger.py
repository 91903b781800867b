"""The ledger as a domain module (generator.ledger over generator.storage), without the CLI."""

import datetime as dt
import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from paylink.errors import CannotVoid, CustomerNotFound, DuplicateRef, EntryNotFound, IdempotencyConflict, InvalidInput
from paylink.ledger import (
    add_customer,
    balance_minor,
    customer_balances,
    find_customer,
    iso_utc,
    parse_posting_date,
    post_entry,
    recent_entries,
    state_of,
    void_entry,
)
from paylink.storage import connect

NOW = "2026-03-01T10:00:00Z"


@pytest.fixture
def conn():
    """An in-memory ledger with the real schema."""
    conn = connect(":memory:")
    yield conn
    conn.close()


def test_state_of():
    assert [state_of(b) for b in (1, 0, -1, 10**15, -(10**15))] == [
        "outstanding",
        "zero",
        "credit",
        "outstanding",
        "credit",
    ]


def test_post_and_balance(conn):
    jane = add_customer(conn, "Jane", ref="JANE")
    assert balance_minor(conn, jane.id) == 0
    assert post_entry(conn, jane, 1250, "Job", posted_at=NOW).balance_minor == 1250
    posted = post_entry(conn, jane, -2000, "Paid", posted_at=NOW)
    assert (posted.entry.amount_minor, posted.balance_minor) == (-2000, -750)
    assert balance_minor(conn, jane.id) == -750
    assert balance_minor(conn, jane.id, through_entry=1) == 1250
    assert [cb.balance_minor for cb in customer_balances(conn)] == [-750]


def test_duplicate_ref_in_the_domain(conn):
    add_customer(conn, "Jane", ref="JANE")
    with pytest.raises(DuplicateRef):
        add_customer(conn, "Other", ref="JANE")
    assert [cb.customer.name for cb in customer_balances(conn)] == ["Jane"]


@pytest.mark.parametrize("key", ["1", " 1 ", "JANE"])
def test_find_customer_by_id_or_ref(conn, key):
    jane = add_customer(conn, "Jane", ref="JANE")
    assert find_customer(conn, key) == jane


def test_find_customer_matches_refs_without_regard_to_case(conn):
    jane = add_customer(conn, "Jane", ref="JANE")
    assert find_customer(conn, "jane").id == jane.id
    with pytest.raises(DuplicateRef):
        add_customer(conn, "Other Jane", ref="Jane")


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("2", "No customer with id 2"),
        ("99999999999999999999", "No customer with id 99999999999999999999"),
        ("²", "No customer with ref '²'"),  # str.isdigit() says yes, int() says no
        ("١", "No customer with ref '١'"),  # an Arabic-Indic one is not customer 1
        ("１", "No customer with ref '１'"),  # nor is a full-width one
        ("jan", "No customer with ref 'jan'"),
    ],
)
def test_find_customer_refuses_what_is_not_a_customer(conn, key, message):
    add_customer(conn, "Jane", ref="JANE")
    with pytest.raises(CustomerNotFound, match=message):
        find_customer(conn, key)


def test_void_unknown_entries(conn):
    with pytest.raises(EntryNotFound, match="No entry with id 5"):
        void_entry(conn, 5, reason=None, posted_at=NOW)
    with pytest.raises(EntryNotFound):
        void_entry(conn, 2**64, reason=None, posted_at=NOW)


def test_idempotency_in_the_domain(conn):
    jane = add_customer(conn, "Jane")
    first = post_entry(conn, jane, 500, "Job", posted_at=NOW, idempotency_key="k")
    post_entry(conn, jane, 700, "Other", posted_at=NOW)
    again = post_entry(conn, jane, 500, "Job", posted_at="2026-03-02T00:00:00Z", idempotency_key="k")
    assert again == first
    with pytest.raises(IdempotencyConflict):
        post_entry(conn, jane, 501, "Job", posted_at=NOW, idempotency_key="k")
    assert balance_minor(conn, jane.id) == 1200


def test_a_failed_post_leaves_no_transaction_open(conn):
    jane = add_customer(conn, "Jane")
    post_entry(conn, jane, 500, "Job", posted_at=NOW, idempotency_key="k")
    with pytest.raises(IdempotencyConflict):
        post_entry(conn, jane, 1, "Job", posted_at=NOW, idempotency_key="k")
    assert not conn.in_transaction
    assert post_entry(conn, jane, 1, "Next", posted_at=NOW).balance_minor == 501


@pytest.mark.parametrize("description", ["", "  ", "two\nlines", "x" * 501])
def test_bad_description(conn, description):
    jane = add_customer(conn, "Jane")
    with pytest.raises(InvalidInput):
        post_entry(conn, jane, 1, description, posted_at=NOW)
    assert recent_entries(conn, jane.id) == []


def test_balance_is_summed_as_integers(conn):
    jane = add_customer(conn, "Jane")
    conn.executemany(
        "INSERT INTO entries (customer_id, amount_minor, description) VALUES (?, ?, ?)",
        [(jane.id, 2**53, "huge"), (jane.id, 1, "one"), (jane.id, 1, "one more")],
    )
    assert balance_minor(conn, jane.id) == 2**53 + 2
    assert customer_balances(conn)[0].balance_minor == 2**53 + 2


def test_direct_insert_gets_a_posted_at_default(conn):
    jane = add_customer(conn, "Jane")
    conn.execute("INSERT INTO entries (customer_id, amount_minor, description) VALUES (?, 100, 'till')", (jane.id,))
    (entry,) = recent_entries(conn, jane.id)
    assert dt.datetime.strptime(entry.posted_at, "%Y-%m-%dT%H:%M:%SZ")


# --- dates --------------------------------------------------------------------------------------

NOON_UTC = dt.datetime(2026, 3, 10, 12, 0, 5, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("text", "zone", "expected"),
    [
        (None, "UTC", "2026-03-10T12:00:05Z"),
        ("2026-03-10", "UTC", "2026-03-10T12:00:05Z"),  # today means now, keeping today's order
        ("2026-03-09", "UTC", "2026-03-09T12:00:00Z"),
        ("2026-03-08", "America/New_York", "2026-03-08T16:00:00Z"),  # the day clocks spring forward
        ("2025-11-02", "America/New_York", "2025-11-02T17:00:00Z"),  # the day they fall back
        ("2026-03-11", "Pacific/Kiritimati", "2026-03-10T12:00:05Z"),  # already the 11th there
        ("2026-03-10", "Pacific/Kiritimati", "2026-03-09T22:00:00Z"),  # noon there on a day already past
        ("2024-02-29", "UTC", "2024-02-29T12:00:00Z"),
        (" 2026-03-01 ", "UTC", "2026-03-01T12:00:00Z"),
    ],
)
def test_parse_posting_date(text, zone, expected):
    assert parse_posting_date(text, zone, now=NOON_UTC) == expected


@pytest.mark.parametrize(
    ("text", "zone"), [("2026-03-11", "UTC"), ("2027-01-01", "UTC"), ("2026-03-12", "Pacific/Kiritimati")]
)
def test_parse_posting_date_refuses_the_future(text, zone):
    with pytest.raises(InvalidInput, match="is in the future"):
        parse_posting_date(text, zone, now=NOON_UTC)


@pytest.mark.parametrize("text", ["2026-02-29", "2026-3-1", "20260301", "", "+2026-03-01", "２０２６-03-01"])
def test_parse_posting_date_refuses_non_dates(text):
    with pytest.raises(InvalidInput, match="is not a date"):
        parse_posting_date(text, "UTC", now=NOON_UTC)


def test_iso_utc():
    moment = dt.datetime(2026, 11, 24, 16, 5, 0, 999, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    assert iso_utc(moment) == "2026-11-24T21:05:00Z"


# --- a property: the balance is the sum of what was posted -------------------------------------------

operations = st.lists(
    st.one_of(
        st.tuples(st.just("charge"), st.integers(1, 10**11)),
        st.tuples(st.just("credit"), st.integers(1, 10**11)),
        st.tuples(st.just("void"), st.integers(0, 40)),
    ),
    min_size=1,
    max_size=25,
)


@pytest.fixture(scope="module")
def ledger_file(tmp_path_factory):
    """One ledger on disk for every example: each example works on a customer of its own."""
    conn = connect(tmp_path_factory.mktemp("ledger") / "paylink.db")
    yield conn
    conn.close()


@settings(max_examples=60, deadline=None)
@given(ops=operations)
def test_balance_is_the_sum_of_posted_amounts(ledger_file, ops):
    conn = ledger_file
    customer = add_customer(conn, "Property")
    neighbour = add_customer(conn, "Neighbour")
    post_entry(conn, neighbour, 777, "Not theirs", posted_at=NOW)
    posted: list[tuple[int, int, bool]] = []  # (entry id, amount, is a void)
    voided: set[int] = set()

    for op, value in ops:
        if op == "void":
            if not posted:
                continue
            entry_id, amount, is_void = posted[value % len(posted)]
            if is_void or entry_id in voided:
                with pytest.raises(CannotVoid):
                    void_entry(conn, entry_id, reason="property", posted_at=NOW)
                continue
            result = void_entry(conn, entry_id, reason="property", posted_at=NOW)
            assert result.entry.amount_minor == -amount
            assert result.entry.voids_entry_id == entry_id
            voided.add(entry_id)
            posted.append((result.entry.id, -amount, True))
        else:
            amount = value if op == "charge" else -value
            result = post_entry(conn, customer, amount, op, posted_at=NOW)
            assert result.entry.amount_minor == amount
            posted.append((result.entry.id, amount, False))

        expected = sum(amount for _, amount, _ in posted)
        assert result.balance_minor == expected
        assert balance_minor(conn, customer.id) == expected
        (row,) = customer_balances(conn, customer.id)
        assert row.balance_minor == expected
        assert row.state == ("outstanding" if expected > 0 else "credit" if expected < 0 else "zero")

    assert balance_minor(conn, neighbour.id) == 777
    stored = conn.execute(
        "SELECT id, amount_minor FROM entries WHERE customer_id = ? ORDER BY id", (customer.id,)
    ).fetchall()
    assert [tuple(r) for r in stored] == [(entry_id, amount) for entry_id, amount, _ in posted]
    # Every void reverses exactly one entry, and none is reversed twice.
    voids = conn.execute(
        "SELECT voids_entry_id FROM entries WHERE customer_id = ? AND voids_entry_id IS NOT NULL", (customer.id,)
    ).fetchall()
    assert sorted(r[0] for r in voids) == sorted(voided)


def test_entries_are_append_only_in_the_domain_too(conn):
    jane = add_customer(conn, "Jane")
    post_entry(conn, jane, 100, "Job", posted_at=NOW)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE entries SET amount_minor = 0")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM entries")
    assert balance_minor(conn, jane.id) == 100
