"""Imports that see earlier rows (CONTRACT §2): entries an earlier import posted, customers already added,
and spreadsheets in the site's language."""

import datetime as dt
import hashlib
import re
from contextlib import closing
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import Paylink, make_site
from paylink import imports
from sitepages import balance_text, build_files, dump, ledger

HEADER = "customer,kind,amount,description,date"


def write_csv(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_bytes(text.encode())
    return path


def days_ago(n: int) -> str:
    return (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=n)).isoformat()


def entry_rows(site: Path) -> list[tuple]:
    with closing(ledger(site)) as conn:
        return conn.execute(
            "SELECT customer_id, amount_minor, description, posted_at FROM entries ORDER BY id"
        ).fetchall()


def imported_at(site: Path, file_name: str) -> dt.datetime:
    with closing(ledger(site)) as conn:
        (at,) = conn.execute("SELECT imported_at FROM entry_imports WHERE file_name = ?", (file_name,)).fetchone()
    return dt.datetime.strptime(at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)


def refused(paylink: Paylink, *args: str) -> str:
    """Run an import that must be refused: exit 1, an `Error:` line (and lines naming rows), nothing on stdout."""
    result = paylink(*args)
    assert result.exit_code == 1, result.stdout
    assert result.stdout == ""
    assert result.stderr.startswith("Error: ") and "unexpected failure" not in result.stderr
    return result.stderr


@pytest.fixture
def people(paylink) -> Paylink:
    """Jane (1, ref JANE) with a link, and Bob (2, ref BOB)."""
    paylink.ok("customer", "add", "Jane", "--ref", "JANE")
    paylink.ok("customer", "add", "Bob", "--ref", "BOB")
    paylink.ok("link", "generate", "JANE")
    return paylink


# --- entries an earlier import posted -----------------------------------------------------------


def test_rows_an_earlier_import_posted_are_refused_by_line(site, tmp_path, people):
    d1, d2 = days_ago(10), days_ago(9)
    people.ok(
        "import",
        "entries",
        str(write_csv(tmp_path, "january.csv", f"{HEADER}\nJANE,charge,12.50,Job,{d1}\nBOB,charge,3,Pump,{d2}\n")),
    )
    before, pages = dump(site), build_files(site)
    # An overlapping export: the same two rows (Jane by id this time, any case of kind), and one new.
    overlap = write_csv(
        tmp_path,
        "jan-feb.csv",
        f"{HEADER}\n1,Charge,12.50,Job,{d1}\nJANE,charge,7,Valve,{d2}\nbob,charge,3.00,Pump,{d2}\n",
    )

    result = refused(people, "import", "entries", str(overlap))

    when = imported_at(site, "january.csv").strftime("%Y-%m-%d %H:%M UTC")
    assert result.splitlines() == [
        "Error: jan-feb.csv: 2 rows have problems — nothing was imported; fix them and import again",
        f"  line 2: the same row (customer, kind, amount, date, description) was already imported from 'january.csv'"
        f" on {when} — pass --new-only to skip such rows, or --again to post them anyway",
        f"  line 4: the same row (customer, kind, amount, date, description) was already imported from 'january.csv'"
        f" on {when} — pass --new-only to skip such rows, or --again to post them anyway",
    ]
    assert dump(site) == before
    assert build_files(site) == pages

    # --new-only posts the new row only, and counts the others as skipped.
    assert people.json("import", "entries", str(overlap), "--new-only") == {"imported": 1, "skipped": 2}
    assert [r[1:3] for r in entry_rows(site)] == [(1250, "Job"), (300, "Pump"), (700, "Valve")]
    assert balance_text(site, 1) == "$19.50"


def test_a_row_differing_in_any_part_is_new(site, tmp_path, people):
    day = days_ago(3)
    people.ok("import", "entries", str(write_csv(tmp_path, "a.csv", f"{HEADER}\nJANE,charge,5,Job,{day}\n")))
    rows = [
        f"BOB,charge,5,Job,{day}",  # another customer
        f"JANE,credit,5,Job,{day}",  # another kind
        f"JANE,charge,5.01,Job,{day}",  # another amount
        f"JANE,charge,5,Job,{days_ago(4)}",  # another date
        f"JANE,charge,5,job,{day}",  # another description
    ]
    b = write_csv(tmp_path, "b.csv", HEADER + "\n" + "\n".join(rows) + "\n")
    assert people.json("import", "entries", str(b)) == {"imported": 5, "skipped": 0}


def test_identical_rows_in_one_file_all_post_and_again_posts_them_anyway(site, tmp_path, people):
    day = days_ago(2)
    rows = f"{HEADER}\nJANE,charge,4,Coffee,{day}\nJANE,charge,4,Coffee,{day}\n"
    assert people.json("import", "entries", str(write_csv(tmp_path, "a.csv", rows))) == {"imported": 2, "skipped": 0}
    more = write_csv(tmp_path, "b.csv", rows + f"JANE,charge,4,Coffee,{days_ago(1)}\n")
    refused(people, "import", "entries", str(more))
    assert people.json("import", "entries", str(more), "--again") == {"imported": 3, "skipped": 0}
    assert balance_text(site, 1) == "$20.00"
    # Rows posted with --again are the earlier rows of the next import too.
    c = write_csv(tmp_path, "c.csv", f"{HEADER}\nJANE,charge,4,Coffee,{days_ago(1)}\n")
    assert "'b.csv'" in refused(people, "import", "entries", str(c))


def test_a_keyed_row_is_judged_by_its_key_only(site, tmp_path, people):
    day = days_ago(2)
    people.ok("import", "entries", str(write_csv(tmp_path, "a.csv", f"{HEADER},key\nJANE,charge,4,Coffee,{day},k1\n")))
    # The same row under a new key posts; the same key is skipped as before.
    b = write_csv(tmp_path, "b.csv", f"{HEADER},key\nJANE,charge,4,Coffee,{day},k2\nJANE,charge,4,Coffee,{day},k1\n")
    assert people.json("import", "entries", str(b)) == {"imported": 1, "skipped": 1}
    # Without a key, it equals a row an earlier import posted.
    c = write_csv(tmp_path, "c.csv", f"{HEADER}\nJANE,charge,4,Coffee,{day}\n")
    assert "line 2: the same row" in refused(people, "import", "entries", str(c))


def test_rows_without_a_date_are_todays(site, tmp_path, people):
    people.ok("import", "entries", str(write_csv(tmp_path, "a.csv", f"{HEADER}\nJANE,charge,4,Coffee,\n")))
    today = dt.datetime.now(dt.UTC).date()
    b = write_csv(tmp_path, "b.csv", f"{HEADER}\nJANE,charge,4,Coffee,{today.month}/{today.day}/{today.year}\n")
    assert "line 2: the same row" in refused(people, "import", "entries", str(b))


def test_the_message_gives_the_earlier_import_in_the_sites_time_zone(tmp_path):
    paylink = Paylink(make_site(tmp_path / "ny", "--timezone", "America/New_York"))
    paylink.ok("customer", "add", "Jane", "--ref", "JANE")
    row = f"{HEADER}\nJANE,charge,4,Coffee,{days_ago(5)}\n"
    paylink.ok("import", "entries", str(write_csv(tmp_path, "a.csv", row)))
    local = imported_at(paylink.site, "a.csv").astimezone(ZoneInfo("America/New_York"))

    same_file = refused(paylink, "import", "entries", str(tmp_path / "a.csv"))
    same_row = refused(paylink, "import", "entries", str(write_csv(tmp_path, "b.csv", row + "JANE,charge,1,New,\n")))

    when = local.strftime("%Y-%m-%d %H:%M %Z")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d E[SD]T", when)
    assert same_file.startswith(f"Error: a.csv was already imported on {when} — pass --again")
    assert f"was already imported from 'a.csv' on {when} — " in same_row


def test_earlier_rows_are_found_across_chunks(site, tmp_path, people, monkeypatch):
    monkeypatch.setattr(imports, "IMPORT_CHUNK", 2)
    rows = [f"JANE,charge,{n},Visit {n},{days_ago(3)}" for n in range(1, 8)]
    people.ok("import", "entries", str(write_csv(tmp_path, "a.csv", HEADER + "\n" + "\n".join(rows[:5]) + "\n")))
    # Old rows in every chunk of the new file, new ones between them, and one in-file repeat.
    b = write_csv(tmp_path, "b.csv", HEADER + "\n" + "\n".join([rows[6], *rows, rows[6]]) + "\n")
    message = refused(people, "import", "entries", str(b))
    assert [int(n) for n in re.findall(r"^  line (\d+): the same row", message, re.M)] == [3, 4, 5, 6, 7]
    assert people.json("import", "entries", str(b), "--new-only") == {"imported": 4, "skipped": 5}
    assert balance_text(site, 1) == f"${1 + 2 + 3 + 4 + 5 + 6 + 7 + 7 + 7}.00"


def test_the_fingerprints_kept_are_the_documented_digest_of_each_distinct_row(tmp_path):
    """imported_rows holds, once per import, the first 8 bytes of BLAKE2b (big-endian, signed) of
    "customer id, signed amount, local date, description" joined by \\x1f: computed here on their own,
    for rows that are awkward (a credit, a time near midnight in the site's zone, non-ASCII, a repeat)."""
    paylink = Paylink(make_site(tmp_path / "ny", "--timezone", "America/New_York"))
    paylink.ok("customer", "add", "Jane", "--ref", "JANE")
    paylink.ok("customer", "add", "Bob", "--ref", "BOB")
    rows = [
        ("JANE", "charge", "1,234.05", "Año nuevo — café ☕", "2026-01-01", 1, 123405),
        ("2", "credit", "0.10", "Refund", "2026-03-08", 2, -10),
        ("bob", "charge", "7", "Job", "2026-07-04", 2, 700),
        ("JANE", "charge", "1,234.05", "Año nuevo — café ☕", "2026-01-01", 1, 123405),  # a repeat: one print
    ]
    text = HEADER + "\n" + "".join(f'{c},{k},"{a}",{d},{day}\n' for c, k, a, d, day, _, _ in rows)
    assert paylink.json("import", "entries", str(write_csv(tmp_path, "a.csv", text))) == {"imported": 4, "skipped": 0}
    with closing(ledger(paylink.site)) as conn:
        stored = conn.execute("SELECT fingerprint, import_id FROM imported_rows ORDER BY fingerprint").fetchall()
        posted = conn.execute("SELECT customer_id, amount_minor, description, posted_at FROM entries").fetchall()
    assert sorted(row[:3] for row in posted) == sorted((c, a, d) for _, _, _, d, _, c, a in rows)
    zone = ZoneInfo("America/New_York")
    expected = set()
    for customer, amount, description, posted_at in posted:
        moment = dt.datetime.strptime(posted_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
        text = f"{customer}\x1f{amount}\x1f{moment.astimezone(zone).date().isoformat()}\x1f{description}"
        digest = hashlib.blake2b(text.encode()).digest()
        expected.add((int.from_bytes(digest[:8], "big", signed=True), 1))
    assert len(expected) == 3
    assert stored == sorted(expected)


def test_an_import_that_posts_nothing_leaves_no_record(site, tmp_path, people):
    day = days_ago(2)
    people.ok("import", "entries", str(write_csv(tmp_path, "a.csv", f"{HEADER}\nJANE,charge,4,Coffee,{day}\n")))
    assert people.json(
        "import",
        "entries",
        str(write_csv(tmp_path, "b.csv", f"{HEADER}\nJANE,charge,4,Coffee,{day}\n\n")),
        "--new-only",
    ) == {
        "imported": 0,
        "skipped": 1,
    }
    with closing(ledger(site)) as conn:
        assert [r[0] for r in conn.execute("SELECT file_name FROM entry_imports")] == ["a.csv"]


# --- customers already added -----------------------------------------------------------------------


def test_customers_who_already_exist_are_refused_by_line(site, tmp_path, paylink):
    paylink.ok("customer", "add", "Jane Doe", "--ref", "JANE", "--email", "jane@example.com")
    paylink.ok("customer", "add", "Ann Lee", "--email", "ann@example.com", "--phone", "555-0101")
    paylink.ok("customer", "add", "Bo Ek")
    csv_file = write_csv(
        tmp_path,
        "people.csv",
        "name,email,phone,ref\n"
        "Someone Else,,,jane\n"  # 2: the same ref, in another case
        "ann lee,ANN@example.com,,\n"  # 3: the same name and email
        "Ann  Lee,,(555) 0101,\n"  # 4: the same name and phone
        "Bo Ek,,,\n"  # 5: the same name, and the row has no email or phone
        "Ann Lee,other@example.com,,\n"  # 6: the same name, another email: someone new
        "Cy New,,,CY\n",  # 7: new
    )
    before = dump(site)

    result = refused(paylink, "import", "customers", str(csv_file))

    assert result.splitlines() == [
        "Error: people.csv: 4 rows have problems — nothing was imported; fix them and import again",
        "  line 2: customer 1 ('Jane Doe') already has ref 'jane' — pass --skip-existing to skip customers already"
        " added, or give this row another ref",
        "  line 3: customer 2 ('Ann Lee') has the same name and email — pass --skip-existing to skip customers already added",
        "  line 4: customer 2 ('Ann Lee') has the same name and phone — pass --skip-existing to skip customers already added",
        "  line 5: customer 3 ('Bo Ek') has the same name — pass --skip-existing to skip customers already added,"
        " or give this row an email or phone that tells them apart",
    ]
    assert dump(site) == before

    assert paylink.json("import", "customers", str(csv_file), "--skip-existing") == {"imported": 2, "skipped": 4}
    assert paylink.ok("import", "customers", str(csv_file), "--skip-existing").stdout == (
        "Imported 0 customers; skipped 6 already here.\n"
    )
    names = [c["name"] for c in paylink.json("customer", "list")]
    assert names == ["Jane Doe", "Ann Lee", "Bo Ek", "Ann Lee", "Cy New"]


# --- the site's language -------------------------------------------------------------------------


@pytest.fixture
def spanish(tmp_path) -> Paylink:
    return Paylink(make_site(tmp_path / "mx", "--currency", "MXN", "--locale", "es_MX"))


def test_a_spanish_spreadsheet_on_a_spanish_site(spanish, tmp_path):
    people = write_csv(
        tmp_path,
        "clientes.csv",
        "Nombre;Correo;Teléfono;Referencia;Idioma\nJuana Pérez;juana@example.com;555-0101;JUANA;es\nBeto;;;BETO;\n",
    )
    assert spanish.json("import", "customers", str(people)) == {"imported": 2, "skipped": 0}
    assert spanish.json("customer", "show", "JUANA")["email"] == "juana@example.com"
    day = days_ago(4)
    rows = write_csv(
        tmp_path,
        "movimientos.csv",
        "\ufeffCLIENTE;Tipo;Importe;DESCRIPCION;fecha;Clave\r\n"
        f"JUANA;cargo;$1,200.50;Reparación;{day};m-1\r\n"
        f"juana;Abono;200;Anticipo;{day};\r\n"
        "BETO;charge;10;Visita;;\r\n",  # English is accepted too
    )
    assert spanish.json("import", "entries", str(rows)) == {"imported": 3, "skipped": 0}
    assert spanish.json("customer", "show", "JUANA")["balance_minor"] == 120050 - 20000
    assert spanish.json("customer", "show", "BETO")["balance_minor"] == 1000
    missing = write_csv(tmp_path, "sin.csv", "cliente;tipo;importe\nJUANA;cargo;5\n")
    assert refused(spanish, "import", "entries", str(missing)).startswith(
        "Error: sin.csv line 1: the header must be customer,kind,amount,description,date or"
        " cliente,tipo,importe,descripción,fecha (missing column 'description')"
    )
    bad = write_csv(tmp_path, "malo.csv", "cliente;tipo;importe;descripción\nJUANA;pago;5;x\n")
    assert refused(spanish, "import", "entries", str(bad)).startswith(
        "Error: malo.csv line 2: kind 'pago' is not charge or credit (or cargo or abono)"
    )


def test_spanish_kinds_are_not_taken_on_an_english_site(site, tmp_path, people):
    csv_file = write_csv(tmp_path, "e.csv", f"{HEADER}\nJANE,cargo,5,Job,\n")
    assert refused(people, "import", "entries", str(csv_file)).startswith(
        "Error: e.csv line 2: kind 'cargo' is not charge or credit — write charge or credit"
    )
    spanish_header = write_csv(tmp_path, "f.csv", "cliente,tipo,importe,descripción\nJANE,charge,5,Job\n")
    assert "(missing column 'customer')" in refused(people, "import", "entries", str(spanish_header))
