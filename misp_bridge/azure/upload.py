"""Upload client for Sentinel's STIX objects API (and the legacy indicators API): what an answer means.

One `SentinelUploader` per workspace. `send()` delivers one batch through the workspace's `AzureSender`
(misp_bridge/azure/http.py: rate limit, 429, back-off and token renewal all live there) and reads the
final answer (docs/contracts.md, section 4). Only Sentinel's own answer counts as evidence: a 200 with an
empty body delivers every object, a 200 with a JSON `errors` list delivers all but those it names; any
other 200 (a proxy's HTML page, a reply cut short) is retried like a dropped connection and, if it
persists, leaves the batch failed (kept pending by the caller), never delivered. A 400 with the same list
rejects the objects it names, each with its own messages (the others are kept to send again); 403 and
404 (and a 401 after a renewed token) stop the workspace with a sentence naming the likely cause; a 429
or 5xx that outlasted the retries leaves the batch failed; any other 4xx rejects the batch. Rejected
objects come back with their index so the caller can log their MISP attribute uuid. `upload_all()`
keeps a few batches in flight on worker threads to hide request latency, with a bounded queue so memory
stays flat.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from misp_bridge.azure.http import AzureSender, Reply, SenderStats, role_missing
from misp_bridge.errors import AuthError, SentinelError, WorkspaceRefused
from misp_bridge.output.files import open_text

log = logging.getLogger("misp_bridge.sentinel")

NEW_API_PATH = "/workspaces/{workspace_id}/threat-intelligence-stix-objects:upload"
LEGACY_API_PATH = "/{workspace_id}/threatintelligence:upload-indicators"
LEGACY_API_VERSION = "2022-07-01"
CONTRIBUTOR_ROLE = "Microsoft Sentinel Contributor"

# Final statuses that stop the workspace, and why (a 401 is final only after a renewed token).
REFUSALS: dict[int, str] = {
    401: "the access token was refused twice; check the tenant and that the scope is "
    "https://management.azure.com/.default",
    403: f"the app registration lacks the {CONTRIBUTOR_ROLE} role on this workspace",
    404: "no such workspace: check workspace_id (the workspace GUID)",
}


def upload_url(base_url: str, workspace_id: str, api_version: str, *, legacy: bool) -> str:
    """The upload endpoint of one workspace (the legacy API has its own host and api-version)."""
    if legacy:
        path = LEGACY_API_PATH.format(workspace_id=workspace_id)
        return f"{base_url.rstrip('/')}{path}?api-version={LEGACY_API_VERSION}"
    path = NEW_API_PATH.format(workspace_id=workspace_id)
    return f"{base_url.rstrip('/')}{path}?api-version={api_version}"


def upload_body(sourcesystem: str, objects: Sequence[Mapping[str, Any]], *, legacy: bool) -> dict[str, Any]:
    return {"sourcesystem": sourcesystem, ("value" if legacy else "stixobjects"): list(objects)}


@dataclass(frozen=True)
class Rejected:
    index: int
    stix_id: str
    messages: tuple[str, ...]


@dataclass(frozen=True)
class BatchResult:
    """What happened to one batch: every object is in exactly one of delivered, rejected, failed."""

    objects: Sequence[Mapping[str, Any]]
    delivered: tuple[str, ...] = ()
    rejected: tuple[Rejected, ...] = ()
    failed: tuple[str, ...] = ()
    error: str | None = None
    attempts: int = 0
    throttled: int = 0
    unsent: bool = False  # never sent: the run was stopping (every object is in failed)


# Why a batch queued when the run stopped taking work was not sent (it stays pending for the next run).
NOT_SENT = "not sent: the run is stopping"


def reply_problem(response: requests.Response) -> str | None:
    """Why a 200 is not Sentinel's answer (None when it is): its body must be empty or a JSON object
    whose `errors` list names objects of the batch by index."""
    text = response.text.strip()
    if not text:
        return None
    try:
        payload = json.loads(text)
    except ValueError:
        kind = response.headers.get("Content-Type") or "no content type"
        return f"a 200 reply that is not Sentinel's ({kind}, {len(text)} characters: {_short(text, 80)})"
    errors = payload.get("errors") if isinstance(payload, dict) else None
    if not isinstance(errors, list) or not all(_entry(item) is not None for item in errors):
        return f"a 200 reply whose JSON is not Sentinel's per-object error list: {_short(text, 80)}"
    return None


def _entry(item: Any) -> tuple[int, tuple[str, ...]] | None:
    """(recordIndex, messages) of one per-object error entry, or None when it is not one."""
    if not isinstance(item, dict):
        return None
    index = item.get("recordIndex")
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        return None
    messages = item.get("errorMessages")
    texts = tuple(str(m) for m in messages) if isinstance(messages, list) and messages else ("rejected",)
    return index, texts


def _listed(objects: Sequence[Mapping[str, Any]], payload: Any) -> list[Rejected]:
    """The objects a per-object error list names (entries out of range are ignored)."""
    errors = payload.get("errors") if isinstance(payload, dict) else None
    found: dict[int, Rejected] = {}
    for item in errors if isinstance(errors, list) else ():
        entry = _entry(item)
        if entry is not None and entry[0] < len(objects) and entry[0] not in found:
            found[entry[0]] = Rejected(entry[0], _stix_id(objects[entry[0]]), entry[1])
    return [found[index] for index in sorted(found)]


def _stix_id(obj: Mapping[str, Any]) -> str:
    return str(obj.get("id", ""))


def _short(text: str, limit: int = 300) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class SentinelUploader:
    """Uploads batches of STIX objects to one workspace."""

    def __init__(
        self,
        *,
        sender: AzureSender,
        url: str,
        label: str,
        sourcesystem: str,
        legacy: bool = False,
        response_log: Path | None = None,
        stopping: Callable[[], bool] | None = None,
    ) -> None:
        self.sender = sender
        self.url = url
        self.label = label
        self.legacy = legacy
        self._sourcesystem = sourcesystem
        self._response_log = response_log
        self._log_lock = threading.Lock()
        self._stopping = stopping
        self.stopped: WorkspaceRefused | None = None

    @property
    def stats(self) -> SenderStats:
        return self.sender.stats

    def _write_response(self, response: requests.Response) -> None:
        if self._response_log is None:
            return
        line = json.dumps(
            {"workspace": self.label, "status": response.status_code, "body": response.text[:4000]}
        )
        with self._log_lock, open_text(self._response_log, "a") as handle:  # 0600, never via a link
            handle.write(line + "\n")

    # -- one batch -----------------------------------------------------------------------------------

    def send(self, objects: Sequence[Mapping[str, Any]]) -> BatchResult:
        """Deliver one batch (<= 100 objects). Raises WorkspaceRefused when the workspace must stop."""
        if self.stopped is not None:
            raise self.stopped
        if self._stopping is not None and self._stopping():
            # Queued behind the requests in flight when the run's deadline passed: kept, not sent.
            return BatchResult(
                objects, failed=tuple(_stix_id(o) for o in objects), error=NOT_SENT, unsent=True
            )
        try:
            reply = self.sender.post(
                self.url,
                upload_body(self._sourcesystem, objects, legacy=self.legacy),
                observe=self._write_response,
                check=reply_problem,
            )
            return self._judge(objects, reply)
        except WorkspaceRefused as exc:
            self.stopped = exc
            raise
        except SentinelError as exc:  # no token (AuthError, Entra down), untrusted TLS: cannot go on
            status = 401 if isinstance(exc, AuthError) else 0
            self.stopped = WorkspaceRefused(self.label, status, str(exc))
            raise self.stopped from None

    def _judge(self, objects: Sequence[Mapping[str, Any]], reply: Reply) -> BatchResult:
        response = reply.response
        if response is None:
            reason = f"{reply.problem} after {reply.attempts} attempts"
            return BatchResult(
                objects,
                failed=tuple(_stix_id(o) for o in objects),
                error=reason,
                attempts=reply.attempts,
                throttled=reply.throttled,
            )
        status = response.status_code
        if status == 200:
            return self._accepted(objects, response, reply)
        if status in REFUSALS:
            # A missing role may come back as a 401 carrying UnauthorizedAccess (docs/contracts.md 4).
            cause = REFUSALS[403] if role_missing(response) else REFUSALS[status]
            raise WorkspaceRefused(self.label, status, cause)
        if status == 429 or status >= 500 or status == 408:
            what = "throttled (429)" if status == 429 else f"server error (HTTP {status})"
            failed = tuple(_stix_id(o) for o in objects)
            return BatchResult(
                objects,
                failed=failed,
                error=f"{what} after {reply.attempts} attempts",
                attempts=reply.attempts,
                throttled=reply.throttled,
            )
        if status == 400:
            listed = self._per_object(objects, response, reply)
            if listed is not None:
                return listed
        # Any other 4xx: the request itself is wrong; resending it cannot help.
        message = _short(response.text) or f"HTTP {status}"
        rejected = tuple(Rejected(i, _stix_id(o), (message,)) for i, o in enumerate(objects))
        return BatchResult(
            objects,
            rejected=rejected,
            error=f"HTTP {status}: {message}",
            attempts=reply.attempts,
            throttled=reply.throttled,
        )

    def _accepted(
        self, objects: Sequence[Mapping[str, Any]], response: requests.Response, reply: Reply
    ) -> BatchResult:
        """A 200 the sender's check passed: empty, or a per-object error list."""
        text = response.text.strip()
        rejected = _listed(objects, json.loads(text)) if text else []
        bad = {r.index for r in rejected}
        delivered = tuple(_stix_id(o) for i, o in enumerate(objects) if i not in bad)
        return BatchResult(
            objects,
            delivered=delivered,
            rejected=tuple(rejected),
            attempts=reply.attempts,
            throttled=reply.throttled,
        )

    def _per_object(
        self, objects: Sequence[Mapping[str, Any]], response: requests.Response, reply: Reply
    ) -> BatchResult | None:
        """A 400 carrying the per-object list: those named are rejected with their own messages; the
        others were not stored either, and go again next run. None when the 400 has no such list."""
        try:
            rejected = _listed(objects, response.json())
        except ValueError:
            return None
        if not rejected:
            return None
        bad = {r.index for r in rejected}
        failed = tuple(_stix_id(o) for i, o in enumerate(objects) if i not in bad)
        return BatchResult(
            objects,
            rejected=tuple(rejected),
            failed=failed,
            error="HTTP 400 naming other objects of the batch" if failed else None,
            attempts=reply.attempts,
            throttled=reply.throttled,
        )

    # -- many batches in parallel -------------------------------------------------------------------

    def upload_all(
        self, batches: Iterable[Sequence[Mapping[str, Any]]], *, workers: int = 4
    ) -> Iterator[BatchResult]:
        """Send every batch with up to `workers` requests in flight; yields results as they finish.

        When the workspace is refused, the batches not yet sent come back as failed (to be kept as
        pending) and the WorkspaceRefused is re-raised after the in-flight ones finish.
        """
        workers = max(1, workers)
        refused: WorkspaceRefused | None = None
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"upload-{self.label}") as pool:
            in_flight: dict[Future[BatchResult], Sequence[Mapping[str, Any]]] = {}
            iterator = iter(batches)
            exhausted = False
            while in_flight or not exhausted:
                while not exhausted and refused is None and len(in_flight) < workers * 2:
                    batch = next(iterator, None)
                    if batch is None:
                        exhausted = True
                        break
                    in_flight[pool.submit(self.send, batch)] = batch
                if refused is not None and not exhausted:
                    for batch in iterator:
                        yield BatchResult(batch, failed=tuple(_stix_id(o) for o in batch), error=str(refused))
                    exhausted = True
                if not in_flight:
                    break
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    batch = in_flight.pop(future)
                    try:
                        yield future.result()
                    except WorkspaceRefused as exc:
                        refused = refused or exc
                        yield BatchResult(batch, failed=tuple(_stix_id(o) for o in batch), error=str(exc))
        if refused is not None:
            raise refused
