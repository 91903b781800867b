"""`paylink build` (CONTRACT §2, §3, §5): build/ matches the ledger, a crash's leftovers are repaired,
template and settings changes re-render every page, and build/ never holds a secret.
"""

import hashlib
import os
import shutil
import stat
import subprocess
from contextlib import closing
from pathlib import Path

import pytest
from conftest import PAYLINK, Paylink
from paylink import site_templates
from sitepages import (
    all_snapshots,
    build_files,
    insert_entry,
    ledger,
    live_snapshot,
    nonces,
    page_names,
    parse,
    pending_customers,
    read_page,
    snapshot_path,
    temp_leftovers,
    text_of,
    token_of,
)

BUILTIN = Path(site_templates.__file__).parent


def customer(paylink: Paylink, name: str, charge: str | None = "10.00", *, link: bool = True) -> int:
    customer_id = paylink.json("customer", "add", name)["id"]
    if charge:
        paylink.ok("charge", str(customer_id), charge, "Work")
    if link:
        paylink.ok("link", "generate", str(customer_id))
    return customer_id


@pytest.fixture
def three(paylink: Paylink) -> list[int]:
    """Three customers with live links (and one without a link, who has no page)."""
    ids = [customer(paylink, n) for n in ("Ann", "Ben", "Cat")]
    customer(paylink, "Dee", link=False)
    return ids


# --- the report ------------------------------------------------------------------


def test_build_json_reports_written_and_removed(paylink, site, three):
    result = paylink.json("build")
    assert set(result) == {"written", "removed"}
    assert all(type(v) is int for v in result.values())


def test_noop_build_writes_nothing(paylink, site, three):
    paylink.ok("build")
    before = build_files(site)
    assert paylink.json("build") == {"written": 0, "removed": 0}
    assert build_files(site) == before


def test_pages_exist_once_posting_commands_return(paylink, site, three):
    assert set(page_names(site)) == {live_snapshot(site, c) for c in three}
    assert text_of(read_page(site, three[0]), "#balance") == "$10.00"


def test_full_build_writes_one_page_per_live_link(paylink, site, three):
    gone = customer(paylink, "Eve")
    paylink.ok("link", "revoke", str(gone), "--yes")
    assert paylink.json("build", "--full") == {"written": 3, "removed": 0}
    assert set(page_names(site)) == {live_snapshot(site, c) for c in three}
    assert temp_leftovers(site) == []


def test_full_build_restores_a_deleted_page(paylink, site, three):
    path = snapshot_path(site, three[1])
    path.unlink()
    assert paylink.json("build", "--full")["written"] == 3
    assert text_of(parse(path.read_text(encoding="utf-8")), "#balance") == "$10.00"


def test_plain_build_restores_a_deleted_page(paylink, site, three):
    path = snapshot_path(site, three[1])
    path.unlink()
    paylink.ok("build")
    assert path.is_file()


def test_plain_build_after_build_folder_was_deleted_writes_every_page(paylink, site, three):
    shutil.rmtree(site / "build")
    assert paylink.json("build")["written"] == 3
    assert set(page_names(site)) == {live_snapshot(site, c) for c in three}


# --- repairing what a crash left -------------------------------------------------------


def test_build_removes_leftover_temp_files(paylink, site, three):
    leftovers = [
        site / "build" / "p" / ".tmp-k3j4h5",
        site / "build" / ".tmp-x8y9z0",
        site / "build" / "assets" / ".tmp-a1b2",
    ]
    for path in leftovers:
        path.write_bytes(b"<html>half a page")
    live = snapshot_path(site, three[0])
    before = live.read_bytes()
    paylink.ok("build")
    assert [p for p in leftovers if p.exists()] == []
    assert live.read_bytes() == before


def test_build_removes_a_page_whose_link_is_not_live(paylink, site, three):
    orphan = site / "build" / "p" / ("0123456789abcdef" * 2 + ".html")
    orphan.write_text("<!doctype html><p>old page</p>", encoding="utf-8")
    result = paylink.json("build")
    assert result == {"written": 0, "removed": 1}
    assert not orphan.exists()
    assert set(page_names(site)) == {live_snapshot(site, c) for c in three}


def test_build_removes_page_of_a_link_retired_before_a_crash(paylink, site, three):
    """The ledger says revoked, the file is still there: what a crash between commit and unlink leaves."""
    path = snapshot_path(site, three[2])
    with closing(ledger(site)) as conn, conn:
        conn.execute(
            "UPDATE links SET retired_at = '2026-01-01T00:00:00Z', retired_because = 'revoked' WHERE customer_id = ?",
            (three[2],),
        )
    assert path.exists()
    assert paylink.json("build") == {"written": 0, "removed": 1}
    assert not path.exists()


def test_build_writes_page_for_entry_another_program_posted(paylink, site, three):
    path = snapshot_path(site, three[0])
    insert_entry(site, three[0], 250, "Added by the till")
    assert text_of(parse(path.read_text(encoding="utf-8")), "#balance") == "$10.00"  # nobody wrote it yet
    assert paylink.json("build") == {"written": 1, "removed": 0}
    soup = parse(path.read_text(encoding="utf-8"))
    assert text_of(soup, "#balance") == "$12.50"
    assert soup.select_one("details#recent-charges tbody tr td:nth-of-type(2)").get_text() == "Added by the till"
    assert paylink.json("build") == {"written": 0, "removed": 0}


def test_entry_for_customer_without_link_writes_no_page(paylink, site, three):
    dee = paylink.json("customer", "show", "4")["id"]
    insert_entry(site, dee, 100, "Walk-in")
    assert paylink.json("build") == {"written": 0, "removed": 0}
    assert len(page_names(site)) == 3


# --- templates and settings --------------------------------------------------------


def test_changed_template_rerenders_every_page_with_new_asset(paylink, site, three):
    paylink.ok("build")
    old_css = {n for n in os.listdir(site / "build" / "assets") if n.endswith(".css")}
    override = site / "site_templates"
    override.mkdir()
    css = (BUILTIN / "paylink.css").read_bytes() + b"\n.site-header { letter-spacing: 0.01em; }\n"
    (override / "paylink.css").write_bytes(css)

    assert paylink.json("build")["written"] == 3

    new_href = f"/assets/paylink.{hashlib.sha256(css).hexdigest()[:16]}.css"
    assert (site / "build" / new_href.lstrip("/")).read_bytes() == css
    for customer_id in three:
        hrefs = [link["href"] for link in read_page(site, customer_id).select('link[rel="stylesheet"]')]
        assert hrefs == [new_href]
    for name in ("404.html", "410.html"):
        soup = parse((site / "build" / name).read_text(encoding="utf-8"))
        assert [link["href"] for link in soup.select('link[rel="stylesheet"]')] == [new_href]
    assert not any((site / "build" / "assets" / n).exists() for n in old_css)
    assert paylink.json("build") == {"written": 0, "removed": 0}


def test_changed_page_template_rerenders_every_page(paylink, site, three):
    override = site / "site_templates"
    override.mkdir()
    page = (BUILTIN / "page.html").read_text(encoding="utf-8")
    assert "Amount due" in page
    (override / "page.html").write_text(page.replace("Amount due", "Amount owing"), encoding="utf-8")
    assert paylink.json("build")["written"] == 3
    for customer_id in three:
        assert "Amount owing" in read_page(site, customer_id).get_text()


def test_changed_settings_rerender_every_page(paylink, site, three):
    settings = site / "paylink.toml"
    text = settings.read_text(encoding="utf-8")
    assert 'name = "Test Plumbing"' in text
    settings.write_text(text.replace('name = "Test Plumbing"', 'name = "Best Plumbing"'), encoding="utf-8")
    assert paylink.json("build")["written"] == 3
    for customer_id in three:
        soup = read_page(site, customer_id)
        assert "Best Plumbing" in soup.get_text() and "Test Plumbing" not in soup.get_text()
    assert "Best Plumbing" in (site / "build" / "410.html").read_text(encoding="utf-8")
    assert paylink.json("build") == {"written": 0, "removed": 0}


# --- links ---------------------------------------------------------------------------


def test_rotate_replaces_the_page(paylink, site, three):
    old = snapshot_path(site, three[0])
    paylink.ok("link", "rotate", str(three[0]), "--yes")
    new = snapshot_path(site, three[0])
    assert new != old
    assert not old.exists()
    assert text_of(parse(new.read_text(encoding="utf-8")), "#balance") == "$10.00"
    assert temp_leftovers(site) == []


def test_revoke_removes_the_page(paylink, site, three):
    old = snapshot_path(site, three[0])
    paylink.ok("link", "revoke", str(three[0]), "--yes")
    assert not old.exists()
    assert live_snapshot(site, three[0]) is None
    assert set(page_names(site)) == {live_snapshot(site, c) for c in three[1:]}
    assert paylink.json("build") == {"written": 0, "removed": 0}


# --- the files themselves ------------------------------------------------------------------


def test_no_temp_file_is_left_after_any_command(paylink, site, tmp_path):
    csv = tmp_path / "entries.csv"
    commands = [
        ("customer", "add", "Ann"),
        ("link", "generate", "1"),
        ("charge", "1", "5.00", "Work"),
        ("credit", "1", "1.00", "Discount"),
        ("void", "2"),
        ("import", "entries", str(csv)),
        ("link", "rotate", "1", "--yes"),
        ("build",),
        ("build", "--full"),
        ("link", "revoke", "1", "--yes"),
        ("build",),
    ]
    csv.write_text("customer,kind,amount,description,date\n1,charge,2.00,Part,2025-01-01\n", encoding="utf-8")
    for args in commands:
        paylink.ok(*args)
        assert temp_leftovers(site) == [], args


def test_built_files_are_readable_by_others(paylink, site, three):
    paylink.ok("build", "--full")
    files = build_files(site)
    assert any(p.startswith("p/") for p in files) and any(p.startswith("assets/") for p in files)
    for rel in files:
        mode = stat.S_IMODE(os.stat(site / "build" / rel).st_mode)
        assert mode == 0o644, f"{rel} has mode {oct(mode)}"


def test_static_files_exist(paylink, site, three):
    build = site / "build"
    assert "Disallow: /" in (build / "robots.txt").read_text(encoding="utf-8")
    for name in ("404.html", "410.html"):
        soup = parse((build / name).read_text(encoding="utf-8"))
        assert soup.select('meta[name="robots"][content="noindex"]')
        assert "Test Plumbing" in soup.get_text()
    assert "new" in parse((build / "410.html").read_text(encoding="utf-8")).get_text().lower()


def test_build_holds_no_key_or_token(paylink, site, three):
    urls = [paylink.json("link", "show", str(c))["url"] for c in three]
    rotated = paylink.json("link", "rotate", str(three[0]), "--yes")["url"]
    paylink.ok("build", "--full")
    keys = [k.strip() for k in (site / "paylink.key").read_text(encoding="utf-8").splitlines() if k.strip()]
    assert keys
    secrets = keys + [token_of(u) for u in [*urls, rotated]] + [token_of(u).partition(".")[2] for u in [*urls, rotated]]
    secrets += nonces(site)
    assert len(secrets) == len(keys) + 12
    files = build_files(site)
    for rel, data in files.items():
        for secret in secrets:
            assert secret.encode() not in data, f"{rel} contains a secret"
            assert secret not in rel
    assert not (site / "build" / "paylink.key").exists()
    assert set(p.rpartition("/")[2] for p in files if p.startswith("p/")) <= set(all_snapshots(site))


# --- several writers at once --------------------------------------------------------------


def test_concurrent_writers_leave_every_page_current(paylink, site, three):
    """Posting commands and builds all at once: when they are done every page is current, with no build after."""
    # Another program's entries wait in the ledger; the commands below pick them up as they go.
    for i in range(3):
        insert_entry(site, three[i], 100, f"Till {i}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYLINK_")}
    commands = [("charge", str(three[i % 3]), "1.00", f"Job {i}") for i in range(6)] + [("build", "--full"), ("build",)]
    procs = [
        subprocess.Popen(
            [PAYLINK, "--site", str(site), *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        for args in commands
    ]
    failures = []
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        if proc.returncode != 0:
            failures.append(err.decode())
    assert failures == []
    for customer_id in three:
        soup = read_page(site, customer_id)
        assert text_of(soup, "#balance") == "$13.00"  # 10 + 1 from the till + 2 x 1
        assert len(soup.select("details#recent-charges tbody tr")) == 4
    assert temp_leftovers(site) == []
    assert pending_customers(site) == []
    assert paylink.json("build") == {"written": 0, "removed": 0}


def test_posting_commands_alone_leave_every_page_current(paylink, site, three):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYLINK_")}
    procs = [
        subprocess.Popen(
            [PAYLINK, "--site", str(site), "charge", str(three[0]), "0.50", f"Job {i}"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for i in range(8)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
    # No build here: the commands themselves must leave the newest page in place.
    assert text_of(read_page(site, three[0]), "#balance") == "$14.00"
    assert len(read_page(site, three[0]).select("details#recent-charges tbody tr")) == 9


def test_early_writeback_threads_end_with_their_batch(site: Path, tmp_path: Path):
    """A build starts the disk on its pages in a background thread every WRITEBACK_EVERY pages;
    no such thread outlives the build, and the build still writes every page."""
    import threading

    from paylink import actions
    from paylink.pages import WRITEBACK_EVERY

    count = WRITEBACK_EVERY * 2 + 10
    customers = tmp_path / "customers.csv"
    customers.write_text("name,email,phone,ref\n" + "".join(f"C {i},,,w{i}\n" for i in range(count)), "utf-8")
    paylink = Paylink(site)
    paylink.ok("import", "customers", str(customers))
    paylink.ok("link", "generate", "--all")
    shutil.rmtree(site / "build" / "p")  # so the build writes every page (unchanged ones it leaves alone)
    started = []
    real_start = threading.Thread.start

    def start(thread: threading.Thread) -> None:
        started.append(thread)
        real_start(thread)

    threading.Thread.start = start  # type: ignore[method-assign]
    try:
        with actions.Workspace.find(str(site)) as ws:
            result = actions.build(ws, full=True)
    finally:
        threading.Thread.start = real_start  # type: ignore[method-assign]
    assert result.written >= count
    writebacks = [t for t in started if t.name == "paylink-writeback"]
    assert writebacks, "a build of this many pages should have started the disk early"
    assert not [t for t in writebacks if t.is_alive()]


@pytest.mark.parametrize(
    "old, new",
    [
        (None, b"<p>page</p>"),  # no file yet
        (b"", b""),  # both empty
        (b"", b"x"),
        (b"<p>$10.00</p>", b"<p>$10.00</p>"),  # the same bytes: left alone
        (b"<p>$10.00</p>", b"<p>$10.01</p>"),  # the same size, other bytes: read and compared
        (b"<p>$10.00</p>", b"<p>$100.00</p>"),  # another size: told by stat alone
        (b"<p>$100.00</p>", b"<p>$10.00</p>"),
        (b"a" * 70_000, b"a" * 69_999 + b"b"),  # larger than one read may return
    ],
)
def test_a_page_is_rewritten_exactly_when_its_bytes_differ(tmp_path, old, new):
    """write_if_changed (a build's pages) and Staged.add (a posting's) agree with a plain comparison of
    the bytes, and a page left alone keeps its file (inode and mtime)."""
    from paylink import snapshots

    for stage in (False, True):
        folder = tmp_path / f"p{stage}"
        folder.mkdir()
        page = folder / "page.html"
        if old is not None:
            page.write_bytes(old)
        before = page.stat() if old is not None else None
        if stage:
            staged = snapshots.Staged()
            wrote = staged.add(folder, "page.html", new)
            staged.put_in_place()
        else:
            wrote = snapshots.write_if_changed(folder, "page.html", new)
        assert wrote == (old != new)
        assert page.read_bytes() == new
        if not wrote:
            after = page.stat()
            assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
