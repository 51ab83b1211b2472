"""The one interface of the sync's state, whatever keeps it (docs/azure-function.md, "State").

Two implementations keep the same data: `State` (store.py), one SQLite file beside the tools, and
`TableState` (tables.py), an Azure Storage table for a Function whose workers keep no disk between runs.
Everything the sync does with its state goes through these methods; `tests/sync/test_state.py` runs the
same tests against both.

Contract, per workspace key (the workspace GUID):
- classify: (stix_id, content hash) -> "new" (never recorded), "unchanged" (delivered with this hash),
  "rejected" (refused with this hash), "revoked" (its id was revoked: final), else "changed";
- record_delivered / record_rejected / record_revoked: answers of Sentinel; each also removes the ids
  from the pending queue; a delivered version stays recorded when a later one is rejected;
- the pending queue keeps bodies to resend, oldest first; a repeat failure keeps its place, takes the
  new body and counts attempts; `pending` and `uploaded_body_ids` read page by page and hold nothing
  between pages, so their loop may write;
- generations and marks (revocation.py), and a log of the last runs;
- `lock()`: one run at a time, across processes and machines; a run that died never blocks the next
  for good. Reads need no lock; every writer of the sync holds it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, Protocol

from misp_bridge.sync.indicator import Indicator

Status = Literal["new", "changed", "unchanged", "rejected", "revoked"]


@dataclass(frozen=True)
class Pending:
    """An indicator that could not be delivered (transient failure), kept with its body to be resent,
    and how many sends of it have failed so far."""

    indicator: Indicator
    attempts: int


def status_of(
    content_hash: bytes, delivered: bytes | None, rejected: bytes | None, revoked: object
) -> Status:
    """What a recorded indicator is, given the digest of the content now offered (both backends)."""
    # Revocation is final: an indicator MISP still offers under a revoked id must come back under the
    # id of its next generation (the caller asks next_generation for it).
    if revoked:
        return "revoked"
    if delivered == content_hash:
        return "unchanged"
    if rejected == content_hash:
        return "rejected"
    return "changed"


class StateStore(Protocol):
    """What a run needs from its state; see the module docstring for the contract."""

    @property
    def where(self) -> str:
        """Names the store in messages ("the state file /var/lib/...", "the state table x at ...")."""
        ...

    # -- lifecycle
    def lock(
        self, *, wait: float = ..., sleep: Callable[[float], None] = ...
    ) -> AbstractContextManager[None]: ...

    def close(self) -> None: ...

    def __enter__(self) -> StateStore: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    # -- indicators
    def classify(self, workspace: str, items: Sequence[tuple[str, str]]) -> dict[str, Status]: ...

    def record_delivered(self, workspace: str, items: Sequence[Indicator]) -> None: ...

    def record_rejected(self, workspace: str, items: Sequence[tuple[Indicator, str]]) -> None: ...

    def record_revoked(self, workspace: str, items: Sequence[Indicator | str]) -> None: ...

    def uploaded_for_attributes(
        self, workspace: str, attribute_uuids: Sequence[str]
    ) -> dict[str, list[str]]: ...

    def known_ids(self, workspace: str, stix_ids: Sequence[str]) -> set[str]: ...

    def uploaded_body_ids(
        self, workspace: str, *, expired_before: str | None = None, event_uuid: str | None = None
    ) -> Iterator[tuple[str, str, str]]: ...

    def is_empty(self, workspace: str) -> bool: ...

    # -- pending
    def add_pending(self, workspace: str, items: Sequence[Indicator]) -> None: ...

    def pending(self, workspace: str) -> Iterator[Pending]: ...

    def pending_count(self, workspace: str) -> int: ...

    def drop_pending(self, workspace: str, stix_ids: Sequence[str]) -> None: ...

    # -- generations and marks (revocation)
    def generations(self, workspace: str, base_ids: Sequence[str]) -> dict[str, int]: ...

    def current(self, workspace: str, items: Sequence[Indicator]) -> list[Indicator]: ...

    def next_generation(
        self, workspace: str, items: Sequence[Indicator], *, persist: bool = True
    ) -> tuple[list[Indicator], list[Indicator]]: ...

    def mark(self, workspace: str, name: str) -> float | None: ...

    def set_mark(self, workspace: str, name: str, value: float) -> None: ...

    # -- runs
    def start_run(self, kind: str) -> int: ...

    def finish_run(self, run_id: int, summary: Mapping[str, Any], exit_code: int) -> None: ...

    def last_runs(self, n: int = 10) -> list[dict[str, Any]]: ...
