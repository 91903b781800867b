"""Helpers for tests that look at a site's built pages the way the edge and other programs do.

A customer's snapshot is found by reading the ``links`` table of the real ledger
(``snapshot`` column of the live link), never by asking paylink's own code.
Entries "from another program" are written with plain sqlite3, as the contract
(§5) allows any program on the machine to do.
"""

import datetime as dt
import os
import re
import sqlite3
from contextlib import closing
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from urllib.parse import urlsplit

from bs4 import BeautifulSoup


def ledger(site: Path) -> sqlite3.Connection:
    """Open the site's ledger with plain sqlite3 (the caller closes it)."""
    return sqlite3.connect(site / "paylink.db", timeout=30)


def live_snapshot(site: Path, customer_id: int) -> str | None:
    """The file name in build/p of the customer's live link, or None if they have none."""
    with closing(ledger(site)) as conn:
        row = conn.execute(
            "SELECT snapshot FROM links WHERE customer_id = ? AND retired_at IS NULL", (customer_id,)
        ).fetchone()
    return row[0] if row else None


def live_nonce(site: Path, customer_id: int) -> str | None:
    """The random part of the customer's live link, or None if they have none."""
    with closing(ledger(site)) as conn:
        row = conn.execute(
            "SELECT nonce FROM links WHERE customer_id = ? AND retired_at IS NULL", (customer_id,)
        ).fetchone()
    return row[0] if row else None


def all_snapshots(site: Path) -> list[str]:
    """File names of every snapshot ever issued (live or retired)."""
    with closing(ledger(site)) as conn:
        return [r[0] for r in conn.execute("SELECT snapshot FROM links ORDER BY id")]


def live_customer_ids(site: Path) -> list[int]:
    """Ids of the customers with a live link."""
    with closing(ledger(site)) as conn:
        return [
            r[0] for r in conn.execute("SELECT customer_id FROM links WHERE retired_at IS NULL ORDER BY customer_id")
        ]


def pending_customers(site: Path) -> list[int]:
    """Ids of the customers whose page the ledger records as still to be written (``pending_pages``)."""
    with closing(ledger(site)) as conn:
        return [r[0] for r in conn.execute("SELECT customer_id FROM pending_pages ORDER BY customer_id")]


def nonces(site: Path) -> list[str]:
    """The random part of every link ever issued."""
    with closing(ledger(site)) as conn:
        return [r[0] for r in conn.execute("SELECT nonce FROM links")]


def customer_names(site: Path) -> list[str]:
    """The customers' names, in the order they were added."""
    with closing(ledger(site)) as conn:
        return [r[0] for r in conn.execute("SELECT name FROM customers ORDER BY id")]


def dump(site: Path) -> list[str]:
    """The whole ledger as SQL: equal before and after means nothing was written."""
    with closing(ledger(site)) as conn:
        return list(conn.iterdump())


def snapshot_path(site: Path, customer_id: int) -> Path:
    """Where the customer's page is (they must have a live link)."""
    name = live_snapshot(site, customer_id)
    assert name is not None, f"customer {customer_id} has no live link"
    return site / "build" / "p" / name


def read_page(site: Path, customer_id: int) -> BeautifulSoup:
    """The customer's page, parsed."""
    return parse(snapshot_path(site, customer_id).read_text(encoding="utf-8"))


def parse(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


def text_of(soup: BeautifulSoup, selector: str) -> str:
    """The text of the one element matching selector (ASCII whitespace runs collapsed; no-break spaces kept)."""
    found = soup.select(selector)
    assert len(found) == 1, f"expected one {selector!r}, found {len(found)}"
    return re.sub(r"[ \t\r\n]+", " ", found[0].get_text()).strip(" \t\r\n")


def balance_text(site: Path, customer_id: int) -> str | None:
    """The page's #balance text, or None if the page is not there (yet)."""
    try:
        soup = read_page(site, customer_id)
    except FileNotFoundError:
        return None
    element = soup.select_one("#balance")
    return element.get_text().strip() if element else None


def insert_entry(
    site: Path, customer_id: int, amount_minor: int, description: str, posted_at: str | None = None
) -> int:
    """Post an entry the way another program would: one INSERT with sqlite3; return its id."""
    posted_at = posted_at or dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    with closing(ledger(site)) as conn, conn:
        cursor = conn.execute(
            "INSERT INTO entries (customer_id, amount_minor, description, posted_at) VALUES (?, ?, ?, ?)",
            (customer_id, amount_minor, description, posted_at),
        )
        return cursor.lastrowid


def build_files(site: Path) -> dict[str, bytes]:
    """Every file under build/, by path relative to it, with its bytes."""
    build = site / "build"
    files = {}
    for folder, _, names in os.walk(build):
        for name in names:
            path = Path(folder) / name
            files[str(path.relative_to(build))] = path.read_bytes()
    return files


def page_names(site: Path) -> list[str]:
    """The names of everything in build/p, sorted (strays and temp files included)."""
    return sorted(p.name for p in (site / "build" / "p").iterdir())


def temp_leftovers(site: Path) -> list[str]:
    """Paths under build/ of temp files (the page writer's ``.tmp-`` prefix)."""
    return [p for p in build_files(site) if Path(p).name.startswith(".tmp-")]


def token_of(url: str, base_url: str | None = None) -> str:
    """The token part of a link ``{base_url}/p/{token}`` (given base_url, the link must start with it)."""
    if base_url is not None:
        assert url.startswith(f"{base_url}/p/"), url
        return url[len(f"{base_url}/p/") :]
    path = urlsplit(url).path
    assert path.startswith("/p/"), url
    return path[len("/p/") :]


def half_up(minor: int, percent: int) -> int:
    """Tip in minor units, rounded half-up: computed independently of paylink with Decimal."""
    return int((Decimal(minor) * percent / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
