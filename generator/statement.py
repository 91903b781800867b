"""A customer's statement: every entry in a period, oldest first, with the balance after each.

Periods are local dates in the site's time zone, both ends included; the
opening balance is everything before the first day. Read-only: nothing here
writes the ledger, prints or formats for people (the CLI and the HTML template
do that).
"""

import datetime as dt
import re
import sqlite3
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from .errors import InvalidInput
from .ledger import iso_utc
from .model import Customer, Entry


@dataclass(frozen=True)
class StatementLine:
    """One entry on a statement: the entry, its local date, the balance right after it, and whether it was voided."""

    entry: Entry
    day: dt.date | None  # None: another program wrote a posted_at paylink cannot read as a time
    balance_minor: int
    voided: bool


@dataclass(frozen=True)
class Statement:
    """A customer's entries in a period, with the opening and closing balance."""

    customer: Customer
    start: dt.date | None
    end: dt.date | None
    opening_minor: int
    lines: list[StatementLine]

    @property
    def closing_minor(self) -> int:
        return self.lines[-1].balance_minor if self.lines else self.opening_minor


def parse_day(text: str | None, what: str) -> dt.date | None:
    """Parse a ``--from``/``--to`` date (YYYY-MM-DD), or raise InvalidInput."""
    if text is None:
        return None
    try:
        if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text.strip()):
            raise ValueError(text)
        return dt.date.fromisoformat(text.strip())
    except ValueError as exc:
        raise InvalidInput(
            f"{what} date {text[:80]!r} is not a date — write it as YYYY-MM-DD, e.g. 2026-03-31"
        ) from exc


def read_statement(
    conn: sqlite3.Connection,
    customer: Customer,
    *,
    start: dt.date | None,
    end: dt.date | None,
    timezone: str,
) -> Statement:
    """Read the customer's statement for the period from ``start`` to ``end`` (local dates, both included).

    Entries are ordered as on the customer's page (by time, then id); times are
    compared with julianday() because other programs may write ``posted_at`` in
    other ISO 8601 forms. All in one read transaction, so the opening balance and
    the entries agree even while another program posts.
    """
    if start and end and start > end:
        raise InvalidInput(f"the period starts {start} after it ends {end} — give --from before --to")
    zone = ZoneInfo(timezone)
    since = iso_utc(dt.datetime.combine(start, dt.time(0), tzinfo=zone)) if start else None
    until = iso_utc(dt.datetime.combine(end + dt.timedelta(days=1), dt.time(0), tzinfo=zone)) if end else None
    conditions: list[str] = ["customer_id = ?"]
    params: list[int | str] = [customer.id]
    if since:
        conditions.append("julianday(posted_at) >= julianday(?)")
        params.append(since)
    if until:
        conditions.append("julianday(posted_at) < julianday(?)")
        params.append(until)
    conn.execute("BEGIN")
    try:
        opening = 0
        if since:
            opening = int(
                conn.execute(
                    "SELECT COALESCE(SUM(amount_minor), 0) FROM entries"
                    " WHERE customer_id = ? AND julianday(posted_at) < julianday(?)",
                    (customer.id, since),
                ).fetchone()[0]
            )
        rows = conn.execute(
            "SELECT id, customer_id, amount_minor, description, posted_at, voids_entry_id,"
            " EXISTS (SELECT 1 FROM entries v WHERE v.voids_entry_id = entries.id)"
            f" FROM entries WHERE {' AND '.join(conditions)} ORDER BY julianday(posted_at), id",
            params,
        ).fetchall()
    finally:
        conn.execute("COMMIT")
    lines, balance = [], opening
    for row in rows:
        entry = Entry(*row[:6])
        balance += entry.amount_minor
        lines.append(StatementLine(entry, local_day(entry.posted_at, zone), balance, bool(row[6])))
    return Statement(customer, start, end, opening, lines)


def local_day(posted_at: str, zone: ZoneInfo) -> dt.date | None:
    """The local date of an entry's ``posted_at`` (naive means UTC), or None if it is not a time."""
    try:
        moment = dt.datetime.fromisoformat(posted_at.strip())
    except (ValueError, AttributeError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(zone).date()


# --- the printable statement ----------------------------------------------------


def _pay_options(settings, customer: Customer, closing_minor: int, closing_text: str) -> list:
    """The ``[[pay]]`` methods for paying the closing balance (one option each, with its QR code where it has one)."""
    if not settings.pay:
        return []
    from .pay_methods import PayBlock, Payer

    payer = Payer(customer.id, customer.ref, customer.email)
    # The statement's words are English (statement.html), so are the methods' names.
    return PayBlock(settings.pay, settings.currency).options([(0, closing_minor, closing_text)], payer, lambda s: s)


def render_html(settings, env, statement: Statement, *, url: str | None, today: dt.date) -> str:
    """Return the printable statement's HTML (``statement.html``), with the QR code of ``url`` when given.

    ``env`` is the site's Jinja environment (autoescaping, the site's own
    templates first). Money and dates are written in the site's locale.
    """
    from babel.dates import format_date
    from markupsafe import Markup

    from . import qr
    from .model import state_of
    from .money import format_money

    def money(minor: int) -> str:
        return format_money(minor, settings.currency, settings.locale)

    def day_text(day: dt.date | None) -> str:
        return format_date(day, "medium", locale=settings.locale) if day else ""

    voided_ids = {line.entry.id for line in statement.lines if line.voided}
    lines = [
        {
            "date": day_text(line.day) if line.day else line.entry.posted_at,
            "description": line.entry.description,
            "amount": money(line.entry.amount_minor),
            "balance": money(line.balance_minor),
            "voided": line.entry.id in voided_ids,
            "is_void": line.entry.voids_entry_id is not None,
        }
        for line in statement.lines
    ]
    if statement.start and statement.end:
        period = f"{day_text(statement.start)} – {day_text(statement.end)}"
    elif statement.start:
        period = f"From {day_text(statement.start)}"
    elif statement.end:
        period = f"Up to {day_text(statement.end)}"
    else:
        period = "All entries"
    closing = statement.closing_minor
    closing_label = {"outstanding": "Amount due", "credit": "Credit", "zero": "Balance"}[state_of(closing)]
    customer = statement.customer
    context = {
        "lang": settings.locale.replace("_", "-"),
        "business": settings,
        "customer": customer,
        "statement_date": {"text": day_text(today), "iso": today.isoformat()},
        "period": period,
        "opening": money(statement.opening_minor),
        "opening_date": day_text(statement.start) if statement.start else "",
        "closing": money(abs(closing)) if closing < 0 else money(closing),
        "closing_label": closing_label,
        "closing_date": day_text(statement.end or today),
        "charges": money(sum(line.entry.amount_minor for line in statement.lines if line.entry.amount_minor > 0)),
        "credits": money(-sum(line.entry.amount_minor for line in statement.lines if line.entry.amount_minor < 0)),
        "lines": lines,
        "pay_instructions": settings.pay_instructions,
        # Our own markup, made from the link alone: never customer-provided text.
        "qr_svg": Markup(qr.svg_inline(url)) if url else None,
        "pay_options": _pay_options(settings, customer, closing, money(closing)) if closing > 0 else [],
    }
    return env.get_template("statement.html").render(context)
