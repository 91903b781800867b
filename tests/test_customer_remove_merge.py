"""`customer remove` and `customer merge` (CONTRACT §2): a mistake removed, a duplicate folded into the one kept."""

from contextlib import closing
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import Paylink, make_site
from edgeserver import request, running_edge
from sitepages import balance_text, build_files, dump, ledger, live_snapshot, page_names


def entries(site: Path) -> list[tuple]:
    with closing(ledger(site)) as conn:
        return conn.execute("SELECT id, customer_id, amount_minor, description FROM entries ORDER BY id").fetchall()


def keys(site: Path) -> list[str]:
    return (site / "paylink.key").read_text(encoding="utf-8").split()


@pytest.fixture
def dupes(paylink) -> Paylink:
    """Ann Lee (1, ref ANN) and her duplicate Ann (2), both linked, each charged; Zed (3), no entries, linked."""
    paylink.ok("customer", "add", "Ann Lee", "--ref", "ANN")
    paylink.ok("customer", "add", "Ann")
    paylink.ok("customer", "add", "Zed")
    for key in ("ANN", "2", "3"):
        paylink.ok("link", "generate", key)
    paylink.ok("charge", "ANN", "10", "Visit")
    paylink.ok("charge", "2", "50", "Boiler")
    paylink.ok("credit", "2", "12.50", "Cash")
    return paylink


# --- remove ----------------------------------------------------------------------------------------


def test_remove_takes_the_customer_their_link_and_page(site, tmp_path, dupes):
    zed_url = dupes.json("link", "show", "3")["url"]
    zed_page = live_snapshot(site, 3)
    with running_edge(site / "build", keys(site), tmp_path / "edge.log") as edge:
        assert request(edge.port, urlsplit(zed_url).path).status == 200

        assert dupes.json("customer", "remove", "3") == {"id": 3, "removed": True}

        assert request(edge.port, urlsplit(zed_url).path).status == 410
    assert not (site / "build" / "p" / zed_page).exists()
    assert len(page_names(site)) == 2
    assert [c["id"] for c in dupes.json("customer", "list", "--all")] == [1, 2]
    assert dupes.fails("customer", "show", "3").stderr.startswith("Error: No customer with id 3")
    with closing(ledger(site)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM links WHERE customer_id = 3").fetchone() == (0,)


def test_remove_text_output_and_offline(site, paylink):
    paylink.ok("customer", "add", "Oops")
    assert paylink.ok("customer", "remove", "1", "--offline").stdout == "Removed customer 1: Oops\n"


def test_a_customer_with_entries_is_not_removed(site, dupes):
    before, pages = dump(site), build_files(site)
    result = dupes.fails("customer", "remove", "ANN")
    assert result.stderr == (
        "Error: Customer 1 ('Ann Lee', ref 'ANN') has 1 entry, and entries are never deleted — to fold a duplicate"
        " into another customer, use `paylink customer merge ANN INTO`\n"
    )
    assert dupes.fails("customer", "remove", "nobody").stderr.startswith("Error: No customer with ref 'nobody'")
    assert dump(site) == before
    assert build_files(site) == pages


# --- merge -----------------------------------------------------------------------------------------


def test_merge_moves_the_balance_with_two_entries(site, tmp_path, dupes):
    before = entries(site)
    ann_url = dupes.json("link", "show", "2")["url"]
    ann_page = live_snapshot(site, 2)

    with running_edge(site / "build", keys(site), tmp_path / "edge.log") as edge:
        merged = dupes.json("customer", "merge", "2", "ann")
        assert request(edge.port, urlsplit(ann_url).path).status == 410

    assert merged == {"from": 2, "into": 1, "moved": "37.50", "moved_minor": 3750}
    after = entries(site)
    assert after[: len(before)] == before  # no entry edited
    assert after[len(before) :] == [
        (4, 2, -3750, "Moved to Ann Lee (ANN)"),
        (5, 1, 3750, "Moved from Ann (C2)"),
    ]
    assert balance_text(site, 1) == "$47.50"
    assert not (site / "build" / "p" / ann_page).exists()
    # Hidden from the list, shown with --all and marked; the statement still has every entry.
    assert [c["id"] for c in dupes.json("customer", "list")] == [1, 3]
    everyone = dupes.json("customer", "list", "--all")
    assert [(c["id"], c.get("merged_into"), c["balance_minor"], c["url"]) for c in everyone] == [
        (1, None, 4750, dupes.json("link", "show", "1")["url"]),
        (2, 1, 0, None),
        (3, None, 0, dupes.json("link", "show", "3")["url"]),
    ]
    assert "(merged into 1)" in dupes.ok("customer", "list", "--all").stdout
    assert "(merged into 1)" not in dupes.ok("customer", "list").stdout
    statement = dupes.json("statement", "2")
    assert [e["description"] for e in statement["entries"]] == ["Boiler", "Cash", "Moved to Ann Lee (ANN)"]
    assert statement["closing_balance_minor"] == 0
    assert dupes.json("customer", "show", "2")["merged_into"] == 1


def test_a_credit_moves_as_a_credit_and_zero_moves_nothing(site, dupes):
    dupes.ok("credit", "2", "100", "Prepaid")  # Ann: 37.50 - 100 = a credit of 62.50
    assert dupes.json("customer", "merge", "2", "1") == {"from": 2, "into": 1, "moved": "-62.50", "moved_minor": -6250}
    assert dupes.json("customer", "show", "1")["balance_minor"] == 1000 - 6250
    count = len(entries(site))
    result = dupes.ok("customer", "merge", "3", "1", "--offline")
    assert result.stdout == "Merged customer 3 (Zed) into 1 (Ann Lee): nothing owed to move.\n"
    assert len(entries(site)) == count  # a zero balance posts nothing
    assert [c["id"] for c in dupes.json("customer", "list")] == [1]


def test_merge_entries_are_in_each_customers_language(site, paylink):
    paylink.ok("customer", "add", "Juana", "--language", "es")
    paylink.ok("customer", "add", "Joan", "--ref", "JOAN")
    paylink.ok("charge", "1", "5", "Visita")
    paylink.ok("customer", "merge", "1", "JOAN")
    assert [e[3] for e in entries(site)[1:]] == ["Traspasado a Joan (JOAN)", "Moved from Juana (C1)"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("ANN", "1"),
            "Error: Customer 1 ('Ann Lee', ref 'ANN') cannot be merged into itself — name the customer to keep",
        ),
        (
            ("2", "ANN"),
            "Error: Customer 2 ('Ann') was already merged into 1 ('Ann Lee', ref 'ANN') — nothing to do",
        ),
        (
            ("3", "2"),
            "Error: Customer 2 ('Ann') was itself merged into 1 ('Ann Lee', ref 'ANN') — merge into 'ANN' instead",
        ),
        (("3", "NOBODY"), "Error: No customer with ref 'NOBODY'"),
    ],
)
def test_merges_that_cannot_be_are_refused(site, dupes, args, message):
    dupes.ok("customer", "merge", "2", "ANN")
    before, pages = dump(site), build_files(site)
    assert dupes.fails("customer", "merge", *args).stderr.startswith(message)
    assert dump(site) == before
    assert build_files(site) == pages


def test_a_merged_customer_takes_no_more_entries(site, tmp_path, dupes):
    dupes.ok("customer", "merge", "2", "ANN")
    before = dump(site)
    points = "was merged into 1 ('Ann Lee', ref 'ANN') — use 'ANN' instead"
    for command in (("charge", "2", "5", "Job"), ("credit", "2", "5", "Cash"), ("link", "generate", "2")):
        assert points in dupes.fails(*command).stderr
    assert dupes.fails("void", "2").stderr.startswith(
        "Error: Entry 2 belongs to customer 2, who was merged into 1 ('Ann Lee', ref 'ANN') — post a charge or credit"
        " to 'ANN' instead"
    )
    csv_file = tmp_path / "e.csv"
    csv_file.write_text("customer,kind,amount,description\nANN,charge,1,Job\n2,charge,5,Job\n")
    assert dupes.fails("import", "entries", str(csv_file)).stderr.startswith(
        "Error: e.csv line 3: customer '2' was merged into customer 1 — write 'ANN' instead"
    )
    dupes.ok("link", "generate", "--all")  # gives no link to a merged customer
    assert dupes.json("customer", "show", "2")["url"] is None
    assert [line for line in dump(site) if "entries" in line] == [line for line in before if "entries" in line]


def test_a_customer_others_were_merged_into_stays(tmp_path):
    paylink = Paylink(make_site(tmp_path / "s"))
    paylink.ok("customer", "add", "Keep")
    paylink.ok("customer", "add", "Dupe")
    paylink.ok("customer", "merge", "2", "1")  # nothing owed: no entries anywhere
    assert paylink.fails("customer", "remove", "1").stderr.startswith(
        "Error: Customer 1 ('Keep') has customer 2 merged into them"
    )
    # The merged customer itself, with no entries, may go.
    assert paylink.json("customer", "remove", "2") == {"id": 2, "removed": True}
    assert paylink.json("customer", "remove", "1") == {"id": 1, "removed": True}
