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

from misp_bridge.azure.http import AzureSender, Reply, role_missing
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
    if status == 401 and response is not None and role_missing(response):
        return causes[403]  # a missing role reported as a 401 (docs/contracts.md 4)
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
        self._ids_reading: str | None = None  # "ids" or "scan", learned on first use (see find())
        self._scan_index: set[str] | None = None  # lower-cased STIX ids of the source, when scanning

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

    # -- finding indicators by STIX id ------------------------------------------------------------------
    #
    # What `ids` matches is undocumented (docs/contracts.md 5). The client learns it once per run from
    # two small queries: one item of the source, then `ids` = that item's STIX id. If exactly that item
    # comes back, `ids` finds STIX ids: one request per IDS_PER_QUERY ids. Otherwise (nothing back: it
    # matches ARM names only; other items back: it is ignored) every item of the source is read and
    # matched here: one request per PAGE_SIZE indicators of the source. Either way every item returned
    # is checked against what was asked before anyone acts on it.

    def _learn_ids_reading(self, source: str) -> str | None:
        """ "ids" or "scan"; None while the source holds nothing to learn from (asked again next time)."""
        if self._ids_reading is not None:
            return self._ids_reading
        sample_page, _ = self.query_page({"sources": [source], "includeDisabled": True, "pageSize": 1})
        sample = next((i for i in sample_page if of_source(i, source) and external_id(i)), None)
        if sample is None:
            return None
        wanted = external_id(sample).lower()
        probe = {"ids": [external_id(sample)], "sources": [source], "includeDisabled": True, "pageSize": 2}
        answer, _ = self.query_page(probe)
        returned = {external_id(i).lower() for i in answer}
        if returned == {wanted}:
            self._ids_reading = "ids"
        else:
            why = "matches no STIX id" if not returned else "returned indicators it was not asked for"
            self._use_scan(why)
        return self._ids_reading

    def _use_scan(self, why: str) -> None:
        self._ids_reading = "scan"
        log.warning(
            "workspace %s: queryIndicators' ids filter %s; indicators are found by reading every indicator "
            "of the source instead (one request per %d indicators)",
            self.label,
            why,
            PAGE_SIZE,
        )

    def _find_by_ids(self, stix_ids: Sequence[str], source: str) -> list[dict[str, Any]] | None:
        """Items found through `ids`, or None when the service answered with items not asked for."""
        found: list[dict[str, Any]] = []
        for start in range(0, len(stix_ids), IDS_PER_QUERY):
            chunk = stix_ids[start : start + IDS_PER_QUERY]
            asked = {sid.lower() for sid in chunk}
            for item in self.query({"ids": list(chunk), "sources": [source], "includeDisabled": True}):
                if not of_source(item, source):
                    continue
                if external_id(item).lower() not in asked:
                    self._use_scan("returned indicators it was not asked for")
                    return None
                found.append(item)
        return found

    def scan(self, source: str) -> Iterator[dict[str, Any]]:
        """Every item of `source`, revoked and expired ones included, page after page."""
        for item in self.query({"sources": [source], "includeDisabled": True}):
            if of_source(item, source):
                yield item

    def find(self, stix_ids: Sequence[str], *, source: str) -> list[dict[str, Any]]:
        """Items of `source` whose STIX id is one of `stix_ids`, revoked ones included (the caller checks
        `revoked`); only items that were asked for come back, whatever the service returned."""
        unique = list({sid.lower(): sid for sid in stix_ids}.values())
        if not unique or self._learn_ids_reading(source) is None:
            return []
        if self._ids_reading == "ids":
            found = self._find_by_ids(unique, source)
            if found is not None:
                return found
        wanted = {sid.lower() for sid in unique}
        return [item for item in self.scan(source) if external_id(item).lower() in wanted]

    def existing(self, stix_ids: Sequence[str], *, source: str) -> set[str]:
        """Which of `stix_ids` Sentinel holds for `source` (revoked ones included). When `ids` cannot be
        relied on, the source is read once per run and kept as a set of ids for every later call."""
        if not stix_ids or self._learn_ids_reading(source) is None:
            return set()
        if self._ids_reading == "ids":
            found = self._find_by_ids(list(dict.fromkeys(stix_ids)), source)
            if found is not None:
                held = {external_id(item).lower() for item in found}
                return {sid for sid in stix_ids if sid.lower() in held}
        if self._scan_index is None:
            self._scan_index = {external_id(item).lower() for item in self.scan(source)}
        return {sid for sid in stix_ids if sid.lower() in self._scan_index}


def properties(item: Mapping[str, Any]) -> Mapping[str, Any]:
    props = item.get("properties")
    return props if isinstance(props, Mapping) else {}


def of_source(item: Mapping[str, Any], source: str) -> bool:
    """True when the item came from our sourcesystem; the query filter is checked again client-side."""
    return str(properties(item).get("source", "")).lower() == source.lower()


def external_id(item: Mapping[str, Any]) -> str:
    return str(properties(item).get("externalId") or "")
