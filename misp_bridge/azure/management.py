"""Client for Sentinel's management (ARM) threat-intelligence API: queryIndicators (CONTRACTS.md 5).

One `ManagementClient` per workspace, addressed by subscription, resource group and workspace NAME (not
the workspace GUID the upload API uses). `query()` pages by taking the skip token out of `nextLink` and
re-POSTing the same filters with `"skipToken"`, the documented-by-example way for a POST. ARM failures
become one sentence: 401 renews the token once, 403 names the role, 404 names the three settings that
address the workspace, 429 waits for Retry-After, 5xx and dropped connections retry a bounded number of
times. DELETE is deliberately absent: it does not remove objects that came in through the upload API, so
clean-up revokes by re-upload instead (cleanup.py).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qs, quote, urlsplit

import requests

from misp_bridge.azure.upload import backoff_delay, retry_after_seconds
from misp_bridge.config.load import Settings, Workspace
from misp_bridge.errors import ConfigError, ManagementError, ManagementUnavailable

if TYPE_CHECKING:
    from misp_bridge.sync.state.store import State

log = logging.getLogger("misp_bridge.management")

BASE_PATH = (
    "/subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.OperationalInsights"
    "/workspaces/{name}/providers/Microsoft.SecurityInsights/threatIntelligence/main"
)
# ids per queryIndicators request: one page holds them all, so a batch is exactly one request.
IDS_PER_QUERY = 100
PAGE_SIZE = 100
READER_ROLE = "Microsoft Sentinel Reader"
CONTRIBUTOR_ROLE = "Microsoft Sentinel Contributor"


class Tokens(Protocol):
    def token(self, *, refresh: bool = False) -> str: ...


def require_management(workspace: Workspace, purpose: str) -> None:
    """Raise a ConfigError naming the three ms_auth keys when the workspace cannot be addressed."""
    if workspace.has_management:
        return
    missing = [
        key
        for key, value in (
            ("subscription_id", workspace.subscription_id),
            ("resourceGroupName", workspace.resource_group),
            ("workspaceName", workspace.workspace_name),
        )
        if not value
    ]
    raise ConfigError(
        "ms_auth",
        f"needs subscription_id, resourceGroupName and workspaceName for workspace {workspace.label} "
        f"to {purpose} (missing: {', '.join(missing)})",
    )


def skip_token(next_link: str) -> str | None:
    """The `$skipToken` query parameter of a nextLink (either spelling), or None."""
    query = parse_qs(urlsplit(next_link).query, keep_blank_values=False)
    for key in ("$skipToken", "$skiptoken", "skipToken"):
        if query.get(key):
            return query[key][0]
    return None


class ManagementClient:
    """queryIndicators for one workspace, with ARM errors turned into ManagementError sentences."""

    def __init__(
        self,
        *,
        workspace: Workspace,
        tokens: Tokens,
        base_url: str = "https://management.azure.com",
        api_version: str = "2025-09-01",
        user_agent: str = "MISP-1.0",
        verify: bool | str = True,
        timeout: float = 60.0,
        max_attempts: int = 5,
        backoff: float = 1.0,
        backoff_cap: float = 60.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        require_management(workspace, "use the Sentinel management API")
        self.workspace = workspace
        self.label = workspace.label
        path = BASE_PATH.format(
            subscription=quote(str(workspace.subscription_id), safe=""),
            group=quote(str(workspace.resource_group), safe=""),
            name=quote(str(workspace.workspace_name), safe=""),
        )
        self.base = f"{base_url.rstrip('/')}{path}"
        self.api_version = api_version
        self._tokens = tokens
        self._user_agent = user_agent
        self._verify = verify
        self._timeout = timeout
        self._max_attempts = max(1, max_attempts)
        self._backoff = backoff
        self._backoff_cap = backoff_cap
        self._session = session or requests.Session()
        self._sleep = sleep
        self.requests = 0  # sent, retries included: lets callers and tests see the cost

    @classmethod
    def from_settings(
        cls, settings: Settings, workspace: Workspace, tokens: Tokens, **options: Any
    ) -> ManagementClient:
        verify: bool | str = str(settings.ms_ca_bundle) if settings.ms_ca_bundle else True
        options.setdefault("base_url", settings.ms_management_base_url)
        options.setdefault("api_version", settings.ms_delete_api_version)
        options.setdefault("user_agent", settings.ms_useragent)
        options.setdefault("verify", verify)
        options.setdefault("timeout", settings.ms_timeout)
        return cls(workspace=workspace, tokens=tokens, **options)

    # -- one request with retries ------------------------------------------------------------------

    def _backoff_for(self, attempt: int) -> float:
        return backoff_delay(attempt, self._backoff, self._backoff_cap)

    def _post(self, tail: str, body: Mapping[str, Any]) -> dict[str, Any]:
        url = f"{self.base}/{tail}?api-version={quote(self.api_version)}"
        refreshed = renew = False
        problem = "did not answer"
        for attempt in range(1, self._max_attempts + 1):
            token = self._tokens.token(refresh=renew)
            renew = False
            headers = {
                "Authorization": f"Bearer {token}",
                "User-Agent": self._user_agent,
                "Content-Type": "application/json",
            }
            self.requests += 1
            try:
                response = self._session.post(
                    url,
                    data=json.dumps(dict(body)),
                    headers=headers,
                    verify=self._verify,
                    timeout=self._timeout,
                )
            except requests.exceptions.SSLError:
                raise ManagementError(
                    self.label,
                    0,
                    "the TLS certificate is not trusted; set ms_ca_bundle to the CA bundle path",
                ) from None
            except requests.RequestException as exc:
                problem = f"failed ({type(exc).__name__})"
                self._sleep(self._backoff_for(attempt))
                continue
            status = response.status_code
            if status == 200:
                return self._json(response)
            if status == 401 and not refreshed:
                refreshed = renew = True  # a token expired mid-run: renew it once, then give up
                continue
            if status == 429:
                problem = "kept answering 429 (too many requests)"
                wait = retry_after_seconds(response)
                self._sleep(self._backoff_for(attempt) if wait is None else wait)
                continue
            if status >= 500 or status == 408:
                problem = f"kept failing with HTTP {status}"
                self._sleep(self._backoff_for(attempt))
                continue
            raise ManagementError(self.label, status, self._cause(status, response))
        raise ManagementUnavailable(self.label, f"{problem} after {self._max_attempts} attempts")

    def _json(self, response: requests.Response) -> dict[str, Any]:
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise ManagementError(self.label, 200, "the reply to queryIndicators was not a JSON object")
        return payload

    def _cause(self, status: int, response: requests.Response) -> str:
        ws = self.workspace
        causes: dict[int, str] = {
            401: "the access token was refused twice; check tenant, client_id and that the scope is "
            "https://management.azure.com/.default",
            403: f"the app registration needs the {READER_ROLE} role to query indicators and the "
            f"{CONTRIBUTOR_ROLE} role to revoke them, on this workspace",
            404: f"no such workspace; check subscription_id ({ws.subscription_id}), resourceGroupName "
            f"({ws.resource_group}) and workspaceName ({ws.workspace_name}) in ms_auth",
        }
        if status in causes:
            return causes[status]
        try:
            payload = response.json()
            error = payload.get("error") or {}
            # ARM's {"error": {...}}, or the gateway's flat {"statusCode", "message"}.
            message = str(error.get("message") or error.get("code") or payload.get("message") or "")
        except (ValueError, AttributeError):
            message = ""
        return " ".join(message.split())[:300] or "the request was refused"

    # -- queries -----------------------------------------------------------------------------------

    def query_page(
        self, filters: Mapping[str, Any], token: str | None = None
    ) -> tuple[list[Any], str | None]:
        """One page of queryIndicators and the skip token of the next page (None on the last)."""
        body = dict(filters)
        if token is not None:
            body["skipToken"] = token
        payload = self._post("queryIndicators", body)
        items = payload.get("value")
        if not isinstance(items, list):
            raise ManagementError(self.label, 200, "the reply to queryIndicators had no value list")
        link = payload.get("nextLink")
        following = skip_token(link) if isinstance(link, str) and link else None
        if following is not None and following == token:
            # A server repeating a token would page forever.
            raise ManagementError(self.label, 200, "queryIndicators returned the same page token twice")
        return [i for i in items if isinstance(i, dict)], following

    def query(self, filters: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        """Every item matching the filters, page after page (one page in memory at a time)."""
        body = {"pageSize": PAGE_SIZE, **dict(filters)}
        token: str | None = None
        while True:
            items, token = self.query_page(body, token)
            yield from items
            if token is None:
                return

    def find(
        self, stix_ids: Sequence[str], *, source: str, include_revoked: bool = True
    ) -> list[dict[str, Any]]:
        """Items of `source` with these STIX ids, IDS_PER_QUERY ids per request."""
        unique = list(dict.fromkeys(stix_ids))
        found: list[dict[str, Any]] = []
        for start in range(0, len(unique), IDS_PER_QUERY):
            chunk = unique[start : start + IDS_PER_QUERY]
            filters = {"ids": chunk, "sources": [source], "includeDisabled": include_revoked}
            found.extend(item for item in self.query(filters) if of_source(item, source))
        return found


def properties(item: Mapping[str, Any]) -> Mapping[str, Any]:
    props = item.get("properties")
    return props if isinstance(props, Mapping) else {}


def of_source(item: Mapping[str, Any], source: str) -> bool:
    """True when the item came from our sourcesystem; the query filter is checked again client-side."""
    return str(properties(item).get("source", "")).lower() == source.lower()


def external_id(item: Mapping[str, Any]) -> str:
    return str(properties(item).get("externalId") or "")


class _Target(Protocol):
    @property
    def workspace(self) -> Workspace: ...
    @property
    def tokens(self) -> Any: ...
    @property
    def key(self) -> str: ...


class _Context(Protocol):
    @property
    def settings(self) -> Settings: ...
    @property
    def state(self) -> State: ...


def client_for(ctx: _Context, target: _Target, **options: Any) -> ManagementClient:
    """A management client for one run target (settings give the base URL, API version and CA)."""
    return ManagementClient.from_settings(ctx.settings, target.workspace, target.tokens, **options)


def existing_ids(ctx: _Context, target: _Target, stix_ids: Sequence[str]) -> set[str]:
    """Which ids already exist in the workspace for our sourcesystem (ms_check_if_exist_in_sentinel).

    The state answers first (ids it recorded as delivered, revoked ones included, as they exist); the
    rest is asked in batches of IDS_PER_QUERY ids per queryIndicators request, revoked items included.
    """
    wanted = list(dict.fromkeys(stix_ids))
    known = ctx.state.known_ids(target.key, wanted) if wanted else set()
    rest = [sid for sid in wanted if sid not in known]
    if not rest:
        return known
    client = client_for(ctx, target)
    found = {external_id(item) for item in client.find(rest, source=ctx.settings.sourcesystem)}
    return known | (found & set(rest))
