"""The one place that writes files into ``build/``.

Every file is written to a temp file in its own folder and ``os.replace``d into
place, so the edge only ever sees a whole old page or a whole new one. After a
batch of writes the build folder's file system is synced before the ledger
records the work as done, so a power cut can lose the work but never the
record that it is still to do.
"""

import itertools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from . import layout

_libc_syncfs: Callable[[int], int] | Literal[False] | None = None  # found on first use; False: no syncfs


_temp_counter = itertools.count()


def write_atomic(folder: Path, name: str, data: bytes) -> None:
    """Write ``folder/name`` whole or not at all.

    The temp name is unique to this process (pid and a counter) and created
    with O_EXCL, readable by a static host (0644 less the umask).
    """
    temp = folder / f"{layout.TEMP_PREFIX}{os.getpid()}-{next(_temp_counter)}"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    try:
        fd = os.open(temp, flags, 0o644)
    except FileExistsError:
        # Left by a crashed process that had our pid; nothing live writes under our name.
        os.unlink(temp)
        fd = os.open(temp, flags, 0o644)
    try:
        with open(fd, "wb", closefd=True) as out:
            out.write(data)
        os.replace(temp, folder / name)
    except BaseException:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
        raise


def write_if_changed(folder: Path, name: str, data: bytes) -> bool:
    """Write ``folder/name`` atomically unless it already holds exactly ``data``; return whether it wrote.

    Reading a few KB back is far cheaper than replacing a file on most disks,
    and an unchanged page keeps its mtime, so syncing build/ to a static host
    only moves what changed.
    """
    try:
        with open(folder / name, "rb") as existing:
            if os.fstat(existing.fileno()).st_size == len(data) and existing.read() == data:
                return False
    except FileNotFoundError:
        pass
    write_atomic(folder, name, data)
    return True


def remove(folder: Path, name: str) -> bool:
    """Remove ``folder/name``; return whether it was there."""
    try:
        os.unlink(folder / name)
    except FileNotFoundError:
        return False
    return True


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
        finally:
            os.close(fd)
    os.sync()
