"""The spool: prepared events kept on disk while MISP cannot take them.

One JSON file per alert, written atomically (tmp file, fsync, os.replace) with mode 0600. A file holds
the event, the MISP URL, when the alert was first seen and how many sends were tried; never the API
key. File names start with the first-seen time in milliseconds, so name order is age order. Events
MISP refused for good move to `failed/` with the reason, so a bad event is never retried forever.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from misp_bridge.errors import SpoolError

FAILED = "failed"
LOCK_NAME = ".lock"
LOCK_WAIT = 0.5  # a cron flush and an alert rarely overlap; the alert must not wait long for it
_POLL = 0.05


@dataclass(frozen=True)
class SpoolRecord:
    """One spooled event."""

    event: Mapping[str, Any]
    misp_url: str
    first_seen: float
    attempts: int = 0
    attacker_ip: str | None = None
    ip_attribute_uuid: str | None = None
    failed_reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "event": dict(self.event),
            "misp_url": self.misp_url,
            "first_seen": self.first_seen,
            "attempts": self.attempts,
            "attacker_ip": self.attacker_ip,
            "ip_attribute_uuid": self.ip_attribute_uuid,
            "failed_reason": self.failed_reason,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SpoolRecord:
        return cls(
            event=dict(data["event"]),
            misp_url=str(data["misp_url"]),
            first_seen=float(data["first_seen"]),
            attempts=int(data.get("attempts", 0)),
            attacker_ip=data.get("attacker_ip"),
            ip_attribute_uuid=data.get("ip_attribute_uuid"),
            failed_reason=data.get("failed_reason"),
        )


def _write_atomic(path: Path, payload: Mapping[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    data = json.dumps(payload, indent=1, sort_keys=True).encode("utf-8")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
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


class Spool:
    """The spool directory. `clock` gives the epoch; `sleep` waits for the lock (both injectable)."""

    def __init__(
        self,
        directory: Path,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.directory = directory
        self.failed_dir = directory / FAILED
        self._clock = clock
        self._sleep = sleep
        self._monotonic = monotonic

    def _ensure(self, directory: Path) -> None:
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise SpoolError(directory, f"cannot be created ({exc.strerror})") from exc

    def add(self, record: SpoolRecord) -> Path:
        """Write a new spool file; its path."""
        self._ensure(self.directory)
        name = f"{int(record.first_seen * 1000):015d}-{uuid.uuid4().hex[:12]}.json"
        path = self.directory / name
        try:
            _write_atomic(path, record.to_json())
        except OSError as exc:
            raise SpoolError(path, f"cannot be written ({exc.strerror})") from exc
        return path

    def pending(self) -> list[Path]:
        """Spooled files, oldest first."""
        if not self.directory.is_dir():
            return []
        return sorted(p for p in self.directory.glob("*.json") if p.is_file())

    def load(self, path: Path) -> SpoolRecord:
        try:
            return SpoolRecord.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SpoolError(path, "cannot be read as a spooled event") from exc

    def update(self, path: Path, record: SpoolRecord) -> None:
        try:
            _write_atomic(path, record.to_json())
        except OSError as exc:
            raise SpoolError(path, f"cannot be written ({exc.strerror})") from exc

    def remove(self, path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()

    def fail(self, path: Path, reason: str, record: SpoolRecord | None = None) -> Path:
        """Move a file to failed/ with the reason; its new path. An unreadable file moves as is."""
        self._ensure(self.failed_dir)
        target = self.failed_dir / path.name
        try:
            if record is not None:
                _write_atomic(target, replace(record, failed_reason=reason).to_json())
                self.remove(path)
            else:
                os.replace(path, target)
                target.with_name(target.name + ".reason").write_text(reason + "\n", encoding="utf-8")
        except OSError as exc:
            raise SpoolError(target, f"cannot be written ({exc.strerror})") from exc
        return target

    def add_failed(self, record: SpoolRecord, reason: str) -> Path:
        """Keep an event MISP refused for good (never retried) in failed/."""
        self._ensure(self.failed_dir)
        name = f"{int(record.first_seen * 1000):015d}-{uuid.uuid4().hex[:12]}.json"
        target = self.failed_dir / name
        _write_atomic(target, replace(record, failed_reason=reason).to_json())
        return target

    @contextlib.contextmanager
    def lock(self, wait: float = LOCK_WAIT) -> Iterator[bool]:
        """Hold spool/.lock while replaying; yields False when another run kept it for the whole wait."""
        self._ensure(self.directory)
        fd = os.open(self.directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            deadline = self._monotonic() + wait
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                        raise
                    if self._monotonic() >= deadline:
                        yield False
                        return
                    self._sleep(_POLL)
            try:
                yield True
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def now(self) -> float:
        return self._clock()
