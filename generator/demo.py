"""The demo: a ready site for a fictional landscaper, with customers in every state."""

import datetime as dt
import os
from pathlib import Path

from . import actions
from .actions import Workspace
from .errors import SiteError
from .layout import DB_FILE, KEY_FILE, SETTINGS_FILE
from .settings import Settings
from .site import Site

BUSINESS = Settings(
    name="Greenleaf Landscaping",
    currency="USD",
    locale="en_US",
    timezone="America/Chicago",
    phone="(555) 010-4477",
    email="office@greenleaf.example",
)


# Left in a site's folder by the demo: `paylink demo` reuses only a site it made itself.
DEMO_MARKER = ".paylink-demo"


def make_demo(root: Path, *, base_url: str) -> tuple[Site, list[tuple[str, str, str]]]:
    """Create (or reuse) the demo site in ``root`` and return it with (name, state, url) per customer.

    A folder holding a site the demo did not make is refused before anything is
    touched: the demo would otherwise relabel a real business's site.
    """
    root = root.expanduser().absolute()
    if any((root / name).exists() for name in (SETTINGS_FILE, DB_FILE, KEY_FILE)):
        if not (root / DEMO_MARKER).is_file():
            raise SiteError(
                f"{root} holds a paylink site that `paylink demo` did not make — leave it be,"
                " and give the demo another folder, e.g. `paylink demo demo-site`"
            )
        site = _serving_at(Site(root), base_url)
        fresh = False
    else:
        site = actions.create_site(root, Settings(**{**vars(BUSINESS), "base_url": base_url}))
        (root / DEMO_MARKER).write_text("This site was made by `paylink demo`; `paylink demo` may reuse it.\n")
        fresh = True
    with Workspace(site) as ws:
        if fresh:
            _fill(ws)
        actions.give_all_links(ws)
        actions.build(ws)
        rows = [
            (cb.customer.name, cb.state, ws.url(cb.link_nonce)) for cb in actions.customer_balances(ws) if cb.link_nonce
        ]
    return site, rows


def _serving_at(site: Site, base_url: str) -> Site:
    """The demo site, its links pointing at ``base_url`` (a rerun may serve on another host or port)."""
    from dataclasses import replace

    settings = site.settings
    if settings.base_url == base_url:
        return site
    moved = replace(settings, base_url=base_url).validated()
    temp = site.settings_path.with_name(f".{SETTINGS_FILE}.tmp")
    temp.write_text(moved.to_toml(), encoding="utf-8")
    os.chmod(temp, 0o644)
    os.replace(temp, site.settings_path)
    return Site(site.root)


def _fill(ws: Workspace) -> None:
    today = dt.datetime.now(dt.UTC).date()

    def post(customer, amount_minor: int, description: str, days: int) -> None:
        day = (today - dt.timedelta(days=days)).isoformat()
        actions.post_entry(ws, str(customer.id), amount_minor, description, day=day)

    paid_up = actions.add_customer(ws, "Ana Ortiz", email="ana@example.com", phone="555-0101", ref="ORTIZ")
    post(paid_up, 18_000, "Spring cleanup", 40)
    post(paid_up, -18_000, "Payment — thank you", 33)

    in_credit = actions.add_customer(ws, "Ben Carter", phone="555-0102", ref="CARTER")
    post(in_credit, 9_500, "Hedge trimming", 21)
    post(in_credit, -12_000, "Payment — thank you", 14)

    regular = actions.add_customer(ws, "Chloe Nguyen", email="chloe@example.com", ref="NGUYEN")
    for month in range(14, 0, -1):
        post(regular, 6_500, "Monthly lawn care", month * 30 + 5)
        if month > 1:
            post(regular, -6_500, "Payment — thank you", month * 30 - 5)
    post(regular, 24_000, "Mulch, 3 cubic yards, delivered and spread", 9)

    small = actions.add_customer(ws, "Dev Patel", phone="555-0104", ref="PATEL")
    post(small, 4_250, "Leaf removal", 3)
