"""Entra ID tokens for the Sentinel APIs, through msal's client-credentials flow.

One `TokenProvider` per workspace. msal caches the token in memory and renews it when less than five
minutes are left; `token(refresh=True)` forces a new one after a 401. Entra's AADSTS errors come back from
msal as dicts: they become an `AuthError` whose sentence says what to fix, never the secret.

Entra ID failing is not the same as Entra ID refusing (docs/contracts.md 3): a 5xx from the token or
discovery endpoint makes msal RAISE `MsalServiceError` (and replay it from its throttle cache for 5 s,
or Retry-After, without asking again); an unreachable host raises a requests error; a 429 or an
outage comes back as a `temporarily_unavailable` or `server_error` dict. Each is retried with back-off
on a new msal application (a fresh throttle cache) up to `attempts` times, then becomes a
SentinelUnavailable: the workspace stops, exit 4, the others carry on.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import msal
import msal.exceptions
import requests

from misp_bridge.azure.authority import is_microsoft_authority
from misp_bridge.azure.http import backoff_delay
from misp_bridge.errors import AuthError, AzureTlsError, SentinelUnavailable, untrusted_certificate
from misp_bridge.output.redact import register_secret

log = logging.getLogger("misp_bridge.auth")

# AADSTS code -> what it means for the person fixing config.py.
AADSTS_EXPLAINED: dict[int, str] = {
    7000215: "the client secret is wrong (check client_secret: use the secret's Value, not its ID)",
    7000222: "the client secret has expired (create a new one under Certificates & secrets)",
    700016: "no application with this client_id exists in the tenant (check client_id and tenant)",
    90002: "the tenant does not exist (check tenant: the Directory (tenant) ID)",
    900023: "the tenant id is not valid (check tenant: the Directory (tenant) ID)",
    1002012: "the scope is not valid (use https://management.azure.com/.default)",
    70011: "the scope is not valid (use https://management.azure.com/.default)",
    7000112: "the application is disabled in the tenant",
    53003: "a Conditional Access policy blocks this application",
}

_AADSTS = re.compile(r"AADSTS(\d+)")

# OAuth error codes that say "not now" rather than "no" (RFC 6749 5.2 and Entra's 429 reply).
TRANSIENT_ERRORS = frozenset({"temporarily_unavailable", "server_error"})
TOKEN_ATTEMPTS = 4
_BACKOFF, _BACKOFF_CAP = 2.0, 30.0


class _Transient(Exception):
    """Entra ID failed (as opposed to refused): worth asking again after a pause."""


def explain(result: dict[str, Any]) -> str:
    """A one-sentence explanation of an msal error dict."""
    codes = [int(c) for c in result.get("error_codes") or []]
    if not codes:
        match = _AADSTS.search(str(result.get("error_description", "")))
        codes = [int(match.group(1))] if match else []
    for code in codes:
        if code in AADSTS_EXPLAINED:
            return f"AADSTS{code}: {AADSTS_EXPLAINED[code]}"
    description = str(result.get("error_description") or result.get("error") or "no token in the reply")
    return description.splitlines()[0]


class _PinnedVerifySession(requests.Session):
    """A session whose own CA bundle wins over REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE.

    requests lets those environment variables replace a session's `verify` (docs/contracts.md 3), so a
    configured `ms_ca_bundle` would silently lose to a machine-wide setting. Proxies still come from the
    environment.
    """

    def merge_environment_settings(
        self, url: str | bytes | None, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> Any:
        merged: Any = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if verify is None or verify is True:
            merged["verify"] = self.verify
        return merged


def _http_client(verify: bool | str, timeout: float) -> requests.Session | None:
    """msal's HTTP client: its default one unless a CA bundle must be pinned."""
    if not isinstance(verify, str):
        return None
    session = _PinnedVerifySession()
    session.verify = verify
    session.request = functools.partial(session.request, timeout=timeout)  # type: ignore[method-assign]
    adapter = requests.adapters.HTTPAdapter(max_retries=1)
    session.mount("https://", adapter)
    return session


def _construction_error(exc: ValueError, authority_host: str, tenant: str) -> str:
    """msal's constructor reads the tenant's discovery document; an unknown tenant fails there with a
    ValueError (AADSTS90002 on the wire, but no code reaches us)."""
    text = str(exc)
    if "authority configuration" in text:
        return (
            f"Entra ID at {authority_host} does not know tenant {tenant} (AADSTS90002: the tenant does not "
            "exist; check tenant: the Directory (tenant) ID, and ms_authority_host)"
        )
    first = text.splitlines()[0] if text else type(exc).__name__
    return f"Entra ID authority {authority_host}/{tenant} is not usable: {first}"


class TokenProvider:
    """Client-credentials tokens for one app registration and scope."""

    def __init__(
        self,
        *,
        tenant: str,
        client_id: str,
        client_secret: str,
        authority_host: str = "https://login.microsoftonline.com",
        scope: str = "https://management.azure.com/.default",
        verify: bool | str = True,
        timeout: float = 30.0,
        label: str = "",
        attempts: int = TOKEN_ATTEMPTS,
        sleep: Callable[[float], None] = time.sleep,
        ca_setting: str = "ms_ca_bundle",
    ) -> None:
        register_secret(client_secret)
        self._ca_setting = ca_setting
        self._attempts = max(1, attempts)
        self._sleep = sleep
        self._tenant = tenant
        self._client_id = client_id
        self._secret = client_secret
        self._authority_host = authority_host.rstrip("/")
        self._authority = f"{self._authority_host}/{tenant}"
        self._scope = scope
        self._verify = verify
        self._timeout = timeout
        self._label = label or tenant
        self._app: msal.ConfidentialClientApplication | None = None
        self._lock = threading.Lock()

    def _application(self) -> msal.ConfidentialClientApplication:
        if self._app is None:
            try:
                self._app = msal.ConfidentialClientApplication(
                    self._client_id,
                    client_credential=self._secret,
                    authority=self._authority,
                    # Only Microsoft's own hosts know instance discovery; a stand-in (the sandbox,
                    # a proxy) must not be checked against login.microsoftonline.com.
                    instance_discovery=is_microsoft_authority(self._authority),
                    verify=self._verify,
                    timeout=self._timeout,
                    http_client=_http_client(self._verify, self._timeout),
                )
            except ValueError as exc:
                raise AuthError(_construction_error(exc, self._authority_host, self._tenant)) from None
            except msal.exceptions.MsalServiceError as exc:  # discovery answered 5xx
                raise _Transient(_failure(exc)) from None
            except requests.RequestException as exc:  # msal's discovery call
                raise self._network_failure(exc) from None
        return self._app

    def _acquire(self, refresh: bool) -> dict[str, Any]:
        app = self._application()
        try:
            if refresh:
                # msal has no "force" flag for client credentials: drop its cached access tokens.
                # list(): msal's search is a generator over the dict remove_at() changes.
                cached = list(app.token_cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN))
                for entry in cached:
                    app.token_cache.remove_at(entry)
            result = app.acquire_token_for_client(scopes=[self._scope])
        except msal.exceptions.MsalServiceError as exc:  # the token endpoint answered 5xx
            raise _Transient(_failure(exc)) from None
        except requests.RequestException as exc:
            raise self._network_failure(exc) from None
        reply = result if isinstance(result, dict) else {}
        if not reply.get("access_token") and reply.get("error") in TRANSIENT_ERRORS:
            raise _Transient(f"answered {reply['error']}")
        return reply

    def _network_failure(self, exc: requests.RequestException) -> Exception:
        """A refused certificate is said at once (retrying cannot fix it); anything else is retried."""
        refused = untrusted_certificate(exc)
        if refused is not None:
            host = urlsplit(self._authority_host).netloc or self._authority_host
            return AzureTlsError(host, self._ca_setting, refused[1])
        return _Transient(f"did not answer ({type(exc).__name__})")

    def token(self, *, refresh: bool = False) -> str:
        """An access token; `refresh` skips the cache (after a 401)."""
        with self._lock:
            for attempt in range(1, self._attempts + 1):
                try:
                    result = self._acquire(refresh)
                    break
                except _Transient as exc:
                    # A new application: msal would replay the failure from its throttle cache.
                    self._app = None
                    if attempt == self._attempts:
                        raise SentinelUnavailable(
                            f"Entra ID at {self._authority} {exc} ({attempt} attempts)"
                        ) from None
                    log.info(
                        "Entra ID at %s %s; asking again (attempt %d)", self._authority, exc, attempt + 1
                    )
                    self._sleep(backoff_delay(attempt, _BACKOFF, _BACKOFF_CAP))
        token = result.get("access_token")
        if not token:
            raise AuthError(
                f"Entra ID refused a token for {self._label} (tenant {self._tenant}, "
                f"client_id {self._client_id}): {explain(result)}"
            )
        register_secret(str(token))
        return str(token)


def _failure(exc: Exception) -> str:
    """msal's MsalServiceError for a 5xx reads "HTTP Error: 503"."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"failed ({text})"
