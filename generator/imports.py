"""CSV imports: all or nothing, every bad row named.

A file is read as a spreadsheet saves it (see ``spreadsheet``). Every row is
checked; when any is bad, the import is refused with up to 20 of them named
and the ledger is left as it was. Entries stream into one transaction in
chunks, so memory stays flat however long the file is. An entries file is
remembered by the SHA-256 of its bytes, so importing it twice is refused; a
row's ``key`` (an idempotency key, as ``--key``) makes a repeated row post
nothing. Every row an import posts leaves a 64-bit fingerprint (customer,
signed amount, local date, description), so a later file that repeats a row
without a key (an overlapping export) is refused by line, or has such rows
skipped (``new_only``) or posted anyway (``again``). A customers file refuses
rows for customers who already exist unless ``skip_existing``.
"""

import bisect
import datetime as dt
import difflib
import hashlib
import json
import operator
import re
import sqlite3
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from hashlib import blake2b as _blake2b
from pathlib import Path

from .checks import clean_email, clean_line, clean_phone, clean_ref
from .errors import MAX_QUOTED, ImportFailed, PaylinkError, quoted
from .ledger import MAX_DESCRIPTION, MAX_KEY, MAX_NAME, looks_like_id
from .settings import check_language
from .spreadsheet import CellReader, header_key, open_table
from .storage import write_transaction

CUSTOMER_COLUMNS = ("name", "email", "phone", "ref", "language")
CUSTOMER_REQUIRED = ("name",)
ENTRY_COLUMNS = ("customer", "kind", "amount", "description", "date", "key")
ENTRY_REQUIRED = ("customer", "kind", "amount", "description")
# Header names and kinds in a site's language (CONTRACT §2), as spreadsheet.header_key folds them
# (any case, no accents); English is always accepted too.
ENTRY_HEADERS = {
    "es": {
        "cliente": "customer",
        "tipo": "kind",
        "importe": "amount",
        "monto": "amount",
        "descripcion": "description",
        "concepto": "description",
        "fecha": "date",
        "clave": "key",
    }
}
CUSTOMER_HEADERS = {
    "es": {
        "nombre": "name",
        "correo": "email",
        "correo electronico": "email",
        "telefono": "phone",
        "referencia": "ref",
        "idioma": "language",
    }
}
KINDS = {"es": {"cargo": 1, "abono": -1}}
# The headers as a refusal shows them in the site's language, beside the English ones.
ENTRY_HEADER_SHOWN = {"es": "cliente,tipo,importe,descripción,fecha"}
CUSTOMER_HEADER_SHOWN = {"es": "nombre,correo,teléfono,referencia"}
IMPORT_CHUNK = 200_000  # rows a chunk: 50,000 cost 2 s more CPU a million rows (index locality)
PROBLEMS_SHOWN = 20


@dataclass(frozen=True)
class Imported:
    """What an import did: rows imported, rows skipped (their key was already posted),
    which customers' ledgers changed, and the file's columns that were not ours (ignored)."""

    count: int
    skipped: int = 0  # entries: rows already posted (by key, or equal rows with new_only); customers: existing
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


def import_customers(
    conn: sqlite3.Connection, path: Path, *, skip_existing: bool = False, language: str = "en"
) -> Imported:
    """Import customers from a CSV with columns name,email,phone,ref and optionally language.

    A row for a customer who already exists (the same ref in any case; without
    a ref, the same name with the same email or phone, or the same name alone
    when the row has neither) is refused by line, naming that customer, unless
    ``skip_existing``, which skips it. Header names may be in the site's ``language``.
    """
    table = open_table(
        path, CUSTOMER_COLUMNS, CUSTOMER_REQUIRED, CUSTOMER_HEADERS.get(language), CUSTOMER_HEADER_SHOWN.get(language)
    )
    problems = _Problems(table.name)
    rows = []
    refs: dict[str, tuple[int, str]] = {}  # folded ref -> (line, ref as written)
    skipped = 0
    with write_transaction(conn):
        existing = _ExistingCustomers(conn)
        for line, row in table.rows():
            if isinstance(row, str):
                problems.add(line, row)
                continue
            try:
                ref = clean_ref(row.get("ref"))
                language_cell = (row.get("language") or "").strip()
                values = (
                    clean_line(row["name"], "name", MAX_NAME),
                    clean_email(row.get("email")),
                    clean_phone(row.get("phone")),
                    ref,
                    check_language(language_cell) if language_cell else None,
                )
            except PaylinkError as exc:
                problems.add(line, str(exc))
                continue
            if ref is not None:
                folded = _nocase(ref)
                if folded in refs:
                    problems.add(
                        line, f"ref {quoted(ref)} also appears on line {refs[folded][0]} — refs must be unique"
                    )
                    continue
                refs[folded] = (line, ref)
            already = existing.match(*values[:4])
            if already is not None:
                if skip_existing:
                    skipped += 1
                else:
                    problems.add(line, already)
                continue
            rows.append(values)
        problems.refuse_if_any()
        conn.executemany("INSERT INTO customers (name, email, phone, ref, language) VALUES (?, ?, ?, ?, ?)", rows)
    return Imported(len(rows), skipped, ignored_columns=tuple(table.ignored))


_SKIP_EXISTING = "pass --skip-existing to skip customers already added"


class _ExistingCustomers:
    """The ledger's customers, read once, indexed the ways a row can name one who already exists."""

    def __init__(self, conn: sqlite3.Connection):
        self.by_ref: dict[str, tuple[int, str]] = {}
        self.by_name: dict[str, list[tuple[int, str, str | None, str | None]]] = {}
        for id_, name, email, phone, ref in conn.execute(
            "SELECT id, name, email, phone, ref FROM customers ORDER BY id"
        ):
            if ref is not None:
                self.by_ref[_nocase(ref)] = (id_, name)
            self.by_name.setdefault(_same_name(name), []).append(
                (id_, name, email.casefold() if email else None, _digits(phone))
            )

    def match(self, name: str, email: str | None, phone: str | None, ref: str | None) -> str | None:
        """None for a new customer, else why the row names one who exists (the problem of its line)."""
        if ref is not None:
            found = self.by_ref.get(_nocase(ref))
            if found is None:
                return None
            return (
                f"customer {found[0]} ({quoted(found[1])}) already has ref {quoted(ref)} — {_SKIP_EXISTING},"
                " or give this row another ref"
            )
        candidates = self.by_name.get(_same_name(name), [])
        if email is None and phone is None:
            if not candidates:
                return None
            id_, existing, _, _ = candidates[0]
            return (
                f"customer {id_} ({quoted(existing)}) has the same name — {_SKIP_EXISTING},"
                " or give this row an email or phone that tells them apart"
            )
        folded, digits = (email.casefold() if email else None), _digits(phone)
        for id_, existing, their_email, their_phone in candidates:
            same = "email" if folded and folded == their_email else "phone" if digits and digits == their_phone else ""
            if same:
                return f"customer {id_} ({quoted(existing)}) has the same name and {same} — {_SKIP_EXISTING}"
        return None


def _same_name(name: str) -> str:
    """A name as compared for "the same name": any case, spaces collapsed."""
    return " ".join(name.split()).casefold()


def _digits(phone: str | None) -> str | None:
    """A phone as compared: its digits only ("555-0101" is "(555) 0101"); None without any."""
    digits = re.sub(r"[^0-9]", "", phone) if phone else ""
    return digits or None


# --- entries ------------------------------------------------------------------------


def import_entries(
    conn: sqlite3.Connection,
    path: Path,
    *,
    currency: str,
    timezone: str,
    locale: str = "en_US",
    language: str = "en",
    again: bool = False,
    new_only: bool = False,
) -> Imported:
    """Import charges and credits from a CSV with columns customer,kind,amount,description,date and optionally key.

    Refuses a file whose exact bytes were imported before, unless ``again``. A
    row without a key equal to a row an earlier import posted (same customer,
    kind, amount, local date and description) is refused by line, unless
    ``new_only`` (skipped, and counted in ``skipped``) or ``again`` (posted).
    Headers and kinds may be in the site's ``language``. Runs in the caller's
    transaction when there is one (so a caller can undo the import when what
    follows it fails).
    """
    table = open_table(
        path, ENTRY_COLUMNS, ENTRY_REQUIRED, ENTRY_HEADERS.get(language), ENTRY_HEADER_SHOWN.get(language)
    )
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
                f"{table.name} was already imported on {_when(earlier[1], timezone)}{same_name} — "
                "pass --again to import it again (rows with a key already posted are skipped)"
            )
        keys = _Keys(conn)
        customers = _Customers(conn)
        rows = _EarlierRows(conn, table.name, timezone, check=not again, skip=new_only)
        # The readers' caches, looked up here first: a million rows repeat a few thousand texts.
        amounts, dates, known = cells.amounts_read, cells.dates_read, customers.known
        line_of_row = rows.lines.append  # the file line of each row of the chunk
        kinds = {**_KINDS, **KINDS.get(language, {})}
        with _entry_triggers_set_aside(conn) as bulk:
            for line, row in table.records(ENTRY_COLUMNS):
                if isinstance(row, str):
                    problems.add(line, row)
                    continue
                customer, kind, amount_text, description_text, date, key = row
                try:
                    sign = kinds.get(kind) or _kind(kind, kinds)
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
                line_of_row(line)
                if len(chunk) >= IMPORT_CHUNK:
                    skipped += rows.sieve(chunk, problems)
                    count += _insert_entries(conn, chunk, touched, bulk)
                    keys.chunk_written()
            skipped += rows.sieve(chunk, problems)
            count += _insert_entries(conn, chunk, touched, bulk)
        problems.refuse_if_any()
        rows.finish(count)
        if count or skipped:
            conn.execute(
                "INSERT INTO imported_files (digest, file_name, rows) VALUES (?, ?, ?) ON CONFLICT (digest)"
                " DO UPDATE SET file_name = excluded.file_name, rows = excluded.rows,"
                " imported_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')",
                (digest, table.name, count),
            )
    return Imported(count, skipped, frozenset(touched), tuple(table.ignored))


class _EarlierRows:
    """The fingerprints of the rows this import posts, checked against those earlier imports posted.

    A fingerprint is the first 64 bits of BLAKE2b over (customer id, signed amount, the
    entry's date in the site's time zone, description): two different rows
    share one with a chance of about one in 10**7 among ten billion pairs. Per
    chunk, the fingerprints are taken in one pass over the chunk, the keyless
    rows' are looked up in one query (a JSON array joined to the index), and the
    chunk's are written in one statement (a JSON array, sorted, so the index
    inserts land near each other).
    """

    def __init__(self, conn: sqlite3.Connection, file_name: str, timezone: str, *, check: bool, skip: bool):
        self.conn = conn
        self.zone = _zone(timezone)
        self.timezone = timezone
        self.import_id = conn.execute("INSERT INTO entry_imports (file_name) VALUES (?)", (file_name,)).lastrowid
        # Nothing to look up when no import ever posted a row (the first import of a ledger).
        self.check = check and conn.execute("SELECT 1 FROM imported_rows LIMIT 1").fetchone() is not None
        self.skip = skip
        self.days: dict[str, str] = {}  # posted_at -> its local date: an import has a few hundred
        self.lines: list[int] = []  # the file line of each row of the chunk (the caller appends them)

    def fingerprints(self, chunk: list[tuple]) -> list[int]:
        """The fingerprint of each row of a chunk of (customer id, signed amount, description, posted_at, key)."""
        days, day_of, digest, first = self.days, self._day, _blake2b, _first_int64
        return [
            first(digest(f"{customer}\x1f{amount}\x1f{days.get(at) or day_of(at)}\x1f{description}".encode()).digest())[
                0
            ]
            for customer, amount, description, at, _ in chunk
        ]

    def _day(self, posted_at: str) -> str:
        day = self.days[posted_at] = _local_day(posted_at, self.zone)
        return day

    def sieve(self, chunk: list[tuple], problems: "_Problems") -> int:
        """Take out of the chunk the rows an earlier import posted (a problem each, or skipped), record the
        rest's fingerprints, and return how many were skipped."""
        prints, lines = self.fingerprints(chunk), self.lines
        keyless = [i for i, row in enumerate(chunk) if row[4] is None] if self.check else []
        skipped = 0
        if keyless:
            found = self.conn.execute(
                "SELECT j.key, MIN(r.import_id) FROM json_each(?) j JOIN imported_rows r ON r.fingerprint = j.value"
                " AND r.import_id < ? GROUP BY j.key",
                (json.dumps([prints[i] for i in keyless]), self.import_id),
            ).fetchall()
            if found:
                drop = {keyless[at]: import_id for at, import_id in found}
                if not self.skip:
                    for index, import_id in sorted(drop.items()):
                        problems.add(lines[index], self._already(import_id))
                kept = [i for i in range(len(chunk)) if i not in drop]
                chunk[:] = [chunk[i] for i in kept]
                prints = [prints[i] for i in kept]
                skipped = len(drop) if self.skip else 0
        # One statement over a JSON array: a third of the cost of an executemany of a tuple a row.
        # Repeats (equal rows in one file) are ignored by the primary key.
        prints.sort()
        self.conn.execute(
            "INSERT OR IGNORE INTO imported_rows (fingerprint, import_id) SELECT value, ? FROM json_each(?)",
            (self.import_id, json.dumps(prints)),
        )
        lines.clear()
        return skipped

    def _already(self, import_id: int) -> str:
        file_name, imported_at = self.conn.execute(
            "SELECT file_name, imported_at FROM entry_imports WHERE id = ?", (import_id,)
        ).fetchone()
        return (
            f"the same row (customer, kind, amount, date, description) was already imported from {quoted(file_name)}"
            f" on {_when(imported_at, self.timezone)} — pass --new-only to skip such rows, or --again to post them anyway"
        )

    def finish(self, count: int) -> None:
        """An import that posted nothing leaves no record of itself."""
        if not count:
            self.conn.execute("DELETE FROM entry_imports WHERE id = ?", (self.import_id,))


# The first 8 bytes of a digest as a signed 64-bit integer (SQLite's INTEGER): faster than
# int.from_bytes, and blake2b's full digest is faster than asking it for 8 bytes (keyword parsing).
_first_int64 = struct.Struct(">q").unpack_from


def _local_day(posted_at: str, zone) -> str:
    """``2026-11-20T17:00:00Z`` -> the date it is in the site's time zone, ``2026-11-20``."""
    moment = dt.datetime.strptime(posted_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    return moment.astimezone(zone).date().isoformat()


def _zone(timezone: str):
    from zoneinfo import ZoneInfo

    return ZoneInfo(timezone)


def _kind(kind: str, kinds: dict[str, int]) -> int:
    """1 for a charge, -1 for a credit, in any case, without regard to accents and with spaces around; else ImportFailed."""
    sign = kinds.get(header_key(kind))
    if sign is None:
        names = " or ".join(k for k in kinds if k not in _KINDS)
        also = f" (or {names})" if names else ""
        raise ImportFailed(f"kind {quoted(kind)} is not charge or credit{also} — write charge or credit{also}")
    return sign


_KINDS = {"charge": 1, "credit": -1}
_DESCRIPTIONS_KEPT = 100_000


def _when(imported_at: str, timezone: str) -> str:
    """``2026-11-20T14:03:05Z`` -> ``2026-11-20 09:03 EST`` in the site's time zone."""
    moment = dt.datetime.strptime(imported_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    return moment.astimezone(_zone(timezone)).strftime("%Y-%m-%d %H:%M %Z")


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
        self.merged: dict[int, tuple[int, str | None]] = {
            id_: (into, ref)
            for id_, into, ref in conn.execute(
                "SELECT m.customer_id, m.into_id, c.ref FROM merged_customers m JOIN customers c ON c.id = m.into_id"
            )
        }
        self.known: dict[str, int] = {}

    def resolve(self, text: str) -> int:
        """The id of the customer a cell names (an id or a ref in any case), or ImportFailed."""
        found = self.known.get(text)
        if found is None:
            found = self._resolve(text.strip())
            merged = self.merged.get(found)
            if merged is not None:
                into = quoted(merged[1]) if merged[1] else str(merged[0])
                raise ImportFailed(
                    f"customer {quoted(text.strip())} was merged into customer {merged[0]} — write {into} instead"
                )
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
