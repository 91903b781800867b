"""The site's page lock: one process writes pages at a time.

Every page writer (posting commands, ``build``, ``watch``) takes it before the
ledger's write lock: ``flock`` on ``paylink.lock`` in the site folder, freed by
the kernel if the holder dies.
"""

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_FILE = "paylink.lock"

_locks_guard = threading.Lock()
_locks: dict[str, "SiteLock"] = {}


class SiteLock:
    """``flock`` on the site's lock file, re-entrant within a process (a posting action's
    transaction calls the writer, which takes the lock again), one thread at a time."""

    def __init__(self, path: Path):
        self.path = path
        self.thread_lock = threading.RLock()
        self.depth = 0
        self.fd: int | None = None

    @contextmanager
    def held(self) -> Iterator[None]:
        with self.thread_lock:
            if self.depth == 0:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)  # waits while another writer works; freed if it dies
                except BaseException:
                    os.close(fd)
                    raise
                self.fd = fd
            self.depth += 1
            try:
                yield
            finally:
                self.depth -= 1
                if self.depth == 0 and self.fd is not None:
                    os.close(self.fd)  # releases the flock
                    self.fd = None


def site_lock(root: Path) -> SiteLock:
    """The page lock of the site at ``root``, shared by every writer in this process."""
    key = str(Path(root).absolute())
    with _locks_guard:
        lock = _locks.get(key)
        if lock is None:
            lock = _locks[key] = SiteLock(Path(key) / LOCK_FILE)
        return lock
