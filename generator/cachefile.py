"""Private cache files in the site folder (settings, page cache): read only if ours, written atomically.

A cache only ever saves work: a file that is missing, not ours, readable by
others, too large or unwritable means no cache, never an error.
"""

import os
from pathlib import Path


def read_private(path: Path, max_bytes: int) -> bytes | None:
    """The bytes of ``path`` if it is a regular file of ours, mode 0600 or stricter, at most ``max_bytes``."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb") as file:
            info = os.fstat(file.fileno())
            if info.st_uid != os.getuid() or info.st_mode & 0o077 or info.st_size > max_bytes:
                return None
            return file.read()
    except OSError:
        return None


def write_private(path: Path, data: bytes) -> None:
    """Write ``path`` atomically, mode 0600; a folder we may not write in just means no cache."""
    temp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(temp, path)
    except OSError:
        try:
            temp.unlink(missing_ok=True)
        except OSError:
            pass
