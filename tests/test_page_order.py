"""The order of a posting's steps (CONTRACT §5): it waits for the site's page lock, its staged pages
are on disk (fsynced) before its COMMIT, and another program's commit between that COMMIT and the
tidying up still reaches the page.

Run on real sites with the real actions; the only instrumentation is a recording wrapper around
os.fsync and SQLite's own statement trace, both calling through.
"""

import fcntl
import os
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

from conftest import PAYLINK, Paylink
from paylink import actions, snapshots
from paylink.page_lock import LOCK_FILE
from paylink.pages import PageWriter
from sitepages import balance_text, insert_entry, ledger

WAIT_S = 30


def entry_count(site: Path) -> int:
    with closing(ledger(site)) as conn:
        return conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0]


def test_a_charge_waits_for_the_page_lock(site: Path, paylink: Paylink):
    jane = paylink.json("customer", "add", "Jane", "--ref", "jane")["id"]
    paylink.ok("link", "generate", "jane")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYLINK_")}
    fd = os.open(site / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # another page writer at work
        charge = subprocess.Popen(
            [PAYLINK, "--site", str(site), "charge", "jane", "12.50", "Valve"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        time.sleep(2.5)  # time enough for a charge that does not wait to be done
        assert charge.poll() is None, "the charge did not wait for the page lock"
        assert entry_count(site) == 0
    finally:
        os.close(fd)  # releases the lock
    _, err = charge.communicate(timeout=WAIT_S)
    assert charge.returncode == 0, err
    assert balance_text(site, jane) == "$12.50"


def test_staged_pages_are_fsynced_before_the_commit(site: Path, paylink: Paylink, monkeypatch):
    paylink.json("customer", "add", "Jane", "--ref", "jane")
    paylink.ok("link", "generate", "jane")
    events: list[tuple[str, str]] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    with actions.Workspace.find(str(site)) as ws:
        ws.conn.set_trace_callback(lambda statement: events.append(("sql", statement.strip().upper())))
        actions.post_entry(ws, "jane", 1250, "Valve")
        ws.conn.set_trace_callback(None)
    commit = events.index(("sql", "COMMIT"))
    staged = [i for i, (kind, path) in enumerate(events) if kind == "fsync" and "/build/p/.tmp-" in path]
    assert staged, events
    assert staged[0] < commit, f"the staged page was not fsynced before the COMMIT: {events}"


def test_many_staged_pages_are_synced_before_the_commit(site: Path, paylink: Paylink, tmp_path: Path, monkeypatch):
    """More pages than FSYNC_EACH_MAX are made durable with one syncfs of their file system: before the COMMIT too."""
    import ctypes

    count = snapshots.FSYNC_EACH_MAX + 4
    customers = tmp_path / "customers.csv"
    customers.write_text("name\n" + "".join(f"Customer {i}\n" for i in range(count)), encoding="utf-8")
    paylink.ok("import", "customers", str(customers))
    events: list[tuple[str, str]] = []
    real_fsync, real_syncfs = os.fsync, ctypes.CDLL(None, use_errno=True).syncfs

    def recording_fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def recording_syncfs(fd: int) -> int:
        events.append(("syncfs", os.readlink(f"/proc/self/fd/{fd}")))
        return real_syncfs(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    monkeypatch.setattr(snapshots, "_libc_syncfs", recording_syncfs)
    with actions.Workspace.find(str(site)) as ws:
        ws.conn.set_trace_callback(lambda statement: events.append(("sql", statement.strip().upper())))
        given = actions.give_all_links(ws)  # one transaction: a page for each customer
        ws.conn.set_trace_callback(None)
    assert len(given) == count and len(os.listdir(site / "build" / "p")) == count
    commit = events.index(("sql", "COMMIT"))
    pages = str(site / "build" / "p")
    synced = [i for i, (kind, path) in enumerate(events) if kind == "syncfs" and path == pages]
    order = [event for event in events if event[0] != "sql" or event[1] == "COMMIT"]
    assert synced, f"no syncfs of build/p: {order}"
    assert synced[0] < commit, f"the staged pages were not synced before the COMMIT: {order}"


def test_a_commit_between_a_postings_commit_and_its_tidying_up_reaches_the_page(site: Path, paylink: Paylink):
    jane = paylink.json("customer", "add", "Jane", "--ref", "jane")["id"]
    paylink.ok("link", "generate", "jane")
    inserted: list[int] = []
    finish_code = PageWriter.finish.__code__

    def another_program_commits(frame, event, _arg) -> None:
        # When the posting has committed and starts to tidy up, another program posts for the same customer.
        if event == "call" and frame.f_code is finish_code and not inserted:
            inserted.append(insert_entry(site, jane, 700, "Entered by another program"))

    with actions.Workspace.find(str(site)) as ws:
        sys.setprofile(another_program_commits)
        try:
            actions.post_entry(ws, "jane", 1250, "Valve")
        finally:
            sys.setprofile(None)
    assert inserted, "the posting never reached PageWriter.finish"
    assert balance_text(site, jane) == "$19.50"
