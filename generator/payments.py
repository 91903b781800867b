"""Payments received, as payment services and banks export them: each a credit for the customer it names.

A file is one of the exports owners already download (CONTRACT §8): PayPal's
activity CSV, Venmo's statement CSV, Stripe's payments or Checkout Sessions
CSV, an ISO 20022 camt.053 bank statement, or a plain ``date,amount,reference``
CSV. Its format is found from its header (or given). Only money received,
completed, in the site's currency becomes a credit; fees, refunds, debits,
pending or failed payments and other currencies are skipped and counted.

A payment finds its customer by the payment reference (``references``) that
the customer's pay methods carry: as a whole word of the payment's reference
or note (any case), as an ISO 11649 ``RF`` reference, or as Stripe's
``client_reference_id``. Each posted payment is remembered by its service and
transaction id (the ``imported_payments`` table, and the entry's idempotency
key), so the same payment is never posted twice, whichever file brings it.

All or nothing, like every import: a bad row, an unreadable file, or (unless
the caller skips them) a payment that matches no customer posts nothing.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from .errors import ImportFailed, PaylinkError, quoted
from .imports import RowsRefused
from .payment_exports import ALREADY, ROW_ID, SKIP_REASONS, Received, Skip, read_export
from .references import payment_reference, reference_key, rf_body
from .spreadsheet import CellReader
from .storage import write_transaction

PROBLEMS_SHOWN = 20


def _(text: str) -> str:
    """Mark a text for the catalogs (``scripts/update_translations.sh``); it is translated when posted."""
    return text


# The credit's description, per service (translated into the customer's page language when posted).
DESCRIPTIONS = {
    "paypal": _("Payment via PayPal"),
    "venmo": _("Payment via Venmo"),
    "stripe": _("Payment via Stripe"),
    "bank": _("Bank transfer"),
    "plain": _("Payment received"),
}


@dataclass(frozen=True)
class Unmatched:
    """A payment whose reference names no customer."""

    line: int
    amount_minor: int
    reference: str
    name: str


@dataclass(frozen=True)
class PaymentsImported:
    """What ``import_payments`` did: credits posted, payments skipped (by reason), payments it could not match."""

    format: str
    count: int
    skipped: dict[str, int]
    unmatched: list[Unmatched]
    customer_ids: frozenset[int] = frozenset()

    @property
    def skipped_count(self) -> int:
        return sum(self.skipped.values())


class PaymentsUnmatched(ImportFailed):
    """Payments match no customer; nothing was imported (``--skip-unmatched`` posts the others)."""

    def __init__(self, message: str, unmatched: list[Unmatched]):
        super().__init__(message)
        self.unmatched = unmatched


# --- the import ----------------------------------------------------------------------


def import_payments(
    conn: sqlite3.Connection,
    path: Path,
    *,
    currency: str,
    timezone: str,
    locale: str,
    page_language: Callable[[str | None], str],
    translate: Callable[[str, str], str],
    file_format: str | None = None,
    skip_unmatched: bool = False,
) -> PaymentsImported:
    """Post each payment received in ``path`` as a credit for the customer whose reference it carries.

    ``page_language`` gives a customer's page language from their own, and
    ``translate(language, text)`` the description in it. Runs in the caller's
    transaction when there is one. Raises RowsRefused naming bad rows,
    PaymentsUnmatched when a payment matches no customer (unless
    ``skip_unmatched``), ImportFailed for a file it cannot read.
    """
    data = _read(path)
    cells = CellReader(currency, locale, timezone)
    fmt, rows = read_export(path.name, data, file_format, currency=currency, cells=cells)
    problems = _Problems(path.name)
    payments: list[tuple[Received, str]] = []  # each with its posted_at
    skipped: Counter[str] = Counter()
    seen: set[tuple[str, str]] = set()
    equal_rows: dict[str, int] = {}  # rows without an id, by how many equal ones were met
    for line, row in rows:
        if isinstance(row, str):
            problems.add(line, row)
        elif isinstance(row, Skip):
            if row.reason is not None:
                skipped[row.reason] += 1
        elif (row.service, row.payment_id) in seen and row.payment_id.startswith(ROW_ID):
            equal_rows[row.payment_id] = n = equal_rows.get(row.payment_id, 1) + 1
            row = dataclasses.replace(row, payment_id=f"{row.payment_id}#{n}")
            seen.add((row.service, row.payment_id))
            payments.append((row, cells.posting_date(row.day)))  # read once already, for the first equal row
        elif (row.service, row.payment_id) in seen:
            skipped[ALREADY] += 1  # the same transaction twice in one file (a statement's overlap)
        else:
            try:
                posted_at = cells.posting_date(row.day)
            except PaylinkError as exc:
                problems.add(line, str(exc))
                continue
            seen.add((row.service, row.payment_id))
            payments.append((row, posted_at))
    problems.refuse_if_any()
    with write_transaction(conn):
        customers = _Customers(conn)
        posted = _posted_ids(conn, {p.service for p, _ in payments})
        to_post: list[tuple[Received, int, str]] = []
        unmatched: list[Unmatched] = []
        for payment, posted_at in payments:
            if (payment.service, payment.payment_id) in posted:
                skipped[ALREADY] += 1
                continue
            customer_id = customers.match(payment)
            if customer_id is None:
                unmatched.append(Unmatched(payment.line, payment.amount_minor, _shown_reference(payment), payment.name))
                continue
            to_post.append((payment, customer_id, posted_at))
        if unmatched and not skip_unmatched:
            raise _unmatched_error(path.name, unmatched, currency)
        descriptions: dict[tuple[str, str], str] = {}
        links: list[tuple[str, str, int]] = []
        for payment, customer_id, posted_at in to_post:
            language = page_language(customers.languages.get(customer_id))
            description = descriptions.get((payment.description, language))
            if description is None:
                description = translate(language, DESCRIPTIONS[payment.description])
                descriptions[(payment.description, language)] = description
            cursor = conn.execute(
                "INSERT INTO entries (customer_id, amount_minor, description, posted_at, idempotency_key)"
                " VALUES (?, ?, ?, ?, ?)",
                (customer_id, -payment.amount_minor, description, posted_at, _entry_key(payment)),
            )
            links.append((payment.service, payment.payment_id, int(cursor.lastrowid or 0)))
        conn.executemany("INSERT INTO imported_payments (service, payment_id, entry_id) VALUES (?, ?, ?)", links)
    ordered = {reason: skipped[reason] for reason in SKIP_REASONS if skipped[reason]}
    return PaymentsImported(fmt, len(to_post), ordered, unmatched, frozenset(c for _, c, _ in to_post))


def _entry_key(payment: Received) -> str:
    """The credit's idempotency key: the payment's service and id (checked to fit when the row was read)."""
    return f"payment:{payment.service}:{payment.payment_id}"


def _posted_ids(conn: sqlite3.Connection, services: Iterable[str]) -> set[tuple[str, str]]:
    """The (service, id) of every payment already imported from these services."""
    found: set[tuple[str, str]] = set()
    for service in services:
        found.update(
            (service, pid)
            for (pid,) in conn.execute("SELECT payment_id FROM imported_payments WHERE service = ?", (service,))
        )
    return found


def _shown_reference(payment: Received) -> str:
    """What the owner is shown as the payment's reference: the exact field, else the first non-empty text."""
    for text in (payment.exact, *payment.texts):
        if text.strip():
            return text.strip()
    return ""


def _unmatched_error(file_name: str, unmatched: list[Unmatched], currency: str) -> PaymentsUnmatched:
    from .money import major_string

    count = len(unmatched)
    head = (
        f"{file_name}: {count} payment{'s' if count != 1 else ''} match{'es' if count == 1 else ''} no customer"
        " — nothing was imported; give the customer that reference (customer edit CUSTOMER --ref REF),"
        " or pass --skip-unmatched to import the others"
        + (f" (the first {PROBLEMS_SHOWN} are listed)" if count > PROBLEMS_SHOWN else "")
    )
    lines = [head]
    for u in unmatched[:PROBLEMS_SHOWN]:
        who = f" from {quoted(u.name)}" if u.name else ""
        lines.append(
            f"  line {u.line}: {major_string(u.amount_minor, currency)} {currency}{who},"
            f" reference {quoted(u.reference)}"
        )
    return PaymentsUnmatched("\n".join(lines), unmatched)


class _Customers:
    """Every customer's payment reference (in ``reference_key`` form) and language, read once."""

    def __init__(self, conn: sqlite3.Connection):
        self.by_key: dict[str, int] = {}
        self.languages: dict[int, str | None] = {}
        defaults: dict[str, int] = {}
        for customer_id, ref, language in conn.execute("SELECT id, ref, language FROM customers"):
            self.languages[customer_id] = language
            key = reference_key(payment_reference(customer_id, ref))
            if key:
                (self.by_key if ref else defaults).setdefault(key, customer_id)
        for key, customer_id in defaults.items():
            self.by_key.setdefault(key, customer_id)  # a ref written as "C7" wins over customer 7's default

    def match(self, payment: Received) -> int | None:
        """The one customer the payment names, or None (none, or more than one in the same field)."""
        if payment.exact:
            found = self._in_field(payment.exact, whole=True)
            if found is not None:
                return found
        for text in payment.texts:
            found = self._in_field(text, whole=False)
            if found is not None:
                return found
        return None

    def _in_field(self, text: str, *, whole: bool) -> int | None:
        if not text:
            return None
        found: set[int] = set()
        candidates = [text] if whole else [text, *text.split()]
        for candidate in candidates:
            key = reference_key(candidate)
            customer_id = self.by_key.get(key) if key else None
            if customer_id is not None:
                found.add(customer_id)
            if key.startswith("RF"):  # an ISO 11649 reference: its body is the customer's reference
                body = rf_body(candidate)
                customer_id = self.by_key.get(reference_key(body)) if body else None
                if customer_id is not None:
                    found.add(customer_id)
        return found.pop() if len(found) == 1 else None


class _Problems:
    """The bad rows of one file: how many, and the first ``PROBLEMS_SHOWN`` by line number."""

    def __init__(self, file_name: str):
        self.file_name = file_name
        self.rows: list[tuple[int, str]] = []

    def add(self, line: int, message: str) -> None:
        self.rows.append((line, message))

    def refuse_if_any(self) -> None:
        if not self.rows:
            return
        rows = sorted(self.rows)
        if len(rows) == 1:
            line, message = rows[0]
            raise RowsRefused(f"{self.file_name} line {line}: {message}", 1, rows)
        shown = rows[:PROBLEMS_SHOWN]
        lines = [
            f"{self.file_name}: {len(rows)} rows have problems — nothing was imported; fix them and import again"
            + (f" (the first {PROBLEMS_SHOWN} are listed)" if len(rows) > PROBLEMS_SHOWN else "")
        ]
        lines += [f"  line {line}: {message}" for line, message in shown]
        raise RowsRefused("\n".join(lines), len(rows), shown)


# --- reading a file ------------------------------------------------------------------


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ImportFailed(f"Cannot read {path}: {exc.strerror} — check the file name") from exc
