"""The page writer: keeps one snapshot per live link in ``build/`` exactly as the ledger says.

Only one process writes pages at a time: every writer (posting commands,
``build``, ``watch``) first takes the site's page lock (``flock`` on
``paylink.lock``), then the ledger's write lock. A page is rendered from the
ledger as read inside that transaction, so a page can only ever be replaced by
one rendered from a newer ledger.

A posting action stages its pages (temp files, fsynced) inside its own
transaction, before it commits: a page that cannot be rendered or written
rolls the change back (``stage_pending`` / ``finish``). ``build`` writes pages
of changes already committed, and deletes the bookkeeping rows
(``pending_pages``, ``retired_snapshots``) in the transaction that did the
work, after the files are synced: a crash at any point leaves them for the
next ``build``.
"""

import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from . import layout, page_records, snapshots
from .errors import PagesNotWritten, PaylinkError
from .page_lock import site_lock
from .site import Site
from .storage import write_transaction

if TYPE_CHECKING:  # the renderer and the helpers are imported when a page is drawn: a no-op build draws none
    from .page_cache import PageCache
    from .page_helpers import RenderHelpers
    from .qr_cache import QrCodes
    from .render import Renderer

BATCH = 1000
# With helper processes (page_helpers), committed pages are done in larger batches (one transaction,
# one sync each), so the helpers seldom wait for this process's sync and commit.
HELPER_BATCH = 5000
# While a batch is written, its pages start for the disk every this many (the batch's sync then waits less).
WRITEBACK_EVERY = 1000
Progress = Callable[[int], None]


@dataclass
class BuildResult:
    """How many pages a run wrote and removed."""

    written: int = 0
    removed: int = 0

    def __iadd__(self, other: "BuildResult") -> "BuildResult":
        self.written += other.written
        self.removed += other.removed
        return self


def _not_written(exc: BaseException) -> PagesNotWritten:
    """Say in one line why a page could not be rendered or written."""
    if isinstance(exc, PaylinkError):
        return PagesNotWritten(str(exc))
    if isinstance(exc, OSError):
        name = Path(os.fsdecode(exc.filename)) if exc.filename else None
        if name is not None and name.name.startswith(layout.TEMP_PREFIX):
            name = name.parent  # a temp file's name changes on every try; its folder does not
        where = f" ({name})" if name else ""
        return PagesNotWritten(
            f"a page could not be written: {exc.strerror or exc}{where} — free some disk space or make build/"
            " writable, then try again"
        )
    from jinja2 import TemplateError, TemplateSyntaxError

    if isinstance(exc, TemplateSyntaxError):
        where = f"{exc.filename or exc.name} line {exc.lineno}"
        return PagesNotWritten(
            f"template {where} is broken ({str(exc.message)[:80]}) — fix the template, then try again"
        )
    if isinstance(exc, TemplateError):
        return PagesNotWritten(
            f"a page could not be rendered ({type(exc).__name__}: {str(exc)[:80]}) — fix the site's templates,"
            " then try again"
        )
    return PagesNotWritten(
        f"a page could not be rendered ({type(exc).__name__}: {str(exc)[:80]}) — check the site's templates,"
        " then try again"
    )


@dataclass
class StagedPages:
    """A ledger change's pages, written under temp names and synced, waiting for its commit."""

    files: snapshots.Staged
    retired: list[str]
    rendered: list[int]  # customers whose pages are now current in the transaction's view
    data_version: int

    def discard(self) -> None:
        """Remove the temp files (the change was rolled back)."""
        self.files.discard()


class PageWriter:
    """Writes and removes a site's snapshots."""

    def __init__(
        self,
        site: Site,
        conn: sqlite3.Connection,
        page_cache: "PageCache | None" = None,
        qr_codes: "QrCodes | None" = None,
    ):
        self.site = site
        self.conn = conn
        self.pages_dir = site.build_dir / layout.SNAPSHOT_DIR
        self._helpers: RenderHelpers | None = None  # helper processes, only during a large run
        # The site's page cache, owned by the caller (the workspace saves it when the command succeeded).
        self.page_cache = page_cache
        # The site's QR cache (qr_cache.py), owned by the caller too; helper processes send theirs back to it.
        self.qr_codes = qr_codes

    @cached_property
    def renderer(self) -> "Renderer":
        from .render import Renderer

        cache = self.page_cache
        renderer = Renderer(
            self.site.settings,
            self.site.templates_dir,
            cached=cache.pages() if cache else None,
            qr_codes=self.qr_codes,
        )
        if cache is not None:
            cache.learn_from(renderer)
        return renderer

    def locked(self):
        """Hold the site's page lock (re-entrant in this process) for the block."""
        return site_lock(self.site.root).held()

    @contextmanager
    def _helpers_for(self, pages: int) -> Iterator[None]:
        """Lend helper processes to the block if ``pages`` are enough to pay off (see page_helpers)."""
        if self._helpers is not None:
            yield
            return
        from .page_helpers import helpers_for

        with helpers_for(self.site.root, pages) as helpers:
            self._helpers = helpers
            try:
                yield
            finally:
                self._helpers = None

    @property
    def _batch(self) -> int:
        """Pages per transaction for committed changes."""
        return HELPER_BATCH if self._helpers is not None else BATCH

    def _render_pages(self, customer_ids: list[int], *, committed: bool) -> Iterator[tuple[str, bytes]]:
        """Yield (snapshot file name, page bytes) for these customers (those with a live link), in order,
        read through this writer's connection (inside the caller's transaction, if any)."""
        if self._helpers is not None:
            yield from self._helpers.render(
                customer_ids,
                committed=committed,
                read=self._statements,
                render=self.renderer.page,
                qr_codes=self.qr_codes,
            )
            return
        for start in range(0, len(customer_ids), BATCH):
            for snapshot, statement in self._statements(customer_ids[start : start + BATCH]):
                yield snapshot, self.renderer.page(statement).encode("utf-8")

    def _statements(self, customer_ids: list[int]):
        return page_records.statements(self.conn, customer_ids)

    def _write_batch(self, customer_ids: list[int]) -> int:
        """Write these customers' pages, from the ledger as committed (read and rendered by the helpers
        when there are some)."""
        written = 0
        writeback = snapshots.EarlyWriteback(self.site.build_dir, WRITEBACK_EVERY)
        try:
            for snapshot, html in self._render_pages(customer_ids, committed=True):
                # Counted as written when the page is now current, whether or not its bytes changed.
                if snapshots.write_if_changed(self.pages_dir, snapshot, html):
                    writeback.wrote()
                written += 1
        finally:
            writeback.done()
        return written

    # --- what the posting commands call ---------------------------------------

    def refresh(self, customer_ids: Iterable[int] | None = None) -> BuildResult:
        """Remove retired snapshots and re-render pending pages (only these customers' if given)."""
        with self.locked():
            self.prepare()
            wanted = None if customer_ids is None else sorted(set(customer_ids))
            expected = len(wanted) if wanted is not None else page_records.pending_count(self.conn)
            with self._helpers_for(expected):
                return self._drain(wanted)

    def prepare(self) -> None:
        """Make sure build/, its folders, assets and error pages exist (before a change is staged)."""
        self._ensure_folders()
        self._ensure_assets()

    def stage_pending(self) -> StagedPages:
        """Inside the caller's write transaction: render every pending page from the transaction's
        view and write it under a temp name, synced; queue the files for publishing.

        Raises PagesNotWritten (with no temp file left) if a page cannot be
        rendered or written; the caller then rolls its change back. After the
        caller commits, ``finish`` puts the pages in place.
        """
        conn = self.conn
        retired = page_records.retired_snapshots(conn)
        pending = page_records.pending_customers(conn)
        files = snapshots.Staged()
        try:
            with self._helpers_for(len(pending)):
                for snapshot, html in self._render_pages(pending, committed=False):
                    files.add(self.pages_dir, snapshot, html)
            if retired and not files.files:
                # Only removals to do: prove now that build/p can be changed (not read-only), so
                # a link that is turned off is never left with its page still served.
                files.probe(self.pages_dir)
            files.make_durable()
        except BaseException as exc:
            files.discard()
            if isinstance(exc, Exception):
                raise _not_written(exc) from exc
            raise
        self._queue_for_publish([f"{layout.SNAPSHOT_DIR}/{name}" for name in retired], pending)
        # Read while this transaction holds the write lock: no other commit can come between it and ours.
        return StagedPages(files, retired, pending, page_records.data_version(conn))

    def finish(self, staged: StagedPages) -> BuildResult:
        """After the change committed: put staged pages in place, remove retired snapshots, sync,
        and clear the bookkeeping rows, unless another program committed meanwhile (then those
        pages are re-rendered from the newer ledger)."""
        changes = len(staged.files.files) + len(staged.retired)
        staged.files.put_in_place()
        removed = sum(snapshots.remove(self.pages_dir, name) for name in staged.retired)
        if changes <= snapshots.FSYNC_EACH_MAX:
            snapshots.sync_folder(self.pages_dir)  # the data is synced already: only the renames are left
        else:
            snapshots.sync(self.site.build_dir)
        result = BuildResult(len(staged.rendered), removed)
        # Losing this small transaction to a power cut only leaves pages marked pending that are
        # current already (the next build rewrites them), so it need not wait for the disk.
        # The change is committed and its pages are in place: what is left is tidying up, and a
        # failure here must not turn into an Error: line (it would say nothing was written).
        # Whatever it leaves, pages marked pending, the next build or watch finishes.
        try:
            self.conn.execute("PRAGMA synchronous = NORMAL")
            try:
                with write_transaction(self.conn):
                    if page_records.data_version(self.conn) == staged.data_version:
                        page_records.clear_pending(self.conn, staged.rendered)
                    page_records.clear_retired(self.conn, staged.retired)
            finally:
                self.conn.execute("PRAGMA synchronous = FULL")
            if page_records.work_left(self.conn):
                # Another program committed meanwhile: bring its pages up to date too.
                result.removed += self._drain(None).removed
        except Exception:  # noqa: BLE001 — see above: left for the next build
            pass
        return result

    def _drain(self, wanted: list[int] | None) -> BuildResult:
        result = BuildResult()
        while True:
            with write_transaction(self.conn):
                batch = self._batch
                retired = page_records.retired_snapshots(self.conn, batch)
                if wanted is None:
                    pending = page_records.pending_customers(self.conn, batch)
                else:
                    chunk, wanted = wanted[:batch], wanted[batch:]
                    pending = page_records.pending_among(self.conn, chunk)
                if not retired and not pending and not wanted:
                    return result
                result.removed += sum(snapshots.remove(self.pages_dir, name) for name in retired)
                result.written += self._write_batch(pending)
                snapshots.sync(self.site.build_dir)
                self._queue_for_publish([f"{layout.SNAPSHOT_DIR}/{name}" for name in retired], pending)
                page_records.clear_retired(self.conn, retired)
                page_records.clear_pending(self.conn, pending)

    # --- paylink build ----------------------------------------------------------

    def build(self, *, full: bool = False, progress: Progress | None = None) -> BuildResult:
        """Make ``build/`` match the ledger; re-render everything if asked or if templates or settings changed.

        Holds the site's page lock throughout, so no other writer's pages interleave with these.
        """
        with self.locked():
            if not full and self._nothing_to_do():
                return BuildResult()
            try:
                return self._build(full=full, progress=progress)
            except (PaylinkError, OSError, sqlite3.Error):
                raise
            except Exception as exc:  # a broken template: one line saying which
                raise _not_written(exc) from exc

    def _nothing_to_do(self) -> bool:
        """Whether ``_build`` would find nothing to do, seen without a renderer (no Jinja, no page facts,
        no template read): the page cache holds the templates' fingerprint (it is current), the last full
        build was made with it, no page is due and no snapshot to remove, build/p is as the last sweep
        left it, and the assets and fixed files are in place. Anything else takes ``_build``, which
        checks the same and does the work."""
        fingerprint = self.page_cache.fingerprint if self.page_cache is not None else None
        if fingerprint is None:
            return False
        try:
            swept_mtime = str(os.stat(self.pages_dir).st_mtime_ns)
        except OSError:
            return False
        if not page_records.nothing_due(self.conn, fingerprint, swept_mtime):
            return False
        from .template_files import named_assets, template_dirs

        build = self.site.build_dir
        assets = named_assets(template_dirs(self.site.templates_dir), bool(self.site.settings.pay))
        return all((build / layout.ASSETS_DIR / name).exists() for name in assets) and all(
            (build / name).exists() for name in layout.STATIC_FILES
        )

    def _build(self, *, full: bool, progress: Progress | None) -> BuildResult:
        self._ensure_folders()
        fingerprint = self.renderer.fingerprint
        full = full or page_records.state(self.conn, "fingerprint") != fingerprint
        result = BuildResult()
        if full:
            self._write_static()
            with self._helpers_for(self.count_live()):
                result += self._write_all(progress)
        result += self.refresh()  # also makes sure the assets and error pages exist
        removed, missing = self._sweep(force=full)
        result.removed += removed
        if missing:
            result += self.refresh()
        if full:
            with write_transaction(self.conn):
                page_records.set_state(self.conn, "fingerprint", fingerprint)
        return result

    def count_live(self) -> int:
        """How many pages a full build writes."""
        return page_records.count_live(self.conn)

    # --- the work ---------------------------------------------------------------

    def _write_all(self, progress: Progress | None) -> BuildResult:
        """Re-render every live link's page, a batch per transaction, streaming by customer id."""
        result = BuildResult()
        after = 0
        while True:
            with write_transaction(self.conn):
                ids = page_records.live_customers_after(self.conn, after, self._batch)
                if not ids:
                    return result
                written = self._write_batch(ids)
                snapshots.sync(self.site.build_dir)
                self._queue_for_publish([], ids)
                page_records.clear_pending(self.conn, ids)
            result.written += written
            after = ids[-1]
            if progress:
                progress(len(ids))

    def _write_static(self) -> None:
        """Write the pages and files every request may need: assets, the 404 and 410 pages (each language), robots.txt."""
        build = self.site.build_dir
        for name, data in self.renderer.assets.items():
            snapshots.write_atomic(build / layout.ASSETS_DIR, name, data)
        for name, html in self.renderer.error_pages().items():
            snapshots.write_atomic(build, name, html.encode("utf-8"))
        snapshots.write_atomic(build, layout.ROBOTS, self.renderer.robots().encode("utf-8"))
        snapshots.sync(build)
        with write_transaction(self.conn):
            self._queue_for_publish(
                [f"{layout.ASSETS_DIR}/{name}" for name in self.renderer.assets] + list(layout.STATIC_FILES), []
            )

    def _ensure_assets(self) -> None:
        """Make sure the assets and error pages the current templates refer to exist."""
        build = self.site.build_dir
        missing = [n for n in self.renderer.assets if not (build / layout.ASSETS_DIR / n).exists()]
        static_missing = any(not (build / n).exists() for n in layout.STATIC_FILES)
        if missing or static_missing:
            self._write_static()

    def _ensure_folders(self) -> None:
        for folder in (self.site.build_dir, self.site.build_dir / layout.ASSETS_DIR, self.pages_dir):
            if not folder.is_dir():
                folder.mkdir(parents=True, exist_ok=True)
                os.chmod(folder, 0o755)  # a static host reads it; nobody else writes it, whatever the umask

    def _sweep(self, *, force: bool) -> tuple[int, int]:
        """Make build/p hold exactly the live links' snapshots; return (removed, missing).

        Removes leftover temp files, snapshots of links no longer live and unused
        assets; a live link whose snapshot is missing is marked pending. Skipped
        when the snapshot folder has not changed since the last sweep, so a no-op
        build does not list 100,000 files.
        """
        mtime = str(os.stat(self.pages_dir).st_mtime_ns)
        if not force and page_records.state(self.conn, "swept_mtime") == mtime:
            return 0, 0
        removed = 0
        with write_transaction(self.conn):
            # Under the page lock no other paylink process is mid-write, so any temp file is a leftover.
            live = page_records.live_snapshots(self.conn)
            present = set()
            gone: list[str] = []
            with os.scandir(self.pages_dir) as listing:
                for item in listing:
                    if item.name.startswith(layout.TEMP_PREFIX):
                        snapshots.remove(self.pages_dir, item.name)
                    elif item.name in live:
                        present.add(item.name)
                    else:
                        removed += snapshots.remove(self.pages_dir, item.name)
                        gone.append(f"{layout.SNAPSHOT_DIR}/{item.name}")
            missing = live - present
            page_records.mark_pending_snapshots(self.conn, missing)
            assets_dir = self.site.build_dir / layout.ASSETS_DIR
            current = set(self.renderer.assets)
            with os.scandir(assets_dir) as listing:
                for item in listing:
                    if item.name not in current:
                        snapshots.remove(assets_dir, item.name)
                        gone.append(f"{layout.ASSETS_DIR}/{item.name}")
            with os.scandir(self.site.build_dir) as listing:
                for item in listing:
                    if item.name.startswith(layout.TEMP_PREFIX):
                        snapshots.remove(self.site.build_dir, item.name)
            snapshots.sync(self.site.build_dir)
            self._queue_for_publish(gone, [])
            page_records.set_state(self.conn, "swept_mtime", str(os.stat(self.pages_dir).st_mtime_ns))
        return removed, len(missing)

    def _queue_for_publish(self, names: list[str], customer_ids: list[int]) -> None:
        """With ``publish`` set, record in the caller's transaction which files the store must catch up on
        (see publish.queue_for_publish); without a store there is nothing to catch up."""
        if not self.site.settings.publish:
            return
        from .publish import queue_for_publish

        queue_for_publish(self.conn, names, customer_ids)
