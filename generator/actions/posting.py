"""Posting charges and credits, and voiding an entry: each change with its page written before it returns."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from .. import ledger
from .workspace import Workspace, keeping_pages_current

if TYPE_CHECKING:
    from ..ledger import Customer, Posted


def post_entry(
    ws: Workspace,
    customer_key: str,
    amount_minor: int,
    description: str,
    *,
    day: str | None = None,
    idempotency_key: str | None = None,
) -> tuple[Customer, Posted]:
    """Post a charge (amount > 0) or credit (amount < 0) dated ``day`` (default now).

    ``day`` is ``YYYY-MM-DD`` or the locale's short date (``11/20/2026`` on en_US), as an import reads it.
    """
    posted_at = _cells(ws).posting_date(day)
    with keeping_pages_current(ws):
        customer = ledger.find_customer(ws.conn, customer_key)
        posted = ledger.post_entry(
            ws.conn, customer, amount_minor, description, posted_at=posted_at, idempotency_key=idempotency_key
        )
    return customer, posted


def post_as_written(
    ws: Workspace,
    kind: str,
    customer_key: str,
    amount: str,
    description: str,
    *,
    day: str | None = None,
    idempotency_key: str | None = None,
) -> tuple[Customer, Posted]:
    """Post a ``charge`` or ``credit`` of an amount and date as the user wrote them, read as an import reads them.

    ``$1,200.00`` and ``11/20/2026`` on en_US, ``1.200,50 €`` and ``20.11.2026``
    on de_DE. A negative amount is refused with the other kind to use instead.
    """
    from ..errors import InvalidAmount, NegativeAmount, quoted

    sign = {"charge": 1, "credit": -1}[kind]
    try:
        minor = _cells(ws).amount(amount)
    except NegativeAmount as exc:
        other = "credit" if sign > 0 else "charge"
        does = "take money off" if sign > 0 else "add to what they owe"
        unsigned = amount.strip().lstrip("-−(").rstrip(")").strip()
        example = f'paylink {other} {customer_key[:40]} {unsigned[:20]} "{description[:40]}"'
        raise InvalidAmount(
            f"amount {quoted(amount)} is negative — to {does}, post a {other} of a positive amount: {example}"
        ) from exc
    return post_entry(ws, customer_key, sign * minor, description, day=day, idempotency_key=idempotency_key)


def _cells(ws: Workspace):
    """The reader of amounts and dates an import uses, for this site (Babel is loaded only for a non-plain text)."""
    from ..spreadsheet import CellReader

    s = ws.settings
    return CellReader(s.currency, s.locale, s.timezone)


def void_entry(ws: Workspace, entry_id: int, *, reason: str | None = None) -> Posted:
    """Post the reversing entry of an entry."""
    posted_at = ledger.iso_utc(dt.datetime.now(dt.UTC))
    with keeping_pages_current(ws):
        return ledger.void_entry(ws.conn, entry_id, reason=reason, posted_at=posted_at)
