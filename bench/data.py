"""Bench data: sites with N customers, 25 entries each, every customer linked (and, on request,
one more customer with thousands of entries, for the statement).

The site is made by the real ``paylink init``; customers, entries and links are
then written straight into the ledger's tables with sqlite3 (customers and
entries are the public interface, CONTRACT §5; links are inserted the way
generator/links.py does). The ledger's own triggers mark every page pending,
so the first ``paylink build`` that the bench measures writes every page.
"""

import csv
import datetime as dt
import json
import random
import re
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from paylink import layout, tokens

ENTRIES_PER_CUSTOMER = 25
YEAR_S = 365 * 24 * 3600

FIRST_NAMES = (
    "Ada Alan Ana Ben Carla Chen Dana Diego Eli Emma Farah Femi Grace Hana Ivan Jane Jonas Kai Lena Liam "
    "Maya Mia Noah Olga Omar Priya Quinn Rosa Sam Sara Tariq Uma Vera Wei Yara Zoe"
).split()
LAST_NAMES = (
    "Abbott Baker Castillo Dubois Evans Fischer Garcia Haddad Ito Jensen Kowalski Lopez Mensah Novak "
    "Okafor Patel Quist Rossi Schmidt Tanaka Uddin Varga Walsh Xu Yilmaz Zhang"
).split()
CHARGES = (
    "Lawn mowing",
    "Hedge trimming",
    "Spring clean-up",
    "Leaf removal",
    "Drain cleaning",
    "Water heater service",
    "Gutter cleaning",
    "Snow removal — driveway",
    "Mulch, 3 yards delivered",
    "Irrigation repair",
    "Tree pruning (2 oaks)",
    "Emergency call-out, Sunday",
    "Fertilizer application",
    "Weekly maintenance — March",
    "Replace kitchen faucet",
    "Parts: valve & fittings",
)
CREDITS = ("Payment — thank you", "Paid by check #1042", "Card payment", "Refund: duplicate charge", "Loyalty discount")


@dataclass(frozen=True)
class BenchSite:
    """A bench site: its folder, how many ordinary customers it holds, and its heavy customer's id if any
    (one more customer, with thousands of entries, for the statement)."""

    root: Path
    customers: int
    heavy: int | None = None

    @property
    def pages(self) -> int:
        """How many pages a full build writes: one per customer, all linked."""
        return self.customers + (1 if self.heavy else 0)

    @property
    def db_path(self) -> Path:
        return self.root / "paylink.db"

    @property
    def build_dir(self) -> Path:
        return self.root / "build"

    def count(self, table: str) -> int:
        """Return the row count of one of the ledger's tables."""
        with sqlite3.connect(self.db_path) as conn:
            return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]

    def live_link(self, customer_id: int) -> tuple[str, str]:
        """Return (token, snapshot file name) of a customer's live link."""
        with sqlite3.connect(self.db_path) as conn:
            nonce, snapshot = conn.execute(
                "SELECT nonce, snapshot FROM links WHERE customer_id = ? AND retired_at IS NULL", (customer_id,)
            ).fetchone()
        keys = tokens.load_keys(self.root / "paylink.key")
        return tokens.LinkSigner(keys).sign(nonce), snapshot


def make_site(
    paylink: list[str], root: Path, customers: int, seed: int = 1, heavy_entries: int = 0, currency: str = "USD"
) -> BenchSite:
    """Create a site at ``root`` with ``customers`` customers, 25 entries each, all linked; return it.

    With ``heavy_entries``, one more customer (id ``customers + 1``, ref ``C-HEAVY``, linked)
    has that many entries, posted over the past year. ``currency``: the ledger's (the amounts
    are the same minor units in any currency of two decimals).
    """
    subprocess.run(
        [
            *paylink,
            "init",
            str(root),
            "--name",
            "Bench Landscaping & Plumbing",
            "--phone",
            "555-0100",
            "--email",
            "office@bench.example",
            "--currency",
            currency,
            "--json",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    rng = random.Random(seed)
    now = int(time.time())
    conn = sqlite3.connect(root / "paylink.db", isolation_level=None)
    try:
        # Setup only, never measured: no journal and a big cache halve the time; WAL is restored below.
        conn.execute("PRAGMA journal_mode = DELETE")
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA cache_size = -400000")
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO customers (id, name, email, phone, ref) VALUES (?, ?, ?, ?, ?)",
            (_customer(rng, i) for i in range(1, customers + 1)),
        )
        conn.executemany(
            "INSERT INTO entries (customer_id, amount_minor, description, posted_at) VALUES (?, ?, ?, ?)",
            (row for i in range(1, customers + 1) for row in _entries(rng, i, now)),
        )
        heavy = customers + 1 if heavy_entries else None
        if heavy:
            conn.execute(
                "INSERT INTO customers (id, name, email, phone, ref) VALUES (?, ?, ?, ?, ?)",
                (heavy, "Harbor View Condominiums", "board@harborview.example", "555-0199", "C-HEAVY"),
            )
            conn.executemany(
                "INSERT INTO entries (customer_id, amount_minor, description, posted_at) VALUES (?, ?, ?, ?)",
                _entries(rng, heavy, now, heavy_entries),
            )
        conn.executemany(
            "INSERT INTO links (customer_id, nonce, snapshot) VALUES (?, ?, ?)",
            (_link(i) for i in range(1, customers + (2 if heavy else 1))),
        )
        conn.execute("COMMIT")
        conn.execute("PRAGMA journal_mode = WAL")
    finally:
        conn.close()
    return BenchSite(root, customers, heavy)


def _customer(rng: random.Random, customer_id: int) -> tuple:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    email = f"{first.lower()}.{last.lower()}{customer_id}@example.com" if customer_id % 5 else None
    phone = f"555-{customer_id % 10000:04d}" if customer_id % 3 else None
    return customer_id, f"{first} {last}", email, phone, f"C-{customer_id:06d}"


def _entries(rng: random.Random, customer_id: int, now: int, count: int = ENTRIES_PER_CUSTOMER) -> list[tuple]:
    """``count`` entries over the past year, oldest first: mostly charges, some payments."""
    stamps = sorted(now - rng.randrange(YEAR_S) for _ in range(count))
    rows = []
    for stamp in stamps:
        posted_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp))
        if rng.random() < 0.25:
            rows.append((customer_id, -_amount(rng), rng.choice(CREDITS), posted_at))
        else:
            rows.append((customer_id, _amount(rng), rng.choice(CHARGES), posted_at))
    return rows


def _amount(rng: random.Random) -> int:
    """An amount in cents, from a few dollars to a few thousand, most under $300."""
    return max(100, int(rng.lognormvariate(9.0, 1.0)))


def _link(customer_id: int) -> tuple:
    nonce = tokens.new_link_id()
    return customer_id, nonce, layout.snapshot_name(nonce)


def write_entries_csv(path: Path, rows: int, customers: int, seed: int = 2) -> None:
    """Write an entries CSV of ``rows`` rows spread over customers 1..N, by id and by ref, dated in the past year."""
    rng = random.Random(seed)
    today = dt.date.today()
    days = [(today - dt.timedelta(days=d)).isoformat() for d in range(1, 366)]
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(("customer", "kind", "amount", "description", "date"))
        for n in range(rows):
            customer_id = rng.randrange(1, customers + 1)
            customer = str(customer_id) if n % 2 else f"C-{customer_id:06d}"
            cents = _amount(rng)
            amount = f"{cents // 100}.{cents % 100:02d}"
            if rng.random() < 0.25:
                writer.writerow((customer, "credit", amount, rng.choice(CREDITS), rng.choice(days)))
            else:
                writer.writerow((customer, "charge", amount, rng.choice(CHARGES), rng.choice(days)))


def set_settings(root: Path, **values: str) -> str:
    """Set top-level string settings in a site's paylink.toml (replacing or adding each line); return the old text."""
    path = root / "paylink.toml"
    old = path.read_text(encoding="utf-8")
    text = old
    for key, value in values.items():
        line = f"{key} = {json.dumps(value)}"
        text, found = re.subn(rf"^{key}\s*=.*$", lambda _, line=line: line, text, count=1, flags=re.MULTILINE)
        if not found:  # top-level keys go before any [table]: first in the file is always top level
            text = f"{line}\n{text}"
    path.write_text(text, encoding="utf-8")
    return old
