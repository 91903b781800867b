"""Backups: a consistent copy of the ledger, taken while other programs keep writing it.

SQLite's online backup API copies the database as one read transaction sees it,
so the copy is never half of a posting, and in WAL mode writers do not wait for
it. The copy is written to a temp file next to the destination, checked, made
mode 0600 and then moved into place, so the destination is always either the
previous backup or a complete new one.
"""

import os
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from .errors import PaylinkError
from .ledger import CURRENCY_STATE
from .site import Site, check_output_path


class BackupFailed(PaylinkError):
    """The copy of the ledger could not be made or did not check out; the destination is unchanged."""


@dataclass(frozen=True)
class Backup:
    """Where the copy was written and what it holds (counted in the copy itself)."""

    path: Path
    entries: int
    customers: int


def back_up(site: Site, conn: sqlite3.Connection, destination: Path) -> Backup:
    """Copy the ledger behind ``conn`` to ``destination`` (never into build/, never over the live ledger)."""
    target = check_output_path(site, destination, "backup file")
    temp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        # O_EXCL with 0600 from the start: the copy holds customers' names, phones and emails.
        os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        with closing(sqlite3.connect(str(temp), isolation_level=None)) as copy:
            conn.backup(copy)
            # build_state describes the build/ folder next to the live ledger, which a backup does not hold.
            # Forgetting it (all but the ledger's currency) makes the first `paylink build` after a
            # restore re-render every page and sweep away pages of links the restored ledger never had.
            copy.execute("DELETE FROM build_state WHERE name != ?", (CURRENCY_STATE,))
            # The live ledger is in WAL mode; a backup is one self-contained file.
            copy.execute("PRAGMA journal_mode = DELETE")
            problem = copy.execute("PRAGMA quick_check").fetchone()[0]
            if problem != "ok":
                raise BackupFailed(f"the copy of the ledger does not check out ({problem[:80]}) — run the backup again")
            entries = copy.execute("SELECT COUNT(*) FROM entries").fetchone()[0]
            customers = copy.execute("SELECT COUNT(*) FROM customers").fetchone()[0]
        os.chmod(temp, 0o600)
        fd = os.open(temp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, target)
    except BaseException:
        for leftover in (temp, temp.with_name(temp.name + "-journal")):
            leftover.unlink(missing_ok=True)
        raise
    return Backup(target, int(entries), int(customers))
