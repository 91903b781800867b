"""`paylink backup FILE` and `paylink restore FILE DIR` (CONTRACT §2).

A backup is one ZIP file (mode 0600) holding a consistent copy of the ledger, even while another
program writes, plus paylink.key, paylink.toml and the site's own site_templates/. Restore makes a
new site from it whose links open again over the real edge.
"""

import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import zipfile
from contextlib import closing
from pathlib import Path

import pytest
from conftest import Paylink
from edgeserver import request, running_edge
from sitepages import balance_text, customer_names, ledger, live_snapshot, token_of

BACKUP_MEMBERS = ["paylink-backup.json", "paylink.db", "paylink.key", "paylink.toml"]


def open_copy(path: Path) -> sqlite3.Connection:
    """The ledger inside a backup, opened read-only (extracted next to it, as a person would)."""
    with zipfile.ZipFile(path) as archive:
        data = archive.read("paylink.db")
    extracted = path.with_name(path.name + ".ledger")
    extracted.write_bytes(data)
    return sqlite3.connect(f"file:{extracted}?mode=ro", uri=True)


def test_backup_writes_one_private_file_holding_the_whole_site(tmp_path, site, paylink):
    paylink.ok("customer", "add", "Jane", "--ref", "JANE")
    paylink.ok("customer", "add", "Bob")
    paylink.ok("charge", "JANE", "12.50", "Work")
    paylink.ok("credit", "JANE", "2", "Cash")
    (site / "site_templates" / "partials").mkdir(parents=True)
    (site / "site_templates" / "_contact.html").write_text("<p>OUR CONTACT</p>\n")
    (site / "site_templates" / "partials" / "note.txt").write_text("a note\n")
    target = tmp_path / "backups" / "paylink.zip"
    target.parent.mkdir()

    made = paylink.json("backup", str(target))

    assert made == {"path": str(target), "entries": 2, "customers": 2}
    assert os.stat(target).st_mode & 0o777 == 0o600
    with zipfile.ZipFile(target) as archive:
        assert archive.testzip() is None
        assert sorted(archive.namelist()) == sorted(
            BACKUP_MEMBERS + ["site_templates/_contact.html", "site_templates/partials/note.txt"]
        )
        assert archive.read("paylink.key") == (site / "paylink.key").read_bytes()
        assert archive.read("paylink.toml") == (site / "paylink.toml").read_bytes()
        assert archive.read("site_templates/_contact.html") == b"<p>OUR CONTACT</p>\n"
        manifest = json.loads(archive.read("paylink-backup.json"))
    assert manifest["format"] == "paylink backup" and (manifest["entries"], manifest["customers"]) == (2, 2)
    assert sorted(p.name for p in target.parent.iterdir()) == ["paylink.zip"]  # no temp or ledger copy left
    with closing(open_copy(target)) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert copy.execute("SELECT name FROM customers ORDER BY id").fetchall() == [("Jane",), ("Bob",)]
        assert copy.execute("SELECT SUM(amount_minor) FROM entries").fetchone()[0] == 1050


def test_backup_holds_the_keys_in_effect(tmp_path, site, paylink, monkeypatch):
    """With PAYLINK_SECRET_KEY set, links are signed with it: the backup holds those keys."""
    monkeypatch.setenv("PAYLINK_SECRET_KEY", "old-key-1,new-key-2")
    paylink.ok("backup", str(tmp_path / "b.zip"))
    with zipfile.ZipFile(tmp_path / "b.zip") as archive:
        assert archive.read("paylink.key") == b"old-key-1\nnew-key-2\n"


def test_backup_text_output_and_replacing_an_older_backup(tmp_path, paylink):
    paylink.ok("customer", "add", "Jane")
    target = tmp_path / "paylink-backup.zip"
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


def big_ledger(site: Path, entries: int) -> None:
    """Many entries, written as another program may: a backup of it takes a while to write."""
    with closing(ledger(site)) as conn, conn:
        conn.executemany(
            "INSERT INTO entries (customer_id, amount_minor, description, posted_at) VALUES (1, ?, ?, ?)",
            [(100 + n, f"job {n} " + os.urandom(24).hex(), "2026-11-20T15:04:05Z") for n in range(entries)],
        )


def limit_file_size(limit: int):
    """For a child process: files it writes may not grow past ``limit`` bytes (the write fails with EFBIG)."""

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_failed_backup_leaves_the_previous_one_whole(tmp_path, site, paylink):
    """A backup over an existing one is written beside it and moved into place: never half-written.

    The ledger stays small and a 2 MB photo that does not compress is among the site's templates, so the
    write that fails is the archive's own (the ledger's copy, written first, fits under the limit)."""
    paylink.ok("customer", "add", "Jane")
    (site / "site_templates").mkdir(exist_ok=True)
    (site / "site_templates" / "photo.jpg").write_bytes(os.urandom(2_000_000))
    target = tmp_path / "nightly.zip"
    paylink.ok("backup", str(target))
    before = target.read_bytes()
    assert len(before) > 2_000_000 and (site / "paylink.db").stat().st_size < len(before) // 4
    paylink.ok("charge", "1", "5", "More work")

    done = subprocess.run(
        ["paylink", "--site", str(site), "backup", str(target)],
        capture_output=True,
        text=True,
        preexec_fn=limit_file_size(len(before) // 2),  # the new backup cannot be written whole
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("Error: ") and "Traceback" not in done.stderr
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "site") == ["nightly.zip"]


def test_a_backup_killed_while_writing_leaves_the_previous_one_whole(tmp_path, site, paylink):
    paylink.ok("customer", "add", "Jane")
    big_ledger(site, 40_000)
    target = tmp_path / "nightly.zip"
    paylink.ok("backup", str(target))
    before = target.read_bytes()
    writer = subprocess.Popen(
        ["paylink", "--site", str(site), "backup", str(target)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not any(p.name.startswith(".nightly.zip.tmp-") for p in tmp_path.iterdir()):
        assert writer.poll() is None, "the backup finished before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.001)
    writer.kill()
    writer.wait()
    assert target.read_bytes() == before
    with zipfile.ZipFile(target) as archive:
        assert archive.testzip() is None


def test_restore_brings_back_every_link_as_it_was(tmp_path, site, paylink):
    paylink.ok("customer", "add", "Jane", "--ref", "jane")
    paylink.ok("customer", "add", "Bob", "--ref", "bob")
    paylink.ok("customer", "add", "Ann", "--ref", "ann")
    paylink.ok("charge", "jane", "10", "Work")
    paylink.ok("charge", "bob", "7.25", "Fuse")
    urls = {ref: paylink.json("link", "generate", ref)["url"] for ref in ("jane", "bob")}
    backup = tmp_path / "shop.zip"
    paylink.ok("backup", str(backup))
    # After the backup: more work, a rotated link. The restore shows the backup's moment.
    paylink.ok("charge", "jane", "5", "Lost in the crash")
    paylink.ok("link", "rotate", "bob", "--yes")
    paylink.ok("link", "generate", "ann")

    restored = paylink.json("restore", str(backup), str(tmp_path / "restored"))

    new_site = tmp_path / "restored"
    assert restored == {"path": str(new_site), "entries": 2, "customers": 3, "links": 2}
    for name in ("paylink.key", "paylink.db"):
        assert os.stat(new_site / name).st_mode & 0o777 == 0o600, name
    assert (new_site / "paylink.key").read_bytes() == (site / "paylink.key").read_bytes()
    assert balance_text(new_site, 1) == "$10.00" and live_snapshot(new_site, 3) is None
    keys = (new_site / "paylink.key").read_text().split()
    with running_edge(new_site / "build", keys, tmp_path / "edge.log") as edge:
        jane = request(edge.port, f"/p/{token_of(urls['jane'])}")
        bob = request(edge.port, f"/p/{token_of(urls['bob'])}")
    assert jane.status == 200 and b"10.00" in jane.body and b"15.00" not in jane.body
    assert bob.status == 200 and b"7.25" in bob.body
    assert Paylink(new_site).json("customer", "show", "jane")["balance"] == "10.00"


def test_restore_with_the_sites_own_templates(tmp_path, site, paylink):
    from paylink import site_templates

    paylink.ok("customer", "add", "Jane")
    paylink.ok("charge", "1", "3", "Work")
    paylink.ok("link", "generate", "1")
    (site / "site_templates").mkdir()
    page = (Path(site_templates.__file__).parent / "page.html").read_text(encoding="utf-8")
    assert "Amount due" in page
    (site / "site_templates" / "page.html").write_text(page.replace("Amount due", "Amount owing"), encoding="utf-8")
    paylink.ok("backup", str(tmp_path / "b.zip"))
    paylink.ok("restore", str(tmp_path / "b.zip"), str(tmp_path / "again"))
    restored = (tmp_path / "again" / "build" / "p" / live_snapshot(tmp_path / "again", 1)).read_text()
    assert "Amount owing" in restored and "Amount due" not in restored
    assert os.stat(tmp_path / "again" / "site_templates" / "page.html").st_mode & 0o777 == 0o644


def test_restore_refuses_a_folder_that_holds_a_site_or_lies_inside_one(tmp_path, site, paylink):
    paylink.ok("customer", "add", "Jane")
    backup = tmp_path / "b.zip"
    paylink.ok("backup", str(backup))
    before = sorted(str(p) for p in site.rglob("*"))
    assert "already holds a paylink site" in paylink.fails("restore", str(backup), str(site)).stderr
    inside = paylink.fails("restore", str(backup), str(site / "restored")).stderr
    assert "is inside the folder of the paylink site" in inside
    assert "is inside the build/ folder" in paylink.fails("restore", str(backup), str(site / "build" / "r")).stderr
    assert sorted(str(p) for p in site.rglob("*")) == before
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    assert "is not empty" in paylink.fails("restore", str(backup), str(tmp_path / "busy")).stderr
    assert os.listdir(tmp_path / "busy") == ["notes.txt"]


def test_restore_refuses_what_is_not_a_backup_and_writes_nothing(tmp_path, site, paylink):
    paylink.ok("customer", "add", "Jane")
    good = tmp_path / "good.zip"
    paylink.ok("backup", str(good))
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"PK\x03\x04 not really a zip")
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(good.read_bytes()[:-200])
    foreign = tmp_path / "photos.zip"
    with zipfile.ZipFile(foreign, "w") as archive:
        archive.writestr("paylink.db", b"x")
    sneaky = tmp_path / "sneaky.zip"
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(sneaky, "w") as archive:
        for name in source.namelist():
            archive.writestr(name, source.read(name))
        archive.writestr("site_templates/../../escaped.txt", b"outside")
    for file, says in [
        (junk, "is not a paylink backup"),
        (truncated, "is not a paylink backup"),
        (foreign, "is not a paylink backup"),
        (sneaky, "holds an unexpected file"),
        (tmp_path / "missing.zip", "does not exist"),
    ]:
        result = paylink.fails("restore", str(file), str(tmp_path / "new"))
        assert result.stderr.startswith("Error: ") and says in result.stderr, (file.name, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1
        assert not (tmp_path / "new").exists()
    assert not (tmp_path / "escaped.txt").exists()


def test_restore_of_a_version_2_ledger_only_backup_says_what_to_do(tmp_path, site, paylink):
    """A bare SQLite copy (the backup of paylink 2) holds no key: refused, with the steps that do work."""
    paylink.ok("customer", "add", "Jane")
    old = tmp_path / "paylink-backup.db"
    with closing(ledger(site)) as conn, closing(sqlite3.connect(old)) as copy:
        conn.backup(copy)
    result = paylink.fails("restore", str(old), str(tmp_path / "new"))
    assert "ledger-only backup from paylink 2" in result.stderr
    assert "paylink.key" in result.stderr and "paylink init" in result.stderr
    assert not (tmp_path / "new").exists()


def test_a_restore_that_cannot_build_its_pages_leaves_nothing(tmp_path, site, paylink):
    paylink.ok("customer", "add", "Jane")
    paylink.ok("link", "generate", "1")
    good = tmp_path / "good.zip"
    paylink.ok("backup", str(good))
    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(broken, "w") as archive:
        for name in source.namelist():
            archive.writestr(name, source.read(name))
        archive.writestr("site_templates/page.html", "{% block main %}{{ unclosed")
    (tmp_path / "empty").mkdir()
    for where in ("new", "empty"):
        result = paylink.fails("restore", str(broken), str(tmp_path / where))
        assert result.stderr.startswith("Error: ") and "Traceback" not in result.stderr
    assert not (tmp_path / "new").exists()
    assert os.listdir(tmp_path / "empty") == []
