"""The spool: every alert is written here BEFORE anything can fail, and removed once MISP has it.

Lifecycle of one record (one JSON file per alert):

1. written: the run's first act after reading its arguments (`Spool.write`): the alert as Pandora gave
   it, the MISP URL (normalised, without credentials) and when it was first seen; never the key. The
   file is created 0600 through misp_bridge/output/files.py (O_EXCL temporary, O_NOFOLLOW, fsync,
   rename) and locked (flock) before its name appears, so a concurrent replay never takes it;
2. sent: the run (or a later replay, which claims the file with a non-blocking flock) builds the
   event and sends it; on success the file is unlinked while still locked;
3. kept: a transient failure leaves it with `attempts` and `next_try` (back-off); a permanent one
   moves it to `failed/` with its reason.

A kill at any moment therefore leaves the alert on disk (or already in MISP). File names start with
the first-seen time in milliseconds, so name order is age order. The directory is trusted only when
the running user owns it and nobody else can write to it: a spool others can write could be fed
forged alerts that would be sent under the plugin's key. Nothing inside it is followed through a
symlink.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import stat
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from misp_bridge.errors import SpoolError
from misp_bridge.output.files import PRIVATE_FILE, UnsafePath, ensure_private_dir, open_private, write_atomic

FAILED = "failed"
SUFFIX = ".json"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
MAX_RECORD_BYTES = 1 << 20  # a record is the alert (<= 128 KiB per field) and a few fields


def normalise_url(url: str) -> str:
    """The MISP URL as records compare it: scheme and host lower-case, default port and trailing "/"
    dropped, credentials never kept (they must not reach a file)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return url.strip().rstrip("/")
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    scheme = parts.scheme.lower()
    if port is not None and (scheme, port) not in (("https", 443), ("http", 80)):
        host = f"{host}:{port}"
    return f"{scheme}://{host}{parts.path.rstrip('/')}"


@dataclass(frozen=True)
class AlertFields:
    """The alert and the options that shape its event: everything a later replay needs to build it."""

    agent: str
    name: str
    data: str
    tlp: str = "tlp:green"
    sharing: int = 0
    threat_level: int | None = None
    category: str | None = None
    tags: tuple[str, ...] = ()
    agent_addresses: tuple[str, ...] = ()
    never_report: tuple[str, ...] = ()
    dedup_hours: float = 24.0
    rules: str | None = None  # the operator's rules file, if any

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AlertFields:
        return cls(
            agent=str(data["agent"]),
            name=str(data["name"]),
            data=str(data["data"]),
            tlp=str(data.get("tlp", "tlp:green")),
            sharing=int(data.get("sharing", 0)),
            threat_level=None if data.get("threat_level") is None else int(data["threat_level"]),
            category=None if data.get("category") is None else str(data["category"]),
            tags=tuple(str(t) for t in data.get("tags", ())),
            agent_addresses=tuple(str(a) for a in data.get("agent_addresses", ())),
            never_report=tuple(str(n) for n in data.get("never_report", ())),
            dedup_hours=float(data.get("dedup_hours", 24.0)),
            rules=None if data.get("rules") is None else str(data["rules"]),
        )


@dataclass(frozen=True)
class SpoolRecord:
    """One kept alert. `event` is set only for records written by earlier versions (a built event)."""

    misp_url: str
    first_seen: float
    alert: AlertFields | None = None
    event: Mapping[str, Any] | None = None
    record_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    attempts: int = 0
    next_try: float = 0.0
    last_error: str | None = None
    failed_reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 2,
            "record_id": self.record_id,
            "misp_url": self.misp_url,
            "first_seen": self.first_seen,
            "attempts": self.attempts,
            "next_try": self.next_try,
            "last_error": self.last_error,
            "failed_reason": self.failed_reason,
            "alert": None if self.alert is None else asdict(self.alert),
            "event": None if self.event is None else dict(self.event),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SpoolRecord:
        alert = data.get("alert")
        event = data.get("event")
        if not isinstance(alert, Mapping) and not isinstance(event, Mapping):
            raise ValueError("neither an alert nor an event")  # noqa: TRY004 - a bad record, not a bad call
        return cls(
            misp_url=normalise_url(str(data["misp_url"])),
            first_seen=float(data["first_seen"]),
            alert=AlertFields.from_json(alert) if isinstance(alert, Mapping) else None,
            event=dict(event) if isinstance(event, Mapping) and not isinstance(alert, Mapping) else None,
            record_id=str(
                data.get("record_id") or uuid.uuid5(uuid.NAMESPACE_OID, json.dumps(data, sort_keys=True)).hex
            ),
            attempts=int(data.get("attempts", 0)),
            next_try=float(data.get("next_try", 0.0)),
            last_error=data.get("last_error"),
            failed_reason=data.get("failed_reason"),
        )


class Held:
    """A spool file this run holds the lock on (released when closed)."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self.fd = fd

    def close(self) -> None:
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = -1


def _lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EACCES):
            return False
        raise
    return True


def _encode(record: SpoolRecord) -> bytes:
    return json.dumps(record.to_json(), indent=1, sort_keys=True).encode("utf-8")


class Spool:
    """One spool directory (see the module docstring). `clock` gives the epoch."""

    def __init__(self, directory: Path, *, clock: Callable[[], float]) -> None:
        self.directory = directory
        self.failed_dir = directory / FAILED
        self._clock = clock

    def now(self) -> float:
        return self._clock()

    # --- trust ------------------------------------------------------------------------------------

    def ensure(self) -> None:
        """Create the directory (0700) if missing and check it can be trusted; SpoolError if not."""
        try:
            ensure_private_dir(self.directory)
        except OSError as exc:
            raise SpoolError(self.directory, f"cannot be created ({exc.strerror or exc})") from exc
        self.check()

    def check(self, directory: Path | None = None) -> None:
        """SpoolError unless `directory` (the spool itself by default) is a real directory, owned by
        the running user, that no other user can write to."""
        where = directory or self.directory
        try:
            info = os.lstat(where)
        except OSError as exc:
            raise SpoolError(where, f"cannot be read ({exc.strerror or exc})") from exc
        if not stat.S_ISDIR(info.st_mode):
            raise SpoolError(where, "is not a directory (a symbolic link or a file); refusing to use it")
        if info.st_uid != os.geteuid():
            raise SpoolError(
                where, f"is owned by uid {info.st_uid}, not by the running user; refusing to use it"
            )
        if info.st_mode & 0o022:
            mode = stat.S_IMODE(info.st_mode)
            raise SpoolError(where, f"can be written by other users (mode {mode:o}); refusing to use it")
        if not os.access(where, os.W_OK | os.X_OK):
            raise SpoolError(where, "is not writable by the running user")

    # --- writing ----------------------------------------------------------------------------------

    def write(self, record: SpoolRecord) -> Held:
        """Write a new record, locked before its name appears; the held file."""
        name = f"{int(record.first_seen * 1000):015d}-{record.record_id[:16]}{SUFFIX}"
        return self._write_locked(self.directory / name, record)

    def _write_locked(self, path: Path, record: SpoolRecord) -> Held:
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            fd = open_private(tmp, os.O_RDWR | os.O_CREAT, exclusive=True)
        except OSError as exc:
            raise SpoolError(path, f"cannot be written ({exc.strerror or exc})") from exc
        try:
            _lock(fd)
            os.write(fd, _encode(record))
            os.fsync(fd)
            os.replace(tmp, path)
        except BaseException as exc:  # a SIGTERM too: no temporary file is left behind
            os.close(fd)
            with contextlib.suppress(OSError):
                tmp.unlink()
            if isinstance(exc, OSError):
                raise SpoolError(path, f"cannot be written ({exc.strerror or exc})") from exc
            raise
        return Held(path, fd)

    def update(self, held: Held, record: SpoolRecord) -> None:
        """Replace a held record's content; the lock moves to the new file with it."""
        fresh = self._write_locked(held.path, record)
        held.close()
        held.fd = fresh.fd

    def done(self, held: Held) -> None:
        """The record reached MISP: remove it (still locked, so nobody sends it again) and release."""
        with contextlib.suppress(FileNotFoundError):
            held.path.unlink()
        held.close()

    # --- reading ----------------------------------------------------------------------------------

    def pending(self) -> list[Path]:
        """Records waiting, oldest first: regular files only (a symlink is never followed)."""
        try:
            entries = list(os.scandir(self.directory))
        except OSError:
            return []
        return sorted(
            Path(e.path)
            for e in entries
            if e.name.endswith(SUFFIX) and not e.name.startswith(".") and e.is_file(follow_symlinks=False)
        )

    def claim(self, path: Path) -> Held | None:
        """The record at `path`, locked for this run; None when another run holds it or it is gone."""
        try:
            fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
        except OSError:
            return None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_nlink == 0 or not _lock(fd):
                os.close(fd)
                return None
            if os.fstat(fd).st_nlink == 0:  # sent and removed by the run we waited for
                os.close(fd)
                return None
        except OSError:
            os.close(fd)
            return None
        return Held(path, fd)

    def read(self, held: Held) -> SpoolRecord:
        """The record a held file holds; SpoolError when it cannot be used (then it goes to failed/)."""
        try:
            info = os.fstat(held.fd)
            os.lseek(held.fd, 0, os.SEEK_SET)
            raw = os.read(held.fd, MAX_RECORD_BYTES + 1)
        except OSError as exc:
            raise SpoolError(held.path, f"cannot be read ({exc.strerror or exc})") from exc
        if info.st_uid != os.geteuid():
            raise SpoolError(held.path, "is not owned by the running user")
        if len(raw) > MAX_RECORD_BYTES:
            raise SpoolError(held.path, "is too large to be a spooled alert")
        try:
            return SpoolRecord.from_json(json.loads(raw.decode("utf-8")))
        except (ValueError, KeyError, TypeError) as exc:
            raise SpoolError(held.path, f"cannot be read as a spooled alert ({type(exc).__name__})") from exc

    # --- failures ---------------------------------------------------------------------------------

    def fail(self, held: Held, reason: str, record: SpoolRecord | None = None) -> Path:
        """Move a held record to failed/ with the reason (kept, never retried); its new path."""
        try:
            ensure_private_dir(self.failed_dir)
            self.check(self.failed_dir)
            target = self.failed_dir / held.path.name
            if record is not None:
                write_atomic(target, _encode(replace(record, failed_reason=reason)))
                held.path.unlink()
            else:
                os.replace(held.path, target)  # an unreadable file moves as it is, with a note beside it
                write_atomic(target.with_name(target.name + ".reason"), (reason + "\n").encode("utf-8"))
        except (OSError, UnsafePath) as exc:
            raise SpoolError(self.failed_dir, f"cannot be written ({exc.strerror or exc})") from exc
        finally:
            held.close()
        return target

    def note(self, name: str) -> Path:
        """A marker file in failed/ (e.g. one per blocklisted event, to explain it once)."""
        return self.failed_dir / f".{name}"

    def mark(self, name: str) -> bool:
        """Create failed/.<name> once; True if this call created it."""
        try:
            ensure_private_dir(self.failed_dir)
            fd = open_private(self.note(name), os.O_WRONLY | os.O_CREAT, exclusive=True)
        except FileExistsError:
            return False
        except OSError:
            return True  # cannot remember: say it again rather than never
        os.close(fd)
        return True

    def failed(self) -> Iterator[Path]:
        if self.failed_dir.is_dir():
            yield from sorted(self.failed_dir.glob(f"*{SUFFIX}"))


__all__ = ["FAILED", "PRIVATE_FILE", "AlertFields", "Held", "Spool", "SpoolRecord", "normalise_url"]
