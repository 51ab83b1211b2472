"""The one way this project talks to MISP: PyMISP behind `MispClient`, and one translation of its errors.

PyMISP reports trouble in three ways (docs/contracts.md, section 2): it raises for 5xx, HTML bodies and
network failures; it RETURNS `{"errors": (status, body)}` for a 4xx; and its constructor makes three
network calls, re-raising any failure as a bare PyMISPError with the real cause only on the exception
context. `translate()` turns every raised failure into one of the project's MISP errors and
`MispClient.checked()` does the same for error dicts, so no error dict travels further:

- MispUnavailable: unreachable, timed out (MispTimeout when the answer did not come in time), 5xx, or
  still rate-limited after the retries (worth trying again later);
- MispTlsError: the certificate is not trusted (names the caller's CA setting);
- MispKeyRefused: 403 "Authentication failed" (names where the caller's key comes from);
- MispBadReply: a 2xx that is not JSON (a login page, a proxy);
- MispRejected: MISP refused the request itself (validation, permission, not found).

What to do about a failure (spool the alert, stop the sync with exit 3) stays with each caller.

restSearch may be rate-limited per role (docs/contracts.md 2): over the limit MISP answers 429 and says
in `X-Rate-Limit-Reset` how many SECONDS remain in its window. PyMISP returns that 429 as an error dict
and keeps the headers to itself, so the client gives PyMISP an HTTP adapter that notes the header. A
client built with `throttle_attempts` > 1 waits that long (never more than MISP's window) and asks
again; the plugin, with its 15-second budget, keeps the default of one attempt.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests
import requests.adapters
from pymisp import PyMISP
from pymisp.exceptions import MISPServerError, PyMISPError, PyMISPUnexpectedResponse

from misp_bridge.errors import (
    MispBadReply,
    MispError,
    MispKeyRefused,
    MispRejected,
    MispServerFailed,
    MispTimeout,
    MispTlsError,
    MispUnavailable,
    untrusted_certificate,
)

log = logging.getLogger("misp_bridge.misp")

AUTH_FAILED = "Authentication failed"
Timeout = float | tuple[float, float]


def _root_cause(exc: BaseException) -> BaseException:
    """The requests/PyMISP error under PyMISP's constructor wrapper ("Unable to connect to MISP ...")."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(
            current, (requests.RequestException, MISPServerError, PyMISPUnexpectedResponse, MispError)
        ):
            return current
        current = current.__cause__ or current.__context__
    return exc


def translate(
    exc: BaseException, url: str, action: str, *, key_hint: str, tls_hint: str, url_hint: str
) -> MispError:
    """The project's error for anything PyMISP or requests raised while doing `action`."""
    cause = _root_cause(exc)
    if isinstance(cause, MispError):
        return cause  # ours, raised inside a PyMISP call (the plugin's budget ran out before a request)
    # A certificate checked and refused; a handshake cut short (a proxy closing) is an outage instead.
    tls = untrusted_certificate(cause) if isinstance(cause, requests.exceptions.SSLError) else None
    if tls is not None:
        return MispTlsError(url, tls_hint, tls[1])
    if isinstance(cause, requests.exceptions.ReadTimeout):
        return MispTimeout(f"MISP at {url} did not answer in time while {action}")
    if isinstance(cause, requests.Timeout):
        return MispUnavailable(f"MISP at {url} timed out while {action}")
    if isinstance(cause, requests.RequestException):
        return MispUnavailable(f"MISP at {url} is unreachable while {action}")
    if isinstance(cause, MISPServerError):
        return MispServerFailed(f"MISP at {url} failed with a server error while {action}")
    if isinstance(cause, PyMISPUnexpectedResponse):
        return MispBadReply(url, action, url_hint)
    text = str(exc)
    if AUTH_FAILED in text or "403" in text:
        return MispKeyRefused(url, key_hint)
    first = text.splitlines()[0] if text else type(exc).__name__
    return MispUnavailable(f"MISP at {url} could not be used while {action} ({first})")


def error_of(reply: Any) -> tuple[int | None, Any] | None:
    """(status, body) of a PyMISP error dict (`{"errors": (status, body)}`), else None."""
    if not isinstance(reply, Mapping) or "errors" not in reply:
        return None
    errors = reply["errors"]
    if isinstance(errors, (tuple, list)) and len(errors) == 2 and isinstance(errors[0], int):
        return errors[0], errors[1]
    return None, errors


def reason_of(body: Any) -> str:
    """The human part of a MISP error body ({"name", "message", "url"}), trimmed."""
    if isinstance(body, Mapping):
        for key in ("message", "name"):
            if body.get(key):
                return str(body[key])
    return str(body)[:200]


class BudgetedPyMISP(PyMISP):
    """PyMISP whose every request, the constructor's included, gets its timeout from `timeout_source`
    when it is sent (PyMISP reads `self.timeout` per request, but its constructor's three requests would
    all get the value it was built with). It also asks MISP for its version once (the constructor and
    MispClient.connect would ask twice) and uses the describeTypes PyMISP ships instead of fetching
    them: one round trip less per run, and the plugin sends only types that table knows."""

    def __init__(self, *args: Any, timeout_source: Callable[[], Timeout], **kwargs: Any) -> None:
        self._timeout_source = timeout_source
        self._version_reply: Any = None
        super().__init__(*args, **kwargs)

    def _prepare_request(self, *args: Any, **kwargs: Any) -> Any:
        self.timeout = self._timeout_source()
        return super()._prepare_request(*args, **kwargs)

    @property
    def misp_instance_version(self) -> Any:
        if self._version_reply is None:
            reply = super().misp_instance_version
            if error_of(reply) is not None:
                return reply
            self._version_reply = reply
        return self._version_reply

    @property
    def describe_types_remote(self) -> Any:
        return self.describe_types_local


# MISP's rate-limit window is fixed at 900 s (RateLimitComponent): a longer Reset is not MISP's.
RATE_WINDOW = 900.0
_THROTTLE_FALLBACK = 60.0  # seconds, when a 429 comes without X-Rate-Limit-Reset


class RateLimitHeaders(requests.adapters.HTTPAdapter):
    """PyMISP's HTTPS adapter, noting MISP's X-Rate-Limit-Reset (seconds) of the last reply."""

    def __init__(self) -> None:
        super().__init__()
        self.reset: float | None = None

    def build_response(self, req: requests.PreparedRequest, resp: Any) -> requests.Response:
        response = super().build_response(req, resp)
        try:
            self.reset = float(response.headers.get("X-Rate-Limit-Reset", ""))
        except ValueError:
            self.reset = None
        return response


class MispClient:
    """PyMISP for one MISP and one key; built on first use (its constructor is network I/O).

    `timeout` is a number or (connect, read), or a callable giving one before every call (the plugin's
    shrinking time budget). `key_hint`, `tls_hint` and `url_hint` finish the sentences of MispKeyRefused,
    MispTlsError and MispBadReply: where the caller's user sets the key, the CA and the URL.
    """

    def __init__(
        self,
        url: str,
        key: str,
        *,
        verify: bool | str = True,
        timeout: Timeout | Callable[[], Timeout] = 30.0,
        key_hint: str,
        tls_hint: str,
        url_hint: str,
        tool: str = "misp-bridge",
        factory: Callable[..., PyMISP] | None = None,
        throttle_attempts: int = 1,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = url.rstrip("/")
        self._key = key
        self._verify = verify
        self._timeout = timeout
        self._key_hint = key_hint
        self._tls_hint = tls_hint
        self._url_hint = url_hint
        self._tool = tool
        if factory is None and callable(timeout):
            source = timeout
            factory = lambda *a, **kw: BudgetedPyMISP(*a, timeout_source=source, **kw)  # noqa: E731
        self._factory = factory or PyMISP
        self._client: PyMISP | None = None
        self._headers = RateLimitHeaders()
        self._throttle_attempts = max(1, throttle_attempts)
        self._sleep = sleep
        self.throttled = 0  # 429s met (and waited out)
        self.version: str | None = None

    def _current_timeout(self) -> Timeout:
        return self._timeout() if callable(self._timeout) else self._timeout

    def translate(self, exc: BaseException, action: str) -> MispError:
        return translate(
            exc, self.url, action, key_hint=self._key_hint, tls_hint=self._tls_hint, url_hint=self._url_hint
        )

    def connect(self) -> PyMISP:
        """Construct PyMISP (three network calls); raises a MispError."""
        if self._client is None:
            try:
                client = self._factory(
                    self.url,
                    self._key,
                    ssl=self._verify,
                    timeout=self._current_timeout(),
                    tool=self._tool,
                    https_adapter=self._headers,
                )
                version = client.misp_instance_version
            except (requests.RequestException, PyMISPError) as exc:
                raise self.translate(exc, "connecting") from None
            self.checked(version, "the version query")
            self.version = str(version.get("version")) if isinstance(version, Mapping) else None
            self._client = client
        return self._client

    def call(self, action: str, operation: Callable[[PyMISP], Any]) -> Any:
        """PyMISP's raw reply to `operation` (an error dict included); raised failures translated. A 429
        is waited out (X-Rate-Limit-Reset) and asked again, up to `throttle_attempts` in all."""
        client = self.connect()
        for attempt in range(1, self._throttle_attempts + 1):
            client.timeout = self._current_timeout()
            try:
                reply = operation(client)
            except Exception as exc:  # noqa: BLE001 - PyMISP raises many types; translate() sorts them
                raise self.translate(exc, action) from None
            found = error_of(reply)
            if found is None or found[0] != 429:
                return reply
            self.throttled += 1
            wait = self._headers.reset
            wait = _THROTTLE_FALLBACK * attempt if wait is None else min(max(wait, 1.0), RATE_WINDOW)
            if attempt == self._throttle_attempts:
                raise MispUnavailable(
                    f"MISP at {self.url} kept refusing {action} with 429 (its rate limit for this user's "
                    f"role) after {attempt} attempts; its window resets in {wait:.0f} s"
                )
            log.warning(
                "MISP at %s: rate limit reached while %s; waiting %.0f s (X-Rate-Limit-Reset) to ask again",
                self.url,
                action,
                wait,
            )
            self._sleep(wait)
        raise AssertionError("unreachable")  # the loop returns or raises

    def checked(self, reply: Any, action: str) -> Any:
        """`reply`, unless it is an error dict: then MispKeyRefused (403 to the key) or MispRejected."""
        found = error_of(reply)
        if found is None:
            return reply
        status, body = found
        if status == 403 and AUTH_FAILED in reason_of(body):
            raise MispKeyRefused(self.url, self._key_hint)
        raise MispRejected(action, status, reason_of(body))
