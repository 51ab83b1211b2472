"""Upload client for Sentinel's STIX objects API (and the legacy indicators API).

One `SentinelUploader` per workspace. `send()` delivers one batch, retrying as CONTRACTS.md section 4
requires: 429 waits for Retry-After (else the seconds in the message, else a back-off) and resends the SAME
batch, holding every worker of the workspace through the shared limiter; 5xx, timeouts and dropped
connections back off exponentially with jitter (tenacity), a bounded number of times; a 401 renews the
token once; 403 and 404 stop the workspace with a sentence naming the likely cause. Objects rejected inside
a 200 reply come back with their index so the caller can log their MISP attribute uuid.
`upload_all()` keeps a few batches in flight on worker threads to hide request latency, with a bounded
queue so memory stays flat.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from misp_bridge.azure.ratelimit import SlidingWindow
from misp_bridge.errors import SentinelError

log = logging.getLogger("misp_bridge.sentinel")

NEW_API_PATH = "/workspaces/{workspace_id}/threat-intelligence-stix-objects:upload"
LEGACY_API_PATH = "/{workspace_id}/threatintelligence:upload-indicators"
LEGACY_API_VERSION = "2022-07-01"
_TRY_AGAIN = re.compile(r"try again in (\d+(?:\.\d+)?) seconds?", re.IGNORECASE)


class Tokens(Protocol):
    def token(self, *, refresh: bool = False) -> str: ...


class WorkspaceRefused(SentinelError):
    """Sentinel refused this workspace (403, 404, repeated 401): no point sending more to it."""

    def __init__(self, workspace: str, status: int, cause: str) -> None:
        self.workspace = workspace
        self.status = status
        self.cause = cause
        where = f" (HTTP {status})" if status else ""
        super().__init__(f"Sentinel refused uploads to workspace {workspace}{where}: {cause}")


class _Transient(Exception):
    """A failure worth retrying; `wait` is the server's hint in seconds, if it gave one."""

    def __init__(self, reason: str, wait: float | None = None, throttled: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.wait = wait
        self.throttled = throttled


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


@dataclass
class UploadStats:
    requests: int = 0
    throttled: int = 0
    retried: int = 0
    token_refreshes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for key, value in counts.items():
                setattr(self, key, getattr(self, key) + value)


def retry_after_seconds(response: requests.Response, now: float | None = None) -> float | None:
    """The wait a 429/503 asks for: the Retry-After header (seconds or HTTP date), else the message."""
    header = response.headers.get("Retry-After")
    if header:
        header = header.strip()
        try:
            return max(0.0, float(header))
        except ValueError:
            parsed = email.utils.parsedate_to_datetime(header) if header else None
            if parsed is not None:
                return max(0.0, parsed.timestamp() - (time.time() if now is None else now))
    match = _TRY_AGAIN.search(response.text or "")
    if match:
        return float(match.group(1))
    return None


def backoff_delay(attempt: int, base: float, cap: float) -> float:
    """Exponential back-off with jitter for retry `attempt` (1-based): a random wait in the upper half
    of min(cap, base * 2**(attempt-1)), so parallel workers do not retry in step."""
    ceiling = min(cap, base * 2 ** (attempt - 1))
    return random.uniform(ceiling / 2, ceiling)  # jitter, not security


def _stix_id(obj: Mapping[str, Any]) -> str:
    return str(obj.get("id", ""))


class SentinelUploader:
    """Uploads batches of STIX objects to one workspace."""

    def __init__(
        self,
        *,
        workspace_id: str,
        label: str,
        tokens: Tokens,
        limiter: SlidingWindow,
        base_url: str = "https://api.ti.sentinel.azure.com",
        api_version: str = "2024-02-01-preview",
        legacy: bool = False,
        legacy_base_url: str = "https://sentinelus.azure-api.net",
        sourcesystem: str = "MISP",
        user_agent: str = "MISP-1.0",
        verify: bool | str = True,
        timeout: float = 60.0,
        max_attempts: int = 8,
        backoff: float = 1.0,
        backoff_cap: float = 60.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        response_log: Path | None = None,
    ) -> None:
        self.workspace_id = workspace_id
        self.label = label
        self._tokens = tokens
        self.limiter = limiter
        self.legacy = legacy
        if legacy:
            path = LEGACY_API_PATH.format(workspace_id=workspace_id)
            self.url = f"{legacy_base_url.rstrip('/')}{path}?api-version={LEGACY_API_VERSION}"
        else:
            path = NEW_API_PATH.format(workspace_id=workspace_id)
            self.url = f"{base_url.rstrip('/')}{path}?api-version={api_version}"
        self._sourcesystem = sourcesystem
        self._user_agent = user_agent
        self._verify = verify
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._backoff_cap = backoff_cap
        self._session = session or requests.Session()
        self._sleep = sleep
        self._clock = clock
        self._response_log = response_log
        self._log_lock = threading.Lock()
        self._token_lock = threading.Lock()
        self._token: str | None = None
        self.stats = UploadStats()
        self.stopped: WorkspaceRefused | None = None

    # -- one request -------------------------------------------------------------------------------

    def _bearer(self, refresh: bool = False) -> str:
        with self._token_lock:
            if refresh or self._token is None:
                self._token = self._tokens.token(refresh=refresh)
            return self._token

    def _body(self, objects: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        key = "value" if self.legacy else "stixobjects"
        return {"sourcesystem": self._sourcesystem, key: list(objects)}

    def _write_response(self, status: int, text: str) -> None:
        if self._response_log is None:
            return
        with self._log_lock, self._response_log.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({"workspace": self.label, "status": status, "body": text[:4000]}) + "\n")

    def _attempt(self, objects: Sequence[Mapping[str, Any]], state: dict[str, Any]) -> BatchResult:
        self.limiter.acquire()
        token = self._bearer(refresh=state.pop("refresh", False))
        headers = {
            "Authorization": f"Bearer {token}",
            "User-Agent": self._user_agent,
            "Content-Type": "application/json",
        }
        state["attempts"] += 1
        self.stats.add(requests=1)
        try:
            response = self._session.post(
                self.url,
                data=json.dumps(self._body(objects)),
                headers=headers,
                verify=self._verify,
                timeout=self._timeout,
            )
        except requests.exceptions.SSLError:
            # An untrusted certificate does not fix itself: retrying would only burn the run's time.
            raise WorkspaceRefused(
                self.label, 0, "the upload endpoint's TLS certificate is not trusted; set ms_ca_bundle"
            ) from None
        except requests.Timeout:
            raise _Transient("timed out") from None
        except requests.ConnectionError:
            raise _Transient("connection failed or dropped") from None
        status = response.status_code
        self._write_response(status, response.text)
        if status == 200:
            return self._accepted(objects, response, state)
        if status == 429:
            state["throttled"] += 1
            self.stats.add(throttled=1)
            raise _Transient("throttled (429)", retry_after_seconds(response), throttled=True)
        if status == 401:
            if state.get("refreshed"):
                raise WorkspaceRefused(
                    self.label,
                    401,
                    "the access token was refused twice; check the tenant and that the scope is "
                    "https://management.azure.com/.default",
                )
            state["refreshed"] = True
            state["refresh"] = True
            self.stats.add(token_refreshes=1)
            raise _Transient("token refused (401), renewing it", wait=0.0)
        if status == 403:
            raise WorkspaceRefused(
                self.label,
                403,
                "the app registration lacks the Microsoft Sentinel Contributor role on this workspace",
            )
        if status == 404:
            raise WorkspaceRefused(
                self.label, 404, "no such workspace: check workspace_id (the workspace GUID)"
            )
        if status >= 500 or status == 408:
            raise _Transient(f"server error (HTTP {status})", retry_after_seconds(response))
        # Any other 4xx: the request itself is wrong; resending it cannot help.
        message = _short(response.text) or f"HTTP {status}"
        rejected = tuple(Rejected(i, _stix_id(o), (message,)) for i, o in enumerate(objects))
        return BatchResult(
            objects,
            rejected=rejected,
            error=f"HTTP {status}: {message}",
            attempts=state["attempts"],
            throttled=state["throttled"],
        )

    def _accepted(
        self, objects: Sequence[Mapping[str, Any]], response: requests.Response, state: dict[str, Any]
    ) -> BatchResult:
        rejected: list[Rejected] = []
        text = response.text.strip()
        if text:
            try:
                payload = json.loads(text)
            except ValueError:
                payload = None
                log.warning(
                    "workspace %s: unexpected non-JSON body in a 200 reply: %s", self.label, _short(text)
                )
            errors = payload.get("errors") if isinstance(payload, dict) else None
            for item in errors or []:
                index = item.get("recordIndex") if isinstance(item, dict) else None
                if isinstance(index, int) and 0 <= index < len(objects):
                    messages = tuple(str(m) for m in item.get("errorMessages") or ["rejected"])
                    rejected.append(Rejected(index, _stix_id(objects[index]), messages))
        bad = {r.index for r in rejected}
        delivered = tuple(_stix_id(o) for i, o in enumerate(objects) if i not in bad)
        return BatchResult(
            objects,
            delivered=delivered,
            rejected=tuple(rejected),
            attempts=state["attempts"],
            throttled=state["throttled"],
        )

    # -- one batch with retries ----------------------------------------------------------------------

    def _wait(self, retry_state: RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        hint = exc.wait if isinstance(exc, _Transient) else None
        if hint is not None:
            # Hold every worker of this workspace, not just this one: the limit is shared.
            if isinstance(exc, _Transient) and exc.throttled:
                self.limiter.pause_until(self._clock() + hint)
                return 0.0
            return hint
        if isinstance(exc, _Transient) and exc.throttled:
            fallback = min(self._backoff_cap, 10.0 * retry_state.attempt_number)
            self.limiter.pause_until(self._clock() + fallback)
            return 0.0
        return backoff_delay(retry_state.attempt_number, self._backoff, self._backoff_cap)

    def send(self, objects: Sequence[Mapping[str, Any]]) -> BatchResult:
        """Deliver one batch (<= 100 objects). Raises WorkspaceRefused when the workspace must stop."""
        if self.stopped is not None:
            raise self.stopped
        state: dict[str, Any] = {"attempts": 0, "throttled": 0}
        retrying = Retrying(
            stop=stop_after_attempt(self._max_attempts),
            wait=self._wait,
            retry=retry_if_exception_type(_Transient),
            sleep=self._sleep,
            reraise=True,
            before_sleep=self._note_retry,
        )
        try:
            result: BatchResult = retrying(self._attempt, objects, state)
            return result
        except _Transient as exc:
            return BatchResult(
                objects,
                failed=tuple(_stix_id(o) for o in objects),
                error=f"{exc.reason} after {state['attempts']} attempts",
                attempts=state["attempts"],
                throttled=state["throttled"],
            )
        except WorkspaceRefused as exc:
            self.stopped = exc
            raise
        except SentinelError as exc:  # no token (AuthError, Entra down): this workspace cannot go on
            self.stopped = WorkspaceRefused(self.label, 401, str(exc))
            raise self.stopped from None

    def _note_retry(self, retry_state: RetryCallState) -> None:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        self.stats.add(retried=1)
        log.info("workspace %s: %s; retrying (attempt %d)", self.label, exc, retry_state.attempt_number + 1)

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


def _short(text: str, limit: int = 300) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
