"""The ledger: customers, their entries, and what each one owes.

Money comes in as integer minor units and goes out the same way; the balance
is always the sum of a customer's entries (charges positive, credits negative),
never a stored number that could drift. Entries are appended, never changed: a
mistake is undone by a void, the reversing entry.
"""

import datetime as dt
import re
import sqlite3
from zoneinfo import ZoneInfo

from .checks import clean_email, clean_line, clean_phone, clean_ref
from .errors import (
    CannotMerge,
    CannotRemove,
    CannotVoid,
    CustomerMerged,
    CustomerNotFound,
    DuplicateRef,
    EntryNotFound,
    IdempotencyConflict,
    InvalidInput,
    SettingsError,
    quoted,
)
from .model import Customer, CustomerBalance, Entry, Posted, state_of
from .storage import write_transaction

__all__ = ["Customer", "CustomerBalance", "Entry", "Posted", "state_of"]

RECENT_ENTRIES = 20
MAX_NAME = 200
MAX_DESCRIPTION = 500
MAX_KEY = 200
# SQLite's largest INTEGER: a bigger number cannot be an id, and sqlite3 refuses to bind it.
MAX_ROW_ID = 2**63 - 1


# --- input checks -----------------------------------------------------------


def _new_id(cursor: sqlite3.Cursor) -> int:
    """The id SQLite gave the row an INSERT just added."""
    if cursor.lastrowid is None:  # pragma: no cover — an INSERT into a rowid table always has one
        raise RuntimeError("the ledger did not report the new row's id")
    return cursor.lastrowid


def looks_like_id(text: str) -> bool:
    """Return whether a CUSTOMER argument is an id: ASCII digits only (``²`` or ``١٢`` are not ids)."""
    return text.isascii() and text.isdigit()


def parse_posting_date(text: str | None, timezone: str, now: dt.datetime | None = None) -> str:
    """Return the ``posted_at`` (ISO 8601 UTC) for an entry dated YYYY-MM-DD in the site's time zone.

    No date means now. Today's date also means now, so entries posted today keep
    their order; an earlier day is stamped at noon local time, which stays on that
    day in any daylight-saving change. A date in the future is refused.
    """
    now = now or dt.datetime.now(dt.UTC)
    if text is None:
        return iso_utc(now)
    zone = ZoneInfo(timezone)
    try:
        if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text.strip()):
            raise ValueError(text)
        day = dt.date.fromisoformat(text.strip())
    except ValueError as exc:
        raise InvalidInput(f"date {quoted(text)} is not a date — write it as YYYY-MM-DD, e.g. 2026-03-31") from exc
    today = now.astimezone(zone).date()
    if day > today:
        raise InvalidInput(f"date {text} is in the future — use today ({today.isoformat()}) or an earlier day")
    if day == today:
        return iso_utc(now)
    return iso_utc(dt.datetime.combine(day, dt.time(12, 0), tzinfo=zone))


def iso_utc(moment: dt.datetime) -> str:
    """Format a moment as ISO 8601 UTC to the second: 2026-11-24T21:05:00Z."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- customers ----------------------------------------------------------------


def add_customer(
    conn: sqlite3.Connection,
    name: str,
    *,
    email: str | None = None,
    phone: str | None = None,
    ref: str | None = None,
    language: str | None = None,
) -> Customer:
    """Add a customer and return it."""
    name = clean_line(name, "name", MAX_NAME)
    email, phone, ref = clean_email(email), clean_phone(phone), clean_ref(ref)
    language = clean_language(language)
    with write_transaction(conn):
        _refuse_taken_ref(conn, ref, None)
        if ref is not None and conn.execute("SELECT 1 FROM customers WHERE ref = ? COLLATE NOCASE", (ref,)).fetchone():
            raise DuplicateRef(f"another customer already has ref {quoted(ref)} — choose a different ref")
        cursor = conn.execute(
            "INSERT INTO customers (name, email, phone, ref, language) VALUES (?, ?, ?, ?, ?)",
            (name, email, phone, ref, language),
        )
    return Customer(_new_id(cursor), name, email, phone, ref, language)


def clean_language(value: str | None) -> str | None:
    """Return a customer's page language (``en``, ``es``) or None, or raise InvalidInput."""
    from .settings import check_language

    if value is None or not value.strip():
        return None
    try:
        return check_language(value)
    except SettingsError as exc:
        raise InvalidInput(str(exc)) from exc


def _refuse_taken_ref(conn: sqlite3.Connection, ref: str | None, customer_id: int | None) -> None:
    if ref is None:
        return
    row = conn.execute(
        "SELECT id, name FROM customers WHERE ref = ? COLLATE NOCASE AND id IS NOT ?", (ref, customer_id)
    ).fetchone()
    if row is not None:
        raise DuplicateRef(
            f"another customer already has ref {ref[:80]!r} (customer {row[0]}, {row[1][:80]})"
            " — choose a different ref; refs are matched without regard to case"
        )


# What edit_customer leaves as it is: None means "not given", "" means "clear it".
KEEP = None


def edit_customer(
    conn: sqlite3.Connection,
    customer: Customer,
    *,
    name: str | None = KEEP,
    email: str | None = KEEP,
    phone: str | None = KEEP,
    ref: str | None = KEEP,
    language: str | None = KEEP,
) -> Customer:
    """Change a customer's details and return them as they now are.

    A value left as None is kept; an empty string clears an optional detail
    (email, phone, ref, language). The name cannot be cleared. The update marks
    the customer's page for rewriting (a trigger does it, in this transaction).
    """
    changes: dict[str, str | None] = {}
    if name is not None:
        changes["name"] = clean_line(name, "name", MAX_NAME)
    if email is not None:
        changes["email"] = clean_email(email)
    if phone is not None:
        changes["phone"] = clean_phone(phone)
    if ref is not None:
        changes["ref"] = clean_ref(ref)
    if language is not None:
        changes["language"] = clean_language(language)
    with write_transaction(conn):
        if "ref" in changes:
            _refuse_taken_ref(conn, changes["ref"], customer.id)
        if changes:
            assignments = ", ".join(f"{column} = ?" for column in changes)
            conn.execute(f"UPDATE customers SET {assignments} WHERE id = ?", (*changes.values(), customer.id))
        row = conn.execute(
            "SELECT id, name, email, phone, ref, language FROM customers WHERE id = ?", (customer.id,)
        ).fetchone()
    if row is None:
        raise CustomerNotFound(f"No customer with id {customer.id} — see `paylink customer list`")
    return Customer(*row)


def find_customer(conn: sqlite3.Connection, id_or_ref: str | int) -> Customer:
    """Return the customer with that numeric id or ref, or raise CustomerNotFound."""
    key = str(id_or_ref).strip()
    if looks_like_id(key):
        number = int(key)
        row = (
            conn.execute(
                "SELECT id, name, email, phone, ref, language FROM customers WHERE id = ?", (number,)
            ).fetchone()
            if number <= MAX_ROW_ID
            else None
        )
        what = f"id {key if len(key) <= 80 else key[:79] + '…'}"
    else:
        row = conn.execute(
            "SELECT id, name, email, phone, ref, language FROM customers WHERE ref = ? COLLATE NOCASE", (key,)
        ).fetchone()
        what = f"ref {key[:80]!r}"
        what = f"ref {quoted(key)}"
    if row is None:
        hint = "" if looks_like_id(key) else _closest_customer(conn, key)
        if hint:
            raise CustomerNotFound(f"No customer with {what} — did you mean {hint}? See paylink customer list")
        raise CustomerNotFound(f"No customer with {what} — see `paylink customer list`")
    return Customer(*row)


def _closest_customer(conn: sqlite3.Connection, key: str) -> str:
    """The existing customer whose ref or name is closest to a mistyped one, as "REF (Name)", or ""."""
    import difflib

    by_word: dict[str, tuple[int, str, str | None]] = {}
    for customer_id, name, ref in conn.execute("SELECT id, name, ref FROM customers ORDER BY id"):
        for word in (ref, name):
            if word:
                by_word.setdefault(word.casefold(), (customer_id, name, ref))
    match = difflib.get_close_matches(key.casefold(), list(by_word), n=1, cutoff=0.6)
    if not match:
        return ""
    customer_id, name, ref = by_word[match[0]]
    return f"{(ref or str(customer_id))[:80]} ({name[:80]})"


# --- removing and merging customers ---------------------------------------------------


def merged_into(conn: sqlite3.Connection, customer_id: int) -> Customer | None:
    """The customer this one was merged into, or None."""
    row = conn.execute(
        "SELECT c.id, c.name, c.email, c.phone, c.ref, c.language FROM merged_customers m"
        " JOIN customers c ON c.id = m.into_id WHERE m.customer_id = ?",
        (customer_id,),
    ).fetchone()
    return Customer(*row) if row else None


def refuse_merged(conn: sqlite3.Connection, customer: Customer) -> None:
    """Raise CustomerMerged, pointing at the customer they were merged into, if they were."""
    into = merged_into(conn, customer.id)
    if into is not None:
        raise CustomerMerged(f"customer {_who(customer)} was merged into {_who(into)} — use {_key_of(into)} instead")


def _who(customer: Customer) -> str:
    """``3 ('Ann Lee', ref 'ANN')``: a customer as an error message names them."""
    ref = f", ref {quoted(customer.ref)}" if customer.ref else ""
    return f"{customer.id} ({quoted(customer.name)}{ref})"


def _key_of(customer: Customer) -> str:
    """How a command names the customer: their ref, else their id."""
    return quoted(customer.ref) if customer.ref else str(customer.id)


def remove_customer(conn: sqlite3.Connection, customer: Customer) -> None:
    """Remove a customer who has no entries, with their links (their page goes with them).

    A customer with entries is refused (entries are never deleted: merge them
    into another customer instead), and so is one others were merged into.
    """
    with write_transaction(conn):
        (count,) = conn.execute("SELECT COUNT(*) FROM entries WHERE customer_id = ?", (customer.id,)).fetchone()
        if count:
            entries = "1 entry" if count == 1 else f"{count} entries"
            into = merged_into(conn, customer.id)
            if into is not None:
                raise CannotRemove(
                    f"customer {_who(customer)} has {entries}, and entries are never deleted — they were merged"
                    f" into {_who(into)} already, and are left out of `paylink customer list`"
                )
            raise CannotRemove(
                f"customer {_who(customer)} has {entries}, and entries are never deleted — to fold a duplicate"
                f" into another customer, use `paylink customer merge {customer.ref or customer.id} INTO`"
            )
        merged = conn.execute(
            "SELECT customer_id FROM merged_customers WHERE into_id = ? ORDER BY customer_id", (customer.id,)
        ).fetchall()
        if merged:
            ids = ", ".join(str(r[0]) for r in merged[:5])
            raise CannotRemove(
                f"customer {_who(customer)} has customer {ids} merged into them — keep them, their statement"
                " shows where those balances went"
            )
        # Deleting the link rows records their snapshots for removal (trigger links_delete).
        conn.execute("DELETE FROM links WHERE customer_id = ?", (customer.id,))
        conn.execute("DELETE FROM merged_customers WHERE customer_id = ?", (customer.id,))
        conn.execute("DELETE FROM pending_pages WHERE customer_id = ?", (customer.id,))
        conn.execute("DELETE FROM customers WHERE id = ?", (customer.id,))


def merge_customer(
    conn: sqlite3.Connection,
    source: Customer,
    target: Customer,
    *,
    moved_to: str,
    moved_from: str,
    posted_at: str,
) -> int:
    """Move ``source``'s balance to ``target`` and mark ``source`` merged into it; return the balance moved.

    Two entries say so: ``moved_to`` on the source (taking its balance to
    zero), ``moved_from`` on the target (the same amount, the other way). A
    zero balance posts nothing. No entry is edited. The source's link is
    revoked. Merging a customer into itself, into a merged customer, or one
    already merged is refused.
    """
    if source.id == target.id:
        raise CannotMerge(f"customer {_who(source)} cannot be merged into itself — name the customer to keep")
    with write_transaction(conn):
        already = merged_into(conn, source.id)
        if already is not None:
            raise CannotMerge(f"customer {_who(source)} was already merged into {_who(already)} — nothing to do")
        further = merged_into(conn, target.id)
        if further is not None:
            raise CannotMerge(
                f"customer {_who(target)} was itself merged into {_who(further)} — merge into {_key_of(further)}"
                " instead"
            )
        moved = balance_minor(conn, source.id)
        if moved:
            conn.executemany(
                "INSERT INTO entries (customer_id, amount_minor, description, posted_at) VALUES (?, ?, ?, ?)",
                [
                    (source.id, -moved, moved_to[:MAX_DESCRIPTION], posted_at),
                    (target.id, moved, moved_from[:MAX_DESCRIPTION], posted_at),
                ],
            )
        conn.execute(
            "UPDATE links SET retired_at = ?, retired_because = 'revoked' WHERE customer_id = ? AND retired_at IS NULL",
            (posted_at, source.id),
        )
        conn.execute("INSERT INTO merged_customers (customer_id, into_id) VALUES (?, ?)", (source.id, target.id))
    return moved


def balance_minor(conn: sqlite3.Connection, customer_id: int, *, through_entry: int | None = None) -> int:
    """Return the customer's balance (charges minus credits), optionally as it stood right after one entry.

    SUM, not TOTAL: TOTAL adds in floating point and loses cents above 2**53 minor units.
    """
    if through_entry is None:
        row = conn.execute(
            "SELECT COALESCE(SUM(amount_minor), 0) FROM entries WHERE customer_id = ?", (customer_id,)
        ).fetchone()
    else:
        row = conn.execute(
            "SELECT COALESCE(SUM(amount_minor), 0) FROM entries WHERE customer_id = ? AND id <= ?",
            (customer_id, through_entry),
        ).fetchone()
    return int(row[0])


def recent_entries(conn: sqlite3.Connection, customer_id: int, limit: int = RECENT_ENTRIES) -> list[Entry]:
    """Return the customer's newest entries, newest first."""
    rows = conn.execute(
        "SELECT id, customer_id, amount_minor, description, posted_at, voids_entry_id FROM entries"
        " WHERE customer_id = ? ORDER BY julianday(posted_at) DESC, id DESC LIMIT ?",
        (customer_id, limit),
    ).fetchall()
    return [Entry(*row) for row in rows]


def page_totals(conn: sqlite3.Connection, customer_id: int) -> tuple[int, int, str | None]:
    """Return the customer's balance, how many of their entries a page can show (every entry but the
    voids, which are never shown), and when the newest entry (a void too) was posted (None: no entry)."""
    total, count, voids, newest = conn.execute(
        "SELECT COALESCE(SUM(amount_minor), 0), COUNT(*), COUNT(voids_entry_id),"
        " (SELECT posted_at FROM entries WHERE customer_id = ?1 ORDER BY julianday(posted_at) DESC, id DESC LIMIT 1)"
        " FROM entries WHERE customer_id = ?1",
        (customer_id,),
    ).fetchone()
    return int(total), count - voids, newest


def recent_entries_and_voids(
    conn: sqlite3.Connection, customer_id: int, limit: int = RECENT_ENTRIES
) -> tuple[list[Entry], dict[int, tuple[int, str]]]:
    """Return the customer's newest entries that a page shows (voids are not shown), newest first, and
    the voids of these entries.

    The voids map each void's entry id to the (id, description) of the entry it
    reverses (found through the partial index on ``voids_entry_id``, in the same query).
    """
    rows = conn.execute(
        "SELECT e.id, e.customer_id, e.amount_minor, e.description, e.posted_at, e.voids_entry_id, v.id"
        " FROM entries e LEFT JOIN entries v ON v.voids_entry_id = e.id"
        " WHERE e.customer_id = ? AND e.voids_entry_id IS NULL ORDER BY julianday(e.posted_at) DESC, e.id DESC"
        " LIMIT ?",
        (customer_id, limit),
    ).fetchall()
    entries = [Entry(*row[:6]) for row in rows]
    voids = {row[6]: (entry.id, entry.description) for entry, row in zip(entries, rows, strict=True) if row[6]}
    return entries, voids


def pages_of(
    conn: sqlite3.Connection, customer_ids: list[int], limit: int = RECENT_ENTRIES
) -> dict[int, tuple[list[Entry], dict[int, tuple[int, str]], int, int, str]]:
    """For a batch of customers, what each page shows: (newest entries, voids, balance, entry count, newest time).

    Exactly what ``recent_entries_and_voids`` and ``page_totals`` give for
    each customer, read in one streaming pass over the entries index for the
    whole batch (newest first within each customer) instead of three queries a
    customer; the voids come from the partial index on ``voids_entry_id``.
    Customers without entries are left out.
    """
    found: dict[int, tuple[list[Entry], dict[int, tuple[int, str]], int, int, str]] = {}
    if not customer_ids:
        return found
    import json

    batch = json.dumps(sorted(set(customer_ids)))
    cursor = conn.cursor()
    cursor.row_factory = None  # plain tuples: a page reads two dozen rows
    rows = cursor.execute(
        "SELECT id, customer_id, amount_minor, description, posted_at, voids_entry_id FROM entries"
        " WHERE customer_id IN (SELECT value FROM json_each(?))"
        " ORDER BY customer_id DESC, julianday(posted_at) DESC, id DESC",
        (batch,),
    )
    current = None
    shown: list[Entry] = []
    total = count = 0
    newest = ""
    low, high = MAX_ROW_ID, 0
    for row in rows:
        customer = row[1]
        if customer != current:
            if current is not None:
                found[current] = (shown, {}, total, count, newest)
            current, shown, total, count, newest = customer, [], 0, 0, row[4]
        total += row[2]
        if row[5] is not None:
            continue  # a void: in the balance, never a row of the page
        count += 1
        if count <= limit:
            shown.append(Entry(*row))
            entry_id = row[0]
            if entry_id < low:
                low = entry_id
            if entry_id > high:
                high = entry_id
    if current is not None:
        found[current] = (shown, {}, total, count, newest)
    if not found or high == 0:
        return found
    # Voids of the shown entries: the voids index holds only voids, so a range of it is short.
    voided_by = dict(
        conn.execute(
            "SELECT voids_entry_id, id FROM entries WHERE voids_entry_id BETWEEN ? AND ?", (low, high)
        ).fetchall()
    )
    for shown, voids, *_ in found.values():
        for entry in shown:
            void_id = voided_by.get(entry.id)
            if void_id is not None:
                voids[void_id] = (entry.id, entry.description)
    return found


# --- entries ------------------------------------------------------------------


def post_entry(
    conn: sqlite3.Connection,
    customer: Customer,
    amount_minor: int,
    description: str,
    *,
    posted_at: str,
    idempotency_key: str | None = None,
) -> Posted:
    """Post a charge (amount > 0) or credit (amount < 0) in one transaction.

    With an idempotency key already used for this customer, nothing is posted and
    the first result is returned again; the same key with another amount or
    description raises IdempotencyConflict.
    """
    description = clean_line(description, "description", MAX_DESCRIPTION)
    if idempotency_key is not None:
        idempotency_key = clean_line(idempotency_key, "idempotency key", MAX_KEY)
    with write_transaction(conn):
        refuse_merged(conn, customer)
        if idempotency_key is not None:
            earlier = conn.execute(
                "SELECT id, customer_id, amount_minor, description, posted_at, voids_entry_id FROM entries"
                " WHERE customer_id = ? AND idempotency_key = ?",
                (customer.id, idempotency_key),
            ).fetchone()
            if earlier is not None:
                entry = Entry(*earlier)
                if entry.amount_minor != amount_minor or entry.description != description:
                    raise IdempotencyConflict(
                        f"key {quoted(idempotency_key)} was already used for entry {entry.id} with another"
                        " amount or description — use a new key for a new entry"
                    )
                return Posted(entry, balance_minor(conn, customer.id, through_entry=entry.id))
        cursor = conn.execute(
            "INSERT INTO entries (customer_id, amount_minor, description, posted_at, idempotency_key)"
            " VALUES (?, ?, ?, ?, ?)",
            (customer.id, amount_minor, description, posted_at, idempotency_key),
        )
        entry = Entry(_new_id(cursor), customer.id, amount_minor, description, posted_at)
        return Posted(entry, balance_minor(conn, customer.id))


def void_entry(conn: sqlite3.Connection, entry_id: int, *, reason: str | None, posted_at: str) -> Posted:
    """Post the reversing entry of an entry; an entry can be voided once, and a void never."""
    reason = clean_line(reason, "reason", MAX_DESCRIPTION, required=False) if reason else ""
    with write_transaction(conn):
        row = (
            conn.execute(
                "SELECT id, customer_id, amount_minor, description, posted_at, voids_entry_id FROM entries WHERE id = ?",
                (entry_id,),
            ).fetchone()
            if entry_id <= MAX_ROW_ID
            else None
        )
        if row is None:
            raise EntryNotFound(f"No entry with id {str(entry_id)[:80]} — see `paylink customer show CUSTOMER`")
        original = Entry(*row)
        merged = merged_into(conn, original.customer_id)
        if merged is not None:
            raise CustomerMerged(
                f"entry {entry_id} belongs to customer {original.customer_id}, who was merged into"
                f" {_who(merged)} — post a charge or credit to {_key_of(merged)} instead"
            )
        if original.voids_entry_id is not None:
            raise CannotVoid(f"entry {entry_id} is itself a void — post a new charge or credit instead")
        voided_by = conn.execute("SELECT id FROM entries WHERE voids_entry_id = ?", (entry_id,)).fetchone()
        if voided_by is not None:
            raise CannotVoid(f"entry {entry_id} was already voided by entry {voided_by[0]} — nothing to do")
        description = f"Void of entry {entry_id}: {original.description}"
        if reason:
            description += f" ({reason})"
        description = description[:MAX_DESCRIPTION]
        cursor = conn.execute(
            "INSERT INTO entries (customer_id, amount_minor, description, posted_at, voids_entry_id)"
            " VALUES (?, ?, ?, ?, ?)",
            (original.customer_id, -original.amount_minor, description, posted_at, entry_id),
        )
        entry = Entry(_new_id(cursor), original.customer_id, -original.amount_minor, description, posted_at, entry_id)
        return Posted(entry, balance_minor(conn, original.customer_id))


# --- listings -----------------------------------------------------------------


def customer_balances(
    conn: sqlite3.Connection, customer_id: int | None = None, *, include_merged: bool = True
) -> list[CustomerBalance]:
    """Return every customer (or one) with balance, live link nonce and whom they were merged into, by id.

    Without ``include_merged``, customers merged into another are left out (one asked for by id never is).
    """
    where = "WHERE c.id = ?" if customer_id is not None else ""
    if customer_id is None and not include_merged:
        where = "WHERE c.id NOT IN (SELECT customer_id FROM merged_customers)"
    rows = conn.execute(
        f"""
        SELECT c.id, c.name, c.email, c.phone, c.ref, c.language,
               (SELECT COALESCE(SUM(amount_minor), 0) FROM entries e WHERE e.customer_id = c.id),
               (SELECT nonce FROM links l WHERE l.customer_id = c.id AND l.retired_at IS NULL),
               (SELECT into_id FROM merged_customers m WHERE m.customer_id = c.id)
        FROM customers c {where} ORDER BY c.id
        """,
        (customer_id,) if customer_id is not None else (),
    ).fetchall()
    return [CustomerBalance(Customer(*row[:6]), int(row[6]), row[7], row[8]) for row in rows]
