"""The demo: a ready site for a fictional landscaper, with customers in every state."""

import datetime as dt
from pathlib import Path

from .ledger import add_customer, customer_balances, iso_utc, post_entry
from .links import generate_all_links
from .pages import PageWriter
from .site import SETTINGS_FILE, Settings, Site, init_site
from .storage import connect

BUSINESS = Settings(
    name="Greenleaf Landscaping",
    currency="USD",
    locale="en_US",
    timezone="America/Chicago",
    phone="(555) 010-4477",
    email="office@greenleaf.example",
)


def make_demo(root: Path, *, base_url: str) -> tuple[Site, list[tuple[str, str, str]]]:
    """Create (or reuse) the demo site in ``root`` and return it with (name, state, url) per customer."""
    if (root / SETTINGS_FILE).exists():
        site = Site(root.expanduser().absolute())
    else:
        site = init_site(root, Settings(**{**vars(BUSINESS), "base_url": base_url}))
        conn = connect(site.db_path)
        try:
            _fill(conn)
        finally:
            conn.close()
    conn = site.open_ledger()
    try:
        generate_all_links(conn)
        PageWriter(site, conn).build()
        rows = [
            (cb.customer.name, cb.state, site.link_url(cb.link_nonce))
            for cb in customer_balances(conn)
            if cb.link_nonce
        ]
    finally:
        conn.close()
    return site, rows


def _fill(conn) -> None:
    now = dt.datetime.now(dt.timezone.utc)

    def days_ago(days: int) -> str:
        return iso_utc(now - dt.timedelta(days=days, hours=3))

    def post(customer, amount_minor: int, description: str, days: int) -> None:
        post_entry(conn, customer, amount_minor, description, posted_at=days_ago(days))

    paid_up = add_customer(conn, "Ana Ortiz", email="ana@example.com", phone="555-0101", ref="ORTIZ")
    post(paid_up, 18_000, "Spring cleanup", 40)
    post(paid_up, -18_000, "Payment — thank you", 33)

    in_credit = add_customer(conn, "Ben Carter", phone="555-0102", ref="CARTER")
    post(in_credit, 9_500, "Hedge trimming", 21)
    post(in_credit, -12_000, "Payment — thank you", 14)

    regular = add_customer(conn, "Chloe Nguyen", email="chloe@example.com", ref="NGUYEN")
    for month in range(14, 0, -1):
        post(regular, 6_500, "Monthly lawn care", month * 30 + 5)
        if month > 1:
            post(regular, -6_500, "Payment — thank you", month * 30 - 5)
    post(regular, 24_000, "Mulch, 3 cubic yards, delivered and spread", 9)

    small = add_customer(conn, "Dev Patel", phone="555-0104", ref="PATEL")
    post(small, 4_250, "Leaf removal", 3)
