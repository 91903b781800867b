"""Backups: one file that brings a site back, and the restore that makes a new site from it.

A backup is a ZIP file holding ``paylink-backup.json`` (what it is and what it
holds), the ledger (``paylink.db``), the signing keys (``paylink.key``), the
settings (``paylink.toml``) and the site's own ``site_templates/``. ZIP rather
than tar: Python reads and writes it without a helper, any system's file
manager opens it, each member is read by name without unpacking the rest, and
its directory sits at the end, so a truncated file is refused outright
instead of half restored.

The ledger is copied with SQLite's online backup API, which copies the
database as one read transaction sees it: never half of a posting, and in WAL
mode writers do not wait for it. Everything is written to a temp file (mode
0600: it holds the key and customers' details) next to the destination,
synced, and then moved into place, so the destination is always either the
previous backup or a complete new one.
"""

import datetime as dt
import json
import os
import shutil
import sqlite3
import stat
import zipfile
import zlib
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from . import layout
from .errors import PaylinkError, SiteError, quoted
from .site import SETTINGS_MODE, Site, check_new_site_folder, check_output_path
from .storage import CURRENCY_STATE

MANIFEST = "paylink-backup.json"
FORMAT = "paylink backup"
FORMAT_VERSION = 1
PRIVATE_MEMBERS = (layout.DB_FILE, layout.KEY_FILE)
SQLITE_HEADER = b"SQLite format 3\x00"
_COPY_CHUNK = 1 << 20


class BackupFailed(PaylinkError):
    """The backup could not be made or did not check out; the destination is unchanged."""


class NotABackup(PaylinkError):
    """The file given to restore is not a backup this paylink can restore; nothing was written."""


@dataclass(frozen=True)
class Backup:
    """Where the backup was written and what it holds (counted in the copy itself)."""

    path: Path
    entries: int
    customers: int


@dataclass(frozen=True)
class Restored:
    """The site a backup was restored into, and what its ledger holds."""

    path: Path
    entries: int
    customers: int
    links: int


def back_up(site: Site, conn: sqlite3.Connection, destination: Path) -> Backup:
    """Write a backup of the site behind ``conn`` to ``destination`` (never into build/, never over its files)."""
    target = check_output_path(site, destination, "backup file")
    keys = "\n".join(site.signer_keys()) + "\n"  # the keys links were signed with (PAYLINK_SECRET_KEY wins)
    settings = site.settings_path.read_bytes()
    templates = _template_files(site, skip=target.parent)
    temp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    ledger_copy = target.with_name(f".{target.name}.ledger-{os.getpid()}")
    try:
        entries, customers, links = _copy_ledger(conn, ledger_copy)
        manifest = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "taken_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "entries": entries,
            "customers": customers,
            "links": links,
        }
        # O_EXCL with 0600 from the start: the backup holds the key and customers' names, phones and emails.
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "wb") as out:
            with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
                _add(archive, MANIFEST, json.dumps(manifest, indent=2).encode("utf-8") + b"\n", 0o644)
                archive.write(ledger_copy, layout.DB_FILE)
                _add(archive, layout.KEY_FILE, keys.encode("utf-8"), 0o600)
                _add(archive, layout.SETTINGS_FILE, settings, SETTINGS_MODE)
                for name, path in templates:
                    archive.write(path, name)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, target)
        _sync_folder(target.parent)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    finally:
        for leftover in (ledger_copy, ledger_copy.with_name(ledger_copy.name + "-journal")):
            leftover.unlink(missing_ok=True)
    return Backup(target, entries, customers)


def _copy_ledger(conn: sqlite3.Connection, path: Path) -> tuple[int, int, int]:
    """Copy the live ledger into ``path`` (a self-contained, checked SQLite file); return its counts."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
    with closing(sqlite3.connect(str(path), isolation_level=None)) as copy:
        conn.backup(copy)
        # build_state describes the build/ folder next to the live ledger, which a backup does not hold.
        # Forgetting it (all but the ledger's currency) makes the first build after a restore
        # re-render every page and sweep away pages of links the restored ledger never had.
        copy.execute("DELETE FROM build_state WHERE name != ?", (CURRENCY_STATE,))
        copy.execute("PRAGMA journal_mode = DELETE")  # the live ledger is in WAL mode; a backup is one file
        problem = copy.execute("PRAGMA quick_check").fetchone()[0]
        if problem != "ok":
            raise BackupFailed(f"the copy of the ledger does not check out ({problem[:80]}) — run the backup again")
        return _counts(copy)


def _counts(conn: sqlite3.Connection) -> tuple[int, int, int]:
    """(entries, customers, live links) of a ledger."""
    entries = conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0]
    customers = conn.execute("SELECT COUNT(*) FROM customers").fetchone()[0]
    links = conn.execute("SELECT COUNT(*) FROM links WHERE retired_at IS NULL").fetchone()[0]
    return int(entries), int(customers), int(links)


def _add(archive: zipfile.ZipFile, name: str, data: bytes, mode: int) -> None:
    info = zipfile.ZipInfo(name, date_time=dt.datetime.now().timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = (stat.S_IFREG | mode) << 16
    archive.writestr(info, data)


def _template_files(site: Site, skip: Path) -> list[tuple[str, Path]]:
    """The site's own templates as (name in the backup, file): regular files only, no link followed."""
    root = site.templates_dir
    if not root.is_dir() or root.is_symlink():
        return []
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not os.path.islink(os.path.join(folder, d)))
        for file_name in sorted(files):
            path = Path(folder) / file_name
            if path.is_symlink() or not path.is_file():
                continue
            if path.parent.resolve() == skip.resolve() and file_name.startswith("."):
                continue  # our own temp files, when the backup is written into site_templates/ itself
            found.append((path.relative_to(site.root).as_posix(), path))
    return found


def _sync_folder(folder: Path) -> None:
    """fsync a folder, so a rename in it survives a power cut."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- restore ------------------------------------------------------------------------


def open_backup(path: Path) -> tuple[zipfile.ZipFile, dict]:
    """Open a backup made by ``back_up`` and return it with its manifest; ``NotABackup`` for anything else."""
    shown = quoted(str(path))
    try:
        with open(path, "rb") as file:
            head = file.read(len(SQLITE_HEADER))
    except FileNotFoundError as exc:
        raise NotABackup(f"backup file {shown} does not exist — give the file `paylink backup` wrote") from exc
    except IsADirectoryError as exc:
        raise NotABackup(f"{shown} is a folder — give the file `paylink backup` wrote") from exc
    if head == SQLITE_HEADER:
        raise NotABackup(
            f"{shown} is a ledger-only backup from paylink 2, without the signing key, so no restored link"
            " would open — run `paylink init DIR`, put the old site's paylink.key and this file (as paylink.db)"
            " in DIR, then run `paylink --site DIR build`"
        )
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise NotABackup(f"{shown} is not a paylink backup — give a file made by `paylink backup`") from exc
    try:
        manifest = json.loads(archive.read(MANIFEST))
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise ValueError("not a paylink backup manifest")
    except (KeyError, ValueError, zipfile.BadZipFile, OSError) as exc:
        archive.close()
        raise NotABackup(f"{shown} is not a paylink backup — give a file made by `paylink backup`") from exc
    if manifest.get("version") != FORMAT_VERSION:
        archive.close()
        raise NotABackup(
            f"{shown} is a backup of format {str(manifest.get('version'))[:20]}, which this paylink cannot read"
            " — restore it with the paylink version that made it"
        )
    names = set(archive.namelist())
    missing = [name for name in (layout.DB_FILE, layout.KEY_FILE, layout.SETTINGS_FILE) if name not in names]
    unknown = [name for name in names if _member_path(name) is None]
    if missing or unknown:
        archive.close()
        what = f"lacks {missing[0]}" if missing else f"holds an unexpected file {unknown[0][:80]!r}"
        raise NotABackup(f"{shown} {what} — it is damaged or not made by `paylink backup`; use another backup")
    return archive, manifest


def _member_path(name: str) -> PurePosixPath | None:
    """Where a member of a backup goes inside the new site, or None if no backup of ours holds such a name."""
    if name in (MANIFEST, layout.DB_FILE, layout.KEY_FILE, layout.SETTINGS_FILE):
        return PurePosixPath(name)
    path = PurePosixPath(name)
    parts = path.parts
    if (
        len(parts) < 2
        or parts[0] != layout.TEMPLATES_DIR
        or "\\" in name
        or any(part in ("", ".", "..") or "\x00" in part for part in parts)
        or name.endswith("/")
    ):
        return None
    return path


def restore(backup_file: Path, directory: Path) -> tuple[Site, bool]:
    """Make a new site in ``directory`` from a backup: ledger, keys, settings and templates, private files 0600.

    Refuses a folder that holds anything (a site or not) or lies inside another
    site, and a file that is not a backup. Returns the site and whether the
    folder was made here; the caller builds its pages, and on any failure
    removes what was written with ``undo_restore``. A failure here undoes itself.
    """
    root = directory.expanduser().absolute()
    check_new_site_folder(root)
    if root.exists() and any(root.iterdir()):
        raise SiteError(f"{quoted(str(root))} is not empty — restore into a new or empty folder")
    archive, _ = open_backup(backup_file)
    created = not root.exists()
    with archive:
        if created:
            root.mkdir(parents=True)
        os.chmod(root, 0o755)  # nobody else may add or replace a site's files, whatever the umask
        try:
            for name in sorted(archive.namelist()):
                if name != MANIFEST:
                    _extract(archive, name, root)
        except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
            undo_restore(root, created)
            raise NotABackup(
                f"{quoted(str(backup_file))} is damaged ({str(exc)[:80]}) — nothing was restored; use another backup"
            ) from exc
        except BaseException:
            undo_restore(root, created)
            raise
    return Site(root), created


def _extract(archive: zipfile.ZipFile, name: str, root: Path) -> None:
    """Write one member of a backup into the new site: 0600 for the ledger and key, 0644 for the rest."""
    relative = _member_path(name)
    if relative is None:  # open_backup refused every other name
        raise NotABackup(f"the backup holds an unexpected file {name[:80]!r} — use another backup")
    target = root.joinpath(*relative.parts)
    for folder in reversed(target.parents):
        if root in folder.parents and not folder.is_dir():
            folder.mkdir()
            os.chmod(folder, 0o755)
    mode = 0o600 if name in PRIVATE_MEMBERS else 0o644
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    with os.fdopen(fd, "wb") as out, archive.open(name) as member:
        os.fchmod(out.fileno(), mode)  # whatever the umask
        shutil.copyfileobj(member, out, _COPY_CHUNK)
        out.flush()
        os.fsync(out.fileno())


def undo_restore(root: Path, created: bool) -> None:
    """Remove what a failed restore wrote: the whole folder if it made it, else everything in it (it was empty)."""
    if created:
        shutil.rmtree(root, ignore_errors=True)
        return
    for child in root.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def restored_counts(conn: sqlite3.Connection, root: Path) -> Restored:
    """What a restored site's ledger holds."""
    entries, customers, links = _counts(conn)
    return Restored(root, entries, customers, links)
