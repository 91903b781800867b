"""Promises that once had no guard (issue 8): each test here fails when its promise is broken.

- ``watch`` keeps no renderer alive from one build to the next;
- the ledger is opened with ``synchronous=FULL`` and WAL;
- a page is replaced whole (a new file, ``os.replace``), and a failed replace leaves the old page and no temp file;
- pending-page rows survive a sync that fails;
- tokens already sent to customers keep working: pinned vectors (tests/vectors/tokens.json) against
  today's signing code and the real edge over HTTP;
- ``watch`` is idle (CPU from /proc) once a change is built;
- an import longer than one insert chunk is still all or nothing.
"""

import errno
import gc
import json
import os
import signal
import subprocess
import time
from contextlib import closing
from pathlib import Path

import pytest
from conftest import PAYLINK, Paylink
from edgeserver import clean_env, default_sigint, request, running_edge
from paylink import imports, layout, snapshots, storage
from paylink.actions import Workspace, build
from paylink.actions.watch import _build_once
from paylink.render import Renderer
from paylink.site import Site
from paylink.tokens import LINK_SALT, LinkSigner
from sitepages import balance_text, insert_entry, ledger, pending_customers, snapshot_path, temp_leftovers

VECTORS = Path(__file__).resolve().parent / "vectors"
TOKENS = json.loads((VECTORS / "tokens.json").read_text(encoding="utf-8"))
PATHS = json.loads((VECTORS / "paths.json").read_text(encoding="utf-8"))


def customer_with_link(paylink: Paylink, name: str = "Jane Doe", charge: str = "10.00") -> int:
    customer_id = paylink.json("customer", "add", name)["id"]
    paylink.ok("charge", str(customer_id), charge, "Drain repair")
    paylink.ok("link", "generate", str(customer_id))
    return customer_id


# --- watch: no renderer outlives its build ------------------------------------------------


def test_many_builds_in_one_process_keep_no_renderer_alive(paylink, site):
    """`watch` builds with a new page writer (and renderer) per change; none may outlive its build."""
    customer_id = customer_with_link(paylink)
    reports: list[tuple[str, str]] = []
    the_site = Site(site)
    with closing(the_site.open_ledger()) as conn:
        _build_once(the_site, conn, lambda kind, text: reports.append((kind, text)))  # warm every cache first
        before = renderers_alive()
        for i in range(30):
            insert_entry(site, customer_id, 100 + i, f"Visit {i}", posted_at=f"2025-03-{i % 28 + 1:02d}T10:00:00Z")
            _build_once(the_site, conn, lambda kind, text: reports.append((kind, text)))  # what watch runs per change
        after = renderers_alive()
    assert reports == [("built", "Wrote 1 page(s), removed 0.")] * 30  # every build rendered the page
    assert balance_text(site, customer_id) == "$44.35"  # 10.00 + 1.00 + 1.01 + ... + 1.29
    assert after <= before, f"{after - before} renderers outlived their builds"


def renderers_alive() -> int:
    gc.collect()
    return sum(isinstance(o, Renderer) for o in gc.get_objects())


# --- the ledger's pragmas ---------------------------------------------------------------------


def test_the_ledger_is_opened_with_full_sync_and_wal(site, tmp_path):
    """synchronous=FULL (2): a committed entry survives a power cut; WAL: readers never wait."""
    for conn in (storage.connect(site / "paylink.db"), Site(site).open_ledger(), storage.connect(tmp_path / "new.db")):
        with closing(conn):
            assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


# --- pages are replaced whole ---------------------------------------------------------------------


def test_a_rewritten_page_is_a_new_file_and_a_reader_keeps_the_old_one_whole(paylink, site):
    customer_id = customer_with_link(paylink)
    page = snapshot_path(site, customer_id)
    old_bytes = page.read_bytes()
    old_inode = page.stat().st_ino
    with open(page, "rb") as reader:  # the edge, mid-request, when the page changes
        paylink.ok("charge", str(customer_id), "5.00", "Call-out")
        assert reader.read() == old_bytes
    assert page.read_bytes() != old_bytes and balance_text(site, customer_id) == "$15.00"
    assert page.stat().st_ino != old_inode
    assert temp_leftovers(site) == []


def test_a_failing_replace_leaves_what_was_there_and_no_temp_file(tmp_path):
    """os.replace cannot put a file where a non-empty folder is: nothing may change or be left behind."""
    folder = tmp_path / "p"
    (folder / "page.html").mkdir(parents=True)
    (folder / "page.html" / "inside").write_bytes(b"OLD")
    with pytest.raises(OSError):
        snapshots.write_atomic(folder, "page.html", b"NEW PAGE")
    assert os.listdir(folder) == ["page.html"]
    assert (folder / "page.html" / "inside").read_bytes() == b"OLD"


def test_a_page_that_cannot_be_replaced_keeps_its_old_bytes_and_leaves_no_temp_file(paylink, site):
    """An immutable page file (chattr +i: even root cannot replace it) stands for a replace the OS refuses."""
    customer_id = customer_with_link(paylink)
    page = snapshot_path(site, customer_id)
    old_bytes = page.read_bytes()
    if subprocess.run(["chattr", "+i", str(page)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available on this file system")
    try:
        with pytest.raises(PermissionError):
            snapshots.write_atomic(page.parent, page.name, b"NEW PAGE")
        assert page.read_bytes() == old_bytes
        assert temp_leftovers(site) == []
    finally:
        subprocess.run(["chattr", "-i", str(page)], check=True)


# --- pending rows outlive a failed sync ----------------------------------------------------------


def test_pending_pages_survive_a_failing_sync(paylink, site, monkeypatch):
    """The rows saying which pages to rewrite are deleted only after the files are synced."""
    customer_id = customer_with_link(paylink)
    insert_entry(site, customer_id, 500, "Another program's charge")  # the trigger records the page as pending
    assert pending_customers(site) == [customer_id]

    # A fake of the OS (a disk failing under us): syncfs and sync report an I/O error.
    def failing_syncfs(fd: int) -> int:
        raise OSError(errno.EIO, "Input/output error (fake syncfs)")

    def failing_sync() -> None:
        raise OSError(errno.EIO, "Input/output error (fake sync)")

    monkeypatch.setattr(snapshots, "_libc_syncfs", failing_syncfs)
    monkeypatch.setattr(os, "sync", failing_sync)
    with Workspace(Site(site)) as ws, pytest.raises(OSError, match="fake sync"):
        build(ws)
    monkeypatch.undo()
    assert pending_customers(site) == [customer_id]

    paylink.ok("build")  # the disk is back: the next build catches up
    assert pending_customers(site) == []
    assert balance_text(site, customer_id) == "$15.00"


def test_a_sync_that_returns_an_error_is_not_papered_over(paylink, site, monkeypatch):
    """syncfs reports failure by returning -1 with errno set, as libc does: that must stop the build
    before it clears its bookkeeping, not fall back to a sync() that cannot report anything."""
    import ctypes

    customer_id = customer_with_link(paylink)
    insert_entry(site, customer_id, 500, "Another program's charge")

    def syncfs_reporting_eio(fd: int) -> int:  # a fake of the OS, as libc's syncfs fails
        ctypes.set_errno(errno.EIO)
        return -1

    monkeypatch.setattr(snapshots, "_libc_syncfs", syncfs_reporting_eio)
    with Workspace(Site(site)) as ws, pytest.raises(OSError):
        build(ws)
    monkeypatch.undo()
    assert pending_customers(site) == [customer_id]


# --- pinned token vectors: the signing code and the real edge ------------------------------------


def signed_cases() -> list[dict]:
    return [case for case in TOKENS["cases"] if case["signing_key"]]


def test_the_vectors_cover_every_kind_of_link():
    names = {case["name"] for case in TOKENS["cases"]}
    assert {"live", "rotated", "revoked", "forged", "foreign-key", "malformed-truncated"} <= names
    assert {"malformed-padded", "malformed-bad-chars"} <= names
    assert {case["status"] for case in TOKENS["cases"]} == {200, 404, 410}
    for case in TOKENS["cases"]:
        assert case["path"] == f"/p/{case['token']}"
        assert (case["snapshot"] is not None) == (case["status"] == 200)


def test_todays_signing_code_signs_to_the_pinned_tokens():
    """A changed salt, digest or key derivation would break every link already sent: the pins catch it."""
    assert LINK_SALT == TOKENS["salt"]
    keys = TOKENS["keys"]
    for case in signed_cases():
        assert LinkSigner([case["signing_key"]]).sign(case["nonce"]) == case["token"], case["name"]
    live = next(case for case in TOKENS["cases"] if case["name"] == "live")
    assert LinkSigner(keys).sign(live["nonce"]) == live["token"]  # the newest key (last) signs
    for case in TOKENS["cases"]:
        if case["snapshot"]:
            assert layout.snapshot_name(case["nonce"]) == case["snapshot"], case["name"]


def test_todays_verifier_accepts_exactly_the_pinned_good_tokens():
    signer = LinkSigner(TOKENS["keys"])
    for case in TOKENS["cases"]:
        expected = case["nonce"] if case["status"] in (200, 410) else None
        assert signer.verify(case["token"]) == expected, case["name"]


@pytest.fixture(scope="module")
def vector_edge(tmp_path_factory):
    """The real edge serving a build/ holding the snapshots of the vectors' live links."""
    root = tmp_path_factory.mktemp("vectors")
    build_dir = root / layout.BUILD_DIR
    (build_dir / layout.SNAPSHOT_DIR).mkdir(parents=True)
    (build_dir / layout.NOT_FOUND_PAGE).write_bytes(b"<!doctype html><p>NOT-FOUND-PAGE</p>\n")
    (build_dir / layout.GONE_PAGE).write_bytes(b"<!doctype html><p>GONE-PAGE</p>\n")
    (build_dir / layout.ROBOTS).write_bytes(b"User-agent: *\nDisallow: /\n")
    (root / "secret.txt").write_bytes(b"CANARY-secret")
    (root / "paylink.key").write_text("\n".join(TOKENS["keys"]) + "\n")
    bodies = {}
    for case in TOKENS["cases"]:
        if case["snapshot"]:
            bodies[case["name"]] = f"<!doctype html><p>SNAPSHOT {case['name']}</p>\n".encode()
            (build_dir / layout.SNAPSHOT_DIR / case["snapshot"]).write_bytes(bodies[case["name"]])
    with running_edge(build_dir, TOKENS["keys"], root / "edge.log") as server:
        yield server, build_dir, bodies


@pytest.mark.parametrize("case", TOKENS["cases"], ids=[case["name"] for case in TOKENS["cases"]])
def test_the_edge_answers_each_pinned_token_with_its_status(vector_edge, case):
    server, build_dir, bodies = vector_edge
    resp = request(server.port, case["path"])
    assert resp.status == case["status"]
    if case["status"] == 200:
        assert resp.body == bodies[case["name"]]
    else:
        page = layout.GONE_PAGE if case["status"] == 410 else layout.NOT_FOUND_PAGE
        assert resp.body == (build_dir / page).read_bytes()


def test_the_edge_answers_the_hostile_path_vectors_with_404(vector_edge):
    server, build_dir, _ = vector_edge
    live = next(case for case in TOKENS["cases"] if case["name"] == "live")
    fill = {"{token}": live["token"], "{snapshot}": live["snapshot"]}
    fill["{snapshot_stem}"] = live["snapshot"].removesuffix(".html")
    not_found = (build_dir / layout.NOT_FOUND_PAGE).read_bytes()
    failures = []
    for case in PATHS["cases"]:
        path = case["path"]
        for placeholder, value in fill.items():
            path = path.replace(placeholder, value)
        resp = request(server.port, path.encode("latin-1"))
        if resp.status != case["status"] or resp.body != not_found:
            failures.append((path[:80], resp.status))
        assert b"CANARY" not in resp.raw and b"SNAPSHOT" not in resp.raw
    assert failures == []


# --- watch is idle once a change is built ------------------------------------------------------------


def wait_for(what: str, check, timeout: float = 10.0) -> None:
    """Poll check() until true, or fail after timeout."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout:.0f} s for {what}")
        time.sleep(0.02)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process (all its threads), from /proc/PID/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "; fields[0] is field 3, the state
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def test_watch_uses_almost_no_cpu_while_idle_after_a_change(paylink, site, tmp_path):
    customer_id = customer_with_link(paylink)
    log = tmp_path / "watch.log"
    env = clean_env()
    with open(log, "wb") as err:
        watch = subprocess.Popen(
            [PAYLINK, "--site", str(site), "watch"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=env,
            preexec_fn=default_sigint,
        )
    try:
        wait_for("`Watching` on stderr", lambda: "Watching" in log.read_text() or watch.poll() is not None)
        assert watch.poll() is None, log.read_text()
        insert_entry(site, customer_id, 250, "Another program's charge")
        wait_for("the page to show the change", lambda: balance_text(site, customer_id) == "$12.50")
        time.sleep(1.0)  # let the burst that woke it end
        before = cpu_seconds(watch.pid)
        time.sleep(2.0)
        used = cpu_seconds(watch.pid) - before
        assert watch.poll() is None, log.read_text()
        assert used < 0.2, f"watch used {used:.2f} s of CPU in 2 s with nothing to do"
    finally:
        if watch.poll() is None:
            watch.send_signal(signal.SIGINT)
        try:
            watch.wait(timeout=10)
        except subprocess.TimeoutExpired:
            watch.kill()
            watch.wait(timeout=10)


# --- an import is all or nothing, however many chunks it takes ------------------------------------------


def test_an_import_longer_than_one_chunk_with_a_bad_last_row_leaves_nothing(paylink, site, tmp_path, monkeypatch):
    monkeypatch.setattr(imports, "IMPORT_CHUNK", 10)  # a 35-row file then takes four chunks
    paylink.ok("customer", "add", "Jane Doe", "--ref", "JANE")
    good = ["customer,kind,amount,description,date"] + [
        f"JANE,charge,1.{i:02d},Visit {i},2025-03-01" for i in range(35)
    ]
    bad = tmp_path / "entries.csv"
    bad.write_text("\n".join([*good, "JANE,charge,abc,Last visit,2025-03-01"]) + "\n", encoding="utf-8")
    result = paylink.fails("import", "entries", str(bad))
    assert result.stderr.startswith("Error: entries.csv line 37: ")
    with closing(ledger(site)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0] == 0

    fine = tmp_path / "fine.csv"
    fine.write_text("\n".join(good) + "\n", encoding="utf-8")
    paylink.ok("import", "entries", str(fine))  # the same rows without the bad one: every chunk lands
    with closing(ledger(site)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0] == 35
