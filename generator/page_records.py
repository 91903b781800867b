"""What the page writer reads from and records in the ledger: each page's facts, and which pages are due.

Triggers record, in the transaction of any program's change, which pages
must be rewritten (``pending_pages``) and which snapshots removed
(``retired_snapshots``); the page writer reads them here and clears them in
the transaction that did the work. ``build_state`` holds what a build must
remember between runs (the templates' fingerprint, the last sweep).
Nothing here writes a file.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the page readers' modules are imported when a page is read: a no-op build reads none
    from .facts import Statement

# From this many customers on, a batch's ledger is read in one streaming pass (ledger.pages_of).
STREAM_MIN = 8


# --- each page's facts ----------------------------------------------------------------


def statements(conn: sqlite3.Connection, customer_ids: list[int]) -> Iterator[tuple[str, Statement]]:
    """Yield (snapshot file name, what the page shows) for these customers (those with a live link), in order."""
    if len(customer_ids) < STREAM_MIN:
        yield from statements_one_by_one(conn, customer_ids)
        return
    from .facts import Statement
    from .ledger import pages_of

    people = {
        r[0]: r[1:]
        for r in conn.execute(
            "SELECT c.id, c.name, l.snapshot, c.created_at, c.language, c.ref, c.email FROM customers c"
            " JOIN links l ON l.customer_id = c.id"
            " WHERE l.retired_at IS NULL AND c.id IN (SELECT value FROM json_each(?))",
            (json.dumps(customer_ids),),
        )
    }
    ledgers = pages_of(conn, [c for c in customer_ids if c in people])
    nothing: tuple = ([], {}, 0, 0, None)
    for customer_id in customer_ids:
        person = people.get(customer_id)
        if person is None:
            continue
        entries, voids, balance, count, newest = ledgers.get(customer_id, nothing)
        yield person[1], _statement(Statement, customer_id, person, entries, voids, balance, count, newest)


def statements_one_by_one(conn: sqlite3.Connection, customer_ids: list[int]) -> Iterator[tuple[str, Statement]]:
    """As ``statements``, three queries a customer (cheaper for a posting command's page or two)."""
    from .facts import Statement
    from .ledger import page_totals, recent_entries_and_voids

    for customer_id in customer_ids:
        row = conn.execute(
            "SELECT c.name, l.snapshot, c.created_at, c.language, c.ref, c.email FROM customers c"
            " JOIN links l ON l.customer_id = c.id WHERE c.id = ? AND l.retired_at IS NULL",
            (customer_id,),
        ).fetchone()
        if row is None:
            continue
        entries, voids = recent_entries_and_voids(conn, customer_id)
        yield row[1], _statement(Statement, customer_id, row, entries, voids, *page_totals(conn, customer_id))


def _statement(
    statement: type[Statement], customer_id: int, person: tuple, entries, voids, balance: int, count: int, newest
) -> Statement:
    """What a customer's page shows, from their row (name, snapshot, created_at, language, ref, email)
    and their ledger's newest entries, voids, balance, entry count and newest entry's time. ``statement`` is
    facts.Statement, handed in by the readers, which import it once a batch rather than once a page."""
    return statement(
        customer_name=person[0],
        balance_minor=balance,
        entries=entries,
        # the balance last changed with the newest entry (a void too); with none, when the customer was added
        last_change=newest or person[2],
        language=person[3],
        entry_count=count,
        voids=voids,
        customer_id=customer_id,
        customer_ref=person[4],
        customer_email=person[5],
    )


# --- which pages are due ----------------------------------------------------------------


def pending_customers(conn: sqlite3.Connection, limit: int = -1) -> list[int]:
    """Customers whose pages are due, by id (at most ``limit``; -1: all)."""
    return [r[0] for r in conn.execute("SELECT customer_id FROM pending_pages ORDER BY customer_id LIMIT ?", (limit,))]


def pending_among(conn: sqlite3.Connection, customer_ids: list[int]) -> list[int]:
    """Those of ``customer_ids`` whose pages are due."""
    marks = ",".join("?" * len(customer_ids))
    return [
        r[0]
        for r in conn.execute(f"SELECT customer_id FROM pending_pages WHERE customer_id IN ({marks})", customer_ids)
    ]


def pending_count(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT COUNT(*) FROM pending_pages").fetchone()[0]


def retired_snapshots(conn: sqlite3.Connection, limit: int = -1) -> list[str]:
    """Snapshot file names of links turned off whose pages are still to remove (at most ``limit``)."""
    return [r[0] for r in conn.execute("SELECT snapshot FROM retired_snapshots LIMIT ?", (limit,))]


def work_left(conn: sqlite3.Connection) -> bool:
    """Whether any page is due or any snapshot still to remove."""
    return bool(
        conn.execute(
            "SELECT EXISTS (SELECT 1 FROM pending_pages) OR EXISTS (SELECT 1 FROM retired_snapshots)"
        ).fetchone()[0]
    )


def nothing_due(conn: sqlite3.Connection, fingerprint: str, swept_mtime: str) -> bool:
    """Whether, in one read, no page is due, no snapshot is to remove, the last full build was made with
    templates of this ``fingerprint`` and the last sweep left build/p at this ``swept_mtime``."""
    row = conn.execute(
        "SELECT (SELECT value FROM build_state WHERE name = 'fingerprint') = ?"
        " AND (SELECT value FROM build_state WHERE name = 'swept_mtime') = ?"
        " AND NOT EXISTS (SELECT 1 FROM pending_pages) AND NOT EXISTS (SELECT 1 FROM retired_snapshots)",
        (fingerprint, swept_mtime),
    ).fetchone()
    return bool(row[0])


def clear_pending(conn: sqlite3.Connection, customer_ids: list[int]) -> None:
    """Record, in the caller's transaction, that these customers' pages are current."""
    conn.executemany("DELETE FROM pending_pages WHERE customer_id = ?", [(c,) for c in customer_ids])


def clear_retired(conn: sqlite3.Connection, snapshots: list[str]) -> None:
    """Record, in the caller's transaction, that these snapshots are removed."""
    conn.executemany("DELETE FROM retired_snapshots WHERE snapshot = ?", [(n,) for n in snapshots])


def mark_pending_snapshots(conn: sqlite3.Connection, snapshots: set[str] | list[str]) -> None:
    """Mark the pages of these live snapshots due (found missing from build/)."""
    conn.executemany(
        "INSERT OR IGNORE INTO pending_pages SELECT customer_id FROM links WHERE snapshot = ?",
        [(name,) for name in snapshots],
    )


# --- live links -------------------------------------------------------------------------


def live_customers_after(conn: sqlite3.Connection, after: int, limit: int) -> list[int]:
    """The next ``limit`` customers with a live link whose id is above ``after``, by id."""
    return [
        r[0]
        for r in conn.execute(
            "SELECT customer_id FROM links WHERE retired_at IS NULL AND customer_id > ? ORDER BY customer_id LIMIT ?",
            (after, limit),
        )
    ]


def live_snapshots(conn: sqlite3.Connection) -> set[str]:
    """The snapshot file names of every live link: what build/p should hold."""
    return {r[0] for r in conn.execute("SELECT snapshot FROM links WHERE retired_at IS NULL")}


def count_live(conn: sqlite3.Connection) -> int:
    """How many live links (pages) there are."""
    return conn.execute("SELECT COUNT(*) FROM links WHERE retired_at IS NULL").fetchone()[0]


# --- what a build remembers ---------------------------------------------------------------


def state(conn: sqlite3.Connection, name: str) -> str | None:
    row = conn.execute("SELECT value FROM build_state WHERE name = ?", (name,)).fetchone()
    return row[0] if row else None


def set_state(conn: sqlite3.Connection, name: str, value: str) -> None:
    """Set a build_state value, in the caller's transaction."""
    conn.execute("INSERT OR REPLACE INTO build_state (name, value) VALUES (?, ?)", (name, value))


def data_version(conn: sqlite3.Connection) -> int:
    """SQLite's count of commits by other connections, as seen by this one."""
    return conn.execute("PRAGMA data_version").fetchone()[0]
