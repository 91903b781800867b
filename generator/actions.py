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

from . import layout, ledger, page_records
from .errors import PagesNotWritten, SiteError, StoreNotUpdated
from .pages import PageWriter
from .site import Site, find_site
from .storage import write_transaction

if TYPE_CHECKING:  # the rest is imported where used: a posting command's start-up time
    from . import backup, payments, reminders, statement
    from .imports import Imported
    from .ledger import Customer, CustomerBalance, Entry, Posted
    from .links import Link
    from .page_cache import PageCache
    from .pages import BuildResult
    from .publish import PublishResult
    from .qr_cache import QrCodes
    from .settings import Settings
    from .share import Share
    from .statement import Statement


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
    _page_cache: PageCache | None = None
    _qr_codes: QrCodes | None = None
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def over(cls, site: Site, conn: sqlite3.Connection) -> Workspace:
        """A workspace on a ledger connection the caller owns and closes (``watch`` keeps one open)."""
        return cls(site, conn)

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
        """The page writer, made once per workspace: its renderer compiles the templates once, and
        draws from (and teaches) this workspace's page cache."""
        if self._pages is None:
            self._pages = PageWriter(
                self.site, self.conn, self.page_cache, self.qr_codes if self.settings.pay else None
            )
        return self._pages

    @property
    def page_cache(self) -> PageCache:
        """The site's page cache (page_cache.py), saved by ``close`` when the work succeeded."""
        if self._page_cache is None:
            from .page_cache import PAGE_CACHE, PageCache
            from .render import catalog_files, template_dirs

            settings = self.settings
            folders = template_dirs(self.site.templates_dir)
            self._page_cache = PageCache(self.site.root / PAGE_CACHE, settings, folders, catalog_files())
        return self._page_cache

    @property
    def qr_codes(self) -> QrCodes:
        """The site's QR cache (qr_cache.py) for the pay options' codes, saved by ``close`` when the work succeeded."""
        if self._qr_codes is None:
            from .qr_cache import QR_CACHE, QrCodes

            self._qr_codes = QrCodes(self.site.root / QR_CACHE)
        return self._qr_codes

    def url(self, link: Link | str) -> str:
        """The customer-facing URL of a link (or of a link nonce)."""
        return self.site.link_url(link if isinstance(link, str) else link.nonce)

    def close(self, success: bool = False) -> None:
        """Close the ledger; when the work ``success``-fully finished, first save the caches it made
        (settings, pages). A failed command writes neither: ``Error:`` means nothing was written."""
        try:
            if success:
                self.site.save_settings_cache()
                if self._page_cache is not None:
                    self._page_cache.save()
                if self._qr_codes is not None:
                    self._qr_codes.save()
        finally:
            self._page_cache = None
            self._qr_codes = None
            self._pages = None
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.close(success=exc_type is None)


@contextmanager
def keeping_pages_current(ws: Workspace, *, offline: bool = False) -> Iterator[None]:
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

    With ``publish`` set, a change that turns links off (rotate, revoke, a
    customer removed or merged) deletes their pages from the store before it
    commits (CONTRACT §7): a store out of reach rolls the change back
    (StoreNotUpdated), unless ``offline``, when the change is made here and
    ``ws.warnings`` says the old link still opens on the CDN until ``paylink
    publish`` succeeds. The rest (new pages) is sent after the commit.
    """
    pages = ws.pages()
    conn = ws.conn
    store_behind: str | None = None
    removed_first: list[str] = []
    with pages.locked():
        pages.prepare()
        staged = None
        try:
            with write_transaction(conn):
                # Links this change turns off, not those a crash left to tidy (they go out with the queue).
                retired_before = set(page_records.retired_snapshots(conn)) if ws.settings.publish else set()
                yield
                staged = pages.stage_pending()
                retiring = [name for name in staged.retired if name not in retired_before]
                if retiring and ws.settings.publish:
                    names = [f"{layout.SNAPSHOT_DIR}/{name}" for name in retiring]
                    store_behind = _remove_from_store_first(ws, names, offline=offline)
                    if store_behind is None:
                        removed_first = names
        except BaseException as exc:
            if staged is not None:
                staged.discard()
            if removed_first:  # gone from the store, but the link stays live: its page goes back up
                from .publish import requeue

                requeue(conn, removed_first)
            if isinstance(exc, PagesNotWritten):
                raise PagesNotWritten(f"{exc}; nothing was changed") from exc
            raise
        pages.finish(staged)
    if store_behind is not None:
        ws.warnings.append(store_behind)  # the store was just found out of reach: not tried again
    else:
        push_to_store(ws)


def _remove_from_store_first(ws: Workspace, names: list[str], *, offline: bool) -> str | None:
    """Delete retired pages from the store inside the change's transaction; return a warning if the store
    could not be reached and ``offline`` lets the change go ahead, else raise StoreNotUpdated."""
    from .publish import PublishFailed, remove_first

    try:
        remove_first(ws.site, ws.conn, names)
    except PublishFailed as exc:
        if offline:
            return (
                f"the publish store could not be reached ({exc}) — the change is made here, but the old link"
                " still opens on the CDN until paylink publish succeeds"
            )
        raise StoreNotUpdated(
            f"the publish store could not be reached to remove the old page ({exc}) — nothing was changed and"
            " the link still works everywhere; try again when the store is reachable, or pass --offline to make"
            " the change here now (the old link then keeps opening on the CDN until paylink publish succeeds)"
        ) from exc
    return None


# --- the site ------------------------------------------------------------------


def create_site(root: Path, settings: Settings) -> Site:
    """Create a new site folder (settings, empty ledger, fresh key) and build its empty ``build/``."""
    from .site import init_site

    site = init_site(root, settings)
    with Workspace(site) as ws:
        ws.pages().build()
    return site


def start_site(
    root: Path,
    *,
    name: str,
    currency: str,
    locale: str,
    language: str | None,
    timezone: str,
    base_url: str,
    phone: str | None = None,
    email: str | None = None,
    address: str | None = None,
) -> Site:
    """``paylink init``: create a new site in ``root`` with the settings as the owner typed them (each is checked)."""
    from .settings import Settings

    settings = Settings(
        name=name,
        currency=currency,
        locale=locale,
        language=language,
        timezone=timezone,
        base_url=base_url,
        phone=phone,
        email=email,
        address=address,
    )
    return create_site(root, settings)


def make_demo(root: Path, *, base_url: str) -> tuple[Site, list[tuple[str, str, str]]]:
    """Create (or reuse) the demo site in ``root`` and return it with (name, state, url) per customer with a link.

    A folder holding a site the demo did not make is refused before anything is touched.
    """
    from . import demo

    root = root.expanduser().absolute()
    site = demo.demo_to_reuse(root, base_url=base_url)
    fresh = site is None
    if site is None:
        site = create_site(root, demo.demo_settings(base_url))
        demo.mark_as_demo(root)
    with Workspace(site) as ws:
        if fresh:
            today = dt.datetime.now(dt.UTC).date()
            for customer in demo.demo_customers():
                added = add_customer(ws, customer.name, email=customer.email, phone=customer.phone, ref=customer.ref)
                for amount_minor, description, days in customer.entries:
                    day = (today - dt.timedelta(days=days)).isoformat()
                    post_entry(ws, str(added.id), amount_minor, description, day=day)
        give_all_links(ws)
        build(ws)
        rows = [(cb.customer.name, cb.state, ws.url(cb.link_nonce)) for cb in customer_balances(ws) if cb.link_nonce]
    return site, rows


Ready = Callable[[Site, list[tuple[str, str, str]]], None]


def demo(root: Path, *, host: str, port: int, serve: bool = True, ready: Ready | None = None) -> None:
    """``paylink demo``: make (or reuse) the demo site in ``root`` with links to ``host:port``; ``ready`` hears the
    site and its (name, state, url) rows; then, if ``serve``, serve it until interrupted."""
    site, rows = make_demo(root, base_url=f"http://{host}:{port}")
    if ready is not None:
        ready(site, rows)
    if serve:
        _serve_edge(site, host, port)


def serve(ws: Workspace, *, host: str, port: int, ready: Callable[[Path], None] | None = None) -> None:
    """``paylink serve``: bring ``build/`` up to date, then serve it through the edge on ``host:port`` until
    interrupted; ``ready`` hears the build folder once it is built. A port or folder that cannot be used is a
    SiteError."""
    build(ws)
    if ready is not None:
        ready(ws.site.build_dir)
    _serve_edge(ws.site, host, port)


def _serve_edge(site: Site, host: str, port: int) -> None:
    """Run the edge over the site's build/ until interrupted; a server that cannot start is a SiteError."""
    from .edge.serve import CannotServe, run

    try:
        run(site.build_dir, site.signer_keys(), host=host, port=port)
    except CannotServe as exc:
        raise SiteError(str(exc)) from exc


def build(
    ws: Workspace, *, full: bool = False, progress: Callable[[int, int], None] | None = None, push: bool = True
) -> BuildResult:
    """Make ``build/`` match the ledger (every page with ``full``); then, unless not ``push``, send it to the store.

    ``progress``, with ``full``, hears (pages written, pages to write): first (0, total), then as pages are written.
    """
    pages = ws.pages()
    step: Callable[[int], None] | None = None
    if progress is not None and full:
        total, done = pages.count_live(), 0
        progress(0, total)

        def step(written: int) -> None:
            nonlocal done
            done += written
            progress(done, total)

    result = pages.build(full=full, progress=step)
    if push:
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


def store_behind(ws: Workspace) -> bool:
    """Whether, with ``publish`` set, any page written or removed still waits to be sent to the store."""
    if not ws.settings.publish:
        return False
    from .publish import queue_waiting

    return queue_waiting(ws.conn)


def publish(
    ws: Workspace, *, full: bool = False, dry_run: bool = False, progress: Callable[[int, int], None] | None = None
) -> PublishResult:
    """Make the ``publish`` store match ``build/`` (against a listing of the bucket the first time, or ``full``).

    ``progress``, if given, hears (files sent, files to send) as uploads go out.
    """
    from .publish import Publisher

    return Publisher(ws.site, ws.conn, progress=progress).publish(full=full, dry_run=dry_run)


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
        from .reminders import parse_channels

        channels = parse_channels(reminders)
    now = ledger.iso_utc(dt.datetime.now(dt.UTC))
    with keeping_pages_current(ws):
        customer = ledger.find_customer(ws.conn, customer_key)
        if channels is not None:
            from .reminders import record_consent

            record_consent(ws.conn, customer, channels, now=now)
        customer = ledger.edit_customer(ws.conn, customer, **changes)
    return Edited(customer, reminder_channels(ws, customer) if channels is not None else None)


def reminder_channels(ws: Workspace, customer: Customer) -> list[str]:
    """The channels the customer agreed to be reminded on (CONTRACT §9), e.g. ["email"]."""
    from .reminders import consented_channels

    return consented_channels(ws.conn, customer.id)


def remind(ws: Workspace, *, dry_run: bool = False) -> reminders.RemindResult:
    """Send the reminders due today, each recorded before it goes out; ``dry_run`` only says who would get what.

    A send that failed is in the result's ``failed`` and in ``ws.warnings`` (the
    CLI exits 3); the next run tries it again.
    """
    from . import reminders

    result = reminders.run(ws.conn, ws.settings, ws.site.link_url, dry_run=dry_run)
    if result.failed:
        ws.warnings.append(
            f"{len(result.failed)} reminder(s) could not be sent (see failed) — the next `paylink remind` tries"
            " them again"
        )
    return result


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
    from . import i18n
    from .messages import moved_texts
    from .references import payment_reference

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


def customer_statement(
    ws: Workspace, customer: Customer, *, start: dt.date | None = None, end: dt.date | None = None
) -> statement.Statement:
    """The customer's entries in a period (local dates, both ends included) with opening and running balances."""
    from . import statement

    return statement.read_statement(ws.conn, customer, start=start, end=end, timezone=ws.settings.timezone)


@dataclass(frozen=True)
class StatementMade:
    """A customer's statement for a period and, when one was asked for, where its printable HTML was written."""

    customer: Customer
    statement: Statement
    start: dt.date | None
    end: dt.date | None
    html_file: Path | None = None


def make_statement(
    ws: Workspace, customer_key: str, *, start: str | None = None, end: str | None = None, html_file: Path | None = None
) -> StatementMade:
    """The customer's statement from ``start`` to ``end`` (``YYYY-MM-DD``, local dates, both included);
    with ``html_file``, also its printable HTML (with the QR code of their link) written there, never into build/.

    Refusals come in this order: a bad date, an unknown customer, a period that ends before it starts, a file
    that may not be written.
    """
    from zoneinfo import ZoneInfo

    from . import statement
    from .site import check_output_path, write_private_file

    first, last = statement.parse_day(start, "--from"), statement.parse_day(end, "--to")
    customer = ledger.find_customer(ws.conn, customer_key)
    stmt = customer_statement(ws, customer, start=first, end=last)
    if html_file is None:
        return StatementMade(customer, stmt, first, last)
    from .render import Renderer

    target = check_output_path(ws.site, html_file, "statement file")
    nonce = customer_balances(ws, customer)[0].link_nonce
    settings = ws.settings
    today = dt.datetime.now(ZoneInfo(settings.timezone)).date()
    renderer = Renderer(settings, ws.site.templates_dir)
    html = statement.render_html(settings, renderer, stmt, url=ws.url(nonce) if nonce else None, today=today)
    write_private_file(target, html.encode("utf-8"))
    return StatementMade(customer, stmt, first, last, target)


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

    from .references import payment_reference
    from .statement import local_day

    customer = ledger.find_customer(ws.conn, customer_key)
    balance = customer_balances(ws, customer)[0]
    zone = ZoneInfo(ws.settings.timezone)
    entries = [RecentEntry(e, local_day(e.posted_at, zone)) for e in recent_entries(ws, customer)]
    return CustomerDetails(
        balance, payment_reference(customer.id, customer.ref), reminder_channels(ws, customer), entries
    )


def back_up(ws: Workspace, path: Path) -> backup.Backup:
    """Write one backup file of the site (ledger, keys, settings, templates) while other programs may write."""
    from . import backup

    return backup.back_up(ws.site, ws.conn, path)


def restore(backup_file: Path, directory: Path) -> backup.Restored:
    """Make a new site in ``directory`` from a backup and build its pages: every link live at the backup opens.

    Nothing is left behind when anything fails (a damaged ledger, a broken template, a full disk).
    """
    from . import backup

    site, created = backup.restore(backup_file, directory)
    try:
        with Workspace(site) as ws:
            problem = ws.conn.execute("PRAGMA quick_check").fetchone()[0]
            if problem != "ok":
                raise backup.NotABackup(
                    f"the ledger in {str(backup_file)[-80:]} does not check out ({problem[:80]}) — use another backup"
                )
            ws.pages().build(full=True)
            return backup.restored_counts(ws.conn, site.root)
    except sqlite3.DatabaseError as exc:  # the ledger in the backup is not a database
        backup.undo_restore(site.root, created)
        raise backup.NotABackup(
            f"the ledger in {str(backup_file)[-80:]} cannot be read ({str(exc)[:80]}) — use another backup"
        ) from exc
    except BaseException:
        backup.undo_restore(site.root, created)
        raise


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
    from .errors import InvalidAmount, NegativeAmount, quoted

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
    from .spreadsheet import CellReader

    s = ws.settings
    return CellReader(s.currency, s.locale, s.timezone)


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
        ledger.refuse_merged(ws.conn, customer)
        link, _created = links.generate_link(ws.conn, customer)
    return customer, link


def give_all_links(ws: Workspace) -> list[tuple[Customer, Link]]:
    """Give every customer without a link one; return every live link with its customer, by customer id."""
    from . import links

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
    from . import links, qr
    from .share import compose
    from .site import check_output_path, write_private_file

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

    from .statement import local_day

    day = local_day(posted_at, ZoneInfo(ws.settings.timezone))
    return day.isoformat() if day else posted_at


def current_link(ws: Workspace, customer_key: str) -> tuple[Customer, Link]:
    """The customer (by id or ref) and their live link, or LinkNotFound."""
    from . import links

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
    from . import links

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
    from . import links

    customer, _ = current_link(ws, customer_key)
    if confirm is not None:
        confirm(customer)
    with keeping_pages_current(ws, offline=offline):
        return customer, links.revoke_link(ws.conn, customer)


# --- imports -----------------------------------------------------------------------


def import_customers(ws: Workspace, path: Path, *, skip_existing: bool = False) -> Imported:
    """Import customers from a CSV file (all or nothing); rows for customers already here are refused
    unless ``skip_existing``."""
    from . import imports

    return imports.import_customers(ws.conn, path, skip_existing=skip_existing, language=ws.settings.page_language)


def import_entries(ws: Workspace, path: Path, *, again: bool = False, new_only: bool = False) -> Imported:
    """Import entries from a CSV file (all or nothing); the affected pages are written before this returns.

    A file imported before is refused unless ``again``; rows an earlier import
    posted are refused unless ``new_only`` (skipped) or ``again`` (posted).
    """
    from . import imports

    s = ws.settings
    with keeping_pages_current(ws):
        return imports.import_entries(
            ws.conn,
            path,
            currency=s.currency,
            timezone=s.timezone,
            locale=s.locale,
            language=s.page_language,
            again=again,
            new_only=new_only,
        )


def import_payments(
    ws: Workspace, path: Path, *, file_format: str | None = None, skip_unmatched: bool = False
) -> payments.PaymentsImported:
    """Post each payment received in a PayPal, Venmo, Stripe, camt.053 or plain export as a credit (all or nothing).

    The affected pages are written (and published) before this returns.
    """
    from . import payments
    from .i18n import page_language, translations

    s = ws.settings
    with keeping_pages_current(ws):
        return payments.import_payments(
            ws.conn,
            path,
            currency=s.currency,
            timezone=s.timezone,
            locale=s.locale,
            page_language=lambda language: page_language(s, language),
            translate=lambda language, text: translations(language).gettext(text),
            file_format=file_format,
            skip_unmatched=skip_unmatched,
        )
