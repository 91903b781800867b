"""The watcher: keeps ``build/`` current while other programs write the ledger or templates change.

watchdog wakes it on changes to the ledger files, ``paylink.toml`` and the
template folders (never ``build/``, whose churn would wake it for its own
work). A burst of events is let settle briefly, then one ``build`` runs: it
drains the rows that triggers recorded for any program's changes and
re-renders everything if templates or settings changed. ``PRAGMA
data_version`` tells another program's commit from the watcher's own, and a
one-second poll of it covers file systems that send no events.

A failed build (a full disk, a broken template) is reported once per distinct
failure and retried after a short backoff (0.25 s, doubling to at most 1 s),
so the pages catch up within a couple of seconds of the cause being fixed; a
success after a failure says so. Idle, the loop only wakes once a second.

Builds and pushes to the store go through the same acts as every command's
(``actions.build``, ``push_to_store``); a store out of reach is retried with a
growing pause (2 s doubling to 60 s).

Ctrl-C is the watcher's alone: a terminal sends SIGINT to every process of the
foreground job, helper processes of a large build too, and one still starting
up would die with a traceback before it could ignore it. So while watching,
SIGINT is ignored (a started program inherits that, and Python keeps it) and
blocked; one thread takes it with sigwait (Linux queues a blocked signal even
when it is ignored) and interrupts the main thread, which stops the build and
its helpers (the pool terminates them).
"""

import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..render import builtin_templates_dir
from ..site import DB_FILE, SETTINGS_FILE, Site
from .site import build
from .workspace import Workspace, push_to_store, store_behind

SETTLE_S = 0.2  # quiet time that ends a burst of events
MAX_WAIT_S = 0.8  # a steady stream of events still gets a build this often
POLL_S = 1.0
RETRY_FIRST_S = 0.25  # the first retry of a failed build; doubled up to RETRY_MAX_S
RETRY_MAX_S = 1.0
STORE_RETRY_FIRST_S, STORE_RETRY_MAX_S = 2.0, 60.0  # pauses between tries of a store out of reach

Report = Callable[[str, str], None]


def watch(ws: Workspace, report: Report, *, stop: threading.Event | None = None) -> None:
    """``paylink watch``: check the site's ledger as every command does, report ("watching", the site's folder),
    then keep ``build/`` current until ``stop`` is set (or KeyboardInterrupt), reporting ("built"|"error", text)
    as it goes.
    """
    ws.conn  # noqa: B018 — the same checks as every command (the ledger's currency) before watching
    report("watching", str(ws.site.root))
    _watch_until_stopped(ws.site, report, stop=stop)


def _watch_until_stopped(site: Site, report: Report, *, stop: threading.Event | None = None) -> None:
    """Watch until ``stop`` is set (or KeyboardInterrupt); report ("built"|"error", text) as it goes."""
    # Before any thread starts (watchdog starts some as soon as a folder is scheduled).
    with _ctrl_c_for_this_process_only():
        _watch_site(site, report, stop=stop)


def _watch_site(site: Site, report: Report, *, stop: threading.Event | None) -> None:
    from watchdog.events import FileSystemEventHandler
    from watchdog.observers import Observer

    stop = stop or threading.Event()
    wake = threading.Event()
    looks_changed = threading.Event()  # templates or settings may have changed
    ledger_names = {DB_FILE, f"{DB_FILE}-wal", f"{DB_FILE}-journal"}
    template_dirs = [site.templates_dir, builtin_templates_dir()]

    class Handler(FileSystemEventHandler):
        def on_any_event(self, event) -> None:
            if event.event_type in ("opened", "closed_no_write"):
                return
            for raw in (event.src_path, getattr(event, "dest_path", "") or ""):
                if not raw:
                    continue
                path = Path(raw)
                if path.name in ledger_names and path.parent == site.root:
                    wake.set()
                elif path.name == SETTINGS_FILE and path.parent == site.root:
                    looks_changed.set()
                    wake.set()
                elif any(path == d or d in path.parents for d in template_dirs) and "__pycache__" not in path.parts:
                    looks_changed.set()
                    wake.set()

    observer = Observer()
    handler = Handler()
    observer.schedule(handler, str(site.root), recursive=False)
    watched: set[Path] = set()

    def watch_templates() -> None:
        for folder in template_dirs:
            if folder not in watched and folder.is_dir():
                observer.schedule(handler, str(folder), recursive=True)
                watched.add(folder)

    watch_templates()
    observer.start()
    conn = site.open_ledger()
    store_retry = _StoreRetry(site, conn, report)  # with `publish` set: send the queue, retry while unreachable
    try:
        last_version = None
        failure: str | None = None  # the last build's error, while builds keep failing
        retry_s = RETRY_FIRST_S
        while not stop.is_set():
            version = _data_version(conn)
            if version != last_version or looks_changed.is_set() or failure is not None:
                looks_changed.clear()
                last_version = version
                watch_templates()  # a site_templates/ folder may have appeared
                error = _build_once(site, conn, report, failed_before=failure is not None)
                if error is None:
                    failure, retry_s = None, RETRY_FIRST_S
                else:
                    if error != failure:
                        report("error", error)  # once per distinct failure, not once per retry
                    else:
                        retry_s = min(retry_s * 2, RETRY_MAX_S)
                    failure = error
            store_retry()
            woke = wake.wait(POLL_S if failure is None else retry_s)
            if woke:
                _settle(wake)
    finally:
        observer.stop()
        observer.join(timeout=5)
        conn.close()


# The signal that carries Ctrl-C to the main thread alone (never sent to another process).
_RELAY = signal.SIGUSR1


@contextmanager
def _ctrl_c_for_this_process_only() -> Iterator[None]:
    """Within the block, Ctrl-C (SIGINT) raises KeyboardInterrupt in the main thread as usual, but the
    programs started meanwhile (a build's helper processes) ignore it (see the module's docstring).

    Only in the main thread on Linux, and while no other thread runs: a thread started earlier would
    not block SIGINT and would take (and, ignoring it, lose) a Ctrl-C. Otherwise the block runs as it is.
    """
    if (
        threading.current_thread() is not threading.main_thread()
        or threading.active_count() > 1
        or not sys.platform.startswith("linux")
    ):
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    # multiprocessing starts its resource tracker with SIGINT blocked and then unblocks SIGINT in
    # the calling thread, which would leave the main thread ignoring Ctrl-C: start it now, before
    # the block, so a build's helper pool finds it running.
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()
    main = threading.get_ident()
    done = threading.Event()
    # Blocked before anything else: every thread started from here on inherits the mask, so
    # none of them takes (and, ignoring it, loses) a Ctrl-C meant for the relay.
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    previous_relay = signal.signal(_RELAY, interrupt)
    previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)

    def relay() -> None:
        while True:
            signal.sigwait({signal.SIGINT})
            if done.is_set():
                return
            signal.pthread_kill(main, _RELAY)

    relayer = threading.Thread(target=relay, name="paylink-ctrl-c", daemon=True)
    relayer.start()
    try:
        yield
    finally:
        done.set()
        if relayer.ident is not None and relayer.is_alive():
            try:
                signal.pthread_kill(relayer.ident, signal.SIGINT)  # wakes the relay thread to end
            except OSError:
                pass  # it ended already (a Ctrl-C came in meanwhile)
        relayer.join(timeout=1)
        signal.signal(signal.SIGINT, previous_int)
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        signal.signal(_RELAY, previous_relay)


def _settle(wake: threading.Event) -> None:
    """Wait for a burst of events to go quiet, but not longer than MAX_WAIT_S."""
    deadline = time.monotonic() + MAX_WAIT_S
    while time.monotonic() < deadline:
        wake.clear()
        if not wake.wait(min(SETTLE_S, max(0.0, deadline - time.monotonic()))):
            return


def _data_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA data_version").fetchone()[0]


def _build_once(site: Site, conn: sqlite3.Connection, report: Report, *, failed_before: bool = False) -> str | None:
    """Run one build with freshly read settings; return what went wrong (never raise), or None."""
    try:
        result = build(Workspace.over(Site(site.root), conn), push=False)
    except Exception as exc:  # keep watching and retrying: the cause may be fixed any moment
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        return f"build failed: {exc}"
    if result.written or result.removed or failed_before:
        again = " Pages are current again." if failed_before else ""
        report("built", f"Wrote {result.written} page(s), removed {result.removed}.{again}")
    return None


class _StoreRetry:
    """With ``publish`` set: sends what builds left queued, and retries a store out of reach with a growing pause."""

    def __init__(self, site: Site, conn: sqlite3.Connection, report: Report):
        self.site = site
        self.conn = conn
        self.report = report
        self.pause = 0.0
        self.next_try = 0.0

    def __call__(self) -> None:
        if time.monotonic() < self.next_try:
            return
        ws = Workspace.over(Site(self.site.root), self.conn)  # settings read fresh, like the builds
        try:  # the queue fills only while `publish` is set: an idle watch reads one count a second
            if not store_behind(ws):
                return
        except Exception:  # noqa: BLE001 — broken settings or a busy ledger: the build reports it
            return
        push_to_store(ws)
        if not ws.warnings:
            if self.pause:
                self.report("built", "The publish store is up to date again.")
            self.pause, self.next_try = 0.0, 0.0
        else:
            if not self.pause:
                self.report("error", ws.warnings[0])
            self.pause = min(STORE_RETRY_MAX_S, max(STORE_RETRY_FIRST_S, self.pause * 2))
            self.next_try = time.monotonic() + self.pause
