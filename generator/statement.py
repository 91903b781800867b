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
    voids_description: str | None = None  # for a void: the description of the entry it reverses


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
            " EXISTS (SELECT 1 FROM entries v WHERE v.voids_entry_id = entries.id),"
            " (SELECT o.description FROM entries o WHERE o.id = entries.voids_entry_id)"
            f" FROM entries WHERE {' AND '.join(conditions)} ORDER BY julianday(posted_at), id",
            params,
        ).fetchall()
    finally:
        conn.execute("COMMIT")
    lines, balance = [], opening
    for row in rows:
        entry = Entry(*row[:6])
        balance += entry.amount_minor
        lines.append(StatementLine(entry, local_day(entry.posted_at, zone), balance, bool(row[6]), row[7]))
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


def _pay_options(settings, customer: Customer, closing_minor: int, closing_text: str, gettext) -> list:
    """The ``[[pay]]`` methods for paying the closing balance (one option each, with its QR code where it has one)."""
    if not settings.pay:
        return []
    from .pay_methods import PayBlock, Payer

    payer = Payer(customer.id, customer.ref, customer.email)
    # The methods' names in the statement's language (``gettext`` of that language).
    return PayBlock(settings.pay, settings.currency).options([(0, closing_minor, closing_text)], payer, gettext)


@dataclass(frozen=True)
class CustomerLine:
    """One row of the customer's statement: an entry, whether it was canceled, the balance after it."""

    line: StatementLine
    canceled: bool  # voided by an entry in the same period: shown struck through, counted nowhere
    balance_minor: int  # after this row, leaving out canceled entries and their voids
    canceled_description: str | None  # a void of an entry before the period: what it canceled


@dataclass(frozen=True)
class CustomerView:
    """What the customer's statement shows, in minor units: its rows and totals.

    A voided entry appears once, marked canceled, and the void that reverses it
    is not shown (a void's reason is for the business only); neither counts in
    the totals, so a void is never a payment. A void of an entry from before the
    period has no row of its own to cancel: it is shown as a cancellation and
    totalled apart, so opening + charges − credits + canceled_earlier = closing.
    """

    lines: list[CustomerLine]
    charges_minor: int
    credits_minor: int  # payments and credits, as a positive amount
    canceled_earlier_minor: int  # voids of entries from before the period (signed)


def customer_view(statement: Statement) -> CustomerView:
    """The customer's rows and totals for ``statement`` (the owner's views keep every entry)."""
    in_period = {line.entry.id for line in statement.lines}
    # An entry counts as canceled here only when its void is in the period too: a void after
    # the period's end did not change any balance the statement shows.
    voided_here = {line.entry.voids_entry_id for line in statement.lines if line.entry.voids_entry_id in in_period}
    rows: list[CustomerLine] = []
    balance = statement.opening_minor
    charges = credits = canceled_earlier = 0
    for line in statement.lines:
        entry = line.entry
        if entry.voids_entry_id in in_period:
            continue  # the void of a row shown as canceled
        canceled = entry.id in voided_here
        earlier = entry.voids_entry_id is not None
        if not canceled:
            balance += entry.amount_minor
            if earlier:
                canceled_earlier += entry.amount_minor
            elif entry.amount_minor > 0:
                charges += entry.amount_minor
            else:
                credits -= entry.amount_minor
        description = (line.voids_description or "") if earlier else None
        rows.append(CustomerLine(line, canceled, balance, description))
    return CustomerView(rows, charges, credits, canceled_earlier)


def render_html(settings, renderer, statement: Statement, *, url: str | None, today: dt.date) -> str:
    """Return the printable statement's HTML (``statement.html``), with the QR code of ``url`` when given.

    ``renderer`` is the site's page renderer (its templates first, autoescaping).
    Like the customer's page, the statement is in the customer's language, else
    the site's, with money and dates written for that language in the site's territory.
    """
    from babel.dates import format_date
    from markupsafe import Markup

    from . import qr
    from .i18n import page_language, translations
    from .model import state_of

    voice = renderer.voice(page_language(settings, statement.customer.language))
    money = voice.money

    def day_text(day: dt.date | None) -> str:
        return format_date(day, "medium", locale=voice.locale) if day else ""

    view = customer_view(statement)
    lines = [
        {
            "date": day_text(row.line.day) if row.line.day else row.line.entry.posted_at,
            "date_iso": row.line.day.isoformat() if row.line.day else "",
            "description": row.line.entry.description,
            "canceled_description": row.canceled_description,
            "amount": money(row.line.entry.amount_minor),
            "balance": money(row.balance_minor),
            "canceled": row.canceled,
        }
        for row in view.lines
    ]
    closing = statement.closing_minor
    context = {
        "lang": voice.lang,
        "business": settings,
        "customer": statement.customer,
        "statement_date": {"text": day_text(today), "iso": today.isoformat()},
        "period_start": day_text(statement.start),
        "period_end": day_text(statement.end),
        "opening": money(statement.opening_minor),
        "opening_date": day_text(statement.start) if statement.start else "",
        "closing": money(abs(closing)),
        "closing_state": state_of(closing),
        "closing_date": day_text(statement.end or today),
        "charges": money(view.charges_minor),
        "credits": money(view.credits_minor),
        "canceled_earlier": money(view.canceled_earlier_minor) if view.canceled_earlier_minor else None,
        "lines": lines,
        "pay_instructions": settings.pay_instructions,
        # Our own markup, made from the link alone: never customer-provided text.
        # Untitled: the template names it in the customer's language.
        "qr_svg": Markup(qr.svg_inline(url, title=None)) if url else None,
        "pay_options": _pay_options(
            settings, statement.customer, closing, money(closing), translations(voice.language).gettext
        )
        if closing > 0
        else [],
    }
    return voice.env.get_template("statement.html").render(context)
