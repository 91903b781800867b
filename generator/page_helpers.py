"""Helper processes that render a share of a large run's pages (a full build of thousands of pages).

The helpers never write: they render and send the bytes back; the page
writer, holding the page lock and the ledger's write lock, writes them in
order. They die with the process that started them (PR_SET_PDEATHSIG), so a
killed build leaves nothing behind.
"""

import os
import sqlite3
import sys
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from . import page_records
from .facts import Statement
from .model import Entry
from .render import Renderer

# A run with at least this many pages shares the work with helper processes (on a machine with
# more than one core: one a core but one, at most MAX_HELPERS): start-up costs ~0.3 s, a page ~0.15 ms.
# Each process holds its own renderer: 40 MB or so.
PARALLEL_MIN_PAGES = 3000
# Tests lower it (so that a small site reaches the helpers) with this environment variable.
PARALLEL_MIN_PAGES_ENV = "PAYLINK_PARALLEL_MIN_PAGES"
MAX_HELPERS = 3
# Pages per chunk shared between this process and the helpers.
HELPER_CHUNK = 200
# The helpers' share of each chunk (it adapts during a run):
HELPER_SHARE_MIN, HELPER_SHARE_MAX, HELPER_SHARE_STEP = 0.3, 1.0, 0.05

Read = Callable[[list[int]], Iterator[tuple[str, Statement]]]


class RenderHelpers:
    """A pool of helper processes lent to one run, and how the run's pages are shared with them."""

    def __init__(self, pool: Any, helpers: int):
        self.pool = pool
        self.helpers = helpers
        self.share = 0.7  # of each chunk, what the helpers do (adapts during a run)

    def render(
        self,
        customer_ids: list[int],
        *,
        committed: bool,
        read: Read,
        render: Callable[[Statement], str],
        qr_codes: Any = None,
    ) -> Iterator[tuple[str, bytes]]:
        """Yield (snapshot file name, page bytes) for these customers (those with a live link), in order.

        ``read`` reads statements through the caller's connection (inside its
        transaction, if any) and ``render`` renders one. Each chunk is split:
        the helpers render a share while this process renders the rest, then
        writes the chunk before. For pages of ``committed`` changes the helpers
        read their share themselves, each chunk in one read transaction begun
        while the caller holds the ledger's write lock until it has taken every
        page, so no commit can come between this process's view and theirs. A
        change not yet committed only this process can see: it reads the
        helpers' share too and sends them what the pages show. The share adapts
        so that neither side waits for the other. The QR codes the helpers drew
        go to ``qr_codes`` (the caller's qr_cache.QrCodes, saved by its owner).
        """

        def pages(job) -> list[tuple[str, bytes]]:
            rendered, codes = job.get()
            if qr_codes is not None and codes:
                qr_codes.learn(codes)
            return rendered

        waiting: deque = deque()
        for start in range(0, len(customer_ids), HELPER_CHUNK):
            chunk = customer_ids[start : start + HELPER_CHUNK]
            theirs = round(len(chunk) * self.share)
            if committed:
                jobs = [self.pool.apply_async(_helper_read_render, (part,)) for part in self._split(chunk[:theirs])]
                mine = read(chunk[theirs:])
            else:
                statements = list(read(chunk))
                theirs = round(len(statements) * self.share)
                parts = self._split(statements[:theirs])
                jobs = [self.pool.apply_async(_helper_render, (_packed(part),)) for part in parts]
                mine = iter(statements[theirs:])
            done = [(snapshot, render(statement).encode("utf-8")) for snapshot, statement in mine]
            waiting.append((jobs, done))
            if len(waiting) > 1:
                jobs, done = waiting.popleft()
                if jobs:
                    # Done before they were needed: the helpers can take more; else this process waits: less.
                    step = HELPER_SHARE_STEP if all(job.ready() for job in jobs) else -HELPER_SHARE_STEP
                    self.share = min(HELPER_SHARE_MAX, max(HELPER_SHARE_MIN, self.share + step))
                for job in jobs:
                    yield from pages(job)
                yield from done
        while waiting:
            jobs, done = waiting.popleft()
            for job in jobs:
                yield from pages(job)
            yield from done

    def _split(self, items: list) -> list[list]:
        """``items`` in one consecutive part per helper (fewer if there are few), in order."""
        if not items:
            return []
        size = -(-len(items) // self.helpers)
        return [items[i : i + size] for i in range(0, len(items), size)]


def parallel_min_pages() -> int:
    """How many pages a run needs to share the work with helper processes (PARALLEL_MIN_PAGES,
    unless the environment sets PAYLINK_PARALLEL_MIN_PAGES, as tests do)."""
    try:
        return max(1, int(os.environ[PARALLEL_MIN_PAGES_ENV]))
    except (KeyError, ValueError):
        return PARALLEL_MIN_PAGES


@contextmanager
def helpers_for(site_root: Path, pages: int) -> Iterator[RenderHelpers | None]:
    """Lend helper processes for a run of ``pages`` pages if it is large enough to pay off (else None)."""
    helpers = min(MAX_HELPERS, (os.cpu_count() or 1) - 1)
    if pages < parallel_min_pages() or helpers < 1:
        yield None
        return
    import multiprocessing

    # spawn, not fork: `paylink watch` runs threads, and a forked copy of them is unsafe.
    context = multiprocessing.get_context("spawn")
    with context.Pool(helpers, initializer=_helper_start, initargs=(str(site_root), os.getpid())) as pool:
        yield RenderHelpers(pool, helpers)


# --- in the helper process ------------------------------------------------------

_helper_reader: tuple[sqlite3.Connection, Renderer] | None = None


def _helper_start(site_root: str, parent_pid: int) -> None:
    """Set up the helper process's reader and renderer (it writes no file); die with the parent."""
    global _helper_reader
    import signal

    from .orphans import die_with_parent

    die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    from .site import Site
    from .storage import connect_reader

    site = Site(Path(site_root))
    qr_codes = None
    if site.settings.pay:  # the site's QR cache, read only: the parent saves what the helpers drew
        from .qr_cache import QR_CACHE, QrCodes

        qr_codes = QrCodes(site.root / QR_CACHE)
    _helper_reader = (connect_reader(site.db_path), Renderer(site.settings, site.templates_dir, qr_codes=qr_codes))
    # From here on a helper's own failures go back to the parent with its results; what is left for
    # stderr is the pool's plumbing failing as a killed parent's pipes close: say nothing of it.
    sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 — for the helper's lifetime


def _new_codes(renderer: Renderer) -> list:
    """The QR codes this helper drew since it last sent some (for the parent's QR cache)."""
    return renderer.qr_codes.take_new() if renderer.qr_codes is not None else []


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


def _helper_render(packed: list[tuple]) -> tuple[list[tuple[str, bytes]], list]:
    """Render pages (``_packed`` statements) in the helper and return their bytes; the parent,
    holding the locks, writes them."""
    assert _helper_reader is not None, "_helper_start runs first"
    renderer = _helper_reader[1]
    entry = Entry._make
    pages = [
        (snapshot, renderer.page(Statement(name, balance, [entry(e) for e in entries], *rest)).encode("utf-8"))
        for snapshot, name, balance, entries, *rest in packed
    ]
    return pages, _new_codes(renderer)


def _helper_read_render(customer_ids: list[int]) -> tuple[list[tuple[str, bytes]], list]:
    """Read these customers' pages from the ledger as committed (one read transaction) and render them.

    The parent holds the write lock while it waits for them, so what is read
    here is what the parent's own transaction sees.
    """
    assert _helper_reader is not None, "_helper_start runs first"
    conn, renderer = _helper_reader
    conn.execute("BEGIN")
    try:
        statements = list(page_records.statements(conn, customer_ids))
    finally:
        conn.execute("COMMIT")
    pages = [(snapshot, renderer.page(statement).encode("utf-8")) for snapshot, statement in statements]
    return pages, _new_codes(renderer)
