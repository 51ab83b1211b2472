"""What the Sentinel stand-in holds: workspaces, stored STIX objects (every version, for query lag),
the per-workspace and per-user rate windows, and the logs tests inspect. Thread-safe; time comes from an
injectable clock so rate windows and lag need no real waiting.
"""

from __future__ import annotations

import base64
import math
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sandbox.sentinel.stix import Observable, observables, parse_time

_NAMES = uuid.UUID("5d6c3a8e-0f1e-4b5a-9c2d-7e8f90a1b2c3")  # namespace for the stable ARM names


@dataclass(frozen=True)
class Workspace:
    workspace_id: str
    name: str
    subscription_id: str
    resource_group: str
    contributors: frozenset[str]  # appids holding Microsoft Sentinel Contributor


@dataclass(frozen=True)
class StoredObject:
    """One version of a STIX object as Sentinel keeps it."""

    workspace_id: str
    source: str
    stix: dict[str, Any]
    received: float  # clock time of ingestion; queries see it after `query_lag`
    via: str  # "upload" or "legacy"
    seq: int  # first-seen order of its key, for a stable default query order
    observables: tuple[Observable, ...]

    @property
    def stix_id(self) -> str:
        return str(self.stix["id"])

    @property
    def matchable(self) -> bool:
        return bool(self.observables)

    @property
    def identity(self) -> str:
        """Sentinel's own key: base64(sourcesystem) + '---' + STIX id."""
        return base64.b64encode(self.source.encode()).decode() + "---" + self.stix_id

    @property
    def name(self) -> str:
        """The ARM resource name: a guid that stays the same for every version of the object."""
        return str(uuid.uuid5(_NAMES, f"{self.workspace_id}/{self.identity}"))


class UploadRecord(NamedTuple):
    time: float
    workspace_id: str
    n_objects: int
    status: int


class RateViolation(NamedTuple):
    time: float
    workspace_id: str
    oid: str
    retry_after: float


@dataclass
class RateWindow:
    """A sliding window of `max_requests` per `window_seconds` for any number of keys."""

    max_requests: int
    window_seconds: float
    _hits: dict[str, deque[float]] = field(default_factory=dict)

    def _trim(self, key: str, now: float) -> deque[float]:
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.window_seconds:
            hits.popleft()
        return hits

    def wait(self, keys: list[str], now: float) -> float:
        """Seconds until every key has room (0 when it has room now)."""
        waits = [0.0]
        for key in keys:
            hits = self._trim(key, now)
            if len(hits) >= self.max_requests:
                waits.append(hits[len(hits) - self.max_requests] + self.window_seconds - now)
        return max(waits)

    def record(self, keys: list[str], now: float) -> None:
        for key in keys:
            self._hits.setdefault(key, deque()).append(now)


class SentinelStore:
    """Workspaces and their objects, shared by the upload, legacy and management handlers."""

    def __init__(self, clock: Callable[[], float], max_requests: int, window_seconds: float) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self.workspaces: dict[str, Workspace] = {}
        self.window = RateWindow(max_requests, window_seconds)
        self.upload_requests: list[UploadRecord] = []
        self.rate_violations: list[RateViolation] = []
        self._versions: dict[str, dict[tuple[str, str], list[StoredObject]]] = {}
        self._seq = 0

    def add_workspace(self, workspace: Workspace) -> None:
        with self.lock:
            self.workspaces[workspace.workspace_id] = workspace
            self._versions.setdefault(workspace.workspace_id, {})

    def by_name(self, subscription_id: str, resource_group: str, name: str) -> Workspace | None:
        with self.lock:
            for workspace in self.workspaces.values():
                if (workspace.subscription_id, workspace.resource_group.lower(), workspace.name.lower()) == (
                    subscription_id,
                    resource_group.lower(),
                    name.lower(),
                ):
                    return workspace
        return None

    def upsert(self, workspace_id: str, source: str, stix: dict[str, Any], via: str) -> None:
        """Store a validated object; an older `modified` than the one held does not replace it."""
        key = (source, str(stix["id"]))
        with self.lock:
            versions = self._versions[workspace_id].setdefault(key, [])
            if versions:
                held, incoming = parse_time(versions[-1].stix["modified"]), parse_time(stix["modified"])
                if held is not None and incoming is not None and incoming < held:
                    return
                seq = versions[0].seq
            else:
                self._seq += 1
                seq = self._seq
            pattern = stix.get("pattern") if stix.get("pattern_type") == "stix" else None
            found = observables(pattern) if isinstance(pattern, str) else ()
            versions.append(StoredObject(workspace_id, source, stix, self.clock(), via, seq, found))

    def revoked(self, workspace_id: str, source: str, stix_id: str) -> bool:
        """True when the object is held and its latest version is revoked (revocation is final)."""
        with self.lock:
            versions = self._versions.get(workspace_id, {}).get((source, stix_id)) or []
            return bool(versions) and bool(versions[-1].stix.get("revoked", False))

    def latest(self, workspace_id: str, visible_before: float | None = None) -> list[StoredObject]:
        """The newest version of each object (received at or before `visible_before` if given)."""
        with self.lock:
            result = []
            for versions in self._versions.get(workspace_id, {}).values():
                seen = [v for v in versions if visible_before is None or v.received <= visible_before]
                if seen:
                    result.append(seen[-1])
            return sorted(result, key=lambda v: v.seq)

    def retry_after(self, wait: float, precision: int) -> float:
        """A Retry-After value: whole seconds rounded up, or `precision` decimals for scaled windows."""
        if precision <= 0:
            return float(max(1, math.ceil(wait)))
        step: float = 0.1**precision
        return round(max(step, math.ceil(wait / step - 1e-9) * step), precision)

    def max_in_window(self, workspace_id: str | None = None) -> int:
        """The most requests any workspace had counted within one window length (for benchmarks)."""
        with self.lock:
            counted = [r for r in self.upload_requests if r.status not in (401, 403, 404, 429)]
        best = 0
        for ws in {r.workspace_id for r in counted if workspace_id in (None, r.workspace_id)}:
            times = sorted(r.time for r in counted if r.workspace_id == ws)
            start = 0
            for end, now in enumerate(times):
                while times[start] <= now - self.window.window_seconds:
                    start += 1
                best = max(best, end - start + 1)
        return best
