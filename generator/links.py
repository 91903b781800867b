"""Links: each customer's one secret URL, and its life (generate, rotate, revoke).

The database keeps every link ever issued. A live link has ``retired_at`` NULL;
retiring one records its snapshot for removal (a trigger does it, in the same
transaction), which the page writer carries out before the command returns.
"""

import sqlite3
from dataclasses import dataclass

from . import layout, tokens
from .errors import LinkNotFound
from .ledger import Customer, iso_utc
from .storage import write_transaction


@dataclass(frozen=True)
class Link:
    """A customer's live link: the random nonce its token signs, and its snapshot's file name."""

    customer_id: int
    nonce: str
    snapshot: str


def live_link(conn: sqlite3.Connection, customer_id: int) -> Link | None:
    """Return the customer's live link, or None."""
    row = conn.execute(
        "SELECT customer_id, nonce, snapshot FROM links WHERE customer_id = ? AND retired_at IS NULL",
        (customer_id,),
    ).fetchone()
    return Link(*row) if row else None


def require_link(conn: sqlite3.Connection, customer: Customer) -> Link:
    """Return the customer's live link, or raise LinkNotFound."""
    link = live_link(conn, customer.id)
    if link is None:
        raise LinkNotFound(
            f"customer {customer.id} ({customer.name}) has no link — run `paylink link generate {customer.id}`"
        )
    return link


def _insert_link(conn: sqlite3.Connection, customer_id: int) -> Link:
    nonce = tokens.new_link_id()
    link = Link(customer_id, nonce, layout.snapshot_name(nonce))
    conn.execute(
        "INSERT INTO links (customer_id, nonce, snapshot) VALUES (?, ?, ?)",
        (link.customer_id, link.nonce, link.snapshot),
    )
    return link


def generate_link(conn: sqlite3.Connection, customer: Customer) -> tuple[Link, bool]:
    """Give the customer a link if they have none. Returns (link, created)."""
    with write_transaction(conn):
        existing = live_link(conn, customer.id)
        if existing is not None:
            return existing, False
        return _insert_link(conn, customer.id), True


def generate_all_links(conn: sqlite3.Connection) -> int:
    """Give every customer without a live link a new one (not those merged into another); return how many were created."""
    with write_transaction(conn):
        missing = [
            row[0]
            for row in conn.execute(
                "SELECT id FROM customers c WHERE NOT EXISTS"
                " (SELECT 1 FROM links l WHERE l.customer_id = c.id AND l.retired_at IS NULL)"
                " AND id NOT IN (SELECT customer_id FROM merged_customers) ORDER BY id"
            )
        ]
        for customer_id in missing:
            _insert_link(conn, customer_id)
    return len(missing)


def live_links(conn: sqlite3.Connection) -> list[Link]:
    """Return every live link, by customer id."""
    rows = conn.execute(
        "SELECT customer_id, nonce, snapshot FROM links WHERE retired_at IS NULL ORDER BY customer_id"
    ).fetchall()
    return [Link(*row) for row in rows]


def _retire(conn: sqlite3.Connection, link: Link, because: str) -> None:
    conn.execute(
        "UPDATE links SET retired_at = ?, retired_because = ? WHERE nonce = ? AND retired_at IS NULL",
        (iso_utc(_now()), because, link.nonce),
    )


def rotate_link(conn: sqlite3.Connection, customer: Customer) -> Link:
    """Retire the customer's link and issue a new one, in one transaction."""
    with write_transaction(conn):
        old = require_link(conn, customer)
        _retire(conn, old, "rotated")
        return _insert_link(conn, customer.id)


def revoke_link(conn: sqlite3.Connection, customer: Customer) -> Link:
    """Retire the customer's link, leaving them none. Returns the retired link."""
    with write_transaction(conn):
        old = require_link(conn, customer)
        _retire(conn, old, "revoked")
        return old


def revoked_at(conn: sqlite3.Connection, customer_id: int) -> str | None:
    """When the customer's newest retired link was turned off (``link revoke``), if it was; else None."""
    row = conn.execute(
        "SELECT retired_at, retired_because FROM links WHERE customer_id = ? AND retired_at IS NOT NULL"
        " ORDER BY id DESC LIMIT 1",
        (customer_id,),
    ).fetchone()
    return row[0] if row is not None and row[1] == "revoked" else None


def _now():
    import datetime as dt

    return dt.datetime.now(dt.UTC)
