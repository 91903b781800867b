"""The one place that writes files into ``build/``.

Every file is written to a temp file in its own folder and ``os.replace``d into
place, so the edge only ever sees a whole old page or a whole new one. After a
batch of writes the build folder's file system is synced before the ledger
records the work as done, so a power cut can lose the work but never the
record that it is still to do. A posting action stages its pages (``Staged``:
temp files, synced) before its transaction commits and renames them after.
"""

import itertools
import os
import threading
from pathlib import Path
from typing import Any

from . import layout

_libc_syncfs: Any = None  # the libc function, False where there is none, None until looked up


_temp_counter = itertools.count()
# What a static host needs: readable by all, writable by the owner only, whatever the umask.
FILE_MODE = 0o644
# Up to this many staged files are fsynced one by one; more, and one syncfs is cheaper.
FSYNC_EACH_MAX = 16


def _write_temp(folder: Path | str, data: bytes) -> str:
    """Write ``data`` to a new temp file in ``folder`` (mode 0644) and return its path; no temp is left on failure.

    The temp name is unique to this process (pid and a counter) and created
    with O_EXCL.
    """
    # Plain strings, not Path objects: a build makes 100,000 of these names.
    temp = os.path.join(folder, f"{layout.TEMP_PREFIX}{os.getpid()}-{next(_temp_counter)}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    try:
        fd = os.open(temp, flags, FILE_MODE)
    except FileExistsError:
        # Left by a crashed process that had our pid; nothing live writes under our name.
        os.unlink(temp)
        fd = os.open(temp, flags, FILE_MODE)
    try:
        try:
            os.fchmod(fd, FILE_MODE)  # the umask may have taken bits off
            _write_all(fd, data)
        finally:
            os.close(fd)
    except BaseException:
        _unlink_quietly(temp)
        raise
    return temp


def _write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to ``fd`` (plain os calls: a build writes 100,000 files)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _unlink_quietly(path: Path | str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def write_atomic(folder: Path, name: str, data: bytes) -> None:
    """Write ``folder/name`` whole or not at all."""
    temp = _write_temp(folder, data)
    try:
        os.replace(temp, os.path.join(folder, name))
    except BaseException:
        _unlink_quietly(temp)
        raise


def unchanged(folder: Path, name: str, data: bytes) -> bool:
    """Whether ``folder/name`` already holds exactly ``data``.

    A file of another size is told by its ``stat`` alone: a page that changed (most of them, after a
    posting) costs one system call instead of an open, a read and a close.
    """
    path = os.path.join(folder, name)
    try:
        if os.stat(path).st_size != len(data):
            return False
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        size = os.fstat(fd).st_size
        if size != len(data):
            return False
        chunks = []
        while size > 0:  # a short read is possible; read until the file's size is in hand
            chunk = os.read(fd, size)
            if not chunk:
                return False
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks) == data
    finally:
        os.close(fd)


class Staged:
    """Files written whole under temp names and made durable, waiting to be put in place.

    The page writer stages the pages of a ledger change before it commits:
    a failure to write (a full disk, a read-only folder) then rolls the change
    back, and after the commit only renames are left to do. ``discard`` removes
    every temp file; a crash in between leaves temp files that the next build
    sweeps away.
    """

    def __init__(self) -> None:
        self.files: list[tuple[str, str]] = []  # (temp, final)

    def add(self, folder: Path, name: str, data: bytes) -> bool:
        """Stage ``folder/name`` unless it already holds ``data``; return whether it was staged."""
        if unchanged(folder, name, data):
            return False
        self.files.append((_write_temp(folder, data), os.path.join(folder, name)))
        return True

    def probe(self, folder: Path) -> None:
        """Create and remove an empty temp file in ``folder``: raises OSError if it cannot be changed."""
        os.unlink(_write_temp(folder, b""))

    def make_durable(self) -> None:
        """fsync what was staged (one syncfs for many files): an I/O error or full disk shows here."""
        if len(self.files) > FSYNC_EACH_MAX:
            sync(Path(os.path.dirname(self.files[0][0])))
            return
        for temp, _ in self.files:
            fd = os.open(temp, os.O_RDONLY | os.O_CLOEXEC)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def put_in_place(self) -> None:
        """Rename every staged file over its final name."""
        for temp, final in self.files:
            os.replace(temp, final)
        self.files = []

    def discard(self) -> None:
        """Remove every staged temp file."""
        for temp, _ in self.files:
            _unlink_quietly(temp)
        self.files = []


def write_if_changed(folder: Path, name: str, data: bytes) -> bool:
    """Write ``folder/name`` atomically unless it already holds exactly ``data``; return whether it wrote.

    Reading a few KB back is far cheaper than replacing a file on most disks,
    and an unchanged page keeps its mtime, so syncing build/ to a static host
    only moves what changed.
    """
    if unchanged(folder, name, data):
        return False
    write_atomic(folder, name, data)
    return True


def remove(folder: Path, name: str) -> bool:
    """Remove ``folder/name``; return whether it was there."""
    try:
        os.unlink(folder / name)
    except FileNotFoundError:
        return False
    return True


def sync_folder(folder: Path) -> None:
    """fsync one folder: makes the renames and removals in it durable (not the files' data)."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ctypes_errno() -> int:
    """The errno of the last libc call made through ctypes."""
    import ctypes

    return ctypes.get_errno()


def sync(folder: Path) -> None:
    """Make every write and removal under ``folder`` durable.

    One ``syncfs`` of the folder's file system per batch costs about what one
    fsync does, instead of one fsync per page.
    """
    global _libc_syncfs
    if _libc_syncfs is None:
        try:
            import ctypes

            _libc_syncfs = ctypes.CDLL(None, use_errno=True).syncfs
        except (OSError, AttributeError):
            _libc_syncfs = False
    if _libc_syncfs:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            if _libc_syncfs(fd) == 0:
                return
            # A failed syncfs (EIO) must stop the caller before it clears its bookkeeping;
            # os.sync() could not say that anything went wrong.
            error = ctypes_errno()
            raise OSError(error, f"{os.strerror(error)} while syncing {folder}")
        finally:
            os.close(fd)
    os.sync()  # no syncfs on this system


class EarlyWriteback:
    """Start the disk on a batch's pages while the batch is still being written.

    Every ``every`` pages, a background thread syncs the folder's file system
    (one at a time), so the sync that must come before the bookkeeping finds
    little left to write. Its errors are ignored: that final sync, which the
    caller still makes, reports them. ``done`` waits for the thread, so none
    outlives the batch.
    """

    def __init__(self, folder: Path, every: int):
        self.folder = folder
        self.every = every
        self.count = 0
        self.thread: threading.Thread | None = None

    def wrote(self) -> None:
        self.count += 1
        if self.count % self.every == 0 and (self.thread is None or not self.thread.is_alive()):
            self.thread = threading.Thread(target=self._sync, name="paylink-writeback", daemon=True)
            self.thread.start()

    def _sync(self) -> None:
        try:
            sync(self.folder)
        except OSError:
            pass  # the caller's own sync will say so

    def done(self) -> None:
        if self.thread is not None:
            self.thread.join()
            self.thread = None
