"""CSV imports (CONTRACT §2): customers and entries, all or nothing, with the bad line named."""

import ast
import datetime as dt
import json
import re
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from conftest import Paylink, make_site
from paylink import imports
from paylink.schema import migrate
from sitepages import balance_text, build_files, dump, insert_entry, ledger, page_names, pending_customers

CUSTOMERS_HEADER = "name,email,phone,ref"
ENTRIES_HEADER = "customer,kind,amount,description,date"


def write_csv(folder: Path, name: str, text: str, *, encoding: str = "utf-8") -> Path:
    path = folder / name
    path.write_bytes(text.encode(encoding))
    return path


def error_starts(result, text: str) -> bool:
    """Whether the one `Error:` line starts with ``text``: the file's name as written, the line, what is wrong."""
    return result.stderr.startswith(f"Error: {text}")


@pytest.fixture
def customers(paylink) -> None:
    """Jane (1, ref JANE) with a link, and Bob (2, ref BOB) without."""
    paylink.ok("customer", "add", "Jane", "--ref", "JANE")
    paylink.ok("customer", "add", "Bob", "--ref", "BOB")
    paylink.ok("link", "generate", "JANE")


# --- customers ------------------------------------------------------------------------------------


def test_import_customers(tmp_path, paylink):
    csv_file = write_csv(
        tmp_path,
        "customers.csv",
        "\ufeff"  # Excel's UTF-8 byte order mark
        f"{CUSTOMERS_HEADER}\r\n"
        '"Smith, Ann",ann@example.com,555-0101,ANN\r\n'
        "Bo Ek,,,\r\n"
        "\r\n"  # a blank line is harmless
        '"Zoë ""Z"" Ölund",,+49 30 1234,"Z,1"\r\n',
    )

    assert paylink.json("import", "customers", str(csv_file)) == {"imported": 3, "skipped": 0}

    rows = [paylink.json("customer", "show", str(i)) for i in (1, 2, 3)]
    assert [(r["name"], r["email"], r["phone"], r["ref"]) for r in rows] == [
        ("Smith, Ann", "ann@example.com", "555-0101", "ANN"),
        ("Bo Ek", None, None, None),
        ('Zoë "Z" Ölund', None, "+49 30 1234", "Z,1"),
    ]


def test_import_customers_text_output(tmp_path, paylink):
    csv_file = write_csv(tmp_path, "c.csv", f"{CUSTOMERS_HEADER}\nAnn,,,\n")
    assert paylink.ok("import", "customers", str(csv_file)).stdout == "Imported 1 customer.\n"


def test_import_customers_header_only_imports_nothing(site, tmp_path, paylink):
    csv_file = write_csv(tmp_path, "c.csv", f"{CUSTOMERS_HEADER}\n")
    before = dump(site)
    assert paylink.json("import", "customers", str(csv_file)) == {"imported": 0, "skipped": 0}
    assert dump(site) == before


BAD_CUSTOMER_FILES = {
    "empty-name": ("Ann,,,A1\n ,x@example.com,,B1\n", "line 3: the name is empty"),
    "bad-email": ("Ann,,,A1\nBob,bob-at-example,,B1\n", "line 3: email 'bob-at-example' is not an email address"),
    "bad-phone": ("Ann,,,A1\nBob,,phone me,B1\n", "line 3: phone 'phone me' is not a phone number"),
    "digit-ref": ("Ann,,,A1\nBob,,,2024\n", "line 3: ref '2024' is all digits"),
    "dup-ref-in-file": (
        "Ann,,,A1\nBob,,,B1\nCy,,,A1\n",
        "line 4: ref 'A1' also appears on line 2 — refs must be unique",
    ),
    "dup-ref-in-db": (
        "Ann,,,A1\nBob,,,JANE\n",
        "line 3: customer 1 ('Jane') already has ref 'JANE' — pass --skip-existing",
    ),
    "column-count": ("Ann,,,A1\nBob,,\n", "line 3: 3 values for 4 columns"),
    "control-char": ("Ann,,,A1\nBob\x07,,,B1\n", "line 3: the name contains a control character"),
}


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> Paylink:
    """One site for imports that must write nothing (each proves it): Jane (1, JANE) linked, Bob (2, BOB)."""
    paylink = Paylink(make_site(tmp_path_factory.mktemp("imports") / "site"))
    paylink.ok("customer", "add", "Jane", "--ref", "JANE")
    paylink.ok("customer", "add", "Bob", "--ref", "BOB")
    paylink.ok("link", "generate", "JANE")
    return paylink


@pytest.mark.parametrize("case", list(BAD_CUSTOMER_FILES))
def test_bad_customer_row_imports_nothing(shared, tmp_path, case):
    paylink, site = shared, shared.site
    rows, message = BAD_CUSTOMER_FILES[case]
    csv_file = write_csv(tmp_path, "people.csv", f"{CUSTOMERS_HEADER}\n{rows}")
    before, pages = dump(site), build_files(site)

    result = paylink.fails("import", "customers", str(csv_file))

    assert result.stderr.startswith(f"Error: people.csv {message}")
    assert dump(site) == before
    assert build_files(site) == pages


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        ("nom,email,phone,ref", "(missing column 'name')"),
        ("email,phone,ref", "(missing column 'name')"),
        ("name,name,email", ""),
    ],
)
def test_wrong_customer_header_imports_nothing(site, tmp_path, paylink, header, problem):
    csv_file = write_csv(tmp_path, "people.csv", f"{header}\nAnn,a@example.com,555\n")
    before = dump(site)
    result = paylink.fails("import", "customers", str(csv_file))
    assert error_starts(result, f"people.csv line 1: the header must be name,email,phone,ref {problem}".strip())
    assert dump(site) == before


# --- entries ------------------------------------------------------------------------------------


def test_import_entries_by_id_and_ref(site, tmp_path, paylink, customers):
    csv_file = write_csv(
        tmp_path,
        "entries.csv",
        f"{ENTRIES_HEADER}\n"
        'JANE,charge,12.50,"Drain cleaning, kitchen",2026-01-05\n'
        "2,charge,100,Boiler,2026-01-06\n"
        "1,credit,2.25,Cash,\n"
        "BOB,Credit,40,Deposit,2026-01-07\n",
    )

    assert paylink.json("import", "entries", str(csv_file)) == {"imported": 4, "skipped": 0}

    jane = paylink.json("customer", "show", "JANE")
    bob = paylink.json("customer", "show", "BOB")
    assert (jane["balance"], jane["balance_minor"]) == ("10.25", 1025)
    assert (bob["balance"], bob["balance_minor"], bob["state"]) == ("60.00", 6000, "outstanding")
    by_description = {e["description"]: e for e in jane["entries"] + bob["entries"]}
    assert by_description["Drain cleaning, kitchen"]["posted_at"] == "2026-01-05T12:00:00Z"
    assert by_description["Deposit"]["amount_minor"] == -4000
    cash_day = by_description["Cash"]["posted_at"][:10]
    assert cash_day == dt.datetime.now(dt.UTC).date().isoformat()  # no date means today
    # The linked customer's page already shows the new balance; Bob has no page.
    assert balance_text(site, 1) == "$10.25"
    assert len(page_names(site)) == 1


def test_import_entries_leaves_unaffected_pages_alone(site, tmp_path, paylink, customers):
    paylink.ok("link", "generate", "BOB")
    bob_page = build_files(site)
    csv_file = write_csv(tmp_path, "entries.csv", f"{ENTRIES_HEADER}\nJANE,charge,12.50,Job,\n")
    paylink.ok("import", "entries", str(csv_file))
    assert balance_text(site, 1) == "$12.50"
    assert balance_text(site, 2) == "$0.00"
    changed = {k for k, v in build_files(site).items() if bob_page.get(k) != v}
    assert len(changed) == 1  # only Jane's page


def test_import_entries_text_output(tmp_path, paylink, customers):
    csv_file = write_csv(tmp_path, "e.csv", f"{ENTRIES_HEADER}\n1,charge,1,Job,\n2,charge,1,Job,\n")
    assert paylink.ok("import", "entries", str(csv_file)).stdout == "Imported 2 entries.\n"


def test_import_entries_with_only_the_required_columns(tmp_path, paylink, customers):
    csv_file = write_csv(tmp_path, "e.csv", "customer,kind,amount,description\nJANE,charge,3,Job\n")
    assert paylink.json("import", "entries", str(csv_file)) == {"imported": 1, "skipped": 0}


def test_import_entries_in_yen(tmp_path):
    paylink = Paylink(make_site(tmp_path / "yen", "--currency", "JPY"))
    paylink.ok("customer", "add", "Taro")
    good = write_csv(tmp_path, "good.csv", f"{ENTRIES_HEADER}\n1,charge,1250,Job,\n")
    bad = write_csv(tmp_path, "bad.csv", f"{ENTRIES_HEADER}\n1,charge,1250,Job 2,\n1,charge,12.5,Job,\n")
    assert paylink.json("import", "entries", str(good)) == {"imported": 1, "skipped": 0}
    result = paylink.fails("import", "entries", str(bad))
    assert error_starts(result, "bad.csv line 3: amount '12.5' has too many decimals — JPY takes no decimals")
    assert paylink.json("customer", "show", "1")["balance"] == "1250"


def two_days_ahead() -> str:
    return (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=2)).isoformat()


BAD_ENTRY_ROWS = {
    "amount-abc": ("1,credit,abc,Refund,", "line 3: amount 'abc' is not a decimal number"),
    "amount-negative": ("1,credit,-5,Refund,", "line 3: amount '-5' is not a decimal number"),
    "amount-decimals": ("1,charge,12.505,Job,", "line 3: amount '12.505' has too many decimals"),
    "amount-zero": ("1,charge,0.00,Job,", "line 3: amount '0.00' is zero"),
    "amount-too-large": ("1,charge,1000000000.01,Job,", "line 3: amount '1000000000.01' is too large"),
    "amount-empty": ("1,charge,,Job,", "line 3: amount '' is not a decimal number"),
    "kind": ("1,refund,5,Refund,", "line 3: kind 'refund' is not charge or credit"),
    "unknown-ref": ("NOPE,charge,5,Job,", "line 3: No customer with ref 'NOPE'"),
    "unknown-id": ("999,charge,5,Job,", "line 3: No customer with id 999"),
    "unicode-digits": ("²,charge,5,Job,", "line 3: No customer with ref '²'"),
    "empty-customer": (",charge,5,Job,", "line 3: the customer is empty"),
    "empty-description": ("1,charge,5, ,", "line 3: the description is empty"),
    "bad-date": ("1,charge,5,Job,2026-02-30", "line 3: date '2026-02-30' is not a date"),
    "future-date": ("1,charge,5,Job,{future}", "line 3: date {future} is in the future"),
    "too-few-columns": ("1,charge,5,Job", "line 3: 4 values for 5 columns"),
    "too-many-columns": ("1,charge,5,Job,,extra", "line 3: 6 values for 5 columns"),
    "another-currency-symbol": ("1,charge,€12,Job,", "line 3: amount '€12' is not in USD"),
    "another-currency-code": ("1,charge,EUR 12,Job,", "line 3: amount 'EUR 12' is not in USD"),
    "negative-with-symbol": ("1,charge,-$5,Job,", "line 3: amount '-$5' is not a decimal number"),
    "bad-grouping": ('1,charge,"1,20",Job,', "line 3: amount '1,20' is not a decimal number"),
    "exponent": ("1,charge,1e5,Job,", "line 3: amount '1e5' is not a decimal number"),
    "grouped-too-many-decimals": ('1,charge,"$1,200.505",Job,', "line 3: amount '$1,200.505' has too many decimals"),
    "grouped-too-large": ('1,charge,"$1,000,000,001",Job,', "line 3: amount '$1,000,000,001' is too large"),
    "grouped-zero": ("1,charge,$0.00,Job,", "line 3: amount '$0.00' is zero"),
    "german-date-on-en-US": ("1,charge,5,Job,20.11.2025", "line 3: date '20.11.2025' is not a date"),
    "short-date-no-such-day": ("1,charge,5,Job,2/30/2025", "line 3: date '2/30/2025' is not a date"),
    "short-date-and-more": ("1,charge,5,Job,11/20/2025 noon", "line 3: date '11/20/2025 noon' is not a date"),
    "short-date-future": ("1,charge,5,Job,{future_us}", "line 3: date {future_us} is in the future"),
    "before-the-year-1000": ("1,charge,5,Job,0005-01-01", "line 3: date '0005-01-01' is before the year 1000"),
}


@pytest.mark.parametrize("case", list(BAD_ENTRY_ROWS))
def test_bad_entry_row_imports_nothing(shared, tmp_path, case):
    paylink, site = shared, shared.site
    future = dt.date.fromisoformat(two_days_ahead())
    future_us = f"{future.month}/{future.day}/{future.year}"
    row, message = (text.format(future=future.isoformat(), future_us=future_us) for text in BAD_ENTRY_ROWS[case])
    # A good row first, so "nothing" means that row too; a good row after, so the check is not just "stop early".
    csv_file = write_csv(
        tmp_path, "entries.csv", f"{ENTRIES_HEADER}\nJANE,charge,12.50,Job,\n{row}\nBOB,charge,1,Job,\n"
    )
    before, pages = dump(site), build_files(site)

    result = paylink.fails("import", "entries", str(csv_file))

    assert result.stderr.startswith(f"Error: entries.csv {message}")
    assert dump(site) == before
    assert build_files(site) == pages
    assert balance_text(site, 1) == "$0.00"


def test_bad_row_far_down_is_named_by_its_line(site, tmp_path, paylink, customers):
    rows = "".join(f"JANE,charge,1,Visit {i},\n" for i in range(1, 40))
    csv_file = write_csv(tmp_path, "entries.csv", f"{ENTRIES_HEADER}\n{rows}JANE,charge,one,Visit 40,\n")
    before = dump(site)
    result = paylink.fails("import", "entries", str(csv_file))
    assert error_starts(result, "entries.csv line 41: amount 'one' is not a decimal number")
    assert dump(site) == before


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        ("customer,kind,amount,memo,date", "(missing column 'description')"),
        ("customer,kind,amount", "(missing column 'description')"),
    ],
)
def test_wrong_entries_header_imports_nothing(site, tmp_path, paylink, customers, header, problem):
    csv_file = write_csv(tmp_path, "entries.csv", f"{header}\nJANE,charge,5,Job,\n")
    before = dump(site)
    result = paylink.fails("import", "entries", str(csv_file))
    assert error_starts(
        result, f"entries.csv line 1: the header must be customer,kind,amount,description,date {problem}"
    )
    assert dump(site) == before


@pytest.mark.parametrize("kind", ["customers", "entries"])
def test_missing_file(site, tmp_path, paylink, kind):
    missing = tmp_path / "nowhere.csv"
    before = dump(site)
    result = paylink.fails("import", kind, str(missing))
    assert result.stderr.startswith(f"Error: Cannot read {missing}: No such file or directory")
    assert dump(site) == before


@pytest.mark.parametrize("kind", ["customers", "entries"])
def test_empty_file(site, tmp_path, paylink, kind):
    csv_file = write_csv(tmp_path, "empty.csv", "")
    before = dump(site)
    assert error_starts(
        paylink.fails("import", kind, str(csv_file)), "empty.csv is empty — the first line must be the header"
    )
    assert dump(site) == before


def test_file_that_is_not_utf8_imports_nothing(site, tmp_path, paylink, customers):
    csv_file = write_csv(tmp_path, "entries.csv", f"{ENTRIES_HEADER}\nJANE,charge,5,Café,\n", encoding="latin-1")
    before = dump(site)
    result = paylink.fails("import", "entries", str(csv_file))
    assert error_starts(result, "entries.csv line 2: byte 0xe9 is not UTF-8 text — save the file as UTF-8 CSV")
    assert dump(site) == before


def test_non_utf8_byte_is_named_by_its_own_line(site, tmp_path, paylink, customers):
    good = "".join(f"JANE,charge,1,Visit {i},\n" for i in range(1, 2000))  # more than one read buffer
    data = f"{ENTRIES_HEADER}\n{good}".encode() + b"JANE,charge,1,Caf\xe9,\n"
    csv_file = tmp_path / "entries.csv"
    csv_file.write_bytes(data)
    before = dump(site)
    result = paylink.fails("import", "entries", str(csv_file))
    assert error_starts(result, "entries.csv line 2001: byte 0xe9 is not UTF-8 text")
    assert dump(site) == before


def test_import_error_keeps_the_file_name_as_written(site, tmp_path, paylink, customers):
    csv_file = write_csv(tmp_path, "entries.csv", f"{ENTRIES_HEADER}\nJANE,charge,12.50,Job,\n1,credit,abc,Refund,\n")
    result = paylink.fails("import", "entries", str(csv_file))
    assert result.stderr.startswith("Error: entries.csv line 3: amount 'abc' is not a decimal number — ")


# --- spreadsheets (CONTRACT §2: CSV files as a spreadsheet saves them) ----------------------------


def days_ago(n: int) -> dt.date:
    return dt.datetime.now(dt.UTC).date() - dt.timedelta(days=n)


def entries_of(site: Path) -> list[tuple]:
    with closing(ledger(site)) as conn, conn:
        return conn.execute(
            "SELECT customer_id, amount_minor, description, posted_at, idempotency_key FROM entries ORDER BY id"
        ).fetchall()


def test_american_spreadsheet_amounts_and_dates(site, tmp_path, paylink, customers):
    day = days_ago(6)
    us_day = f"{day.month}/{day.day}/{day.year}"
    csv_file = write_csv(
        tmp_path,
        "entries.csv",
        f"{ENTRIES_HEADER},Notes\n"
        f'JANE,charge,"$1,200.00",Boiler,{us_day},paid late\n'
        f"JANE,credit,USD 12,Cash,{day.month:02d}/{day.day:02d}/{day.year % 100:02d},\n"
        'JANE,charge,"1,000",Radiators,,\n'
        "JANE,charge,$ 7.5,Valve,,\n",
    )

    result = paylink.ok("import", "entries", str(csv_file), "--json")

    assert json.loads(result.stdout) == {"imported": 4, "skipped": 0}
    assert result.stderr == "Note: ignored column 'Notes' in entries.csv\n"
    rows = entries_of(site)
    assert [r[1:3] for r in rows] == [(120000, "Boiler"), (-1200, "Cash"), (100000, "Radiators"), (750, "Valve")]
    assert rows[0][3] == rows[1][3] == f"{day.isoformat()}T12:00:00Z"
    assert balance_text(site, 1) == "$2,195.50"


def test_german_spreadsheet_with_semicolons(tmp_path):
    paylink = Paylink(make_site(tmp_path / "de", "--currency", "EUR", "--locale", "de_DE"))
    paylink.ok("customer", "add", "Jana", "--ref", "JANA")
    day = days_ago(6)
    de_day = f"{day.day:02d}.{day.month:02d}.{day.year}"
    csv_file = write_csv(
        tmp_path,
        "buchungen.csv",
        "Customer;Kind;Amount;Description;Date;Bemerkung\r\n"
        f"JANA;charge;1.200,50 €;Heizung, Keller;{de_day};\r\n"
        f"jana;Charge;1.200,50\xa0EUR;Wartung;{de_day};eilig\r\n"
        "1;CREDIT;12,5;Anzahlung;;\r\n"
        "1;charge;12.50;Ventil;;\r\n"
        "1;charge;1.000;Rohre;;\r\n",
    )

    result = paylink.ok("import", "entries", str(csv_file), "--json")

    assert json.loads(result.stdout) == {"imported": 5, "skipped": 0}
    assert result.stderr == "Note: ignored column 'Bemerkung' in buchungen.csv\n"
    rows = entries_of(paylink.site)
    assert [r[1:3] for r in rows] == [
        (120050, "Heizung, Keller"),
        (120050, "Wartung"),
        (-1250, "Anzahlung"),
        (1250, "Ventil"),
        (100000, "Rohre"),
    ]
    assert rows[0][3] == f"{day.isoformat()}T12:00:00Z"
    assert paylink.json("customer", "show", "1")["balance_minor"] == 240100 + 100000


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        ("1.200,505 €", "amount '1.200,505 €' has too many decimals"),
        ("$12", "amount '$12' is not in EUR"),
        ("1,200.50", "amount '1,200.50' is not a decimal number"),
    ],
)
def test_german_amounts_refused(tmp_path, cells, message):
    paylink = Paylink(make_site(tmp_path / "de", "--currency", "EUR", "--locale", "de_DE"))
    paylink.ok("customer", "add", "Jana")
    csv_file = write_csv(tmp_path, "b.csv", f"customer;kind;amount;description\n1;charge;{cells};Job\n")
    result = paylink.fails("import", "entries", str(csv_file))
    assert error_starts(result, f"b.csv line 2: {message}")
    assert entries_of(paylink.site) == []


def test_american_short_date_refused_on_a_german_site(tmp_path):
    paylink = Paylink(make_site(tmp_path / "de", "--currency", "EUR", "--locale", "de_DE"))
    paylink.ok("customer", "add", "Jana")
    csv_file = write_csv(tmp_path, "b.csv", "customer;kind;amount;description;date\n1;charge;5;Job;11/20/2025\n")
    result = paylink.fails("import", "entries", str(csv_file))
    assert error_starts(result, "b.csv line 2: date '11/20/2025' is not a date — write it as YYYY-MM-DD")
    assert "20.11.2026" in result.stderr  # the locale's own form, as an example


def test_bom_crlf_header_case_and_order_kind_case(site, tmp_path, paylink, customers):
    csv_file = write_csv(
        tmp_path,
        "entries.csv",
        "\ufeff Date ,AMOUNT,Kind,description,CUSTOMER\r\n"
        ",5,CHARGE,Job,jane\r\n"
        "\r\n"
        ",,,,\r\n"  # a spreadsheet's empty row
        ",2,Credit,Cash,Bob\r\n",
    )
    result = paylink.ok("import", "entries", str(csv_file), "--json")
    assert json.loads(result.stdout) == {"imported": 2, "skipped": 0}
    assert result.stderr == ""
    assert [r[:3] for r in entries_of(site)] == [(1, 500, "Job"), (2, -200, "Cash")]


def test_customers_as_a_spreadsheet_saves_them(site, tmp_path, paylink):
    csv_file = write_csv(
        tmp_path,
        "people.csv",
        "\ufeffREF;Name;Language;Email;Phone;Birthday;\r\nANN;Ann;es;ann@example.com;555-0101;1 May;\r\nBEA;Bea;;;;;\r\nCY;Cy;EN;;;;\r\n",
    )
    result = paylink.ok("import", "customers", str(csv_file), "--json")
    assert json.loads(result.stdout) == {"imported": 3, "skipped": 0}
    assert result.stderr == "Note: ignored column 'Birthday' in people.csv\n"
    with closing(ledger(site)) as conn, conn:
        rows = conn.execute("SELECT name, email, phone, ref, language FROM customers ORDER BY id").fetchall()
    assert rows == [
        ("Ann", "ann@example.com", "555-0101", "ANN", "es"),
        ("Bea", None, None, "BEA", None),
        ("Cy", None, None, "CY", "en"),
    ]


def test_customer_language_refused(site, tmp_path, paylink):
    csv_file = write_csv(tmp_path, "people.csv", "name,language\nAnn,es\nBea,fr\n")
    before = dump(site)
    result = paylink.fails("import", "customers", str(csv_file))
    assert error_starts(result, "people.csv line 3: language 'fr' is not one paylink has — use one of en, es")
    assert dump(site) == before


def test_customer_refs_unique_without_regard_to_case(site, tmp_path, paylink, customers):
    in_file = write_csv(tmp_path, "a.csv", "name,ref\nAnn,ann\nBea,ANN\n")
    assert error_starts(
        paylink.fails("import", "customers", str(in_file)), "a.csv line 3: ref 'ANN' also appears on line 2"
    )
    in_ledger = write_csv(tmp_path, "b.csv", "name,ref\nAnn,ann\nJanet,jane\n")
    assert error_starts(
        paylink.fails("import", "customers", str(in_ledger)),
        "b.csv line 3: customer 1 ('Jane') already has ref 'jane' — pass --skip-existing to skip customers already added",
    )


# --- keys and repeated files ------------------------------------------------------------------------


def test_key_column_skips_rows_already_posted(site, tmp_path, paylink, customers):
    paylink.ok("charge", "JANE", "30", "Inspection", "--key", "inv-1")
    csv_file = write_csv(
        tmp_path,
        "entries.csv",
        f"{ENTRIES_HEADER},key\n"
        "JANE,charge,30,Inspection,,inv-1\n"  # posted with --key before: skipped
        "JANE,charge,45,Pump,,inv-2\n"
        "JANE,charge,45,Pump,,inv-2\n"  # the same key again in the file: the first wins
        "BOB,charge,45,Pump,,inv-2\n"  # a key belongs to one customer
        "JANE,charge,10,No key,,\n"
        "JANE,charge,10,No key,,\n",  # rows without a key are all posted
    )

    assert paylink.json("import", "entries", str(csv_file)) == {"imported": 4, "skipped": 2}

    assert sorted((r[0],) + r[1:3] + r[4:] for r in entries_of(site)) == [
        (1, 1000, "No key", None),
        (1, 1000, "No key", None),
        (1, 3000, "Inspection", "inv-1"),
        (1, 4500, "Pump", "inv-2"),
        (2, 4500, "Pump", "inv-2"),
    ]
    assert paylink.json("customer", "show", "JANE")["balance_minor"] == 3000 + 4500 + 2000
    # Posting the same key by hand afterwards prints the first result again.
    first_pump = next(i for i, r in enumerate(entries_of(site), 1) if r[0] == 1 and r[4] == "inv-2")
    assert paylink.json("charge", "JANE", "45", "Pump", "--key", "inv-2")["entry_id"] == first_pump


def test_key_reused_with_another_amount_is_refused(site, tmp_path, paylink, customers):
    paylink.ok("charge", "JANE", "30", "Inspection", "--key", "inv-1")
    before = dump(site)
    in_ledger = write_csv(tmp_path, "a.csv", f"{ENTRIES_HEADER},key\nJANE,charge,31,Inspection,,inv-1\n")
    assert error_starts(
        paylink.fails("import", "entries", str(in_ledger)),
        "a.csv line 2: key 'inv-1' was already used for entry 1 with another amount or description",
    )
    in_file = write_csv(tmp_path, "b.csv", f"{ENTRIES_HEADER},key\nJANE,charge,5,Pump,,k\nJANE,charge,5,Pump (2),,k\n")
    assert error_starts(
        paylink.fails("import", "entries", str(in_file)),
        "b.csv line 3: key 'k' also appears on line 2 with another amount or description",
    )
    assert dump(site) == before


def test_importing_the_same_file_twice_posts_once(site, tmp_path, paylink, customers):
    rows = f"{ENTRIES_HEADER}\nJANE,charge,12.50,Job,\nBOB,charge,3,Job,\n"
    first = write_csv(tmp_path, "march.csv", rows)
    assert paylink.json("import", "entries", str(first)) == {"imported": 2, "skipped": 0}
    before, pages = dump(site), build_files(site)

    again = paylink.fails("import", "entries", str(first))
    renamed = paylink.fails("import", "entries", str(write_csv(tmp_path, "march (1).csv", rows)))

    today = dt.datetime.now(dt.UTC).date().isoformat()
    assert re.fullmatch(
        rf"Error: march\.csv was already imported on {today} [0-2][0-9]:[0-5][0-9] UTC — pass --again to import it again.*\n",
        again.stderr,
    )
    assert renamed.stderr.startswith(f"Error: march (1).csv was already imported on {today} ")
    assert dump(site) == before
    assert build_files(site) == pages
    assert balance_text(site, 1) == "$12.50"
    # --again imports it again (rows without a key have nothing to say they were posted).
    assert paylink.json("import", "entries", str(first), "--again") == {"imported": 2, "skipped": 0}
    assert balance_text(site, 1) == "$25.00"


def test_again_with_keys_skips_every_row(site, tmp_path, paylink, customers):
    csv_file = write_csv(
        tmp_path, "march.csv", f"key,{ENTRIES_HEADER}\nm-1,JANE,charge,12.50,Job,\nm-2,BOB,charge,3,Job,\n"
    )
    assert paylink.json("import", "entries", str(csv_file)) == {"imported": 2, "skipped": 0}
    before = dump(site)
    paylink.fails("import", "entries", str(csv_file))
    result = paylink.ok("import", "entries", str(csv_file), "--again")
    assert result.stdout == "Imported 0 entries; skipped 2 already posted (same key).\n"
    assert [line for line in dump(site) if 'INSERT INTO "entries"' in line] == [
        line for line in before if 'INSERT INTO "entries"' in line
    ]
    assert balance_text(site, 1) == "$12.50"


def test_a_refused_file_is_not_remembered(site, tmp_path, paylink, customers):
    csv_file = write_csv(tmp_path, "e.csv", f"{ENTRIES_HEADER}\nJANE,charge,5,Job,\nNOPE,charge,5,Job,\n")
    for _ in range(2):
        assert error_starts(
            paylink.fails("import", "entries", str(csv_file)), "e.csv line 3: No customer with ref 'NOPE'"
        )
    with closing(ledger(site)) as conn, conn:
        assert conn.execute("SELECT COUNT(*) FROM imported_files").fetchone() == (0,)


# --- many bad rows, hostile values ------------------------------------------------------------------


def test_many_bad_rows_are_named_twenty_at_most(site, tmp_path, paylink, customers):
    good = "JANE,charge,5,Job,\n"
    bad = [f"JANE,charge,abc{n},Job,\n" for n in range(25)]
    csv_file = write_csv(tmp_path, "big.csv", ENTRIES_HEADER + "\n" + good + "".join(bad) + good)
    before, pages = dump(site), build_files(site)

    result = paylink("import", "entries", str(csv_file))

    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0].startswith("Error: big.csv: 25 rows have problems — nothing was imported")
    assert lines[1:] == [
        f"  line {n + 3}: amount 'abc{n}' is not a decimal number — write it like 12.50 or $1,200.50" for n in range(20)
    ]
    assert result.stdout == ""
    assert dump(site) == before
    assert build_files(site) == pages


def test_a_few_bad_rows_of_different_kinds(site, tmp_path, paylink, customers):
    csv_file = write_csv(
        tmp_path,
        "e.csv",
        f"{ENTRIES_HEADER}\nJANE,charge,5,Job,\nJANE,refund,5,Job,\nJANE,charge,5,Job,2026-13-01\nJAEN,charge,5,Job,\n",
    )
    result = paylink("import", "entries", str(csv_file))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "Error: e.csv: 3 rows have problems — nothing was imported; fix them and import again",
        "  line 3: kind 'refund' is not charge or credit — write charge or credit",
        "  line 4: date '2026-13-01' is not a date — write it as YYYY-MM-DD (2026-03-31) or as 11/20/2026",
        "  line 5: No customer with ref 'JAEN' — did you mean 'JANE'?",
    ]


HOSTILE = "\u202e" + "A" * 5000 + "\x1b[31m\r"


@pytest.mark.parametrize("column", ["customer", "kind", "amount", "date", "key"])
def test_hostile_entry_values_are_quoted_short(shared, tmp_path, column):
    row = {"customer": "JANE", "kind": "charge", "amount": "5", "description": "Job", "date": "", "key": ""}
    row[column] = HOSTILE
    text = f"{ENTRIES_HEADER},key\n" + ",".join(f'"{v}"' for v in row.values()) + "\n"
    csv_file = write_csv(tmp_path, "h.csv", text)
    result = shared.fails("import", "entries", str(csv_file))
    assert_quotes_short(result.stderr)


@pytest.mark.parametrize("column", ["name", "email", "phone", "ref", "language"])
def test_hostile_customer_values_are_quoted_short(shared, tmp_path, column):
    row = {"name": "Ann", "email": "", "phone": "", "ref": "", "language": ""}
    row[column] = HOSTILE if column != "ref" else "9" * 500
    if column == "email":
        row[column] = "a" * 300 + "@example.com"
    if column == "phone":
        row[column] = "5" * 300
    csv_file = write_csv(
        tmp_path, "h.csv", "name,email,phone,ref,language\n" + ",".join(f'"{v}"' for v in row.values()) + "\n"
    )
    result = shared.fails("import", "customers", str(csv_file))
    assert_quotes_short(result.stderr)


def assert_quotes_short(stderr: str) -> None:
    (line,) = stderr.splitlines()
    assert line.startswith("Error: h.csv line 2: ")
    assert len(line) < 300
    assert "\x1b" not in line and "\u202e" not in line
    for value in re.findall(r"'([^']*)'", line):
        assert len(ast.literal_eval(f"'{value}'")) <= 80


# --- the cell reader, on locales the CLI tests do not cover -------------------------------------


@pytest.mark.parametrize(
    ("currency", "locale", "text", "minor"),
    [
        ("EUR", "fr_FR", "1 200,50 €", 120050),  # a plain space where French writes a narrow no-break one
        ("EUR", "fr_FR", "1\u202f200,50\xa0€", 120050),
        ("CHF", "de_CH", "CHF 1'200.50", 120050),
        ("CHF", "de_CH", "1\u2019200.50", 120050),
        ("JPY", "ja_JP", "￥1,200", 1200),
        ("JPY", "ja_JP", "¥1,200", 1200),
        ("JPY", "de_DE", "1.200", 1200),  # "." groups thousands there, and yen have no decimals
        ("MXN", "es_MX", "$1,200.50", 120050),
        ("KWD", "en_US", "KWD 1,200.505", 1200505),
        ("USD", "en_US", "usd 12", 1200),
    ],
)
def test_cell_reader_amounts(currency, locale, text, minor):
    from paylink.spreadsheet import CellReader

    assert CellReader(currency, locale, "UTC").amount(text) == minor


@pytest.mark.parametrize(
    ("locale", "text", "iso"),
    [
        ("ja_JP", "2025/11/20", "2025-11-20"),
        ("fr_FR", "20/11/2025", "2025-11-20"),
        ("ko_KR", "2025. 11. 20.", "2025-11-20"),
        ("de_DE", "1.2.25", "2025-02-01"),
        ("en_US", "2025-11-20", "2025-11-20"),
    ],
)
def test_cell_reader_dates(locale, text, iso):
    from paylink.spreadsheet import CellReader

    reader = CellReader("USD", locale, "UTC", now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    assert reader.posting_date(text) == f"{iso}T12:00:00Z"


def test_many_odd_extra_columns_are_noted_in_one_short_line(site, tmp_path, paylink, customers):
    extras = ["Notes", "Notes", "\u202e" + "N" * 500] + [f"x{i}" for i in range(20)]
    header = ",".join([*ENTRIES_HEADER.split(","), *(f'"{e}"' for e in extras)])
    csv_file = write_csv(tmp_path, "e.csv", f"{header}\nJANE,charge,5,Job,{',' * len(extras)}\n")
    result = paylink.ok("import", "entries", str(csv_file))
    (line,) = result.stderr.splitlines()
    assert line.startswith("Note: ignored columns 'Notes', '\\u202eNNN")
    assert line.endswith(" and 12 more in e.csv")
    assert len(line) < 400
    assert result.stdout == "Imported 1 entry.\n"


# --- the ledger's triggers: set aside for the import's own rows, never for anyone else's --------------


def entries_triggers(site: Path) -> set[tuple[str, str]]:
    with closing(ledger(site)) as conn:
        return set(conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'entries'"))


def another_programs_writes_are_still_checked_and_marked(site: Path) -> None:
    """An INSERT by plain sqlite3 still marks the page pending, and a bad one is still refused."""
    with closing(ledger(site)) as conn, conn:
        conn.execute("DELETE FROM pending_pages")
    insert_entry(site, 2, 700, "Another program's charge")
    assert pending_customers(site) == [2]
    with pytest.raises(sqlite3.IntegrityError, match="names no customer"):
        insert_entry(site, 99, 700, "Nobody's charge")
    with pytest.raises(sqlite3.IntegrityError, match="must be an ISO 8601 time"):
        insert_entry(site, 2, 700, "Odd time", posted_at="yesterday")


def test_the_entries_triggers_are_the_ones_the_import_knows():
    """An import sets aside only the triggers it does the work of; a new trigger on entries must be taught to it."""
    with closing(sqlite3.connect(":memory:")) as conn:
        conn.isolation_level = None
        conn.execute("BEGIN")
        migrate(conn)
        names = {
            r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'entries'")
        }
    assert names == imports.ENTRY_TRIGGERS
    assert set(imports.BULK_TRIGGERS) < names


def test_an_import_leaves_the_triggers_for_other_programs(site, tmp_path, paylink, customers):
    triggers = entries_triggers(site)
    good = write_csv(tmp_path, "good.csv", f"{ENTRIES_HEADER}\nJANE,charge,5,Job,\nBOB,charge,6,Job,\n")
    bad = write_csv(tmp_path, "bad.csv", f"{ENTRIES_HEADER}\nJANE,charge,5,Job 2,\nBOB,charge,six,Job,\n")

    paylink.json("import", "entries", str(good))
    assert entries_triggers(site) == triggers
    paylink.fails("import", "entries", str(bad))  # refused after its good row was inserted, then rolled back
    assert entries_triggers(site) == triggers

    another_programs_writes_are_still_checked_and_marked(site)


def test_an_import_in_several_chunks_marks_every_page_and_keeps_keys(site, tmp_path, paylink, monkeypatch):
    """Chunks of two rows: each chunk's customers' pages are marked and written; keys are seen across chunks."""
    monkeypatch.setattr(imports, "IMPORT_CHUNK", 2)
    for n in range(1, 6):
        paylink.ok("customer", "add", f"Customer {n}", "--ref", f"C{n}")
        paylink.ok("link", "generate", f"C{n}")
    rows = "".join(f"C{n},charge,{n},Job {n},,k{n}\n{n},charge,10,Visit,,\n" for n in (1, 2, 3, 4, 5))
    csv_file = write_csv(tmp_path, "e.csv", f"{ENTRIES_HEADER},key\n{rows}C1,charge,1,Job 1,,k1\n")

    assert paylink.json("import", "entries", str(csv_file)) == {"imported": 10, "skipped": 1}

    assert pending_customers(site) == []
    assert [balance_text(site, n) for n in (1, 2, 3, 4, 5)] == ["$11.00", "$12.00", "$13.00", "$14.00", "$15.00"]
    clash = write_csv(tmp_path, "clash.csv", f"{ENTRIES_HEADER},key\n{rows}C1,charge,9,Job 1,,k1\n")
    before = dump(site)
    result = paylink.fails("import", "entries", str(clash), "--again")
    assert "line 12: key 'k1' was already used for entry 1 with another amount or description" in result.stderr
    assert dump(site) == before


def test_another_programs_own_trigger_on_entries_still_fires(site, tmp_path, paylink, customers):
    """With a trigger on entries the import does not know, it keeps every trigger in place."""
    with closing(ledger(site)) as conn, conn:
        conn.execute("CREATE TABLE audit (entry_id INTEGER)")
        conn.execute(
            "CREATE TRIGGER audit_entries AFTER INSERT ON entries BEGIN INSERT INTO audit VALUES (NEW.id); END"
        )
    csv_file = write_csv(tmp_path, "e.csv", f"{ENTRIES_HEADER}\nJANE,charge,5,Job,\nBOB,charge,6,Job,\n")

    assert paylink.json("import", "entries", str(csv_file)) == {"imported": 2, "skipped": 0}

    with closing(ledger(site)) as conn:
        assert conn.execute("SELECT entry_id FROM audit ORDER BY entry_id").fetchall() == [(1,), (2,)]
    assert balance_text(site, 1) == "$5.00"
    another_programs_writes_are_still_checked_and_marked(site)


def test_a_date_that_would_be_before_the_year_1000_in_utc_is_refused(tmp_path):
    paylink = Paylink(make_site(tmp_path / "plus14", "--timezone", "Etc/GMT-14"))  # UTC+14, then as now
    paylink.ok("customer", "add", "Teiti")
    csv_file = write_csv(tmp_path, "e.csv", f"{ENTRIES_HEADER}\n1,charge,5,Job,1000-01-02\n1,charge,5,Job,1000-01-01\n")
    before = dump(paylink.site)
    result = paylink.fails("import", "entries", str(csv_file))
    assert error_starts(result, "e.csv line 3: date '1000-01-01' is before the year 1000 — check the year")
    assert dump(paylink.site) == before
