"""Acts on customers' links: give, share (with its texts and QR code), rotate and revoke."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .. import ledger
from .customers import customer_balances
from .workspace import Workspace, keeping_pages_current

if TYPE_CHECKING:
    from ..ledger import Customer, CustomerBalance
    from ..links import Link
    from ..share import Share


def give_link(ws: Workspace, customer_key: str) -> tuple[Customer, Link]:
    """Give the customer a link if they have none; return it (new or unchanged)."""
    from .. import links

    with keeping_pages_current(ws):
        customer = ledger.find_customer(ws.conn, customer_key)
        ledger.refuse_merged(ws.conn, customer)
        link, _created = links.generate_link(ws.conn, customer)
    return customer, link


def give_all_links(ws: Workspace) -> list[tuple[Customer, Link]]:
    """Give every customer without a link one; return every live link with its customer, by customer id."""
    from .. import links

    with keeping_pages_current(ws):
        links.generate_all_links(ws.conn)
    customers = {cb.customer.id: cb.customer for cb in customer_balances(ws, include_merged=True)}
    return [(customers[link.customer_id], link) for link in links.live_links(ws.conn)]


def give_links(ws: Workspace, customer_key: str | None) -> list[tuple[Customer, Link]]:
    """`link generate`: give the customer a link if they have none (``customer_key`` None: every customer
    without one); return that customer's link (None: every live link) with its customer."""
    if customer_key is None:
        return give_all_links(ws)
    return [give_link(ws, customer_key)]


@dataclass(frozen=True)
class SharedLink:
    """A customer's link given for sharing, with their balance, the texts that send it, and its QR code."""

    balance: CustomerBalance
    link: Link
    share: Share  # the text message, email and sms:/mailto: links, in the customer's language
    # When this share gave a new link because the old one had been turned off (`link revoke`):
    # when that was (ISO 8601 UTC), so the owner is told; else None.
    replaces_revoked_at: str | None = None
    qr_file: Path | None = None  # where the link's QR code was written, when asked for
    qr_text: str | None = None  # the QR code drawn for a terminal, when asked for
    revoked_day: str | None = None  # replaces_revoked_at as the site's local date (YYYY-MM-DD)


def share_link(
    ws: Workspace, customer_key: str, *, qr_file: Path | None = None, terminal_qr: bool = False
) -> SharedLink:
    """Give the customer a link if they have none; return it with their balance, the texts that send it (and
    any revoked link it follows). With ``qr_file`` (.svg or .png, never in build/), its QR code is written
    there; with ``terminal_qr``, drawn for a terminal. A QR file that may not be written is refused before
    the link is given.
    """
    from .. import links, qr
    from ..share import compose
    from ..site import check_output_path, write_private_file

    target = check_output_path(ws.site, qr_file, "QR code file") if qr_file is not None else None
    if target is not None:
        qr.file_kind(target)  # refuse a wrong extension before the link is given
    with keeping_pages_current(ws):
        customer = ledger.find_customer(ws.conn, customer_key)
        link, created = links.generate_link(ws.conn, customer)
        revoked = links.revoked_at(ws.conn, customer.id) if created else None
    balance = customer_balances(ws, customer)[0]
    shared = compose(ws.settings, balance, ws.url(link))
    if target is not None:
        write_private_file(target, qr.file_bytes(shared.url, target))
    return SharedLink(
        balance,
        link,
        shared,
        replaces_revoked_at=revoked,
        qr_file=target,
        qr_text=qr.terminal_text(shared.url) if terminal_qr else None,
        revoked_day=_local_day(ws, revoked) if revoked is not None else None,
    )


def _local_day(ws: Workspace, posted_at: str) -> str:
    """The site-local date (YYYY-MM-DD) of a UTC time paylink wrote (the time itself if it is not one)."""
    from zoneinfo import ZoneInfo

    from ..statement import local_day

    day = local_day(posted_at, ZoneInfo(ws.settings.timezone))
    return day.isoformat() if day else posted_at


def current_link(ws: Workspace, customer_key: str) -> tuple[Customer, Link]:
    """The customer (by id or ref) and their live link, or LinkNotFound."""
    from .. import links

    customer = ledger.find_customer(ws.conn, customer_key)
    return customer, links.require_link(ws.conn, customer)


Confirm = Callable[["Customer"], None]  # asked before a destructive change; raises to stop it


def rotate_link(
    ws: Workspace, customer_key: str, *, confirm: Confirm | None = None, offline: bool = False
) -> tuple[Customer, Link]:
    """Give the customer a new link; the old page is gone (from the store too) when this returns.

    A customer without a link is refused first; then ``confirm`` (if given) is asked with the customer
    and may raise to change nothing. ``offline``: a store out of reach does not stop the change (see
    keeping_pages_current).
    """
    from .. import links

    customer, _ = current_link(ws, customer_key)
    if confirm is not None:
        confirm(customer)
    with keeping_pages_current(ws, offline=offline):
        return customer, links.rotate_link(ws.conn, customer)


def revoke_link(
    ws: Workspace, customer_key: str, *, confirm: Confirm | None = None, offline: bool = False
) -> tuple[Customer, Link]:
    """Turn the customer's link off; its page is gone (from the store too) when this returns. Returns the
    customer and the retired link. ``confirm`` and ``offline`` as for ``rotate_link``.
    """
    from .. import links

    customer, _ = current_link(ws, customer_key)
    if confirm is not None:
        confirm(customer)
    with keeping_pages_current(ws, offline=offline):
        return customer, links.revoke_link(ws.conn, customer)
