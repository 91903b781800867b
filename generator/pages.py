"""The page writer: keeps one snapshot per live link in ``build/`` exactly as the ledger says.

Every page is written while this process holds the ledger's write lock, after
reading the ledger inside that same transaction. Writers (posting commands,
``build``, ``watch``) therefore take turns in commit order, and a page can only
ever be replaced by one rendered from a newer ledger. The bookkeeping rows
(``pending_pages``, ``retired_snapshots``) are deleted in the transaction that
did the work, after the files are synced: a crash at any point leaves them for
the next ``build``.
"""

import os
import sqlite3
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property

from . import layout, snapshots
from .ledger import balance_and_count, recent_entries_and_voids
from .render import Renderer, Statement
from .site import Site
from .storage import write_transaction

BATCH = 1000
# A run with at least this many pages renders half of each batch in a helper process
# (on a machine with more than one core): start-up costs ~0.3 s, a page ~0.4 ms.
PARALLEL_MIN_PAGES = 3000
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


class PageWriter:
    """Writes and removes a site's snapshots."""

    def __init__(self, site: Site, conn: sqlite3.Connection):
        self.site = site
        self.conn = conn
        self.pages_dir = site.build_dir / layout.SNAPSHOT_DIR

    @cached_property
    def renderer(self) -> Renderer:
        return Renderer(self.site.settings, self.site.templates_dir)

    _helper = None  # a one-process pool, only during a large run

    @contextmanager
    def _helper_for(self, pages: int):
        """Lend a helper process for a run of ``pages`` pages, if it is large enough to pay off.

        The helper renders and writes its half of a batch while this process,
        which holds the write lock for that batch, does the other half; the
        lock is released only after both halves are written and synced, so the
        ordering promise holds exactly as with one process.
        """
        if pages < PARALLEL_MIN_PAGES or (os.cpu_count() or 1) < 2 or self._helper is not None:
            yield
            return
        import multiprocessing

        # spawn, not fork: `paylink watch` runs threads, and a forked copy of them is unsafe.
        context = multiprocessing.get_context("spawn")
        with context.Pool(1, initializer=_helper_start, initargs=(str(self.site.root),)) as pool:
            self._helper = pool
            try:
                yield
            finally:
                self._helper = None

    def _write_batch(self, customer_ids: list[int]) -> int:
        """Write these customers' pages, half in the helper process when there is one."""
        if self._helper is None or len(customer_ids) < 2:
            return self._write_pages(customer_ids)
        half = len(customer_ids) // 2
        theirs = self._helper.apply_async(_helper_write, (customer_ids[half:],))
        mine = self._write_pages(customer_ids[:half])
        return mine + theirs.get()

    # --- what the posting commands call ---------------------------------------

    def refresh(self, customer_ids: Iterable[int] | None = None) -> BuildResult:
        """Remove retired snapshots and re-render pending pages (only these customers' if given)."""
        self._ensure_folders()
        self._ensure_assets()
        wanted = None if customer_ids is None else sorted(set(customer_ids))
        expected = len(wanted) if wanted is not None else self._pending_count()
        with self._helper_for(expected):
            return self._drain(wanted)

    def _pending_count(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM pending_pages").fetchone()[0]

    def _drain(self, wanted: list[int] | None) -> BuildResult:
        result = BuildResult()
        while True:
            with write_transaction(self.conn):
                retired = [r[0] for r in self.conn.execute("SELECT snapshot FROM retired_snapshots LIMIT ?", (BATCH,))]
                if wanted is None:
                    pending = [
                        r[0] for r in self.conn.execute("SELECT customer_id FROM pending_pages LIMIT ?", (BATCH,))
                    ]
                else:
                    chunk, wanted = wanted[:BATCH], wanted[BATCH:]
                    marks = ",".join("?" * len(chunk))
                    pending = [
                        r[0]
                        for r in self.conn.execute(
                            f"SELECT customer_id FROM pending_pages WHERE customer_id IN ({marks})", chunk
                        )
                    ]
                if not retired and not pending and not wanted:
                    return result
                result.removed += sum(snapshots.remove(self.pages_dir, name) for name in retired)
                result.written += self._write_batch(pending)
                snapshots.sync(self.site.build_dir)
                self._queue_for_publish([f"{layout.SNAPSHOT_DIR}/{name}" for name in retired], pending)
                self.conn.executemany("DELETE FROM retired_snapshots WHERE snapshot = ?", [(n,) for n in retired])
                self.conn.executemany("DELETE FROM pending_pages WHERE customer_id = ?", [(c,) for c in pending])

    # --- paylink build ----------------------------------------------------------

    def build(self, *, full: bool = False, progress: Progress | None = None) -> BuildResult:
        """Make ``build/`` match the ledger; re-render everything if asked or if templates or settings changed."""
        self._ensure_folders()
        fingerprint = self.renderer.fingerprint
        full = full or self._state("fingerprint") != fingerprint
        result = BuildResult()
        if full:
            self._write_static()
            with self._helper_for(self.count_live()):
                result += self._write_all(progress)
        result += self.refresh()  # also makes sure the assets and error pages exist
        removed, missing = self._sweep(force=full)
        result.removed += removed
        if missing:
            result += self.refresh()
        if full:
            with write_transaction(self.conn):
                self._set_state("fingerprint", fingerprint)
        return result

    def count_live(self) -> int:
        """How many pages a full build writes."""
        return self.conn.execute("SELECT COUNT(*) FROM links WHERE retired_at IS NULL").fetchone()[0]

    # --- the work ---------------------------------------------------------------

    def _write_all(self, progress: Progress | None) -> BuildResult:
        """Re-render every live link's page, a batch per transaction, streaming by customer id."""
        result = BuildResult()
        after = 0
        while True:
            with write_transaction(self.conn):
                ids = [
                    r[0]
                    for r in self.conn.execute(
                        "SELECT customer_id FROM links WHERE retired_at IS NULL AND customer_id > ?"
                        " ORDER BY customer_id LIMIT ?",
                        (after, BATCH),
                    )
                ]
                if not ids:
                    return result
                written = self._write_batch(ids)
                snapshots.sync(self.site.build_dir)
                self._queue_for_publish([], ids)
                self.conn.executemany("DELETE FROM pending_pages WHERE customer_id = ?", [(c,) for c in ids])
            result.written += written
            after = ids[-1]
            if progress:
                progress(len(ids))

    def _write_pages(self, customer_ids: list[int]) -> int:
        """Render and write the pages of these customers (those with a live link); return how many."""
        written = 0
        for customer_id in customer_ids:
            row = self.conn.execute(
                "SELECT c.name, l.snapshot, c.created_at, c.language FROM customers c"
                " JOIN links l ON l.customer_id = c.id WHERE c.id = ? AND l.retired_at IS NULL",
                (customer_id,),
            ).fetchone()
            if row is None:
                continue
            entries, voids = recent_entries_and_voids(self.conn, customer_id)
            balance, count = balance_and_count(self.conn, customer_id)
            statement = Statement(
                customer_name=row[0],
                balance_minor=balance,
                entries=entries,
                # the balance last changed with the newest entry; with none, when the customer was added
                last_change=entries[0].posted_at if entries else row[2],
                language=row[3],
                entry_count=count,
                voids=voids,
            )
            html = self.renderer.page(statement)
            # Counted as written when the page is now current, whether or not its bytes changed.
            snapshots.write_if_changed(self.pages_dir, row[1], html.encode("utf-8"))
            written += 1
        return written

    def _write_static(self) -> None:
        """Write the pages and files every request may need: assets, 404, 410, robots.txt."""
        build = self.site.build_dir
        for name, data in self.renderer.assets.items():
            snapshots.write_atomic(build / layout.ASSETS_DIR, name, data)
        snapshots.write_atomic(build, layout.NOT_FOUND_PAGE, self.renderer.not_found_page().encode("utf-8"))
        snapshots.write_atomic(build, layout.GONE_PAGE, self.renderer.gone_page().encode("utf-8"))
        snapshots.write_atomic(build, layout.ROBOTS, self.renderer.robots().encode("utf-8"))
        snapshots.sync(build)
        with write_transaction(self.conn):
            self._queue_for_publish(
                [f"{layout.ASSETS_DIR}/{name}" for name in self.renderer.assets]
                + [layout.NOT_FOUND_PAGE, layout.GONE_PAGE, layout.ROBOTS],
                [],
            )

    def _ensure_assets(self) -> None:
        """Make sure the assets and error pages the current templates refer to exist."""
        build = self.site.build_dir
        missing = [n for n in self.renderer.assets if not (build / layout.ASSETS_DIR / n).exists()]
        static_missing = any(not (build / n).exists() for n in (layout.NOT_FOUND_PAGE, layout.GONE_PAGE, layout.ROBOTS))
        if missing or static_missing:
            self._write_static()

    def _ensure_folders(self) -> None:
        (self.site.build_dir / layout.ASSETS_DIR).mkdir(parents=True, exist_ok=True)
        self.pages_dir.mkdir(parents=True, exist_ok=True)

    def _sweep(self, *, force: bool) -> tuple[int, int]:
        """Make build/p hold exactly the live links' snapshots; return (removed, missing).

        Removes leftover temp files, snapshots of links no longer live and unused
        assets; a live link whose snapshot is missing is marked pending. Skipped
        when the snapshot folder has not changed since the last sweep, so a no-op
        build does not list 100,000 files.
        """
        mtime = str(os.stat(self.pages_dir).st_mtime_ns)
        if not force and self._state("swept_mtime") == mtime:
            return 0, 0
        removed = 0
        with write_transaction(self.conn):
            # Under the write lock no other paylink process is mid-write, so any temp file is a leftover.
            live = {r[0] for r in self.conn.execute("SELECT snapshot FROM links WHERE retired_at IS NULL")}
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
            self.conn.executemany(
                "INSERT OR IGNORE INTO pending_pages SELECT customer_id FROM links WHERE snapshot = ?",
                [(name,) for name in missing],
            )
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
            self._set_state("swept_mtime", str(os.stat(self.pages_dir).st_mtime_ns))
        return removed, len(missing)

    def _queue_for_publish(self, names: list[str], customer_ids: list[int]) -> None:
        """Record, in the caller's transaction, which files of build/ the publish store must catch up on.

        ``names`` are paths relative to build/ (written or removed); ``customer_ids``
        add their live snapshots. Only with ``publish`` set: without a store there
        is nothing to catch up. The publisher compares each file's digest with
        what it last sent, so an unchanged page costs no upload.
        """
        if not self.site.settings.publish:
            return
        self.conn.executemany("INSERT OR IGNORE INTO publish_queue (name) VALUES (?)", [(n,) for n in names])
        self.conn.executemany(
            "INSERT OR IGNORE INTO publish_queue (name)"
            f" SELECT '{layout.SNAPSHOT_DIR}/' || snapshot FROM links WHERE customer_id = ? AND retired_at IS NULL",
            [(c,) for c in customer_ids],
        )

    def _state(self, name: str) -> str | None:
        row = self.conn.execute("SELECT value FROM build_state WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def _set_state(self, name: str, value: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO build_state (name, value) VALUES (?, ?)", (name, value))


# --- the helper process ---------------------------------------------------------

_helper_writer: PageWriter | None = None


def _helper_start(site_root: str) -> None:
    """Open the site in the helper process, with its own connection (read-only use)."""
    global _helper_writer
    from pathlib import Path

    site = Site(Path(site_root))
    _helper_writer = PageWriter(site, site.open_ledger())


def _helper_write(customer_ids: list[int]) -> int:
    """Render and write pages in the helper; the parent holds the write lock meanwhile."""
    return _helper_writer._write_pages(customer_ids)
