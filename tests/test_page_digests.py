"""The customer pages' exact bytes, pinned: a change to how a page is drawn must not change a byte by accident.

Seeded ledgers of several shapes (zero, credit, outstanding; tips on, off and
wide; more than 20 entries; voids; hostile text; an ``es`` customer on an
``en_US`` site; a ``de_DE``/EUR and a ``ja_JP``/JPY site) are written the way
another program writes them (plain SQL, fixed times), their pages built by the
real CLI, and each page's SHA-256 compared with ``page_digests.json``. The
pages are built twice: once by ``link generate --all`` (Jinja, then the
compiled page) and once by ``build --full`` from the page cache; both must give
the pinned bytes.

To re-pin after a change that is meant to change pages, run
``PAYLINK_REPIN_DIGESTS=1 pytest tests/test_page_digests.py`` and say in the
commit which pages changed and why.
"""

import hashlib
import json
import os
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from conftest import Paylink, make_site
from sitepages import live_snapshot

DIGESTS = Path(__file__).with_name("page_digests.json")
HOSTILE_NAME = 'O\'Brien & <Sons> "Ltd" \ue000name\ue001 {{ x }} %(name)s'
HOSTILE_TEXT = "<script>alert(1)</script> & &amp; %s %% {% raw %} Zoë 山田 🧾"

# Each site: init options, tips (None: the default), and its customers.
# A customer: (label, language, created_at, entries); an entry: (amount_minor, description, posted_at)
# or ("void", index of the entry it reverses in this list, reason, posted_at).
SITES = {
    "us": (
        ["--phone", "555-0100", "--email", "pay@example.com", "--address", "1 Main St"],
        None,
        [
            ("zero-empty", None, "2026-01-02T03:04:05Z", []),
            (
                "zero-settled",
                None,
                "2026-01-02T03:04:05Z",
                [(5000, "Repair", "2026-02-01T10:00:00Z"), (-5000, "Paid", "2026-02-03T10:00:00Z")],
            ),
            ("credit", None, "2026-01-02T03:04:05Z", [(-725, "Deposit", "2026-03-01T09:00:00Z")]),
            ("outstanding", None, "2026-01-02T03:04:05Z", [(4250, "Drain cleaning", "2026-03-05T15:30:00Z")]),
            ("wide", None, "2026-01-02T03:04:05Z", [(99_999_999_999, "Big job", "2026-03-05T15:30:00Z")]),
            # The 25 % total, "$112,500.00", is 11 characters: one more than the narrow tip layout takes.
            ("wide-edge", None, "2026-01-02T03:04:05Z", [(9_000_000, "Roof", "2026-03-05T15:30:00Z")]),
            (
                "many",
                None,
                "2026-01-02T03:04:05Z",
                [(100 + i, f"Visit {i}", f"2026-04-{1 + i:02d}T08:00:00Z") for i in range(25)],
            ),
            (
                "voids",
                None,
                "2026-01-02T03:04:05Z",
                [
                    (1200, "Filter", "2026-05-01T10:00:00Z"),
                    (3400, "Wrong amount", "2026-05-02T10:00:00Z"),
                    ("void", 1, "typed <the> wrong amount", "2026-05-03T10:00:00Z"),
                    (-500, "Refund", "2026-05-04T10:00:00Z"),
                    ("void", 3, "", "2026-05-05T10:00:00Z"),
                ],
            ),
            (
                "voids-many",
                None,
                "2026-01-02T03:04:05Z",
                [
                    *[(100 + i, f"Visit {i}", f"2026-06-{1 + i:02d}T08:00:00Z") for i in range(22)],
                    ("void", 20, "duplicate", "2026-06-25T08:00:00Z"),
                    ("void", 2, "old mistake", "2026-06-26T08:00:00Z"),
                ],
            ),
            ("hostile", None, "2026-01-02T03:04:05Z", [(1999, HOSTILE_TEXT, "2026-07-01T10:00:00Z")]),
            (
                "es",
                "es",
                "2026-01-02T03:04:05Z",
                [
                    (4250, "Reparación", "2026-03-05T15:30:00Z"),
                    *[(10 + i, f"Visita {i}", f"2026-04-{1 + i:02d}T08:00:00Z") for i in range(21)],
                ],
            ),
            ("es-zero", "es", "2026-01-02T03:04:05Z", []),
            ("es-credit", "es", "2026-01-02T03:04:05Z", [(-100, "Abono", "2026-03-01T09:00:00Z")]),
        ],
    ),
    "notips": (
        ["--timezone", "America/Chicago"],
        "[]",
        [
            ("outstanding", None, "2026-01-02T03:04:05Z", [(4250, "Drain cleaning", "2026-03-05T03:30:00Z")]),
            ("es", "es", "2026-01-02T03:04:05Z", [(4250, "Reparación", "2026-11-05T03:30:00Z")]),
        ],
    ),
    "de": (
        ["--currency", "EUR", "--locale", "de_DE", "--timezone", "Europe/Berlin"],
        "[10, 15]",
        [
            ("outstanding", None, "2026-01-02T03:04:05Z", [(123456, "Rohrreinigung", "2026-03-05T23:30:00Z")]),
            ("credit", None, "2026-01-02T03:04:05Z", [(-99, "Gutschrift", "2026-03-05T23:30:00Z")]),
            ("zero", None, "2026-08-02T03:04:05Z", []),
            ("es", "es", "2026-01-02T03:04:05Z", [(500, "Reparación", "2026-03-05T23:30:00Z")]),
        ],
    ),
    "jp": (
        ["--currency", "JPY", "--locale", "ja_JP", "--timezone", "Asia/Tokyo"],
        None,
        [
            ("outstanding", None, "2026-01-02T03:04:05Z", [(15000, "修理", "2026-03-05T23:30:00Z")]),
            (
                "voids",
                None,
                "2026-01-02T03:04:05Z",
                [
                    (15000, "修理", "2026-03-05T23:30:00Z"),
                    ("void", 0, "間違い", "2026-03-06T23:30:00Z"),
                ],
            ),
        ],
    ),
}


def seed(root: Path, options: list[str], tips: str | None, customers: list) -> dict[str, int]:
    """Make a site and write its customers and entries as another program would; return label -> id."""
    make_site(root, *options)
    if tips is not None:
        settings = root / "paylink.toml"
        settings.write_text(settings.read_text(encoding="utf-8") + f"tips = {tips}\n", encoding="utf-8")
    ids = {}
    with closing(sqlite3.connect(root / "paylink.db")) as conn, conn:
        for label, language, created_at, entries in customers:
            customer_id = conn.execute(
                "INSERT INTO customers (name, email, phone, ref, language, created_at) VALUES (?, NULL, NULL, ?, ?, ?)",
                (HOSTILE_NAME if label == "hostile" else f"Customer {label}", f"R-{label}", language, created_at),
            ).lastrowid
            ids[label] = customer_id
            entry_ids: list[int] = []
            descriptions: list[str] = []
            for entry in entries:
                if entry[0] == "void":
                    _, index, reason, posted_at = entry
                    original = conn.execute(
                        "SELECT amount_minor FROM entries WHERE id = ?", (entry_ids[index],)
                    ).fetchone()[0]
                    text = f"Void of entry {entry_ids[index]}: {descriptions[index]}" + (
                        f" ({reason})" if reason else ""
                    )
                    row = (customer_id, -original, text, posted_at, entry_ids[index])
                else:
                    amount, text, posted_at = entry
                    row = (customer_id, amount, text, posted_at, None)
                entry_ids.append(
                    conn.execute(
                        "INSERT INTO entries (customer_id, amount_minor, description, posted_at, voids_entry_id)"
                        " VALUES (?, ?, ?, ?, ?)",
                        row,
                    ).lastrowid
                )
                descriptions.append(text)
    return ids


def page_digests(root: Path, ids: dict[str, int], prefix: str) -> dict[str, str]:
    found = {}
    for label, customer_id in ids.items():
        snapshot = live_snapshot(root, customer_id)
        assert snapshot is not None, label
        data = (root / "build" / "p" / snapshot).read_bytes()
        found[f"{prefix}/{label}"] = hashlib.sha256(data).hexdigest()
    return found


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[dict[str, str], dict[str, str]]:
    """Every seeded page's digest after ``link generate --all``, and after ``build --full``."""
    first: dict[str, str] = {}
    again: dict[str, str] = {}
    for name, (options, tips, customers) in SITES.items():
        root = tmp_path_factory.mktemp("digests") / name
        ids = seed(root, options, tips, customers)
        paylink = Paylink(root)
        paylink.ok("link", "generate", "--all")
        first.update(page_digests(root, ids, name))
        paylink.ok("build", "--full")
        again.update(page_digests(root, ids, name))
    return first, again


def test_pages_are_the_pinned_bytes(built):
    first, _ = built
    if os.environ.get("PAYLINK_REPIN_DIGESTS"):
        DIGESTS.write_text(json.dumps(first, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    pinned = json.loads(DIGESTS.read_text(encoding="utf-8"))
    assert sorted(first) == sorted(pinned)
    changed = [label for label in sorted(first) if first[label] != pinned[label]]
    assert not changed, f"these pages changed: {changed}"


def test_a_build_from_the_page_cache_gives_the_same_bytes(built):
    first, again = built
    assert again == first
