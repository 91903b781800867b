"""Acts on customers: add, edit, remove, merge, and what `customer list` and `customer show` read."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import ledger
from .workspace import Workspace, keeping_pages_current

if TYPE_CHECKING:
    from ..ledger import Customer, CustomerBalance, Entry


def add_customer(
    ws: Workspace,
    name: str,
    *,
    email: str | None = None,
    phone: str | None = None,
    ref: str | None = None,
    language: str | None = None,
) -> Customer:
    """Add a customer (no page until they get a link)."""
    return ledger.add_customer(ws.conn, name, email=email, phone=phone, ref=ref, language=language)


@dataclass(frozen=True)
class Edited:
    """A customer after an edit, and the channels they now agree to be reminded on (None: not changed)."""

    customer: Customer
    reminders: list[str] | None = None


def edit_customer(ws: Workspace, customer_key: str, *, reminders: str | None = None, **changes: str | None) -> Edited:
    """Change a customer's name, email, phone, ref or language ("" clears); their page is rewritten before this returns.

    ``reminders`` (``email,sms``, ``email``, ``sms`` or ``off``) records the channels they now agree to be
    reminded on, with the time, in the same transaction; the result then lists the channels.
    """
    channels = None
    if reminders is not None:
        from ..reminders import parse_channels

        channels = parse_channels(reminders)
    now = ledger.iso_utc(dt.datetime.now(dt.UTC))
    with keeping_pages_current(ws):
        customer = ledger.find_customer(ws.conn, customer_key)
        if channels is not None:
            from ..reminders import record_consent

            record_consent(ws.conn, customer, channels, now=now)
        customer = ledger.edit_customer(ws.conn, customer, **changes)
    return Edited(customer, reminder_channels(ws, customer) if channels is not None else None)


def reminder_channels(ws: Workspace, customer: Customer) -> list[str]:
    """The channels the customer agreed to be reminded on (CONTRACT §9), e.g. ["email"]."""
    from ..reminders import consented_channels

    return consented_channels(ws.conn, customer.id)


def customer_balances(
    ws: Workspace, customer: Customer | None = None, *, include_merged: bool = False
) -> list[CustomerBalance]:
    """Every customer (or one) with balance and live link; those merged into another only with ``include_merged``."""
    return ledger.customer_balances(ws.conn, customer.id if customer else None, include_merged=include_merged)


def remove_customer(ws: Workspace, customer_key: str, *, offline: bool = False) -> Customer:
    """Remove a customer who has no entries; their link and page are gone when this returns.

    With ``publish`` set, the old page is deleted from the store before the
    change commits; ``offline`` lets the change go ahead while the store
    cannot be reached (CONTRACT §7, see keeping_pages_current).
    """
    with keeping_pages_current(ws, offline=offline):
        customer = ledger.find_customer(ws.conn, customer_key)
        ledger.remove_customer(ws.conn, customer)
    return customer


@dataclass(frozen=True)
class Merged:
    """What a merge did: the customer merged away, the one kept, and the balance moved (minor units, signed)."""

    source: Customer
    target: Customer
    moved_minor: int


def merge_customers(ws: Workspace, source_key: str, target_key: str, *, offline: bool = False) -> Merged:
    """Move a duplicate customer's balance to another, revoke their link and hide them from lists.

    The two entries that say so are in each customer's language; a zero
    balance moves nothing and posts nothing. ``offline`` as for ``remove_customer``.
    """
    from .. import i18n
    from ..messages import moved_texts
    from ..references import payment_reference

    posted_at = ledger.iso_utc(dt.datetime.now(dt.UTC))
    with keeping_pages_current(ws, offline=offline):
        source = ledger.find_customer(ws.conn, source_key)
        target = ledger.find_customer(ws.conn, target_key)
        moved_to, moved_from = moved_texts(
            source_language=i18n.page_language(ws.settings, source.language),
            target_language=i18n.page_language(ws.settings, target.language),
            source=f"{source.name} ({payment_reference(source.id, source.ref)})",
            target=f"{target.name} ({payment_reference(target.id, target.ref)})",
        )
        moved = ledger.merge_customer(
            ws.conn, source, target, moved_to=moved_to, moved_from=moved_from, posted_at=posted_at
        )
    return Merged(source, target, moved)


def recent_entries(ws: Workspace, customer: Customer) -> list[Entry]:
    """The customer's newest entries, newest first."""
    return ledger.recent_entries(ws.conn, customer.id)


@dataclass(frozen=True)
class RecentEntry:
    """One of a customer's newest entries, with its date in the site's time zone (None: not a time paylink reads)."""

    entry: Entry
    day: dt.date | None


@dataclass(frozen=True)
class CustomerDetails:
    """Everything `customer show` shows: the customer, their balance and link, payment reference, reminder
    channels, and their newest entries (newest first)."""

    balance: CustomerBalance
    reference: str
    reminders: list[str]
    entries: list[RecentEntry]

    @property
    def customer(self) -> Customer:
        return self.balance.customer


def customer_details(ws: Workspace, customer_key: str) -> CustomerDetails:
    """One customer (by id or ref) with their balance, link, payment reference, reminders and newest entries."""
    from zoneinfo import ZoneInfo

    from ..references import payment_reference
    from ..statement import local_day

    customer = ledger.find_customer(ws.conn, customer_key)
    balance = customer_balances(ws, customer)[0]
    zone = ZoneInfo(ws.settings.timezone)
    entries = [RecentEntry(e, local_day(e.posted_at, zone)) for e in recent_entries(ws, customer)]
    return CustomerDetails(
        balance, payment_reference(customer.id, customer.ref), reminder_channels(ws, customer), entries
    )
