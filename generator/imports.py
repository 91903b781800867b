"""CSV imports: all or nothing, every bad row named.

A file is read as a spreadsheet saves it (see ``spreadsheet``). Every row is
checked; when any is bad, the import is refused with up to 20 of them named
and the ledger is left as it was. Entries stream into one transaction in
chunks, so memory stays flat however long the file is. An entries file is
remembered by the SHA-256 of its bytes, so importing it twice is refused; a
row's ``key`` (an idempotency key, as ``--key``) makes a repeated row post
nothing.
"""

import bisect
import difflib
import hashlib
import operator
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .checks import clean_email, clean_line, clean_phone, clean_ref
from .errors import MAX_QUOTED, ImportFailed, PaylinkError, quoted
from .ledger import MAX_DESCRIPTION, MAX_KEY, MAX_NAME, looks_like_id
from .settings import check_language
from .spreadsheet import CellReader, open_table
from .storage import write_transaction

CUSTOMER_COLUMNS = ("name", "email", "phone", "ref", "language")
CUSTOMER_REQUIRED = ("name",)
ENTRY_COLUMNS = ("customer", "kind", "amount", "description", "date", "key")
ENTRY_REQUIRED = ("customer", "kind", "amount", "description")
IMPORT_CHUNK = 200_000  # rows a chunk: 50,000 cost 2 s more CPU a million rows (index locality)
PROBLEMS_SHOWN = 20


@dataclass(frozen=True)
class Imported:
    """What an import did: rows imported, rows skipped (their key was already posted),
    which customers' ledgers changed, and the file's columns that were not ours (ignored)."""

    count: int
    skipped: int = 0
    customer_ids: frozenset[int] = frozenset()
    ignored_columns: tuple[str, ...] = ()


class RowsRefused(ImportFailed):
    """Rows of a CSV file are bad; nothing from it was written.

    The message's first line says how many; each further line, indented,
    names one bad row (the first 20 by line number).
    """

    def __init__(self, message: str, count: int, rows: list[tuple[int, str]]):
        super().__init__(message)
        self.count = count
        self.rows = rows


class _Problems:
    """The bad rows of one file: how many, and the first ``PROBLEMS_SHOWN`` by line number."""

    def __init__(self, file_name: str):
        self.file_name = file_name
        self.count = 0
        self.shown: list[tuple[int, str]] = []

    def add(self, line: int, message: str) -> None:
        self.count += 1
        if len(self.shown) < PROBLEMS_SHOWN or line < self.shown[-1][0]:
            bisect.insort(self.shown, (line, message))
            del self.shown[PROBLEMS_SHOWN:]

    def refuse_if_any(self) -> None:
        """Raise the refusal naming the bad rows, if there are any."""
        if not self.count:
            return
        if self.count == 1:
            line, message = self.shown[0]
            raise RowsRefused(f"{self.file_name} line {line}: {message}", 1, self.shown)
        lines = [
            f"{self.file_name}: {self.count} rows have problems — nothing was imported; fix them and import again"
            + (f" (the first {PROBLEMS_SHOWN} are listed)" if self.count > PROBLEMS_SHOWN else "")
        ]
        lines += [f"  line {line}: {message}" for line, message in self.shown]
        raise RowsRefused("\n".join(lines), self.count, self.shown)


def _nocase(text: str) -> str:
    """Fold a ref as SQLite's NOCASE does (ASCII letters only), so the file agrees with the index."""
    # str.lower() of an all-ASCII text folds exactly A-Z, and is ten times faster than translate().
    return text.lower() if text.isascii() else text.translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


# --- customers ----------------------------------------------------------------------


def import_customers(conn: sqlite3.Connection, path: Path) -> Imported:
    """Import customers from a CSV with columns name,email,phone,ref and optionally language."""
    table = open_table(path, CUSTOMER_COLUMNS, CUSTOMER_REQUIRED)
    problems = _Problems(table.name)
    rows = []
    refs: dict[str, tuple[int, str]] = {}  # folded ref -> (line, ref as written)
    for line, row in table.rows():
        if isinstance(row, str):
            problems.add(line, row)
            continue
        try:
            ref = clean_ref(row.get("ref"))
            language = (row.get("language") or "").strip()
            values = (
                clean_line(row["name"], "name", MAX_NAME),
                clean_email(row.get("email")),
                clean_phone(row.get("phone")),
                ref,
                check_language(language) if language else None,
            )
        except PaylinkError as exc:
            problems.add(line, str(exc))
            continue
        if ref is not None:
            folded = _nocase(ref)
            if folded in refs:
                problems.add(line, f"ref {quoted(ref)} also appears on line {refs[folded][0]} — refs must be unique")
                continue
            refs[folded] = (line, ref)
        rows.append(values)
    with write_transaction(conn):
        if refs:
            taken = {_nocase(r) for (r,) in conn.execute("SELECT ref FROM customers WHERE ref IS NOT NULL")}
            for folded in refs.keys() & taken:
                line, ref = refs[folded]
                problems.add(line, f"another customer already has ref {quoted(ref)} — choose a different ref")
        problems.refuse_if_any()
        conn.executemany("INSERT INTO customers (name, email, phone, ref, language) VALUES (?, ?, ?, ?, ?)", rows)
    return Imported(len(rows), ignored_columns=tuple(table.ignored))


# --- entries ------------------------------------------------------------------------


def import_entries(
    conn: sqlite3.Connection,
    path: Path,
    *,
    currency: str,
    timezone: str,
    locale: str = "en_US",
    again: bool = False,
) -> Imported:
    """Import charges and credits from a CSV with columns customer,kind,amount,description,date and optionally key.

    Refuses a file whose exact bytes were imported before, unless ``again``.
    Runs in the caller's transaction when there is one (so a caller can undo
    the import when what follows it fails).
    """
    table = open_table(path, ENTRY_COLUMNS, ENTRY_REQUIRED)
    digest = hashlib.sha256(table.data).hexdigest()
    cells = CellReader(currency, locale, timezone)
    problems = _Problems(table.name)
    count = skipped = 0
    touched: set[int] = set()
    chunk: list[tuple] = []
    descriptions: dict[str, str] = {}  # each distinct description checked once
    with write_transaction(conn), _large_cache(conn):
        earlier = conn.execute(
            "SELECT file_name, imported_at FROM imported_files WHERE digest = ?", (digest,)
        ).fetchone()
        if earlier is not None and not again:
            same_name = "" if earlier[0] == table.name else f" (as {quoted(earlier[0])})"
            raise ImportFailed(
                f"{table.name} was already imported on {_when(earlier[1])}{same_name} — "
                "pass --again to import it again (rows with a key already posted are skipped)"
            )
        keys = _Keys(conn)
        customers = _Customers(conn)
        # The readers' caches, looked up here first: a million rows repeat a few thousand texts.
        amounts, dates, known, kinds = cells.amounts_read, cells.dates_read, customers.known, _KINDS
        with _entry_triggers_set_aside(conn) as bulk:
            for line, row in table.records(ENTRY_COLUMNS):
                if isinstance(row, str):
                    problems.add(line, row)
                    continue
                customer, kind, amount_text, description_text, date, key = row
                try:
                    sign = kinds.get(kind) or _kind(kind)
                    amount = amounts.get(amount_text) or cells.amount(amount_text)
                    description = descriptions.get(description_text)
                    if description is None:
                        description = clean_line(description_text, "description", MAX_DESCRIPTION)
                        if len(descriptions) < _DESCRIPTIONS_KEPT:
                            descriptions[description_text] = description
                    posted_at = dates.get(date) or cells.posting_date(date)
                    customer_id = known.get(customer) or customers.resolve(customer)
                    if key is not None:
                        key = clean_line(key, "key", MAX_KEY) if key.strip() else None
                except PaylinkError as exc:
                    problems.add(line, str(exc))
                    continue
                if key is not None:
                    conflict = keys.check(customer_id, key, sign * amount, description, line)
                    if conflict is _SKIP:
                        skipped += 1
                        continue
                    if conflict is not None:
                        problems.add(line, conflict)
                        continue
                chunk.append((customer_id, sign * amount, description, posted_at, key))
                if len(chunk) >= IMPORT_CHUNK:
                    count += _insert_entries(conn, chunk, touched, bulk)
                    keys.chunk_written()
            count += _insert_entries(conn, chunk, touched, bulk)
        problems.refuse_if_any()
        if count or skipped:
            conn.execute(
                "INSERT INTO imported_files (digest, file_name, rows) VALUES (?, ?, ?) ON CONFLICT (digest)"
                " DO UPDATE SET file_name = excluded.file_name, rows = excluded.rows,"
                " imported_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')",
                (digest, table.name, count),
            )
    return Imported(count, skipped, frozenset(touched), tuple(table.ignored))


def _kind(kind: str) -> int:
    """1 for a charge, -1 for a credit, in any case and with spaces around; else ImportFailed."""
    sign = _KINDS.get(kind.strip().casefold())
    if sign is None:
        raise ImportFailed(f"kind {quoted(kind)} is not charge or credit — write charge or credit")
    return sign


_KINDS = {"charge": 1, "credit": -1}
_DESCRIPTIONS_KEPT = 100_000


def _when(imported_at: str) -> str:
    """``2026-11-20T14:03:05Z`` -> ``2026-11-20 14:03 UTC``."""
    return f"{imported_at[:10]} {imported_at[11:16]} UTC"


_SKIP = "skip"


class _Keys:
    """Idempotency keys met so far: in the ledger (this import's earlier chunks too) and in the chunk being read."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        # Entries above this id were written by this import (its earlier chunks).
        self.before = conn.execute("SELECT COALESCE(MAX(id), 0) FROM entries").fetchone()[0]
        self.pending: dict[tuple[int, str], tuple[int, str, int]] = {}

    def check(self, customer_id: int, key: str, amount: int, description: str, line: int) -> str | None:
        """None to post the row, ``_SKIP`` when the same row was posted already, else what is wrong."""
        first = self.pending.get((customer_id, key))
        if first is not None:
            if first[:2] == (amount, description):
                return _SKIP
            return f"key {quoted(key)} also appears on line {first[2]} with another amount or description — use a new key for a new entry"
        posted = self.conn.execute(
            "SELECT id, amount_minor, description FROM entries WHERE customer_id = ? AND idempotency_key = ?",
            (customer_id, key),
        ).fetchone()
        if posted is not None:
            if (posted[1], posted[2]) == (amount, description):
                return _SKIP
            where = "earlier in this file" if posted[0] > self.before else f"for entry {posted[0]}"
            return (
                f"key {quoted(key)} was already used {where} with another amount or description"
                " — use a new key for a new entry"
            )
        self.pending[(customer_id, key)] = (amount, description, line)
        return None

    def chunk_written(self) -> None:
        """The pending rows are in the ledger now, where ``check`` finds them."""
        self.pending.clear()


class _Customers:
    """Every customer's id and ref, read once, so a million rows need no query each."""

    def __init__(self, conn: sqlite3.Connection):
        self.ids = {r[0] for r in conn.execute("SELECT id FROM customers")}
        self.refs = {
            _nocase(ref): (id_, ref) for ref, id_ in conn.execute("SELECT ref, id FROM customers WHERE ref IS NOT NULL")
        }
        self.known: dict[str, int] = {}

    def resolve(self, text: str) -> int:
        """The id of the customer a cell names (an id or a ref in any case), or ImportFailed."""
        found = self.known.get(text)
        if found is None:
            found = self._resolve(text.strip())
            self.known[text] = found  # at most a few per customer: "7", "C-7", "c-7"
        return found

    def _resolve(self, customer: str) -> int:
        if not customer:
            raise ImportFailed("the customer is empty — give a customer id or ref")
        if looks_like_id(customer):
            if int(customer) in self.ids:
                return int(customer)
            shown = customer if len(customer) <= MAX_QUOTED else quoted(customer)
            raise ImportFailed(f"No customer with id {shown} — import or add the customer first")
        found = self.refs.get(_nocase(customer))
        if found is not None:
            return found[0]
        close = difflib.get_close_matches(_nocase(customer), self.refs, n=1, cutoff=0.75)
        fix = f"did you mean {quoted(self.refs[close[0]][1])}?" if close else "import or add the customer first"
        raise ImportFailed(f"No customer with ref {quoted(customer)} — {fix}")


def _insert_entries(conn: sqlite3.Connection, chunk: list[tuple], touched: set[int], bulk: bool) -> int:
    """Insert a chunk grouped by customer (a stable sort keeps each customer's file order), then empty it.

    Grouped, the index inserts land near each other instead of all over the
    file. In ``bulk`` (the entries' insert triggers set aside) the chunk's
    customers' pages are marked pending here, once each, as the trigger would.
    """
    first = operator.itemgetter(0)
    chunk.sort(key=first)
    conn.executemany(
        "INSERT INTO entries (customer_id, amount_minor, description, posted_at, idempotency_key)"
        " VALUES (?, ?, ?, ?, ?)",
        chunk,
    )
    customers = set(map(first, chunk))
    if bulk:
        conn.executemany(
            "INSERT OR IGNORE INTO pending_pages (customer_id) VALUES (?)", [(c,) for c in sorted(customers - touched)]
        )
    touched |= customers
    inserted = len(chunk)
    chunk.clear()
    return inserted


# The entries' insert triggers (schema.py), and what each does that a bulk import does itself:
# entries_refuse_orphan  - the customer exists: every id is checked against the customers read in
#                          this transaction (and foreign_keys is on in paylink's connections);
# entries_refuse_bad_time - posted_at is ISO 8601: CellReader.posting_date makes and checks it;
# entries_mark_page      - the customer's page is pending: _insert_entries marks it once per chunk.
BULK_TRIGGERS = ("entries_refuse_orphan", "entries_refuse_bad_time", "entries_mark_page")
# Every trigger entries had when the above was written; with any other, the import keeps them all.
ENTRY_TRIGGERS = frozenset(BULK_TRIGGERS) | {"entries_refuse_update", "entries_refuse_delete"}


@contextmanager
def _entry_triggers_set_aside(conn: sqlite3.Connection) -> Iterator[bool]:
    """Drop the entries' insert triggers for this import's inserts and create them again after; yield whether.

    They cost a third of a bulk insert (a call per row each). Only this
    transaction ever sees them gone: it holds the write lock, so no other
    program can write meanwhile, readers see the last commit, and the same
    transaction creates them again from their own text (in their order)
    before it can commit; a rollback or a crash brings them back too. When
    entries has a trigger this module does not know, none is set aside.
    """
    triggers = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'entries' ORDER BY rowid"
    ).fetchall()
    if {name for name, _ in triggers} != ENTRY_TRIGGERS:
        yield False
        return
    aside = [(name, sql) for name, sql in triggers if name in BULK_TRIGGERS]
    for name, _ in aside:
        conn.execute(f"DROP TRIGGER {name}")
    try:
        yield True
    finally:
        if conn.in_transaction:  # else an error rolled the transaction back, and the triggers with it
            for _, sql in aside:
                conn.execute(sql)


@contextmanager
def _large_cache(conn: sqlite3.Connection, kib: int = 65536):
    """Let SQLite cache 64 MB of pages for a bulk insert (the default 2 MB made it 3x slower)."""
    before = conn.execute("PRAGMA cache_size").fetchone()[0]
    conn.execute(f"PRAGMA cache_size = -{kib}")
    try:
        yield
    finally:
        conn.execute(f"PRAGMA cache_size = {int(before)}")
