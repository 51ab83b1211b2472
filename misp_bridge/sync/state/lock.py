"""The run lock: one sync run at a time per state file, across processes.

The lock is an OS file lock on "<state file>.lock" (flock on POSIX, msvcrt on Windows), so the kernel
releases it when the holding process ends, even by SIGKILL: a killed run never leaves a stale lock behind.
The holder writes its pid into the file so that a waiting run can say who holds it. The file is opened
owner-only and never through a symbolic link (misp_bridge/output/files.py).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from misp_bridge.errors import RunLockHeld, StateError
from misp_bridge.output.files import UnsafePath, open_private

# How often a waiting run tries again; small against the default 10 s wait, large against a syscall.
POLL_INTERVAL = 0.1

# Windows locks byte ranges and refuses reads of a locked range, so the lock sits far past the pid text.
_WINDOWS_LOCK_OFFSET = 1 << 30

if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


def lock_path_for(state_file: Path) -> Path:
    return state_file.with_name(state_file.name + ".lock")


def _holder_pid(fd: int) -> int | None:
    """The pid the holder wrote, or None when it has not written it yet (or the text is unreadable)."""
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 32).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _write_pid(fd: int) -> None:
    os.lseek(fd, 0, os.SEEK_SET)
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode("ascii"))


@contextlib.contextmanager
def run_lock(state_file: Path, *, wait: float, sleep: Callable[[float], None]) -> Iterator[None]:
    """Hold the run lock for the body of the with-block; raise RunLockHeld after `wait` seconds.

    The waiting is counted in the amounts passed to `sleep`, not read from a clock, so a test can inject
    a sleep that returns at once and still see the full wait spent.
    """
    path = lock_path_for(state_file)
    try:
        # Owner-only and never through a symlink: the holder truncates the file to write its pid, and a
        # link planted in a shared directory must not make it truncate whatever the link points at.
        fd = open_private(path, os.O_RDWR | os.O_CREAT)
    except UnsafePath as exc:
        raise StateError(f"The lock file {path} {exc.strerror}.") from exc
    except OSError as exc:
        raise StateError(f"The lock file {path} cannot be opened ({exc.strerror}).") from exc
    try:
        remaining = max(wait, 0.0)
        while not _try_lock(fd):
            if remaining <= 0:
                raise RunLockHeld(str(state_file), _holder_pid(fd), wait)
            step = min(POLL_INTERVAL, remaining)
            sleep(step)
            remaining -= step
        try:
            _write_pid(fd)
            yield
        finally:
            # Clear the pid first: once unlocked, the file must not name a process that no longer holds it.
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            _unlock(fd)
    finally:
        os.close(fd)
