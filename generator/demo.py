"""The demo: a ready site for a fictional landscaper, with customers in every state.

What the demo holds (the business, its customers and their entries) and the
folder rules it keeps; ``actions.make_demo`` does the work through the same
actions as every command.
"""

import os
from dataclasses import dataclass, field
from pathlib import Path

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


def demo_to_reuse(root: Path, *, base_url: str) -> Site | None:
    """The demo site already in ``root`` (its links now pointing at ``base_url``), or None when there is none.

    A folder holding a site the demo did not make is refused before anything is
    touched: the demo would otherwise relabel a real business's site.
    """
    if any((root / name).exists() for name in (SETTINGS_FILE, DB_FILE, KEY_FILE)):
        if not (root / DEMO_MARKER).is_file():
            raise SiteError(
                f"{root} holds a paylink site that `paylink demo` did not make — leave it be,"
                " and give the demo another folder, e.g. `paylink demo demo-site`"
            )
        return _serving_at(Site(root), base_url)
    return None


def demo_settings(base_url: str) -> Settings:
    """The demo business's settings, its links pointing at ``base_url``."""
    return Settings(**{**vars(BUSINESS), "base_url": base_url})


def mark_as_demo(root: Path) -> None:
    """Leave the marker that lets a later `paylink demo` reuse this site."""
    (root / DEMO_MARKER).write_text("This site was made by `paylink demo`; `paylink demo` may reuse it.\n")


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


@dataclass(frozen=True)
class DemoCustomer:
    """A demo customer and their entries: (amount in minor units, description, posted this many days ago)."""

    name: str
    email: str | None = None
    phone: str | None = None
    ref: str | None = None
    entries: list[tuple[int, str, int]] = field(default_factory=list)


def demo_customers() -> list[DemoCustomer]:
    """Customers who owe nothing, have a credit, owe money with a long history, and owe a little."""
    history: list[tuple[int, str, int]] = []
    for month in range(14, 0, -1):
        history.append((6_500, "Monthly lawn care", month * 30 + 5))
        if month > 1:
            history.append((-6_500, "Payment — thank you", month * 30 - 5))
    history.append((24_000, "Mulch, 3 cubic yards, delivered and spread", 9))
    return [
        DemoCustomer(
            "Ana Ortiz",
            email="ana@example.com",
            phone="555-0101",
            ref="ORTIZ",
            entries=[(18_000, "Spring cleanup", 40), (-18_000, "Payment — thank you", 33)],
        ),
        DemoCustomer(
            "Ben Carter",
            phone="555-0102",
            ref="CARTER",
            entries=[(9_500, "Hedge trimming", 21), (-12_000, "Payment — thank you", 14)],
        ),
        DemoCustomer("Chloe Nguyen", email="chloe@example.com", ref="NGUYEN", entries=history),
        DemoCustomer("Dev Patel", phone="555-0104", ref="PATEL", entries=[(4_250, "Leaf removal", 3)]),
    ]
