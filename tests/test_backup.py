"""`paylink backup FILE` (CONTRACT §2): a consistent copy of the ledger, even while another program writes."""

import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import time
from contextlib import closing
from pathlib import Path

import pytest
from sitepages import balance_text, customer_names, ledger, live_snapshot


def open_copy(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def test_backup_writes_a_checked_private_copy(tmp_path, site, paylink):
    paylink.ok("customer", "add", "Jane", "--ref", "JANE")
    paylink.ok("customer", "add", "Bob")
    paylink.ok("charge", "JANE", "12.50", "Work")
    paylink.ok("credit", "JANE", "2", "Cash")
    target = tmp_path / "backups" / "paylink.db"
    target.parent.mkdir()

    made = paylink.json("backup", str(target))

    assert made == {"path": str(target), "entries": 2, "customers": 2}
    assert os.stat(target).st_mode & 0o777 == 0o600
    with closing(open_copy(target)) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert copy.execute("SELECT name FROM customers ORDER BY id").fetchall() == [("Jane",), ("Bob",)]
        assert copy.execute("SELECT SUM(amount_minor) FROM entries").fetchone()[0] == 1050
    assert sorted(p.name for p in target.parent.iterdir()) == ["paylink.db"]  # no temp, -wal or -shm left


def test_backup_text_output_and_replacing_an_older_backup(tmp_path, paylink):
    paylink.ok("customer", "add", "Jane")
    target = tmp_path / "paylink-backup.db"
    target.write_bytes(b"an older backup")
    out = paylink.ok("backup", str(target)).stdout
    assert out.strip() == f"Backed up 1 customer and 0 entries to {target}"
    with closing(open_copy(target)) as copy:
        assert copy.execute("SELECT COUNT(*) FROM customers").fetchone()[0] == 1


def test_backup_relative_path_and_from_a_subfolder(tmp_path, site, monkeypatch):
    from click.testing import CliRunner
    from paylink.cli import cli

    monkeypatch.delenv("PAYLINK_SITE", raising=False)
    (site / "backups").mkdir()
    monkeypatch.chdir(site / "backups")
    result = CliRunner().invoke(cli, ["backup", "nightly.db", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    assert (site / "backups" / "nightly.db").is_file()


@pytest.mark.parametrize("where", ["build/ledger.db", "build/p/ledger.db"])
def test_backup_is_never_written_into_build(site, paylink, where):
    before = sorted(str(p) for p in (site / "build").rglob("*"))
    result = paylink.fails("backup", str(site / where))
    assert "inside build/" in result.stderr
    assert sorted(str(p) for p in (site / "build").rglob("*")) == before


@pytest.mark.parametrize("name", ["paylink.db", "paylink.db-wal", "paylink.key", "paylink.toml"])
def test_backup_never_overwrites_the_sites_own_files(site, paylink, name):
    paylink.ok("customer", "add", "Jane")
    before = {p.name: p.read_bytes() for p in site.iterdir() if p.is_file()}
    result = paylink.fails("backup", str(site / name))
    assert "would overwrite the site's own" in result.stderr
    assert {p.name: p.read_bytes() for p in site.iterdir() if p.is_file() and p.name in before} == before


def test_backup_over_a_link_to_the_live_ledger_is_refused(tmp_path, site, paylink):
    paylink.ok("customer", "add", "Jane")
    (tmp_path / "sneaky.db").symlink_to(site / "paylink.db")
    os.link(site / "paylink.db", tmp_path / "hard.db")
    for name in ("sneaky.db", "hard.db"):
        result = paylink.fails("backup", str(tmp_path / name))
        assert "would overwrite the site's own paylink.db" in result.stderr
    assert customer_names(site) == ["Jane"]


def test_backup_into_a_missing_folder_is_an_error(tmp_path, paylink):
    result = paylink.fails("backup", str(tmp_path / "nowhere" / "b.db"))
    assert "does not exist" in result.stderr
    assert not (tmp_path / "nowhere").exists()


WRITER = textwrap.dedent(
    """
    import sqlite3, sys, pathlib
    db, stop, most = sys.argv[1], pathlib.Path(sys.argv[2]), int(sys.argv[3])
    conn = sqlite3.connect(db, timeout=30, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 30000")
    for n in range(most):
        if stop.exists():
            break
        # A job and its payment in one transaction: any consistent copy sums to zero.
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO entries (customer_id, amount_minor, description, posted_at)"
                     " VALUES (1, 100, 'job', strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))")
        conn.execute("INSERT INTO entries (customer_id, amount_minor, description, posted_at)"
                     " VALUES (1, -100, 'paid', strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))")
        conn.execute("COMMIT")
        if n == 20:
            pathlib.Path(sys.argv[2] + ".started").touch()
    conn.close()
    """
)


def test_backup_while_another_program_posts_is_consistent(tmp_path, site, paylink):
    paylink.ok("customer", "add", "Jane")
    stop = tmp_path / "stop"
    errors = tmp_path / "writer.err"
    with open(errors, "wb") as err:
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(site / "paylink.db"), str(stop), "200000"], stderr=err
        )
    try:
        deadline = time.monotonic() + 60
        while not Path(str(stop) + ".started").exists():
            assert writer.poll() is None, errors.read_text()
            assert time.monotonic() < deadline, "the writer never started"
            time.sleep(0.01)
        copies = []
        for n in range(3):
            target = tmp_path / f"copy-{n}.db"
            copies.append((target, paylink.json("backup", str(target))))
    finally:
        stop.touch()
        writer.wait(timeout=60)
    assert writer.returncode == 0, errors.read_text()

    with closing(ledger(site)) as conn:
        final = conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0]
    for target, made in copies:
        with closing(open_copy(target)) as copy:
            assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            count, total = copy.execute("SELECT COUNT(*), COALESCE(SUM(amount_minor), 0) FROM entries").fetchone()
            ids = [r[0] for r in copy.execute("SELECT id FROM entries ORDER BY id")]
            assert made["entries"] == count and made["customers"] == 1
            assert count % 2 == 0 and total == 0  # never half a transaction
            assert ids == list(range(1, count + 1))  # a prefix of what was written: one moment's ledger
            assert 42 <= count <= final
    assert [made["entries"] for _, made in copies] == sorted(made["entries"] for _, made in copies)


def test_restore_as_the_readme_says(tmp_path, site, paylink):
    paylink.ok("customer", "add", "Jane")
    paylink.ok("charge", "1", "10", "Work")
    paylink.ok("link", "generate", "1")
    backup = tmp_path / "paylink-backup.db"
    paylink.ok("backup", str(backup))
    paylink.ok("charge", "1", "5", "Lost in the crash")
    assert balance_text(site, 1) == "$15.00"
    before_rotation = live_snapshot(site, 1)
    paylink.ok("link", "rotate", "1", "--yes")
    after_rotation = live_snapshot(site, 1)

    # Stop paylink (nothing runs here), copy the backup back, then `paylink build`.
    for leftover in ("paylink.db-wal", "paylink.db-shm"):
        (site / leftover).unlink(missing_ok=True)
    shutil.copyfile(backup, site / "paylink.db")
    paylink.ok("build")

    assert balance_text(site, 1) == "$10.00"
    assert paylink.json("customer", "show", "1")["balance"] == "10.00"
    # The restored ledger's link is live again; the page of the link it never had is gone.
    assert live_snapshot(site, 1) == before_rotation
    assert (site / "build" / "p" / before_rotation).is_file()
    assert not (site / "build" / "p" / after_rotation).exists()
