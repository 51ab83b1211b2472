"""A Microsoft Sentinel stand-in: the STIX objects upload API, the legacy upload-indicators API and the
management (ARM) threat-intelligence API, on one HTTPS server sharing one store (docs/contracts.md 4 and 5).

Tokens are checked through the sandbox Entra ID (`EntraApp.valid`), so `entra.expire_all()` turns every
token issued so far into a 401. Knobs a test may set at any time: `throttle_next` (that many next requests
get a 429), `error_body_empty` (forced 500s carry no body), `query_lag` (seconds before a change shows in
queries), `retry_after_header`, `retry_after_precision` (decimals of Retry-After for scaled windows).
Readings of the undocumented queryIndicators filters are chosen at construction: `ids_match` and
`include_disabled` (see `mgmt.Semantics`).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from sandbox import tokens
from sandbox.entra import EntraApp
from sandbox.http import App, Request, Response, json_response
from sandbox.sentinel import mgmt
from sandbox.sentinel.stix import LEGACY_TYPES, UPLOAD_TYPES, validate
from sandbox.sentinel.store import (
    RateViolation,
    SentinelStore,
    StoredObject,
    UploadRecord,
    Workspace,
)

AUDIENCES = frozenset({"https://management.azure.com", "https://management.core.windows.net"})
RESERVED_SOURCE = "microsoft sentinel"
_ARM = (
    r"(?i)/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.OperationalInsights"
    r"/workspaces/(?P<ws>[^/]+)/providers/Microsoft\.SecurityInsights/threatIntelligence/main"
)
_UNAUTHORIZED = {"statusCode": 401, "message": "Unauthorized. Access token is missing or invalid."}


class SentinelApp(App):
    name = "sentinel"

    def __init__(
        self,
        entra: EntraApp,
        *,
        clock: Callable[[], float] = time.time,
        max_requests: int = 100,
        window_seconds: float = 60.0,
        retry_after_header: bool = True,
        retry_after_precision: int = 0,
        per_user_limit: bool = True,
        query_lag: float = 0.0,
        max_objects: int = 100,
        ids_match: str = "stix_id",
        include_disabled: str = "revoked",
        all_invalid_status: int = 400,
        role_missing_status: int = 403,
    ) -> None:
        super().__init__()
        self.entra = entra
        self.clock = clock
        self.store = SentinelStore(clock, max_requests, window_seconds)
        self.retry_after_header = retry_after_header
        self.retry_after_precision = retry_after_precision
        self.per_user_limit = per_user_limit
        self.query_lag = query_lag
        self.max_objects = max_objects
        self.semantics = mgmt.Semantics(ids_match, include_disabled)
        self.all_invalid_status = all_invalid_status
        # The upload API documents no 403: a missing role has been reported as a 401 carrying
        # UnauthorizedAccess (docs/contracts.md 4); 403 is the inferred default.
        self.role_missing_status = role_missing_status
        self.throttle_next = 0
        self.error_body_empty = False
        self.deletes: list[str] = []  # ARM names DELETE was called for
        self._knob_lock = threading.Lock()
        self.add_route(
            "POST", r"/workspaces/(?P<wid>[^/]+)/threat-intelligence-stix-objects:upload", self._upload
        )
        self.add_route("POST", r"/(?P<wid>[^/]+)/threatintelligence:upload-indicators", self._legacy)
        self.add_route("POST", _ARM + r"/queryIndicators", self._query)
        self.add_route("GET", _ARM + r"/queryIndicators", self._query)
        self.add_route("GET", _ARM + r"/indicators/(?P<name>[^/]+)", self._get_one)
        self.add_route("DELETE", _ARM + r"/indicators/(?P<name>[^/]+)", self._delete)

    # -- set-up and inspection -------------------------------------------------------------------

    def add_workspace(
        self,
        workspace_id: str,
        *,
        name: str,
        subscription_id: str,
        resource_group: str,
        contributors: set[str] | frozenset[str] = frozenset(),
    ) -> Workspace:
        workspace = Workspace(workspace_id, name, subscription_id, resource_group, frozenset(contributors))
        self.store.add_workspace(workspace)
        return workspace

    def objects(self, workspace_id: str) -> dict[str, dict[str, Any]]:
        """The latest stored version of every STIX object, with its `sourcesystem`, by STIX id."""
        return {s.stix_id: {**s.stix, "sourcesystem": s.source} for s in self.store.latest(workspace_id)}

    def stored(self, workspace_id: str) -> dict[str, StoredObject]:
        """The latest stored versions with what Sentinel derived (observables, ARM name), by STIX id."""
        return {s.stix_id: s for s in self.store.latest(workspace_id)}

    def matchable(self, workspace_id: str, stix_id: str) -> bool:
        """Whether Sentinel would fill ObservableKey/Value for this object (its TI map could match it)."""
        found = self.stored(workspace_id).get(stix_id)
        return found is not None and found.matchable

    @property
    def upload_requests(self) -> list[UploadRecord]:
        return self.store.upload_requests

    @property
    def rate_violations(self) -> list[RateViolation]:
        return self.store.rate_violations

    def max_in_window(self, workspace_id: str | None = None) -> int:
        return self.store.max_in_window(workspace_id)

    # -- shared checks -----------------------------------------------------------------------------

    def error_body(self, status: int) -> Response:
        if self.error_body_empty:
            return Response(status)
        if status == 429:
            return self._too_many(1.0)
        message = "Internal server error" if status >= 500 else f"Request failed with status {status}"
        return json_response(
            status, {"statusCode": status, "message": message, "activityId": str(uuid.uuid4())}
        )

    def _take_throttle(self) -> bool:
        with self._knob_lock:
            if self.throttle_next > 0:
                self.throttle_next -= 1
                return True
        return False

    def _too_many(self, wait: float, arm: bool = False) -> Response:
        seconds = self.store.retry_after(wait, self.retry_after_precision)
        shown = f"{seconds:g}"
        headers = {"Retry-After": shown} if self.retry_after_header else {}
        if arm:
            body: dict[str, Any] = {
                "error": {
                    "code": "TooManyRequests",
                    "message": f"Too many requests. Retry after {shown} seconds.",
                }
            }
        else:
            body = {"statusCode": 429, "message": f"Rate limit is exceeded. Try again in {shown} seconds."}
        return json_response(429, body, headers)

    def _token(self, request: Request) -> tuple[str | None, tokens.Claims | None]:
        token = tokens.bearer(request.header("authorization"))
        return token, (self.entra.valid(token) if token else None)

    def _authorize_upload(self, request: Request, workspace_id: str) -> tokens.Claims | Response:
        """Claims of an allowed caller, or the 401/403/404 reply the upload API gives."""
        _, claims = self._token(request)
        if claims is None:
            return json_response(401, _UNAUTHORIZED)
        if claims.aud.rstrip("/") not in AUDIENCES:
            return Response(401)  # the real service sends no body for a token minted for another API
        workspace = self.store.workspaces.get(workspace_id)
        if workspace is None:
            return json_response(
                404,
                {"error": {"code": "NotFound", "message": f"The workspace [{workspace_id}] was not found."}},
            )
        if claims.appid not in workspace.contributors:
            return json_response(
                self.role_missing_status,
                {
                    "error": {
                        "code": "UnauthorizedAccess",
                        "message": f"The Object ID [{claims.oid}] does not have required permission to "
                        f"perform this action on the workspace [{workspace_id}].",
                    }
                },
            )
        return claims

    # -- upload APIs -------------------------------------------------------------------------------

    def _upload(self, request: Request) -> Response:
        return self._ingest(request, "stixobjects", UPLOAD_TYPES, "upload")

    def _legacy(self, request: Request) -> Response:
        return self._ingest(request, "value", LEGACY_TYPES, "legacy")

    def _ingest(self, request: Request, list_key: str, allowed: frozenset[str], via: str) -> Response:
        workspace_id = request.params["wid"]
        arrived = self.clock()  # record arrival, as the rate window counts it, not the end of validation
        response, count = self._ingest_checked(request, workspace_id, list_key, allowed, via)
        with self.store.lock:
            self.store.upload_requests.append(UploadRecord(arrived, workspace_id, count, response.status))
        return response

    def _ingest_checked(
        self, request: Request, workspace_id: str, list_key: str, allowed: frozenset[str], via: str
    ) -> tuple[Response, int]:
        if self._take_throttle():
            return self._too_many(1.0), 0
        authorized = self._authorize_upload(request, workspace_id)
        if isinstance(authorized, Response):
            return authorized, 0
        limited = self._rate_limit(workspace_id, authorized)
        if limited is not None:
            return limited, 0
        if not request.arg("api-version"):
            return _bad_request("The api-version query parameter is required."), 0
        try:
            body = request.json()
        except (ValueError, UnicodeDecodeError):
            return _bad_request("The request body is not valid JSON."), 0
        if not isinstance(body, dict):
            return _bad_request("The request body must be a JSON object."), 0
        source = body.get("sourcesystem")
        if not isinstance(source, str) or not source.strip():
            return _bad_request("The sourcesystem property is required."), 0
        if source.strip().lower() == RESERVED_SOURCE:
            return _bad_request(f"The source system '{source}' is reserved."), 0
        items = body.get(list_key)
        if not isinstance(items, list) or not items:
            return _bad_request(f"The {list_key} property must be a non-empty array."), 0
        if len(items) > self.max_objects:
            return _bad_request(
                f"At most {self.max_objects} objects are allowed per request, got {len(items)}."
            ), len(items)
        errors = []
        for index, obj in enumerate(items):
            problems = validate(obj, allowed) or self._permanent(workspace_id, source, obj)
            if problems:
                errors.append({"recordIndex": index, "errorMessages": problems})
            else:
                self.store.upsert(workspace_id, source, obj, via)
        if not errors:
            return Response(200), len(items)  # all ingested: 200 with an EMPTY body, not JSON
        # Some ingested: 200 listing the others; none ingested: the same list, under all_invalid_status.
        status = self.all_invalid_status if len(errors) == len(items) else 200
        return json_response(status, {"errors": errors}), len(items)

    def _permanent(self, workspace_id: str, source: str, obj: dict[str, Any]) -> list[str]:
        """Revocation is final (docs/contracts.md 4): no later version of a revoked object may be created,
        so any upload of its id, revoked or not, is refused. The service's wording is not documented;
        this one names the cause."""
        if not self.store.revoked(workspace_id, source, str(obj.get("id"))):
            return []
        return [
            f"Error for Property=revoked: The object with this id was revoked; revoking is permanent and no "
            f"later version of it can be created. Actual value: {obj.get('id')}."
        ]

    def _rate_limit(self, workspace_id: str, claims: tokens.Claims, arm: bool = False) -> Response | None:
        keys = [f"workspace:{workspace_id}"] + ([f"user:{claims.oid}"] if self.per_user_limit else [])
        with self.store.lock:
            now = self.clock()
            wait = self.store.window.wait(keys, now)
            if wait <= 0:
                self.store.window.record(keys, now)
                return None
            self.store.rate_violations.append(RateViolation(now, workspace_id, claims.oid, wait))
        return self._too_many(wait, arm)

    # -- management API ----------------------------------------------------------------------------

    def _authorize_arm(self, request: Request) -> tuple[Workspace, tokens.Claims] | Response:
        if self._take_throttle():
            return self._too_many(1.0, arm=True)
        token, claims = self._token(request)
        if token is None:
            return _arm_error(
                401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing."
            )
        if claims is None:
            return _arm_error(
                401, "InvalidAuthenticationToken", "The access token is invalid or has expired."
            )
        if claims.aud.rstrip("/") not in AUDIENCES:
            return _arm_error(
                401,
                "InvalidAuthenticationTokenAudience",
                f"The access token has been obtained for wrong audience or resource '{claims.aud}'.",
            )
        if not request.arg("api-version"):
            return _arm_error(
                400, "MissingApiVersionParameter", "The api-version query parameter is required."
            )
        params = request.params
        workspace = self.store.by_name(params["sub"], params["rg"], params["ws"])
        if workspace is None:
            return _arm_error(
                404,
                "ResourceNotFound",
                f"The Resource 'Microsoft.OperationalInsights/workspaces/{params['ws']}' under resource "
                f"group '{params['rg']}' was not found.",
            )
        if claims.appid not in workspace.contributors:
            return _arm_error(
                403,
                "AuthorizationFailed",
                f"The client '{claims.appid}' with object id '{claims.oid}' does not have authorization to "
                f"perform this action over scope '{mgmt.arm_prefix(workspace)}' or the scope is invalid.",
            )
        return workspace, claims

    def _visible(self, workspace: Workspace) -> list[StoredObject]:
        return self.store.latest(workspace.workspace_id, self.clock() - self.query_lag)

    def _query(self, request: Request) -> Response:
        authorized = self._authorize_arm(request)
        if isinstance(authorized, Response):
            return authorized
        workspace, _ = authorized
        try:
            filters = self._filters(request)
            page, next_offset = mgmt.query(
                workspace, self._visible(workspace), filters, self.semantics, self.clock()
            )
        except mgmt.QueryError as exc:
            return _arm_error(400, "BadRequest", str(exc))
        reply: dict[str, Any] = {"value": page}
        if next_offset is not None:
            token = mgmt.encode_skip(next_offset, {k: v for k, v in filters.items() if k != "skipToken"})
            reply["nextLink"] = (
                f"https://{request.header('host', '127.0.0.1')}{request.path}"
                f"?api-version={quote(request.arg('api-version'))}&$skipToken={token}"
            )
        return json_response(200, reply)

    def _filters(self, request: Request) -> dict[str, Any]:
        """The POSTed filters, or for a GET of a nextLink the filters its skip token carries."""
        if request.method == "GET":
            token = request.arg("$skipToken")
            if not token:
                raise mgmt.QueryError("A GET of queryIndicators needs a $skipToken.")
            _, filters = mgmt.decode_skip(token)
            return {**filters, "skipToken": token}
        try:
            body = request.json() or {}
        except (ValueError, UnicodeDecodeError) as exc:
            raise mgmt.QueryError("The request body is not valid JSON.") from exc
        if not isinstance(body, dict):
            raise mgmt.QueryError("The request body must be a JSON object.")
        if not body.get("skipToken") and request.arg("$skipToken"):
            body["skipToken"] = request.arg("$skipToken")
        return body

    def _find(self, workspace: Workspace, name: str) -> StoredObject | None:
        for stored in self.store.latest(workspace.workspace_id):
            if stored.name.lower() == name.lower():
                return stored
        return None

    def _get_one(self, request: Request) -> Response:
        authorized = self._authorize_arm(request)
        if isinstance(authorized, Response):
            return authorized
        workspace, _ = authorized
        found = self._find(workspace, request.params["name"])
        if found is None or found.stix.get("type") != "indicator":
            return _arm_error(
                404,
                "NotFound",
                f"The threat intelligence indicator '{request.params['name']}' was not found.",
            )
        return json_response(200, mgmt.item(workspace, found))

    def _delete(self, request: Request) -> Response:
        authorized = self._authorize_arm(request)
        if isinstance(authorized, Response):
            return authorized
        workspace, _ = authorized
        name = request.params["name"]
        with self.store.lock:
            self.deletes.append(name)
        # Every object here came in through an upload API, which DELETE cannot remove (docs/contracts.md 5):
        # the call succeeds and the indicator keeps appearing. An unknown name is the ARM 204.
        return Response(200 if self._find(workspace, name) is not None else 204)


def _bad_request(message: str) -> Response:
    return json_response(400, {"error": {"code": "BadRequest", "message": message}})


def _arm_error(status: int, code: str, message: str) -> Response:
    return json_response(status, {"error": {"code": code, "message": message}})
