"""CSV imports (CONTRACT §2): customers and entries, all or nothing, with the bad line named."""

import datetime as dt
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from conftest import Paylink, make_site

CUSTOMERS_HEADER = "name,email,phone,ref"
ENTRIES_HEADER = "customer,kind,amount,description,date"


def write_csv(folder: Path, name: str, text: str, *, encoding: str = "utf-8") -> Path:
    path = folder / name
    path.write_bytes(text.encode(encoding))
    return path


def dump(site: Path) -> list[str]:
    with closing(sqlite3.connect(site / "paylink.db")) as conn, conn:
        return list(conn.iterdump())


def build_files(site: Path) -> dict[str, bytes]:
    return {str(p.relative_to(site)): p.read_bytes() for p in sorted((site / "build").rglob("*")) if p.is_file()}


def error_starts(result, text: str) -> bool:
    """Whether the one `Error:` line starts with ``text``: the file's name as written, the line, what is wrong."""
    return result.stderr.startswith(f"Error: {text}")


def page_balance(site: Path, customer_id: int) -> str:
    with closing(sqlite3.connect(site / "paylink.db")) as conn, conn:
        (snapshot,) = conn.execute(
            "SELECT snapshot FROM links WHERE customer_id = ? AND retired_at IS NULL", (customer_id,)
        ).fetchone()
    html = (site / "build" / "p" / snapshot).read_text(encoding="utf-8")
    return BeautifulSoup(html, "html.parser").select_one("#balance").get_text(strip=True)


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

    assert paylink.json("import", "customers", str(csv_file)) == {"imported": 3}

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
    assert paylink.json("import", "customers", str(csv_file)) == {"imported": 0}
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
    "dup-ref-in-db": ("Ann,,,A1\nBob,,,JANE\n", "line 3: another customer already has ref 'JANE'"),
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
    assert page_balance(site, 1) == "$10.25"
    assert len(list((site / "build" / "p").iterdir())) == 1


def test_import_entries_leaves_unaffected_pages_alone(site, tmp_path, paylink, customers):
    paylink.ok("link", "generate", "BOB")
    bob_page = build_files(site)
    csv_file = write_csv(tmp_path, "entries.csv", f"{ENTRIES_HEADER}\nJANE,charge,12.50,Job,\n")
    paylink.ok("import", "entries", str(csv_file))
    assert page_balance(site, 1) == "$12.50"
    assert page_balance(site, 2) == "$0.00"
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
    bad = write_csv(tmp_path, "bad.csv", f"{ENTRIES_HEADER}\n1,charge,1250,Job,\n1,charge,12.5,Job,\n")
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
}


@pytest.mark.parametrize("case", list(BAD_ENTRY_ROWS))
def test_bad_entry_row_imports_nothing(shared, tmp_path, case):
    paylink, site = shared, shared.site
    row, message = (text.format(future=two_days_ahead()) for text in BAD_ENTRY_ROWS[case])
    # A good row first, so "nothing" means that row too; a good row after, so the check is not just "stop early".
    csv_file = write_csv(
        tmp_path, "entries.csv", f"{ENTRIES_HEADER}\nJANE,charge,12.50,Job,\n{row}\nBOB,charge,1,Job,\n"
    )
    before, pages = dump(site), build_files(site)

    result = paylink.fails("import", "entries", str(csv_file))

    assert result.stderr.startswith(f"Error: entries.csv {message}")
    assert dump(site) == before
    assert build_files(site) == pages
    assert page_balance(site, 1) == "$0.00"


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
