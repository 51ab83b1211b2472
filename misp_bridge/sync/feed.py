"""The upload feed of one workspace: batches in, a worker thread sending them, the state updated.

`put()` adds an item to the current batch; a full batch goes into a small bounded queue that a thread
drains through `SentinelUploader.upload_all` (its own few requests in flight and the shared limiter).
That thread records every answer at once: delivered -> `record_delivered` (a revocation:
`record_revoked`), rejected -> `record_rejected` (logged with the MISP attribute uuid), failed after the
retries -> `add_pending` for the next run (revocations too: they are retried like any upload). An upload
Sentinel refuses because its id was revoked goes out again, in the same run, under the id of the
indicator's next generation (docs/mapping.md "Ids").
`drain()` (and leaving the `with` block) sends the partial batch and waits until every batch is answered.
After Sentinel refuses the workspace, whatever is still put is kept pending without sending. Once the
run's deadline passes (`RunContext.deadline`), nothing new is sent either: items put, batches still
queued and batches the uploader had not started are kept pending (an item that came from the pending
queue simply stays there); batches on the wire are answered and recorded as usual.
A dry run only counts what would go.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from misp_bridge.azure.upload import BatchResult
from misp_bridge.errors import WorkspaceRefused
from misp_bridge.sync.context import RunContext, WorkspaceTarget
from misp_bridge.sync.indicator import Indicator

log = logging.getLogger("misp_bridge.sync")

_END = object()
_PUT_POLL = 0.2  # seconds between checks that the sender thread is still alive while the queue is full


@dataclass
class UploadTotals:
    """Counts of one feed (the summary gets the same numbers, per workspace), and one sentence per
    problem a caller may want to report (a refused revocation, why a batch was kept pending)."""

    delivered: int = 0
    revoked: int = 0
    rejected: int = 0
    failed: int = 0
    deferred: int = 0  # kept pending unsent because the run was stopping
    would_upload: int = 0
    refused: str | None = None
    problems: list[str] = field(default_factory=list)


# How Sentinel says an id was revoked (its wording is undocumented: docs/contracts.md 4). A refusal of
# an upload for this reason means the id is spent; a refusal of a revocation means it is already done.
_REVOKED = re.compile(r"\brevoked\b", re.IGNORECASE)


def refused_as_revoked(messages: Sequence[str]) -> bool:
    return any(_REVOKED.search(message) for message in messages)


class UploadFeed:
    """See the module docstring. Use as a context manager; `put` is for the creating thread only."""

    def __init__(
        self,
        ctx: RunContext,
        target: WorkspaceTarget,
        *,
        on_batch: Callable[[list[Indicator], list[str]], None] | None = None,
    ) -> None:
        self._ctx = ctx
        self._target = target
        self._on_batch = on_batch
        self._size = ctx.settings.ms_max_indicators_request
        self._workers = ctx.settings.ms_max_parallel_requests
        self._buffer: list[Indicator] = []
        self._queue: queue.Queue[object] | None = None
        self._thread: threading.Thread | None = None
        self._crash: BaseException | None = None
        self._ended = False
        # Batch object id -> (the batch itself, its items); the batch is kept so its id stays unique.
        self._inflight: dict[int, tuple[list[Mapping[str, Any]], list[Indicator]]] = {}
        self._lock = threading.Lock()
        self._again: list[Indicator] = []  # refused as revoked: to send under their next generation
        self._held: list[Indicator] = []  # put after the deadline: kept pending in bulk
        self._from_pending: set[str] = set()  # ids put from the pending queue (they are kept already)
        self._reported = 0  # deferred items already logged
        self.totals = UploadTotals()

    # -- the caller's side ---------------------------------------------------------------------------

    def __enter__(self) -> UploadFeed:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Also on an error (MISP failed mid-run): what was already queued is still delivered or kept.
        self.drain()

    @property
    def refused(self) -> WorkspaceRefused | None:
        return self._target.uploader.stopped

    def put(self, item: Indicator, *, from_pending: bool = False) -> None:
        if self._ctx.dry_run:
            self.totals.would_upload += 1
            self._ctx.summary.count(self._target.label, "would_upload")
            return
        if self.refused is not None:
            if not from_pending:  # a pending one is already kept
                self._keep_pending([item])
            return
        if self._ctx.deadline.passed():
            if not from_pending:
                self._held.append(item)
                if len(self._held) >= self._size:
                    self._park(self._held)
                    self._held = []
            return
        if from_pending:
            with self._lock:
                self._from_pending.add(item.stix_id)
        self._buffer.append(item)
        if len(self._buffer) >= self._size:
            self._send(self._buffer)
            self._buffer = []

    def drain(self) -> None:
        """Send the partial batch and wait until every batch has its answer recorded; what Sentinel
        refused as revoked goes out again under its next generation's id, until none is left."""
        while True:
            if self._held:
                held, self._held = self._held, []
                self._park(held)
            if self._buffer:
                batch, self._buffer = self._buffer, []
                if self.refused is not None:
                    self._keep_pending(batch)
                else:
                    self._send(batch)
            if self._thread is not None and self._queue is not None:
                if self._thread.is_alive():  # it reads until _END, so alive means the put cannot block
                    self._queue.put(_END)
                self._thread.join()
                self._thread = self._queue = None
            if self._crash is not None:
                crash, self._crash = self._crash, None
                raise crash
            with self._lock:
                again, self._again = self._again, []
            if not again:
                self._report_deferred()
                return
            for item in again:
                self.put(item)

    def _send(self, items: list[Indicator]) -> None:
        if self._ctx.deadline.passed():
            self._park(items)
            return
        if self._thread is None:
            self._ended = False
            self._queue = queue.Queue(maxsize=max(2, self._workers))
            self._thread = threading.Thread(
                target=self._consume, name=f"feed-{self._target.label}", daemon=True
            )
            self._thread.start()
        assert self._queue is not None
        while True:
            try:
                self._queue.put(items, timeout=_PUT_POLL)
                return
            except queue.Full:
                if not self._thread.is_alive():
                    self.drain()  # raises the sender's crash
                    self._keep_pending(items)
                    return

    # -- the sender thread -------------------------------------------------------------------------

    def _batches(self) -> Iterator[Sequence[Mapping[str, Any]]]:
        assert self._queue is not None
        while not self._ended:
            entry = self._queue.get()
            if entry is _END:
                self._ended = True  # a second reader (after a crash) must not wait for another one
                return
            items: list[Indicator] = entry  # type: ignore[assignment]
            if self._ctx.deadline.passed():
                self._park(items)  # queued, never started: kept for the next run
                continue
            bodies = [item.body for item in items]
            with self._lock:
                self._inflight[id(bodies)] = (bodies, items)
            yield bodies

    def _consume(self) -> None:
        uploader = self._target.uploader
        try:
            for result in uploader.upload_all(self._batches(), workers=self._workers):
                self._record(result)
        except WorkspaceRefused as exc:
            self.totals.refused = str(exc)
            self._ctx.summary.error(self._target.label, str(exc))
            log.error("%s; its remaining indicators are kept for the next run", exc)  # noqa: TRY400
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread by drain()
            self._crash = exc
            # Keep reading so the caller never blocks on a full queue, and keep every unanswered item.
            for _batch in self._batches():
                pass
            with self._lock:
                unanswered = [item for _bodies, items in self._inflight.values() for item in items]
                self._inflight.clear()
            with contextlib.suppress(BaseException):  # the state may be what failed; the crash is reported
                self._keep_pending(unanswered)

    def _record(self, result: BatchResult) -> None:
        with self._lock:
            _bodies, items = self._inflight.pop(id(result.objects), (list(result.objects), []))
        if not items:  # not ours (cannot happen), but never lose track of objects silently
            log.error("workspace %s: an upload answer matched no batch", self._target.label)
            return
        try:
            self._record_items(result, items)
        except BaseException:
            # Sentinel may hold them, the state cannot say so: resend next run (an upsert, harmless).
            with contextlib.suppress(BaseException):
                self._keep_pending(items)
            raise

    def _record_items(self, result: BatchResult, items: list[Indicator]) -> None:
        if result.unsent:  # the uploader did not start it: the run was stopping
            self._park(items)
            if self._on_batch is not None:
                self._on_batch(items, [])
            return
        by_id = {item.stix_id: item for item in items}
        delivered = [by_id[stix_id] for stix_id in result.delivered if stix_id in by_id]
        done: list[Indicator] = []
        refused: list[tuple[Indicator, str]] = []
        spent: list[Indicator] = []
        for rejected in result.rejected:
            item, messages = items[rejected.index], rejected.messages
            if refused_as_revoked(messages):
                (done if item.is_revocation else spent).append(item)
            else:
                refused.append((item, "; ".join(messages)))
        self._record_delivered(delivered + done)
        self._record_refused(refused)
        self._next_generation(spent)
        failed = [by_id[stix_id] for stix_id in result.failed if stix_id in by_id]
        if failed:
            if self.refused is None:
                log.warning(
                    "workspace %s: %d indicators not delivered (%s); kept for the next run",
                    self._target.label,
                    len(failed),
                    result.error,
                )
            self.totals.problems.append(f"{len(failed)} kept to send again next run: {result.error}")
            self._keep_pending(failed)
        if self._on_batch is not None:
            self._on_batch(items, [item.stix_id for item in delivered + done])

    def _record_delivered(self, delivered: list[Indicator]) -> None:
        """Uploads become delivered rows; revocations mark their id revoked for good."""
        state, key, label = self._ctx.state, self._target.key, self._target.label
        revocations = [item for item in delivered if item.is_revocation]
        uploads = [item for item in delivered if not item.is_revocation]
        if uploads:
            state.record_delivered(key, uploads)
            self.totals.delivered += len(uploads)
            self._ctx.summary.count(label, "uploaded", len(uploads))
        if revocations:
            state.record_revoked(key, revocations)
            self.totals.revoked += len(revocations)
            self._ctx.summary.count(label, "revoked", len(revocations))

    def _record_refused(self, refused: list[tuple[Indicator, str]]) -> None:
        state, key, label = self._ctx.state, self._target.key, self._target.label
        uploads = [(item, message) for item, message in refused if not item.is_revocation]
        for item, message in refused:
            log.warning(
                "workspace %s: Sentinel rejected %s%s (MISP attribute %s, event %s): %s",
                label,
                "the revocation of " if item.is_revocation else "",
                item.stix_id,
                item.attribute_uuid or "unknown",
                item.event_uuid or "unknown",
                message,
            )
            if item.is_revocation:
                self.totals.problems.append(f"{item.stix_id}: {message}")
        if uploads:
            state.record_rejected(key, uploads)
        # A refused revocation cannot succeed by being sent again: it leaves the pending list.
        state.drop_pending(key, [item.stix_id for item, _ in refused if item.is_revocation])
        self.totals.rejected += len(refused)
        if refused:
            self._ctx.summary.count(label, "rejected", len(refused))

    def _next_generation(self, spent: list[Indicator]) -> None:
        """Uploads refused because their id was revoked (the state did not know: a lost state file):
        the id is recorded as revoked and the indicator goes again under its next generation's id."""
        if not spent:
            return
        state, key, label = self._ctx.state, self._target.key, self._target.label
        state.record_revoked(key, spent)
        moved, stuck = state.next_generation(key, spent)
        log.info(
            "workspace %s: %d indicators were revoked in Sentinel earlier; sending them under new ids",
            label,
            len(moved),
        )
        with self._lock:
            self._again.extend(moved)
        if stuck:
            message = "refused as revoked under every new id tried"
            state.record_rejected(key, [(item, message) for item in stuck])
            self.totals.rejected += len(stuck)
            self._ctx.summary.count(label, "rejected", len(stuck))

    def _park(self, items: Sequence[Indicator]) -> None:
        """Keep unsent items pending because the run is stopping; those from the queue stay as they are."""
        with self._lock:
            fresh = [item for item in items if item.stix_id not in self._from_pending]
            self.totals.deferred += len(items)
        if fresh:
            self._ctx.state.add_pending(self._target.key, fresh)

    def _report_deferred(self) -> None:
        with self._lock:
            deferred = self.totals.deferred - self._reported
            self._reported = self.totals.deferred
        if deferred:
            log.info(
                "workspace %s: %d indicators not sent because the run is stopping; kept for the next run",
                self._target.label,
                deferred,
            )

    def _keep_pending(self, items: Sequence[Indicator]) -> None:
        self._ctx.state.add_pending(self._target.key, items)
        self.totals.failed += len(items)
        self._ctx.summary.count(self._target.label, "failed", len(items))
