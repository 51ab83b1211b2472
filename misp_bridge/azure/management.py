"""Client for Sentinel's management (ARM) threat-intelligence API: queryIndicators (docs/contracts.md 5).

One `ManagementClient` per workspace, addressed by subscription, resource group and workspace NAME (not
the workspace GUID the upload API uses). Requests go through an `AzureSender` with a rate limiter of
the management API's own (misp_bridge/azure/http.py: 429, back-off and token renewal live there), so
look-ups and clean-up never spend the upload budget. `query()` pages by taking the skip token out of
`nextLink` and re-POSTing the same filters with `"skipToken"`, the documented-by-example way for a POST.
The final answer becomes one sentence: 403 names the role, 404 names the three settings that address
the workspace. DELETE is deliberately absent: it does not remove objects that came in through the upload
API, so clean-up revokes by re-upload instead (misp_bridge/sync/cleanup.py).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import requests

from misp_bridge.azure.http import AzureSender, Reply
from misp_bridge.config.model import Workspace
from misp_bridge.errors import ConfigError, ManagementError, ManagementUnavailable

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
# ARM refills a principal's write bucket at about 10 requests a second (a POST counts as a write);
# the management limiter stays within that, apart from the upload API's 100 a minute.
REQUESTS_PER_MINUTE = 600


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


def management_url(base_url: str, workspace: Workspace, tail: str, api_version: str) -> str:
    """`.../threatIntelligence/main/<tail>?api-version=...` for one workspace."""
    path = BASE_PATH.format(
        subscription=quote(str(workspace.subscription_id), safe=""),
        group=quote(str(workspace.resource_group), safe=""),
        name=quote(str(workspace.workspace_name), safe=""),
    )
    return f"{base_url.rstrip('/')}{path}/{tail}?api-version={quote(api_version)}"


def skip_token(next_link: str) -> str | None:
    """The `$skipToken` query parameter of a nextLink (either spelling), or None."""
    query = parse_qs(urlsplit(next_link).query, keep_blank_values=False)
    for key in ("$skipToken", "$skiptoken", "skipToken"):
        if query.get(key):
            return query[key][0]
    return None


def refusal_cause(status: int, workspace: Workspace, response: requests.Response | None) -> str:
    """Why the management API refused a request, as advice (shared with check-config's probe)."""
    causes: dict[int, str] = {
        401: "the access token was refused twice; check tenant, client_id and that the scope is "
        "https://management.azure.com/.default",
        403: f"the app registration needs the {READER_ROLE} role to query indicators and the "
        f"{CONTRIBUTOR_ROLE} role to revoke them, on this workspace",
        404: f"no such workspace; check subscription_id ({workspace.subscription_id}), resourceGroupName "
        f"({workspace.resource_group}) and workspaceName ({workspace.workspace_name}) in ms_auth",
    }
    if status in causes:
        return causes[status]
    return error_message(response) or "the request was refused"


def error_message(response: requests.Response | None) -> str:
    """The message of an ARM error body ({"error": {...}}) or a gateway's flat one, trimmed."""
    if response is None:
        return ""
    try:
        payload = response.json()
        error = payload.get("error") or {}
        message = str(error.get("message") or error.get("code") or payload.get("message") or "")
    except (ValueError, AttributeError):
        message = ""
    return " ".join(message.split())[:300]


class ManagementClient:
    """queryIndicators for one workspace, with ARM errors turned into ManagementError sentences."""

    def __init__(self, *, workspace: Workspace, sender: AzureSender, base_url: str, api_version: str) -> None:
        require_management(workspace, "use the Sentinel management API")
        self.workspace = workspace
        self.label = workspace.label
        self.url = management_url(base_url, workspace, "queryIndicators", api_version)
        self._sender = sender

    @property
    def sent(self) -> int:
        """Requests sent so far, retries included: lets callers and tests see the cost."""
        return self._sender.stats.requests

    def _post(self, body: Mapping[str, Any]) -> dict[str, Any]:
        reply: Reply = self._sender.post(self.url, body)
        response = reply.response
        if response is None:
            raise ManagementUnavailable(self.label, f"{reply.problem} after {reply.attempts} attempts")
        status = response.status_code
        if status == 200:
            return self._json(response)
        if status == 429:
            raise ManagementUnavailable(
                self.label, f"kept answering 429 (too many requests) after {reply.attempts} attempts"
            )
        if status >= 500 or status == 408:
            raise ManagementUnavailable(
                self.label, f"kept failing with HTTP {status} after {reply.attempts} attempts"
            )
        raise ManagementError(self.label, status, refusal_cause(status, self.workspace, response))

    def _json(self, response: requests.Response) -> dict[str, Any]:
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise ManagementError(self.label, 200, "the reply to queryIndicators was not a JSON object")
        return payload

    # -- queries -----------------------------------------------------------------------------------

    def query_page(
        self, filters: Mapping[str, Any], token: str | None = None
    ) -> tuple[list[Any], str | None]:
        """One page of queryIndicators and the skip token of the next page (None on the last)."""
        body = dict(filters)
        if token is not None:
            body["skipToken"] = token
        payload = self._post(body)
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
