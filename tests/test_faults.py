"""`Error:` means nothing was written (CONTRACT §2, §5) when paylink itself cannot finish: a read-only
`build/`, a full disk, a broken site template, a killed `build --full`; the database's own refusals;
file modes whatever the umask; and `watch` retrying a failed build.

Every failing command is checked the same way: exit status 1, one `Error:` line, no new ledger row,
every page byte for byte as before, no temp file left in `build/`.
"""

import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest
from conftest import Paylink, make_site
from processes import alive, children_of
from sitepages import build_files, insert_entry, ledger, snapshot_path, temp_leftovers

PAYLINK = shutil.which("paylink") or "paylink"
WAIT_S = 20.0  # the most any poll waits before a test fails


# --- what "nothing was written" means ---------------------------------------------


def ledger_rows(site: Path) -> dict[str, int]:
    """Row counts of the tables a command could change."""
    with closing(ledger(site)) as conn:
        return {
            "entries": conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0],
            "live links": conn.execute("SELECT COUNT(*) FROM links WHERE retired_at IS NULL").fetchone()[0],
            "links": conn.execute("SELECT COUNT(*) FROM links").fetchone()[0],
        }


def assert_nothing_written(site: Path, result, rows_before: dict, files_before: dict) -> None:
    assert result.exit_code == 1, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "nothing was changed" in lines[0]
    assert result.stdout == ""
    assert ledger_rows(site) == rows_before
    assert build_files(site) == files_before
    assert temp_leftovers(site) == []


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """A site with two customers with links (ann owes 10.00, entry 1), and a CSV of entries."""
    site = make_site(tmp_path / "site")
    pl = Paylink(site)
    pl.ok("customer", "add", "Ann Lee", "--ref", "ann")
    pl.ok("customer", "add", "Bo Diaz", "--ref", "bo")
    pl.ok("link", "generate", "--all")
    pl.ok("charge", "ann", "10", "Service call")
    (tmp_path / "entries.csv").write_text(
        "customer,kind,amount,description,date\nann,charge,5,Parts,\nbo,charge,7,Labour,\n", encoding="utf-8"
    )
    return site


def failing_commands(site: Path) -> dict[str, tuple[str, ...]]:
    csv = str(site.parent / "entries.csv")
    return {
        "charge": ("charge", "ann", "12.50", "Filter"),
        "credit": ("credit", "ann", "3", "Discount"),
        "void": ("void", "1"),
        "import entries": ("import", "entries", csv),
        "link rotate": ("link", "rotate", "ann", "--yes"),
        "link revoke": ("link", "revoke", "bo", "--yes"),
    }


COMMANDS = ["charge", "credit", "void", "import entries", "link rotate", "link revoke"]


# --- a read-only build/ -------------------------------------------------------------


@contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """Make ``folder`` read-only: a read-only bind mount as root (chmod does not stop root), else chmod."""
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in (folder, *[p for p in folder.rglob("*") if p.is_dir()])}
        for p in modes:
            p.chmod(0o555)
        try:
            yield
        finally:
            for p, mode in modes.items():
                p.chmod(stat.S_IMODE(mode))
        return
    mounted = subprocess.run(["mount", "--bind", "-o", "ro", str(folder), str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot bind-mount build/ read-only here: {mounted.stderr.decode().strip()}")
    try:
        probe = folder / "p" / "probe"
        try:
            probe.write_bytes(b"")
        except OSError:
            pass
        else:  # an older mount(8) made the bind mount writable: remount it read-only
            probe.unlink()
            subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], check=True)
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@pytest.mark.parametrize("command", COMMANDS)
def test_read_only_build_posts_nothing(shop: Path, command: str):
    pl = Paylink(shop)
    rows, files = ledger_rows(shop), build_files(shop)
    with read_only(shop / "build"):
        result = pl(*failing_commands(shop)[command])
        assert_nothing_written(shop, result, rows, files)
    # The cause fixed, the same command goes through and its page is current.
    pl.ok(*failing_commands(shop)[command])
    assert ledger_rows(shop) != rows
    assert temp_leftovers(shop) == []


def test_read_only_build_charge_with_json_prints_nothing(shop: Path):
    pl = Paylink(shop)
    rows, files = ledger_rows(shop), build_files(shop)
    with read_only(shop / "build"):
        result = pl("charge", "ann", "1", "Part", "--json")
        assert_nothing_written(shop, result, rows, files)


# --- a full disk ---------------------------------------------------------------------


@contextmanager
def small_disk(folder: Path, size: str = "512k") -> Iterator[None]:
    """Mount a small tmpfs on ``folder`` (root only), with the folder's files copied onto it."""
    if os.geteuid() != 0:
        pytest.skip("a full disk needs a small tmpfs mount, which needs root")
    keep = folder.with_name(folder.name + ".orig")
    shutil.copytree(folder, keep)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        shutil.rmtree(keep)
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        shutil.copytree(keep, folder, dirs_exist_ok=True)
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=True)
        shutil.rmtree(folder)
        keep.rename(folder)


def fill(folder: Path) -> None:
    """Fill the file system of ``folder`` to the last byte."""
    for i, size in enumerate((65536, 4096, 64, 1)):
        fd = os.open(folder / f"filler-{i}", os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            while True:
                os.write(fd, b"\0" * size)
        except OSError:
            pass
        finally:
            os.close(fd)


@pytest.mark.parametrize("command", ["charge", "import entries", "link rotate"])
def test_full_disk_posts_nothing(shop: Path, command: str):
    pl = Paylink(shop)
    build = shop / "build"
    with small_disk(build):
        fill(build)
        rows, files = ledger_rows(shop), build_files(shop)
        result = pl(*failing_commands(shop)[command])
        assert_nothing_written(shop, result, rows, files)
        assert "No space left on device" in result.stderr
        for filler in build.glob("filler*"):
            filler.unlink()
        pl.ok(*failing_commands(shop)[command])
        assert ledger_rows(shop) != rows
        assert temp_leftovers(shop) == []


def test_a_disk_that_fills_halfway_through_a_large_imports_pages_posts_nothing(tmp_path: Path):
    """An import touching many pages: the disk fills after some of them are staged; the import is
    refused, and the pages staged before are removed with it (no temp file is left)."""
    site = make_site(tmp_path / "site")
    pl = Paylink(site)
    count = 150
    customers = tmp_path / "customers.csv"
    customers.write_text("name,ref\n" + "".join(f"Customer {n},C{n}\n" for n in range(count)), encoding="utf-8")
    pl.ok("import", "customers", str(customers))
    pl.ok("link", "generate", "--all")
    entries = tmp_path / "entries.csv"
    entries.write_text(
        "customer,kind,amount,description,date\n" + "".join(f"C{n},charge,{n + 1},Visit,\n" for n in range(count)),
        encoding="utf-8",
    )
    build = site / "build"
    with small_disk(build, "8m"):
        fill(build)
        filler = build / "filler-0"
        os.truncate(filler, filler.stat().st_size - 256 * 1024)  # room for some pages, not for all
        rows, files = ledger_rows(site), build_files(site)
        result = pl("import", "entries", str(entries))
        assert_nothing_written(site, result, rows, files)
        assert "No space left on device" in result.stderr
        for name in build.glob("filler*"):
            name.unlink()
        assert pl.json("import", "entries", str(entries)) == {"imported": count, "skipped": 0}
        assert temp_leftovers(site) == []


# --- a broken site template ------------------------------------------------------------


def break_template(site: Path) -> Path:
    override = site / "site_templates" / "page.html"
    override.parent.mkdir(exist_ok=True)
    override.write_text("<html>{% if balance %}<p>never closed</html>\n", encoding="utf-8")
    return override


@pytest.mark.parametrize("command", COMMANDS)
def test_broken_template_posts_nothing(shop: Path, command: str):
    pl = Paylink(shop)
    rows, files = ledger_rows(shop), build_files(shop)
    override = break_template(shop)
    result = pl(*failing_commands(shop)[command])
    if command == "link revoke":  # removes a page, renders none: the broken template does not matter
        assert result.exit_code == 0, result.stderr
        return
    assert_nothing_written(shop, result, rows, files)
    assert "page.html line" in result.stderr
    override.unlink()
    pl.ok(*failing_commands(shop)[command])


def test_broken_template_build_is_an_error_and_a_keyed_retry_posts_once(shop: Path):
    pl = Paylink(shop)
    override = break_template(shop)
    result = pl("build")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "page.html line" in lines[0], result.stderr
    rows = ledger_rows(shop)
    # A script that retries a failed charge with its key posts it exactly once.
    pl.fails("charge", "ann", "4", "Valve", "--key", "job-7")
    assert ledger_rows(shop) == rows
    override.unlink()
    first = pl.json("charge", "ann", "4", "Valve", "--key", "job-7")
    again = pl.json("charge", "ann", "4", "Valve", "--key", "job-7")
    assert first == again
    assert ledger_rows(shop)["entries"] == rows["entries"] + 1
    assert "$14.00" in snapshot_path(shop, 1).read_text(encoding="utf-8")


# --- kill -9 of a large build ---------------------------------------------------------------


def folder_is_empty(folder: Path) -> bool:
    try:
        with os.scandir(folder) as listing:
            return next(listing, None) is None
    except FileNotFoundError:
        return True


def test_killed_full_build_leaves_no_process_and_the_next_build_repairs(tmp_path: Path):
    site = make_site(tmp_path / "site")
    pl = Paylink(site)
    count = 3200  # above PARALLEL_MIN_PAGES: the build uses its helper process
    csv = tmp_path / "customers.csv"
    csv.write_text("name,email,phone,ref\n" + "".join(f"Customer {i},,,c{i}\n" for i in range(count)), "utf-8")
    pl.ok("import", "customers", str(csv))
    pl.ok("link", "generate", "--all")
    err = tmp_path / "build.err"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYLINK_")}
    shutil.rmtree(site / "build" / "p")  # so the first page seen there is one this build wrote
    with open(err, "wb") as stderr:
        build = subprocess.Popen(
            [PAYLINK, "--site", str(site), "build", "--full"], stdout=subprocess.DEVNULL, stderr=stderr, env=env
        )
    seen: set[int] = set()
    deadline = time.monotonic() + WAIT_S
    while build.poll() is None and time.monotonic() < deadline:
        seen |= children_of(build.pid)
        if seen and (os.cpu_count() or 1) >= 2 and not folder_is_empty(site / "build" / "p"):
            break  # the helpers have sent pages and the build writes them: kill it now, mid-build
        time.sleep(0.002)
    if build.poll() is not None:
        pytest.skip("the build finished before it could be killed (a very fast machine)")
    build.send_signal(signal.SIGKILL)
    build.wait()
    if (os.cpu_count() or 1) >= 2:
        assert seen, "a build of 3,200 pages should have started its helper process"
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in seen) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in seen if alive(pid)], "a process of the killed build is still running"
    time.sleep(0.5)  # anything that would still write or print has had its chance
    assert "Traceback" not in err.read_text(errors="replace")
    # Another program posts meanwhile; the next build repairs everything the kill left undone.
    insert_entry(site, 1, 999, "After the kill")
    assert pl.json("build")["written"] >= 1
    assert temp_leftovers(site) == []
    pages = build_files(site)
    assert len([name for name in pages if name.startswith("p/")]) == count
    assert "$9.99" in snapshot_path(site, 1).read_text(encoding="utf-8")
    # A full re-render changes no byte: every page already showed its ledger.
    pl.ok("build", "--full")
    assert build_files(site) == pages


# --- the database refuses what it cannot show ------------------------------------------------


def test_database_refuses_orphan_entries_and_non_iso_times(shop: Path):
    rows = ledger_rows(shop)
    with closing(sqlite3.connect(shop / "paylink.db")) as conn:
        with pytest.raises(sqlite3.IntegrityError, match="names no customer"):
            conn.execute(
                "INSERT INTO entries (customer_id, amount_minor, description, posted_at)"
                " VALUES (999, 100, 'x', '2026-01-01T00:00:00Z')"
            )
        for when in ("yesterday", "2026-13-45", "01/02/2026", ""):
            with pytest.raises(sqlite3.IntegrityError, match="ISO 8601"):
                conn.execute(
                    "INSERT INTO entries (customer_id, amount_minor, description, posted_at) VALUES (1, 100, 'x', ?)",
                    (when,),
                )
        # What the contract allows another program to write still goes in.
        conn.execute(
            "INSERT INTO entries (customer_id, amount_minor, description, posted_at)"
            " VALUES (1, 100, 'x', '2026-01-15 12:00:00')"
        )
        conn.commit()
    assert ledger_rows(shop)["entries"] == rows["entries"] + 1


# --- file modes whatever the umask -----------------------------------------------------


def run_with_umask(mask: int, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYLINK_")}
    return subprocess.run(
        [PAYLINK, *args], capture_output=True, text=True, env=env, preexec_fn=lambda: os.umask(mask), check=True
    )


def test_file_modes_under_umask_000(tmp_path: Path):
    site = tmp_path / "site"
    run_with_umask(0o000, "init", str(site), "--name", "Open Umask Co")
    run_with_umask(0o000, "--site", str(site), "customer", "add", "Ann", "--ref", "ann")
    run_with_umask(0o000, "--site", str(site), "link", "generate", "ann")
    run_with_umask(0o000, "--site", str(site), "charge", "ann", "5", "Call-out")

    def mode(name: str) -> int:
        return stat.S_IMODE((site / name).stat().st_mode)

    assert mode("paylink.key") == 0o600
    assert mode("paylink.db") == 0o600
    assert mode("paylink.toml") & 0o022 == 0
    # While a program has the ledger open, its -wal and -shm exist: they are private too.
    with closing(sqlite3.connect(site / "paylink.db")) as conn:
        conn.execute("SELECT COUNT(*) FROM entries").fetchone()
        run_with_umask(0o000, "--site", str(site), "charge", "ann", "1", "Part")
        for name in ("paylink.db-wal", "paylink.db-shm"):
            if (site / name).exists():
                assert mode(name) == 0o600, name
    for path in [site, *site.rglob("*")]:
        if path.is_file() or path.is_dir():
            assert stat.S_IMODE(path.stat().st_mode) & 0o002 == 0, f"{path} is writable by others"
    for path in (site / "build").rglob("*"):
        if path.is_file():
            assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


def test_loosened_ledger_modes_are_put_back_on_open(shop: Path):
    (shop / "paylink.db").chmod(0o666)
    (shop / "paylink.key").chmod(0o644)
    (shop / "paylink.toml").chmod(0o666)
    Paylink(shop).ok("customer", "list")
    assert stat.S_IMODE((shop / "paylink.db").stat().st_mode) == 0o600
    assert stat.S_IMODE((shop / "paylink.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((shop / "paylink.toml").stat().st_mode) & 0o022 == 0


# --- watch retries a failed build ----------------------------------------------------------


def test_watch_reports_a_failure_once_and_catches_up_when_it_is_fixed(shop: Path, tmp_path: Path):
    log = tmp_path / "watch.err"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYLINK_")}
    env["PYTHONUNBUFFERED"] = "1"
    with open(log, "wb") as err:
        watch = subprocess.Popen(
            [PAYLINK, "--site", str(shop), "watch"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=env,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    try:
        wait_for("watch to start", lambda: "Watching" in log.read_text())
        override = break_template(shop)
        # Once the failure is reported, every build from now on meets the broken template
        # (an entry posted earlier could land in the watcher's first build, still running).
        wait_for("the failure to be reported", lambda: "build failed" in log.read_text())
        insert_entry(shop, 1, 333, "Posted while the template is broken")
        time.sleep(2.5)  # several retries happen meanwhile
        failures = [line for line in log.read_text().splitlines() if "build failed" in line]
        assert len(failures) == 1, failures
        assert "page.html line" in failures[0]
        page = snapshot_path(shop, 1)
        assert "$13.33" not in page.read_text(encoding="utf-8")
        override.unlink()
        fixed = time.monotonic()
        wait_for("the page to catch up", lambda: "$13.33" in page.read_text(encoding="utf-8"))
        print(f"page caught up {time.monotonic() - fixed:.2f} s after the template was fixed")
        wait_for("the recovery to be reported", lambda: "current again" in log.read_text())
    finally:
        watch.send_signal(signal.SIGINT)
        try:
            watch.wait(timeout=15)
        except subprocess.TimeoutExpired:
            watch.kill()
            watch.wait()


def wait_for(what: str, check, timeout: float = WAIT_S) -> float:
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            pytest.fail(f"waited {timeout:.0f} s for {what}")
        time.sleep(0.02)
    return time.monotonic() - start


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
