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

import fcntl
import os
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from . import layout, snapshots
from .errors import PagesNotWritten, PaylinkError
from .ledger import balance_and_count, pages_of, recent_entries_and_voids
from .model import Entry
from .render import Renderer, Statement
from .site import Site
from .storage import write_transaction

LOCK_FILE = "paylink.lock"

BATCH = 1000
# A run with at least this many pages shares the work with helper processes (on a machine with
# more than one core: one a core but one, at most MAX_HELPERS): start-up costs ~0.3 s, a page ~0.15 ms.
# Each process holds its own renderer: 40 MB or so.
PARALLEL_MIN_PAGES = 3000
MAX_HELPERS = 3
# With helpers, committed pages are done in larger batches (one transaction, one sync each),
# so the helpers seldom wait for this process's sync and commit.
HELPER_BATCH = 5000
# Pages per chunk shared between this process and the helpers.
HELPER_CHUNK = 200
# The helpers' share of each chunk (it adapts during a run):
HELPER_SHARE_MIN, HELPER_SHARE_MAX, HELPER_SHARE_STEP = 0.3, 1.0, 0.05
# While a batch is written, its pages start for the disk every this many (the batch's sync then waits less).
WRITEBACK_EVERY = 1000
# From this many customers on, a batch's ledger is read in one streaming pass (ledger.pages_of).
STREAM_MIN = 8
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


# --- the site's page lock ----------------------------------------------------------

_locks_guard = threading.Lock()
_locks: dict[str, "_SiteLock"] = {}


class _SiteLock:
    """``flock`` on the site's lock file, re-entrant within a process (a posting action's
    transaction calls the writer, which takes the lock again), one thread at a time."""

    def __init__(self, path: Path):
        self.path = path
        self.thread_lock = threading.RLock()
        self.depth = 0
        self.fd: int | None = None

    @contextmanager
    def held(self) -> Iterator[None]:
        with self.thread_lock:
            if self.depth == 0:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)  # waits while another writer works; freed if it dies
                except BaseException:
                    os.close(fd)
                    raise
                self.fd = fd
            self.depth += 1
            try:
                yield
            finally:
                self.depth -= 1
                if self.depth == 0 and self.fd is not None:
                    os.close(self.fd)  # releases the flock
                    self.fd = None


def site_lock(root: Path) -> _SiteLock:
    """The page lock of the site at ``root``, shared by every writer in this process."""
    key = str(Path(root).absolute())
    with _locks_guard:
        lock = _locks.get(key)
        if lock is None:
            lock = _locks[key] = _SiteLock(Path(key) / LOCK_FILE)
        return lock


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

    def __init__(self, site: Site, conn: sqlite3.Connection):
        self.site = site
        self.conn = conn
        self.pages_dir = site.build_dir / layout.SNAPSHOT_DIR

    @cached_property
    def renderer(self) -> Renderer:
        return Renderer(self.site.settings, self.site.templates_dir)

    _helper = None  # a pool of helper processes, only during a large run
    _helpers = 0  # how many
    _helper_share = 0.7  # of each chunk, what the helpers do (adapts during a run)

    def locked(self):
        """Hold the site's page lock (re-entrant in this process) for the block."""
        return site_lock(self.site.root).held()

    @contextmanager
    def _helper_for(self, pages: int):
        """Lend helper processes for a run of ``pages`` pages, if it is large enough to pay off.

        The helpers never write: they render a share of the pages (see
        ``_render_pages``) and send the bytes back; this process writes them,
        in order, while it holds the page lock and the ledger's write lock.
        The helpers die with this process (PR_SET_PDEATHSIG), so a killed
        build leaves nothing behind.
        """
        helpers = min(MAX_HELPERS, (os.cpu_count() or 1) - 1)
        if pages < PARALLEL_MIN_PAGES or helpers < 1 or self._helper is not None:
            yield
            return
        import multiprocessing

        # spawn, not fork: `paylink watch` runs threads, and a forked copy of them is unsafe.
        context = multiprocessing.get_context("spawn")
        with context.Pool(helpers, initializer=_helper_start, initargs=(str(self.site.root), os.getpid())) as pool:
            self._helper, self._helpers = pool, helpers
            try:
                yield
            finally:
                self._helper, self._helpers = None, 0

    @property
    def _batch(self) -> int:
        """Pages per transaction for committed changes."""
        return HELPER_BATCH if self._helper is not None else BATCH

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
            expected = len(wanted) if wanted is not None else self._pending_count()
            with self._helper_for(expected):
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
        retired = [r[0] for r in conn.execute("SELECT snapshot FROM retired_snapshots")]
        pending = [r[0] for r in conn.execute("SELECT customer_id FROM pending_pages ORDER BY customer_id")]
        files = snapshots.Staged()
        try:
            with self._helper_for(len(pending)):
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
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        return StagedPages(files, retired, pending, version)

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
                    if self.conn.execute("PRAGMA data_version").fetchone()[0] == staged.data_version:
                        self.conn.executemany(
                            "DELETE FROM pending_pages WHERE customer_id = ?", [(c,) for c in staged.rendered]
                        )
                    self.conn.executemany(
                        "DELETE FROM retired_snapshots WHERE snapshot = ?", [(n,) for n in staged.retired]
                    )
            finally:
                self.conn.execute("PRAGMA synchronous = FULL")
            if self._pending_count() or self.conn.execute("SELECT 1 FROM retired_snapshots LIMIT 1").fetchone():
                # Another program committed meanwhile: bring its pages up to date too.
                result.removed += self._drain(None).removed
        except Exception:  # noqa: BLE001 — see above: left for the next build
            pass
        return result

    def _pending_count(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM pending_pages").fetchone()[0]

    def _drain(self, wanted: list[int] | None) -> BuildResult:
        result = BuildResult()
        while True:
            with write_transaction(self.conn):
                batch = self._batch
                retired = [r[0] for r in self.conn.execute("SELECT snapshot FROM retired_snapshots LIMIT ?", (batch,))]
                if wanted is None:
                    pending = [
                        r[0]
                        for r in self.conn.execute(
                            "SELECT customer_id FROM pending_pages ORDER BY customer_id LIMIT ?", (batch,)
                        )
                    ]
                else:
                    chunk, wanted = wanted[:batch], wanted[batch:]
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
        """Make ``build/`` match the ledger; re-render everything if asked or if templates or settings changed.

        Holds the site's page lock throughout, so no other writer's pages interleave with these.
        """
        with self.locked():
            try:
                return self._build(full=full, progress=progress)
            except (PaylinkError, OSError, sqlite3.Error):
                raise
            except Exception as exc:  # a broken template: one line saying which
                raise _not_written(exc) from exc

    def _build(self, *, full: bool, progress: Progress | None) -> BuildResult:
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
                        (after, self._batch),
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

    def _render_pages(self, customer_ids: list[int], *, committed: bool) -> Iterator[tuple[str, bytes]]:
        """Yield (snapshot file name, page bytes) for these customers (those with a live link), in order.

        This process reads through its own connection (inside the caller's
        transaction, if any). With helper processes, each chunk is split: the
        helpers render a share while this process renders the rest, then
        writes the chunk before. For pages of ``committed`` changes the
        helpers read their share themselves, each chunk in one read
        transaction begun while the caller holds the ledger's write lock until
        it has taken every page, so no commit can come between this process's
        view and theirs. A change not yet committed only this process can see:
        it reads the helpers' share too and sends them what the pages show.
        The share adapts so that neither side waits for the other.
        """
        if self._helper is None:
            for start in range(0, len(customer_ids), BATCH):
                for snapshot, statement in self._statements(customer_ids[start : start + BATCH]):
                    yield snapshot, self.renderer.page(statement).encode("utf-8")
            return
        waiting: deque = deque()
        for start in range(0, len(customer_ids), HELPER_CHUNK):
            chunk = customer_ids[start : start + HELPER_CHUNK]
            theirs = round(len(chunk) * self._helper_share)
            if committed:
                jobs = [self._helper.apply_async(_helper_read_render, (part,)) for part in self._split(chunk[:theirs])]
                mine = self._statements(chunk[theirs:])
            else:
                statements = list(self._statements(chunk))
                theirs = round(len(statements) * self._helper_share)
                parts = self._split(statements[:theirs])
                jobs = [self._helper.apply_async(_helper_render, (_packed(part),)) for part in parts]
                mine = iter(statements[theirs:])
            done = [(snapshot, self.renderer.page(statement).encode("utf-8")) for snapshot, statement in mine]
            waiting.append((jobs, done))
            if len(waiting) > 1:
                jobs, done = waiting.popleft()
                if jobs:
                    # Done before they were needed: the helpers can take more; else this process waits: less.
                    step = HELPER_SHARE_STEP if all(job.ready() for job in jobs) else -HELPER_SHARE_STEP
                    self._helper_share = min(HELPER_SHARE_MAX, max(HELPER_SHARE_MIN, self._helper_share + step))
                for job in jobs:
                    yield from job.get()
                yield from done
        while waiting:
            jobs, done = waiting.popleft()
            for job in jobs:
                yield from job.get()
            yield from done

    def _split(self, items: list) -> list[list]:
        """``items`` in one consecutive part per helper (fewer if there are few), in order."""
        if not items:
            return []
        size = -(-len(items) // self._helpers)
        return [items[i : i + size] for i in range(0, len(items), size)]

    def _statements(self, customer_ids: list[int]) -> Iterator[tuple[str, Statement]]:
        """Yield (snapshot file name, what the page shows) for these customers (those with a live link)."""
        if len(customer_ids) < STREAM_MIN:
            yield from self._statements_one_by_one(customer_ids)
            return
        import json

        people = {
            r[0]: r[1:]
            for r in self.conn.execute(
                "SELECT c.id, c.name, l.snapshot, c.created_at, c.language, c.ref, c.email FROM customers c"
                " JOIN links l ON l.customer_id = c.id"
                " WHERE l.retired_at IS NULL AND c.id IN (SELECT value FROM json_each(?))",
                (json.dumps(customer_ids),),
            )
        }
        ledgers = pages_of(self.conn, [c for c in customer_ids if c in people])
        nothing: tuple = ([], {}, 0, 0)
        for customer_id in customer_ids:
            person = people.get(customer_id)
            if person is None:
                continue
            entries, voids, balance, count = ledgers.get(customer_id, nothing)
            yield (
                person[1],
                Statement(
                    customer_name=person[0],
                    balance_minor=balance,
                    entries=entries,
                    # the balance last changed with the newest entry; with none, when the customer was added
                    last_change=entries[0].posted_at if entries else person[2],
                    language=person[3],
                    entry_count=count,
                    voids=voids,
                    customer_id=customer_id,
                    customer_ref=person[4],
                    customer_email=person[5],
                ),
            )

    def _statements_one_by_one(self, customer_ids: list[int]) -> Iterator[tuple[str, Statement]]:
        """As ``_statements``, three queries a customer (cheaper for a posting command's page or two)."""
        for customer_id in customer_ids:
            row = self.conn.execute(
                "SELECT c.name, l.snapshot, c.created_at, c.language, c.ref, c.email FROM customers c"
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
                customer_id=customer_id,
                customer_ref=row[4],
                customer_email=row[5],
            )
            yield row[1], statement

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
        if not force and self._state("swept_mtime") == mtime:
            return 0, 0
        removed = 0
        with write_transaction(self.conn):
            # Under the page lock no other paylink process is mid-write, so any temp file is a leftover.
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


def _helper_start(site_root: str, parent_pid: int) -> None:
    """Set up the helper process's reader and renderer (it writes no file); die with the parent."""
    global _helper_writer
    import signal

    try:
        import ctypes

        PR_SET_PDEATHSIG = 1  # noqa: N806 — <linux/prctl.h>
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: the pool's own pipes end the helper when the parent goes
    if os.getppid() != parent_pid:  # the parent died before the prctl took effect
        os._exit(0)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    from .storage import connect_reader

    site = Site(Path(site_root))
    _helper_writer = PageWriter(site, connect_reader(site.db_path))


def _packed(statements: list[tuple[str, Statement]]) -> list[tuple]:
    """Statements as plain tuples for the trip to a helper: pickling two dozen named tuples
    a page cost three times as much as the page's plain values."""
    return [
        (
            snapshot,
            s.customer_name,
            s.balance_minor,
            [tuple(e) for e in s.entries],
            s.last_change,
            s.language,
            s.entry_count,
            s.voids,
            s.customer_id,
            s.customer_ref,
            s.customer_email,
        )
        for snapshot, s in statements
    ]


def _helper_render(packed: list[tuple]) -> list[tuple[str, bytes]]:
    """Render pages (``_packed`` statements) in the helper and return their bytes; the parent,
    holding the locks, writes them."""
    assert _helper_writer is not None, "_helper_start runs first"
    renderer = _helper_writer.renderer
    entry = Entry._make
    return [
        (snapshot, renderer.page(Statement(name, balance, [entry(e) for e in entries], *rest)).encode("utf-8"))
        for snapshot, name, balance, entries, *rest in packed
    ]


def _helper_read_render(customer_ids: list[int]) -> list[tuple[str, bytes]]:
    """Read these customers' pages from the ledger as committed (one read transaction) and render them.

    The parent holds the write lock while it waits for them, so what is read
    here is what the parent's own transaction sees.
    """
    assert _helper_writer is not None, "_helper_start runs first"
    conn = _helper_writer.conn
    renderer = _helper_writer.renderer
    conn.execute("BEGIN")
    try:
        statements = list(_helper_writer._statements(customer_ids))
    finally:
        conn.execute("COMMIT")
    return [(snapshot, renderer.page(statement).encode("utf-8")) for snapshot, statement in statements]
