"""The site a run of actions works on, and the one place a ledger change and its pages meet.

``keeping_pages_current`` holds the promise "when the command returns, the
affected pages are written (or removed), and sent to the store": every action
that changes the ledger runs its change inside it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .. import layout, page_records
from ..errors import PagesNotWritten, StoreNotUpdated
from ..site import Site, find_site
from ..storage import check_currency, write_transaction

if TYPE_CHECKING:  # the rest is imported where used: a command's start-up time
    from ..links import Link
    from ..page_cache import PageCache
    from ..pages import PageWriter
    from ..qr_cache import QrCodes
    from ..settings import Settings


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
                check_currency(conn, self.settings.currency)
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
            from ..pages import PageWriter

            self._pages = PageWriter(
                self.site, self.conn, self.page_cache, self.qr_codes if self.settings.pay else None
            )
        return self._pages

    @property
    def page_cache(self) -> PageCache:
        """The site's page cache (page_cache.py), saved by ``close`` when the work succeeded."""
        if self._page_cache is None:
            from ..page_cache import PAGE_CACHE, PageCache
            from ..template_files import catalog_files, template_dirs

            settings = self.settings
            folders = template_dirs(self.site.templates_dir)
            self._page_cache = PageCache(self.site.root / PAGE_CACHE, settings, folders, catalog_files())
        return self._page_cache

    @property
    def qr_codes(self) -> QrCodes:
        """The site's QR cache (qr_cache.py) for the pay options' codes, saved by ``close`` when the work succeeded."""
        if self._qr_codes is None:
            from ..qr_cache import QR_CACHE, QrCodes

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
                from ..publish import requeue

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
    from ..publish import PublishFailed, remove_first

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


def push_to_store(ws: Workspace) -> None:
    """With ``publish`` set, send the pages just written or removed to the store (one posting: one object).

    A store out of reach is not an error: the ledger change stands, ``build/``
    is current, the queue keeps the work for ``paylink publish`` or ``watch``,
    and ``ws.warnings`` says so.
    """
    if not ws.settings.publish:
        return  # nothing to send: a site without a store never loads the S3 client's code
    from ..publish import push_site_queue

    warning = push_site_queue(ws.site, ws.conn)
    if warning is not None:
        ws.warnings.append(warning)


def store_behind(ws: Workspace) -> bool:
    """Whether, with ``publish`` set, any page written or removed still waits to be sent to the store."""
    if not ws.settings.publish:
        return False
    from ..publish import queue_waiting

    return queue_waiting(ws.conn)
