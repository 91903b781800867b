"""What a user does with paylink, one function per act: each changes the ledger and keeps pages current.

The promise "when the command returns, the affected pages are written (or
removed)" lives here, in ``keeping_pages_current``, and nowhere else: the CLI,
the demo and the benchmarks call these actions and never the page writer after
a change of their own. Nothing here prints or prompts.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import ledger
from .errors import PagesNotWritten
from .pages import PageWriter
from .site import Site, find_site

if TYPE_CHECKING:  # the rest is imported where used: a posting command's start-up time
    from . import backup, statement
    from .imports import Imported
    from .ledger import Customer, CustomerBalance, Entry, Posted
    from .links import Link
    from .pages import BuildResult
    from .publish import PublishResult
    from .settings import Settings


@dataclass
class Workspace:
    """One site opened for a run of actions: its folder, its ledger (opened when first needed), and warnings.

    ``warnings`` collects what an action could not finish but did not undo (a
    publish store out of reach): the ledger and ``build/`` changed, and the
    caller says so (the CLI prints ``Warning:`` lines and exits 3).
    """

    site: Site
    _conn: sqlite3.Connection | None = None
    _pages: PageWriter | None = None
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def find(cls, explicit: str | None = None) -> Workspace:
        """The site named by --site, else $PAYLINK_SITE, else the current folder; settings validated."""
        site = find_site(explicit)
        site.settings  # noqa: B018 — validate paylink.toml before any work
        return cls(site)

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = self.site.open_ledger()
            try:
                # Every command that opens the ledger refuses a currency its amounts are not in.
                ledger.check_currency(conn, self.settings.currency)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    @property
    def settings(self) -> Settings:
        return self.site.settings

    def pages(self) -> PageWriter:
        """The page writer, made once per workspace: its renderer compiles the templates once."""
        if self._pages is None:
            self._pages = PageWriter(self.site, self.conn)
        return self._pages

    def url(self, link: Link | str) -> str:
        """The customer-facing URL of a link (or of a link nonce)."""
        return self.site.link_url(link if isinstance(link, str) else link.nonce)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
            self._pages = None

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def keeping_pages_current(ws: Workspace) -> Iterator[None]:
    """Run a change to the ledger so that it commits only once the pages it touched are written.

    Under the site's page lock, the change runs in one write transaction (the
    domain functions join it); the triggers record in it which pages to
    rewrite and which snapshots to remove. Those pages are rendered from the
    transaction's own view and written to temp files, synced, before the
    COMMIT: a page that cannot be rendered or written rolls the whole change
    back (PagesNotWritten), so ``Error:`` means nothing was posted. After the
    commit the temp files are renamed into place, retired snapshots removed,
    and the bookkeeping rows cleared; a crash in between leaves those rows and
    stray temp files, which the next ``build`` repairs.
    """
    pages = ws.pages()
    conn = ws.conn
    with pages.locked():
        pages.prepare()
        staged = None
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            staged = pages.stage_pending()
            conn.execute("COMMIT")
        except BaseException as exc:
            if staged is not None:
                staged.discard()
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if isinstance(exc, PagesNotWritten):
                raise PagesNotWritten(f"{exc}; nothing was changed") from exc
            raise
        pages.finish(staged)
    push_to_store(ws)


# --- the site ------------------------------------------------------------------


def create_site(root: Path, settings: Settings) -> Site:
    """Create a new site folder (settings, empty ledger, fresh key) and build its empty ``build/``."""
    from .site import init_site

    site = init_site(root, settings)
    with Workspace(site) as ws:
        ws.pages().build()
    return site


def build(ws: Workspace, *, full: bool = False, progress: Callable[[int], None] | None = None) -> BuildResult:
    """Make ``build/`` match the ledger (every page with ``full``)."""
    result = ws.pages().build(full=full, progress=progress)
    push_to_store(ws)
    return result


def push_to_store(ws: Workspace) -> None:
    """With ``publish`` set, send the pages just written or removed to the store (one posting: one object).

    A store out of reach is not an error: the ledger change stands, ``build/``
    is current, the queue keeps the work for ``paylink publish`` or ``watch``,
    and ``ws.warnings`` says so.
    """
    if not ws.settings.publish:
        return  # nothing to send: a site without a store never loads the S3 client's code
    from .publish import push_site_queue

    warning = push_site_queue(ws.site, ws.conn)
    if warning is not None:
        ws.warnings.append(warning)


def publish(
    ws: Workspace, *, full: bool = False, dry_run: bool = False, progress: Callable[[int, int], None] | None = None
) -> PublishResult:
    """Make the ``publish`` store match ``build/`` (against a listing of the bucket the first time, or ``full``).

    ``progress``, if given, hears (files sent, files to send) as uploads go out.
    """
    from .publish import Publisher

    return Publisher(ws.site, ws.conn, progress=progress).publish(full=full, dry_run=dry_run)


def count_pages(ws: Workspace) -> int:
    """How many pages a full build writes."""
    return ws.pages().count_live()


# --- customers -------------------------------------------------------------------


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


def edit_customer(ws: Workspace, customer_key: str, **changes: str | None) -> Customer:
    """Change a customer's name, email, phone, ref or language ("" clears); their page is rewritten before this returns."""
    with keeping_pages_current(ws):
        customer = ledger.find_customer(ws.conn, customer_key)
        return ledger.edit_customer(ws.conn, customer, **changes)


def find_customer(ws: Workspace, id_or_ref: str) -> Customer:
    """The customer with that id or ref."""
    return ledger.find_customer(ws.conn, id_or_ref)


def customer_balances(ws: Workspace, customer: Customer | None = None) -> list[CustomerBalance]:
    """Every customer (or one) with balance and live link."""
    return ledger.customer_balances(ws.conn, customer.id if customer else None)


def recent_entries(ws: Workspace, customer: Customer) -> list[Entry]:
    """The customer's newest entries, newest first."""
    return ledger.recent_entries(ws.conn, customer.id)


def customer_statement(
    ws: Workspace, customer: Customer, *, start: dt.date | None = None, end: dt.date | None = None
) -> statement.Statement:
    """The customer's entries in a period (local dates, both ends included) with opening and running balances."""
    from . import statement

    return statement.read_statement(ws.conn, customer, start=start, end=end, timezone=ws.settings.timezone)


def back_up(ws: Workspace, path: Path) -> backup.Backup:
    """Write a consistent copy of the ledger to ``path`` while other programs may be writing it."""
    from . import backup

    return backup.back_up(ws.site, ws.conn, path)


# --- posting ---------------------------------------------------------------------


def post_entry(
    ws: Workspace,
    customer_key: str,
    amount_minor: int,
    description: str,
    *,
    day: str | None = None,
    idempotency_key: str | None = None,
) -> tuple[Customer, Posted]:
    """Post a charge (amount > 0) or credit (amount < 0) dated ``day`` (YYYY-MM-DD, default now)."""
    posted_at = ledger.parse_posting_date(day, ws.settings.timezone)
    with keeping_pages_current(ws):
        customer = ledger.find_customer(ws.conn, customer_key)
        posted = ledger.post_entry(
            ws.conn, customer, amount_minor, description, posted_at=posted_at, idempotency_key=idempotency_key
        )
    return customer, posted


def void_entry(ws: Workspace, entry_id: int, *, reason: str | None = None) -> Posted:
    """Post the reversing entry of an entry."""
    posted_at = ledger.iso_utc(dt.datetime.now(dt.UTC))
    with keeping_pages_current(ws):
        return ledger.void_entry(ws.conn, entry_id, reason=reason, posted_at=posted_at)


# --- links -----------------------------------------------------------------------


def give_link(ws: Workspace, customer_key: str) -> tuple[Customer, Link]:
    """Give the customer a link if they have none; return it (new or unchanged)."""
    from . import links

    with keeping_pages_current(ws):
        customer = ledger.find_customer(ws.conn, customer_key)
        link, _created = links.generate_link(ws.conn, customer)
    return customer, link


def give_all_links(ws: Workspace) -> list[Link]:
    """Give every customer without a link one; return every live link."""
    from . import links

    with keeping_pages_current(ws):
        links.generate_all_links(ws.conn)
    return links.live_links(ws.conn)


@dataclass(frozen=True)
class SharedLink:
    """A customer's link given for sharing, with their balance."""

    balance: CustomerBalance
    link: Link
    # When this share gave a new link because the old one had been turned off (`link revoke`):
    # when that was (ISO 8601 UTC), so the owner is told; else None.
    replaces_revoked_at: str | None = None


def share_link(ws: Workspace, customer_key: str) -> SharedLink:
    """Give the customer a link if they have none; return it with their balance (and any revoked link it follows)."""
    from . import links

    with keeping_pages_current(ws):
        customer = ledger.find_customer(ws.conn, customer_key)
        link, created = links.generate_link(ws.conn, customer)
        revoked = links.revoked_at(ws.conn, customer.id) if created else None
    return SharedLink(customer_balances(ws, customer)[0], link, revoked)


def current_link(ws: Workspace, customer: Customer) -> Link:
    """The customer's live link, or LinkNotFound."""
    from . import links

    return links.require_link(ws.conn, customer)


def live_links(ws: Workspace) -> list[Link]:
    """Every live link, by customer id."""
    from . import links

    return links.live_links(ws.conn)


def rotate_link(ws: Workspace, customer: Customer) -> Link:
    """Give the customer a new link; the old page is gone when this returns."""
    from . import links

    with keeping_pages_current(ws):
        return links.rotate_link(ws.conn, customer)


def revoke_link(ws: Workspace, customer: Customer) -> Link:
    """Turn the customer's link off; its page is gone when this returns. Returns the retired link."""
    from . import links

    with keeping_pages_current(ws):
        return links.revoke_link(ws.conn, customer)


# --- imports -----------------------------------------------------------------------


def import_customers(ws: Workspace, path: Path) -> Imported:
    """Import customers from a CSV file (all or nothing)."""
    from . import imports

    return imports.import_customers(ws.conn, path)


def import_entries(ws: Workspace, path: Path, *, again: bool = False) -> Imported:
    """Import entries from a CSV file (all or nothing); the affected pages are written before this returns.

    A file imported before is refused unless ``again``.
    """
    from . import imports

    s = ws.settings
    with keeping_pages_current(ws):
        return imports.import_entries(
            ws.conn, path, currency=s.currency, timezone=s.timezone, locale=s.locale, again=again
        )
