"""The ledger of record: one SQLite file, opened the same careful way every time.

WAL so readers never wait, ``synchronous=FULL`` so a committed entry survives
a power cut, a busy timeout so a second writer waits its turn, and write
transactions that take the write lock up front (``BEGIN IMMEDIATE``) so two
writers never both read, then collide on upgrade.

The schema is managed by sqlite-utils ``Migrations``; ``PRAGMA user_version``
records how far they have run, so the common case (schema current) never pays
for importing sqlite-utils.
"""

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BUSY_TIMEOUT_S = 30.0
# How many migrations generator/schema.py holds; kept here so opening a current
# ledger never imports sqlite-utils (about 200 ms of start-up).
SCHEMA_VERSION = 2


def connect(path: Path | str) -> sqlite3.Connection:
    """Open the ledger (creating or upgrading its schema if needed) and return the connection."""
    conn = sqlite3.connect(
        str(path),
        timeout=BUSY_TIMEOUT_S,
        isolation_level=None,  # we issue BEGIN IMMEDIATE / COMMIT ourselves
        check_same_thread=False,
    )
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal" and str(path) != ":memory:":
        conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    if conn.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
        from .schema import migrate

        with write_transaction(conn):
            migrate(conn)
    return conn


@contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Run the block as one transaction that holds the write lock from its first statement."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
