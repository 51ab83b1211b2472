"""An Azure Key Vault stand-in: the secrets GET API behind Key Vault's bearer challenge (docs/contracts.md 6).

azure-keyvault-secrets is the client. Its first request carries no token; the vault answers 401 with a
`WWW-Authenticate` challenge naming the authority (`{authority_host}/{tenant}`) and the resource
`https://vault.azure.net`; the client gets a token for that resource from Entra ID (the `EntraApp`
emulator) and retries. Tokens are checked through `EntraApp.valid`, then the tenant, the audience and the
vault's access policy (which app ids hold the secrets `get` permission).

Error bodies follow the service's `{"error": {"code", "message"}}` shape. The 401 wording for a bad token
is inferred (the service's AKV codes vary); the 403 and 404 sentences follow the real service.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from sandbox.entra import EntraApp
from sandbox.http import App, Request, Response, json_response
from sandbox.tokens import Claims, bearer

RESOURCE = "https://vault.azure.net"
# Key Vault object names: 1-127 letters, digits and dashes; the service compares them case-insensitively.
_NAME = re.compile(r"[0-9A-Za-z-]{1,127}\Z")
_VERSION = re.compile(r"[0-9a-f]{32}\Z")

# Body codes for statuses forced through the fault knobs.
_FORCED_CODES = {
    400: "BadParameter",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    429: "Throttled",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
}


@dataclass(frozen=True)
class SecretVersion:
    """One stored version of a secret."""

    name: str  # as first set: the id echoes the original spelling
    version: str
    value: str
    created: int
    enabled: bool = True
    tags: dict[str, str] = field(default_factory=dict)


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return json_response(status, {"error": {"code": code, "message": message}}, headers)


class KeyVaultApp(App):
    """One vault: secrets with versions, an access policy, and the tenant its tokens must come from."""

    name = "keyvault"

    def __init__(
        self,
        entra: EntraApp,
        tenant: str,
        authority_host: str,
        *,
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__()
        self.entra = entra
        self.tenant = tenant
        self.authority_host = authority_host.rstrip("/")
        self.clock = clock or entra.clock
        self.vault_url: str | None = None  # None: taken from the Host header of each request
        self.retry_after: str | None = None  # a Retry-After header on forced 429/503 replies, when set
        self._versions: dict[str, list[SecretVersion]] = {}  # key: lower-cased name
        self._permissions: dict[str, frozenset[str]] = {}  # app id -> secret permissions
        self._lock = threading.Lock()
        self.add_route("GET", r"/secrets/(?P<name>[^/]+)(?:/(?P<version>[^/]*))?", self._get_secret)

    # -- set-up and inspection -------------------------------------------------------------------

    def set_secret(
        self, name: str, value: str, *, enabled: bool = True, tags: dict[str, str] | None = None
    ) -> str:
        """Store a new version of `name` (it becomes the current one); returns the version id."""
        if not _NAME.match(name):
            raise ValueError(f"invalid Key Vault secret name {name!r}")
        version = secrets.token_hex(16)
        with self._lock:
            history = self._versions.setdefault(name.lower(), [])
            first_name = history[0].name if history else name
            history.append(
                SecretVersion(first_name, version, value, int(self.clock()), enabled, dict(tags or {}))
            )
        return version

    def delete_secret(self, name: str) -> None:
        with self._lock:
            self._versions.pop(name.lower(), None)

    def allow(self, appid: str, permissions: tuple[str, ...] = ("get", "list")) -> None:
        """Grant an application secret permissions in the access policy (replacing earlier ones)."""
        with self._lock:
            self._permissions[appid] = frozenset(p.lower() for p in permissions)

    def revoke(self, appid: str) -> None:
        with self._lock:
            self._permissions.pop(appid, None)

    @property
    def challenge(self) -> str:
        return f'Bearer authorization="{self.authority_host}/{self.tenant}", resource="{RESOURCE}"'

    # -- routes ----------------------------------------------------------------------------------

    def _base(self, request: Request) -> str:
        return self.vault_url or f"https://{request.header('host', '127.0.0.1')}"

    def _unauthorized(self, message: str) -> Response:
        return _error(401, "Unauthorized", message, {"WWW-Authenticate": self.challenge})

    def _authorize(self, request: Request, permission: str) -> Response | Claims:
        """The caller's claims, or the 401/403 reply the vault gives instead."""
        token = bearer(request.header("authorization"))
        if token is None:
            return self._unauthorized("AKV10000: Request is missing a Bearer or PoP token.")
        claims = self.entra.valid(token)
        if claims is None:
            return self._unauthorized("The access token is invalid or has expired.")
        if claims.tid != self.tenant:
            return self._unauthorized(
                f"AKV10032: Invalid issuer. Expected one of https://sts.windows.net/{self.tenant}/, "
                f"found https://sts.windows.net/{claims.tid}/."
            )
        if claims.aud.rstrip("/") != RESOURCE:
            return self._unauthorized(
                f"AKV10022: Invalid audience. Expected {RESOURCE}, found: {claims.aud}."
            )
        with self._lock:
            granted = self._permissions.get(claims.appid, frozenset())
        if permission not in granted:
            host = request.header("host", "127.0.0.1").split(":")[0]
            return _error(
                403,
                "Forbidden",
                f"The user, group or application 'appid={claims.appid};oid={claims.oid};"
                f"iss=https://sts.windows.net/{claims.tid}/' does not have secrets {permission} permission "
                f"on key vault '{host};location=sandbox'. For help resolving this issue, please see "
                "https://go.microsoft.com/fwlink/?linkid=2125287",
            )
        return claims

    def _get_secret(self, request: Request) -> Response:
        auth = self._authorize(request, "get")
        if isinstance(auth, Response):
            return auth
        if not request.arg("api-version"):
            return _error(400, "BadParameter", "The request URI contains an invalid or missing api-version.")
        name, version = request.params["name"], request.params.get("version", "")
        if not _NAME.match(name) or (version and not _VERSION.match(version)):
            return _error(400, "BadParameter", "The request URI contains an invalid name or version.")
        with self._lock:
            history = list(self._versions.get(name.lower(), []))
        found = [v for v in history if v.version == version] if version else history[-1:]
        if not found:
            shown = f"{name}/{version}" if version else name
            return _error(
                404,
                "SecretNotFound",
                f"A secret with (name/id) {shown} was not found in this key vault. If you recently deleted "
                "this secret you may be able to recover it using the correct recovery command. For help "
                "resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182",
            )
        stored = found[0]
        if not stored.enabled:
            return _error(403, "Forbidden", "Operation get is not allowed on a disabled secret.")
        return json_response(
            200,
            {
                "value": stored.value,
                "id": f"{self._base(request)}/secrets/{stored.name}/{stored.version}",
                "attributes": {
                    "enabled": True,
                    "created": stored.created,
                    "updated": stored.created,
                    "recoveryLevel": "Recoverable+Purgeable",
                    "recoverableDays": 90,
                },
                "tags": dict(stored.tags),
            },
        )

    def error_body(self, status: int) -> Response:
        code = _FORCED_CODES.get(status, "Error")
        headers = {"WWW-Authenticate": self.challenge} if status == 401 else {}
        if status in (429, 503) and self.retry_after is not None:
            headers["Retry-After"] = self.retry_after
        return _error(status, code, f"The sandbox vault was told to answer {status}.", headers)
