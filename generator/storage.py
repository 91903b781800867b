"""The ledger of record: one SQLite file, opened the same careful way every time.

WAL so readers never wait, ``synchronous=FULL`` so a committed entry survives
a power cut, a busy timeout so a second writer waits its turn, and write
transactions that take the write lock up front (``BEGIN IMMEDIATE``) so two
writers never both read, then collide on upgrade.

The schema is managed by sqlite-utils ``Migrations``; ``PRAGMA user_version``
records how far they have run, so the common case (schema current) never pays
for importing sqlite-utils. It also keeps the currency the ledger's amounts are in
(``check_currency``): every command that opens the ledger checks it.
"""

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import SettingsError

BUSY_TIMEOUT_S = 30.0
# How many migrations generator/schema.py holds; kept here so opening a current
# ledger never imports sqlite-utils (about 200 ms of start-up). schema.py imports
# nothing of this module: connect() checks the count migrate() returns against it.
SCHEMA_VERSION = 5


# The ledger holds customers' names, phones and emails: owner only, whatever the umask.
# SQLite gives the -wal and -shm files the mode of the database file itself.
PRIVATE_MODE = 0o600


def connect(path: Path | str) -> sqlite3.Connection:
    """Open the ledger (creating or upgrading its schema if needed) and return the connection.

    The database file is created 0600 before SQLite opens it, and the modes of
    it and its -wal and -shm files are put back to 0600 on every open.
    """
    if str(path) != ":memory:":
        _make_private(Path(path))
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
    if str(path) != ":memory:":
        for suffix in ("-wal", "-shm"):
            _make_private(Path(f"{path}{suffix}"), create=False)
    if conn.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
        from .schema import migrate

        with write_transaction(conn):
            applied = migrate(conn)
            if applied != SCHEMA_VERSION:
                raise RuntimeError(f"schema has {applied} migrations applied but SCHEMA_VERSION is {SCHEMA_VERSION}")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    return conn


def connect_reader(path: Path | str) -> sqlite3.Connection:
    """Open an existing, current ledger for reading only (a build's helper process): rows are plain tuples.

    Each read the caller makes in its own transaction sees the ledger as last committed.
    """
    conn = sqlite3.connect(
        f"{Path(path).absolute().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None
    )
    conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    return conn


def _make_private(path: Path, *, create: bool = True) -> None:
    """Create ``path`` (if asked and missing) as 0600, or take group and other access away from it.

    An existing ledger is never opened here: closing any descriptor of a file
    drops every POSIX lock this process holds on it, including the locks of a
    SQLite connection already open on it (`watch` keeps one), which would let
    another connection rebuild the WAL index under it. Only chmod by path.
    """
    try:
        if create and not path.exists():
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE_MODE)
            except FileExistsError:
                pass  # created meanwhile by another process: treated as existing below
            else:
                os.fchmod(fd, PRIVATE_MODE)  # whatever the umask
                os.close(fd)
                return
        if os.stat(path).st_mode & 0o077:
            os.chmod(path, PRIVATE_MODE)
    except FileNotFoundError:
        pass
    except PermissionError:
        pass  # another user's ledger we may read or write: not ours to chmod


@contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Run the block as one transaction that holds the write lock from its first statement.

    Inside a transaction already (an action that writes pages before it
    commits), the block simply joins it: the outer transaction commits or rolls
    back the whole change.
    """
    if conn.in_transaction:
        yield conn
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


# --- the ledger's currency ----------------------------------------------------------

CURRENCY_STATE = "currency"


def record_currency(conn: sqlite3.Connection, currency: str) -> None:
    """Remember the currency the ledger's amounts are in (at init, and while it has no entries)."""
    conn.execute("INSERT OR REPLACE INTO build_state (name, value) VALUES (?, ?)", (CURRENCY_STATE, currency))


def check_currency(conn: sqlite3.Connection, currency: str) -> None:
    """Refuse a paylink.toml currency other than the one the ledger's entries were recorded in.

    Amounts are stored in the currency's minor units, so changing USD to JPY
    would turn $1,200.00 into ¥120,000. Before the first entry the currency may
    change freely (and is remembered as changed); a ledger from before this
    check adopts the settings' currency.
    """
    row = conn.execute("SELECT value FROM build_state WHERE name = ?", (CURRENCY_STATE,)).fetchone()
    if row is not None and row[0] == currency:
        return
    if row is not None and conn.execute("SELECT 1 FROM entries LIMIT 1").fetchone() is not None:
        raise SettingsError(
            f"currency is {currency} in paylink.toml but the ledger's amounts are in {row[0]}"
            f" — put currency back to {row[0]}"
        )
    record_currency(conn, currency)
