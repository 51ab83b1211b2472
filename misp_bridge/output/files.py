"""Files the tools write (logs, state, lock, spool, reply logs): owner-only, never through a symlink.

A file that holds threat intelligence or alert text is created with mode 0600 and opened with
O_NOFOLLOW, so a symlink planted where the file should be (in a shared directory, a spool another user
can write) makes the write fail instead of overwriting whatever the link points at. An existing file of
ours that is readable by others is brought back to 0600. Directories are created 0700.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import uuid
from pathlib import Path
from typing import IO

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # 0 on Windows, which has no symlink attack of this kind


class UnsafePath(OSError):
    """A path the tools refuse to write through (a symlink, a non-regular file)."""


def _refuse_link(path: Path, exc: OSError) -> OSError:
    if exc.errno in (errno.ELOOP, errno.EMLINK) or path.is_symlink():
        return UnsafePath(errno.ELOOP, "is a symbolic link; refusing to write through it", str(path))
    return exc


def _tighten(fd: int) -> None:
    """An existing file we own that others can read is brought back to owner-only."""
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise UnsafePath(errno.EINVAL, "is not a regular file")
    if stat.S_IMODE(info.st_mode) & 0o077 and info.st_uid == os.geteuid():
        os.fchmod(fd, PRIVATE_FILE)


def open_private(path: Path, flags: int = os.O_WRONLY | os.O_CREAT, *, exclusive: bool = False) -> int:
    """A file descriptor for `path`, created 0600, never through a symlink; O_EXCL when `exclusive`."""
    flags |= _NOFOLLOW | (os.O_EXCL if exclusive else 0)
    try:
        fd = os.open(path, flags, PRIVATE_FILE)
    except OSError as exc:
        raise _refuse_link(path, exc) from exc
    try:
        _tighten(fd)
    except OSError:
        os.close(fd)
        raise
    return fd


def open_text(path: Path, mode: str = "a") -> IO[str]:
    """A text stream on a private file: "a" appends, "w" truncates (after the checks, not before)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode == "a" else 0)
    fd = open_private(path, flags)
    if mode == "w":
        os.ftruncate(fd, 0)
    return os.fdopen(fd, mode, encoding="utf-8")


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` all at once: a fresh 0600 temporary file beside it (O_EXCL), fsync,
    rename. A symlink at `path` is replaced by the file, never followed."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    fd = open_private(tmp, os.O_WRONLY | os.O_CREAT, exclusive=True)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def ensure_private_dir(path: Path) -> None:
    """Create `path` (and its parents) with mode 0700 where missing; an existing one is left as it is."""
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
