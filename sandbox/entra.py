"""A Microsoft Entra ID stand-in: OpenID discovery and the client-credentials token endpoint.

msal (and azure-identity, which wraps it) is the client: it reads the discovery document in its
constructor, then POSTs a form to the token endpoint. Errors come back as JSON dicts shaped like the real
service's (docs/contracts.md 3), because msal returns them to the caller instead of raising.

Other emulators check bearer tokens through `EntraApp.valid`, which also honours `expire_all` so a test
can make every token issued so far stop working in the middle of a run.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import parse_qs

from sandbox import tokens
from sandbox.http import App, Request, Response, json_response

# Resources a client-credentials token may be requested for (the app id URIs the sandbox knows).
KNOWN_RESOURCES = frozenset(
    {
        "https://management.azure.com",
        "https://management.core.windows.net",
        "https://vault.azure.net",
        "https://graph.microsoft.com",
    }
)


@dataclass(frozen=True)
class Client:
    """One app registration: its secret and whether that secret has passed its end date."""

    tenant: str
    client_id: str
    secret: str
    secret_expired: bool = False


class TokenError(Exception):
    """A token request Entra ID refuses: HTTP status, OAuth error code, AADSTS number and sentence."""

    def __init__(self, status: int, error: str, code: int, text: str) -> None:
        super().__init__(f"AADSTS{code}: {text}")
        self.status = status
        self.error = error
        self.code = code
        self.text = text


def _scope_resource(scope: str) -> str:
    """`https://management.azure.com/.default` -> `https://management.azure.com` (raises TokenError)."""
    scopes = scope.split()
    if not scopes:
        raise TokenError(
            400, "invalid_scope", 70011, "The provided request must include a 'scope' input parameter."
        )
    if len(scopes) > 1 or not scopes[0].endswith("/.default"):
        raise TokenError(
            400,
            "invalid_scope",
            1002012,
            f"The provided value for scope {scope} is not valid. Client credential flows must have a scope "
            "value with /.default suffixed to the resource identifier (application ID URI).",
        )
    resource = scopes[0][: -len("/.default")].rstrip("/")
    if resource not in KNOWN_RESOURCES:
        raise TokenError(
            400,
            "invalid_scope",
            70011,
            f"The provided value for the input parameter 'scope' is not valid. "
            f"The scope {scope} is not valid.",
        )
    return resource


class EntraApp(App):
    """Tenants, app registrations and the tokens they were given."""

    name = "entra"

    def __init__(self, *, token_lifetime: float = 3599, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.token_lifetime = token_lifetime
        self.clock = clock
        self.issued: list[tokens.Claims] = []
        self._clients: dict[tuple[str, str], Client] = {}
        self._tenants: set[str] = set()
        self._issued_at: dict[str, float] = {}
        self._not_before = float("-inf")
        self._lock = threading.Lock()
        self.add_route("GET", r"/(?P<tenant>[^/]+)/v2\.0/\.well-known/openid-configuration", self._discovery)
        self.add_route("POST", r"/(?P<tenant>[^/]+)/oauth2/v2\.0/token", self._token)

    # -- set-up and inspection -------------------------------------------------------------------

    def add_client(self, tenant: str, client_id: str, secret: str, *, secret_expired: bool = False) -> None:
        with self._lock:
            self._tenants.add(tenant)
            self._clients[(tenant, client_id)] = Client(tenant, client_id, secret, secret_expired)

    def expire_all(self) -> None:
        """Every token issued so far stops verifying; tokens issued afterwards work."""
        with self._lock:
            latest = max(self._issued_at.values(), default=float("-inf"))
            self._not_before = max(self.clock(), latest)

    def valid(self, token: str) -> tokens.Claims | None:
        """The claims of a token that is signed, unexpired and not issued before `expire_all`; else None."""
        claims = tokens.verify(token, now=self.clock())
        if claims is None:
            return None
        with self._lock:
            issued_at = self._issued_at.get(token, claims.exp - self.token_lifetime)
            return claims if issued_at > self._not_before else None

    # -- routes ----------------------------------------------------------------------------------

    def _base(self, request: Request) -> str:
        return f"https://{request.header('host', '127.0.0.1')}"

    def _discovery(self, request: Request) -> Response:
        tenant = request.params["tenant"]
        if tenant not in self._tenants:
            # The real service answers an unknown tenant's discovery with 400; msal raises ValueError.
            return self._error(TokenError(400, "invalid_tenant", 90002, self._no_tenant_text(tenant)))
        base = f"{self._base(request)}/{tenant}"
        return json_response(
            200,
            {
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
                "jwks_uri": f"{base}/discovery/v2.0/keys",
                "response_modes_supported": ["query", "fragment", "form_post"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "issuer": f"{base}/v2.0",
                "request_uri_parameter_supported": False,
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
                "tenant_region_scope": "EU",
                "cloud_instance_name": "microsoftonline.com",
            },
        )

    def _token(self, request: Request) -> Response:
        try:
            token, _claims = self._grant(request)
        except TokenError as exc:
            return self._error(exc)
        return json_response(
            200,
            {
                "token_type": "Bearer",
                "expires_in": int(self.token_lifetime),
                "ext_expires_in": int(self.token_lifetime),
                "access_token": token,
            },
            {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"},
        )

    def _grant(self, request: Request) -> tuple[str, tokens.Claims]:
        form = {k: v[0] for k, v in parse_qs(request.body.decode(), keep_blank_values=True).items()}
        tenant = request.params["tenant"]
        if tenant not in self._tenants:
            raise TokenError(400, "invalid_request", 90002, self._no_tenant_text(tenant))
        if form.get("grant_type") != "client_credentials":
            raise TokenError(
                400,
                "unsupported_grant_type",
                70003,
                "The app requested an unsupported grant type "
                f"'{form.get('grant_type', '')}'; the sandbox supports client_credentials only.",
            )
        client_id = form.get("client_id", "")
        client = self._clients.get((tenant, client_id))
        if client is None:
            raise TokenError(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory '{tenant}'. "
                "This can happen if the application has not been installed by the administrator of the "
                "tenant or consented to by any user in the tenant. You may have sent your authentication "
                "request to the wrong tenant.",
            )
        if form.get("client_secret") != client.secret:
            raise TokenError(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the client "
                f"secret value, not the client secret ID, for a secret added to app '{client_id}'.",
            )
        if client.secret_expired:
            raise TokenError(
                401,
                "invalid_client",
                7000222,
                f"The provided client secret keys for app '{client_id}' are expired. Visit the Azure portal "
                "to create new keys for your app: https://aka.ms/NewClientSecret, or consider using "
                "certificate credentials for added security: https://aka.ms/certCreds.",
            )
        resource = _scope_resource(form.get("scope", ""))
        with self._lock:
            # Strictly after the not-before mark, so a token issued right after expire_all() verifies
            # even under a frozen test clock.
            now = max(self.clock(), self._not_before + 1e-3)
            token = tokens.issue(resource, tenant, client_id, lifetime=self.token_lifetime, now=now)
            claims = tokens.verify(token, now=now)
            assert claims is not None  # just signed with this process's key
            self._issued_at[token] = now
            self.issued.append(claims)
        return token, claims

    @staticmethod
    def _no_tenant_text(tenant: str) -> str:
        return (
            f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing "
            "into the correct cloud. Check with your subscription administrator, this may happen if there "
            "are no active subscriptions for the tenant."
        )

    def _error(self, exc: TokenError) -> Response:
        trace_id, correlation_id = str(uuid.uuid4()), str(uuid.uuid4())
        stamp = datetime.fromtimestamp(self.clock(), timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
        description = (
            f"AADSTS{exc.code}: {exc.text} Trace ID: {trace_id} Correlation ID: {correlation_id} "
            f"Timestamp: {stamp}"
        )
        return json_response(
            exc.status,
            {
                "error": exc.error,
                "error_description": description,
                "error_codes": [exc.code],
                "timestamp": stamp,
                "trace_id": trace_id,
                "correlation_id": correlation_id,
                "error_uri": f"https://login.microsoftonline.com/error?code={exc.code}",
            },
        )

    def error_body(self, status: int) -> Response:
        return self._error(
            TokenError(status, "temporarily_unavailable", 50000, "There was an error issuing a token.")
        )
