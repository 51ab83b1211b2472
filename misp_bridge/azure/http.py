"""The one way this project sends a request to a Microsoft API, and the one answer to "what happens on 429".

`AzureSender.post()` sends a JSON body with a bearer token and retries, under one policy
(docs/contracts.md, sections 4 and 5):

- every attempt first takes a slot from the API's own rate limiter (`SlidingWindow`), so a retry counts
  against the same budget as any other request, and the upload API's budget is never spent by the
  management API or a probe (each has a limiter of its own);
- 429: the whole API is held through `limiter.pause_until()` for Retry-After (else the seconds in the
  message, else a growing fallback), then the SAME request is sent again; no bare sleep;
- 5xx, 408, timeouts and dropped connections: exponential back-off with jitter (or Retry-After);
- 401: the token is renewed once and the request sent again at once; a second 401 is the caller's;
- a 200 the caller's `check` does not recognise as the API's answer (a proxy's HTML page, a reply cut
  short) counts as no answer: retried with back-off like a dropped connection, never taken as success;
- a TLS certificate checked and refused raises AzureTlsError at once (retrying cannot fix it); a
  handshake cut short is retried like a dropped connection;
- once the caller's `stop()` says the run is stopping (its time budget is spent), no request is sent
  AGAIN: the reply so far is final, so a run near its deadline never waits out a back-off.

What the final answer means (accepted, refused, which advice) is for each API's client to decide: the
sender returns a `Reply` with the last response (or, when the network never answered, the reason).
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
from tenacity import RetryCallState, Retrying, retry_if_result

from misp_bridge.azure.ratelimit import SlidingWindow
from misp_bridge.errors import AzureTlsError, untrusted_certificate

log = logging.getLogger("misp_bridge.azure")

_TRY_AGAIN = re.compile(r"try again in (\d+(?:\.\d+)?) seconds?", re.IGNORECASE)


class Tokens(Protocol):
    def token(self, *, refresh: bool = False) -> str: ...


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts a request gets and how long to wait between them."""

    max_attempts: int = 8
    backoff: float = 1.0  # first back-off ceiling, doubled per attempt
    backoff_cap: float = 60.0
    throttle_fallback: float = 10.0  # seconds per attempt held after a 429 that gives no wait


DEFAULT_POLICY = RetryPolicy()
# A probe answers at once: a 429 or a 500 is reported, not waited out.
SINGLE_ATTEMPT = RetryPolicy(max_attempts=1)


@dataclass(frozen=True)
class Reply:
    """The final answer to one post: the response, or why there is none; and what it took."""

    response: requests.Response | None
    attempts: int
    throttled: int
    problem: str | None = None  # set when response is None: why nothing usable came back
    renew_token: bool = field(default=False, repr=False)  # a first 401: resend at once with a new token

    @property
    def status(self) -> int:
        return self.response.status_code if self.response is not None else 0


@dataclass
class SenderStats:
    """Counts across every post of one sender; threads may add at once."""

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
    header = (response.headers.get("Retry-After") or "").strip()
    if header:
        try:
            return max(0.0, float(header))
        except ValueError:
            try:
                parsed = email.utils.parsedate_to_datetime(header)
            except (TypeError, ValueError):
                parsed = None
            if parsed is not None:
                return max(0.0, parsed.timestamp() - (time.time() if now is None else now))
    match = _TRY_AGAIN.search(response.text or "")
    return float(match.group(1)) if match else None


def role_missing(response: requests.Response) -> bool:
    """True when the body says the caller lacks a role (`UnauthorizedAccess`, `AuthorizationFailed`),
    whatever the status: Sentinel has been seen answering a missing role with a 401."""
    try:
        payload = response.json()
    except ValueError:
        return False
    error = payload.get("error") if isinstance(payload, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code in ("UnauthorizedAccess", "AuthorizationFailed")


def backoff_delay(attempt: int, base: float, cap: float) -> float:
    """Exponential back-off with jitter for retry `attempt` (1-based): a random wait in the upper half
    of min(cap, base * 2**(attempt-1)), so parallel workers do not retry in step."""
    ceiling = min(cap, base * 2 ** (attempt - 1))
    return random.uniform(ceiling / 2, ceiling)  # jitter, not security


def _transient(status: int) -> bool:
    return status >= 500 or status in (408, 429)


@dataclass
class _Call:
    """The state of one post across its attempts."""

    url: str
    body: str
    observe: Callable[[requests.Response], None] | None
    check: Callable[[requests.Response], str | None] | None = None
    attempts: int = 0
    throttled: int = 0
    refresh: bool = False
    refreshed: bool = False


class AzureSender:
    """Posts JSON to one Microsoft API (see the module docstring). Safe to share between threads."""

    def __init__(
        self,
        *,
        tokens: Tokens,
        limiter: SlidingWindow,
        user_agent: str,
        verify: bool | str,
        timeout: float,
        policy: RetryPolicy = DEFAULT_POLICY,
        ca_setting: str = "ms_ca_bundle",
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        stop: Callable[[], bool] | None = None,
    ) -> None:
        self.tokens = tokens
        self.limiter = limiter
        self._user_agent = user_agent
        self._verify = verify
        self._timeout = timeout
        self.policy = policy
        self._ca_setting = ca_setting
        self._session = session or requests.Session()
        self._sleep = sleep
        self._clock = clock
        self._stop = stop
        self.stats = SenderStats()

    def close(self) -> None:
        self._session.close()

    def post(
        self,
        url: str,
        body: Mapping[str, Any],
        *,
        observe: Callable[[requests.Response], None] | None = None,
        check: Callable[[requests.Response], str | None] | None = None,
    ) -> Reply:
        """Send `body` to `url` under the retry policy; `observe` sees every response (a reply log);
        `check` says why a 200 is not the API's answer (None when it is)."""
        call = _Call(url, json.dumps(dict(body)), observe, check)
        retrying = Retrying(
            stop=self._give_up,
            wait=self._wait,
            retry=retry_if_result(self._worth_retrying),
            retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
            sleep=self._pause,
            before_sleep=self._note_retry,
            reraise=True,
        )
        reply: Reply = retrying(self._attempt, call)
        return reply

    # -- one attempt ---------------------------------------------------------------------------------

    def _give_up(self, state: RetryCallState) -> bool:
        """No further attempt: the policy's are used up, or the caller's run is stopping."""
        if state.attempt_number >= max(1, self.policy.max_attempts):
            return True
        return self._stop is not None and self._stop()

    def _attempt(self, call: _Call) -> Reply:
        self.limiter.acquire()
        if call.attempts and self._stop is not None and self._stop():
            # A 429 pause may have outlasted the run's budget: this retry is not sent.
            return Reply(None, call.attempts, call.throttled, "not sent again: the run is stopping")
        token = self.tokens.token(refresh=call.refresh)
        call.refresh = False
        call.attempts += 1
        self.stats.add(requests=1)
        headers = {
            "Authorization": f"Bearer {token}",
            "User-Agent": self._user_agent,
            "Content-Type": "application/json",
        }
        try:
            response = self._session.post(
                call.url, data=call.body, headers=headers, verify=self._verify, timeout=self._timeout
            )
        except requests.exceptions.SSLError as exc:
            refused = untrusted_certificate(exc)
            if refused is None:  # the handshake was cut short (a proxy, a reset): worth another try
                return Reply(None, call.attempts, call.throttled, "the TLS handshake was cut short")
            raise AzureTlsError(urlsplit(call.url).netloc or call.url, self._ca_setting, refused[1]) from None
        except requests.Timeout:
            return Reply(None, call.attempts, call.throttled, "timed out")
        except requests.ConnectionError:
            return Reply(None, call.attempts, call.throttled, "could not connect, or the connection dropped")
        if call.observe is not None:
            call.observe(response)
        if response.status_code == 200 and call.check is not None:
            problem = call.check(response)
            if problem is not None:
                return Reply(None, call.attempts, call.throttled, problem)
        if response.status_code == 429:
            call.throttled += 1
            self.stats.add(throttled=1)
        renew = response.status_code == 401 and not call.refreshed
        if renew:
            call.refreshed = call.refresh = True  # a token expired mid-run: renew it once
            self.stats.add(token_refreshes=1)
        return Reply(response, call.attempts, call.throttled, renew_token=renew)

    @staticmethod
    def _worth_retrying(reply: Reply) -> bool:
        return reply.response is None or reply.renew_token or _transient(reply.status)

    # -- waiting -------------------------------------------------------------------------------------

    def _pause(self, seconds: float) -> None:
        # A 429 and a token renewal wait 0 here (the limiter does the waiting): no sleep call for them.
        if seconds > 0:
            self._sleep(seconds)

    def _wait(self, state: RetryCallState) -> float:
        reply: Reply | None = state.outcome.result() if state.outcome and not state.outcome.failed else None
        attempt = state.attempt_number
        if reply is None or reply.response is None:
            return backoff_delay(attempt, self.policy.backoff, self.policy.backoff_cap)
        if reply.renew_token:
            return 0.0
        status = reply.status
        hint = retry_after_seconds(reply.response)
        if status == 429:
            # Hold every caller of this API, not just this one: the limit is the API's.
            fallback = min(self.policy.backoff_cap, self.policy.throttle_fallback * attempt)
            hold = hint if hint is not None else fallback
            self.limiter.pause_until(self._clock() + hold)
            return 0.0
        return (
            hint if hint is not None else backoff_delay(attempt, self.policy.backoff, self.policy.backoff_cap)
        )

    def _note_retry(self, state: RetryCallState) -> None:
        self.stats.add(retried=1)
        reply = state.outcome.result() if state.outcome and not state.outcome.failed else None
        why = (reply.problem or f"HTTP {reply.status}") if reply is not None else "failed"
        log.info(
            "%s: %s; retrying (attempt %d)", urlsplit(_url(state)).hostname, why, state.attempt_number + 1
        )


def _url(state: RetryCallState) -> str:
    call = state.args[0] if state.args else None
    return call.url if isinstance(call, _Call) else ""
