"""restSearch as MISP 2.5.1 serves it, beyond the filters themselves (docs/contracts.md 2):

- the parameter whitelist: MISP copies only the names in `RestSearchComponent::$paramArray` for the
  controller out of the body and drops every other one without a word (`harvest`);
- the per-role rate limit: a fixed window (Redis TTL, 900 s) counted per user; headers
  `X-Rate-Limit-Limit`, `-Remaining` and `-Reset` (SECONDS left in the window, not an epoch) on every
  restSearch reply, and over the limit a 429 `{"name": "Rate limit exceeded.", ...}`;
- the time to build a page: MISP writes the whole page before its first byte, so the wait grows with
  the page (`seconds_per_item`).

Kept apart from app.py so the knobs read as one piece; `RestSearchLimits.guard` wraps the two routes.
The names come from MISP v2.5.1 `app/Controller/Component/RestSearchComponent.php` (facts, not code).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from sandbox.http import Request, Response, json_response

ATTRIBUTE_PARAMS = frozenset(
    [
        "returnFormat",
        "value",
        "value1",
        "value2",
        "type",
        "category",
        "org",
        "tags",
        "from",
        "to",
        "last",
        "eventid",
        "withAttachments",
        "uuid",
        "publish_timestamp",
        "published",
        "timestamp",
        "enforceWarninglist",
        "to_ids",
        "deleted",
        "includeEventUuid",
        "event_timestamp",
        "threat_level_id",
        "includeEventTags",
        "includeProposals",
        "limit",
        "page",
        "requested_attributes",
        "includeContext",
        "headerless",
        "includeWarninglistHits",
        "attackGalaxy",
        "object_relation",
        "includeSightings",
        "includeCorrelations",
        "includeDecayScore",
        "decayingModel",
        "excludeDecayed",
        "modelOverrides",
        "includeFullModel",
        "score",
        "attribute_timestamp",
        "first_seen",
        "last_seen",
        "eventinfo",
        "sharinggroup",
        "allow_proposal_blocking",
        "flatten",
        "list",
        "event_ids",
        "includeAllTags",
        "includeAttributeUuid",
        "includeGalaxy",
        "order",
        "policy",
        "walled_garden",
        "ns",
        "email",
        "serial",
        "refresh",
        "retry",
        "expiry",
        "minimum_ttl",
        "ttl",
    ]
)
EVENT_PARAMS = frozenset(
    [
        "returnFormat",
        "value",
        "type",
        "category",
        "org",
        "tags",
        "searchall",
        "from",
        "to",
        "last",
        "eventid",
        "withAttachments",
        "metadata",
        "uuid",
        "publish_timestamp",
        "timestamp",
        "event_timestamp",
        "event_tags",
        "published",
        "enforceWarninglist",
        "sgReferenceOnly",
        "limit",
        "page",
        "requested_attributes",
        "includeContext",
        "headerless",
        "includeWarninglistHits",
        "attackGalaxy",
        "to_ids",
        "deleted",
        "excludeLocalTags",
        "date",
        "includeSightingdb",
        "tag",
        "object_relation",
        "threat_level_id",
        "eventinfo",
        "sharinggroup",
        "idList",
        "includeAllTags",
        "includeAttachments",
        "event_uuid",
        "distribution",
        "sharing_group_id",
        "disableSiteAdmin",
        "flatten",
        "blockedAttributeTags",
        "eventsExtendingUuid",
        "extended",
        "extensionList",
        "excludeGalaxy",
        "includeAnalystData",
        "includeRelatedTags",
        "includeDecayScore",
        "includeScoresOnEvent",
        "includeFeedCorrelations",
        "includeServerCorrelations",
        "noEventReports",
        "noShadowAttributes",
        "order",
        "protected",
        "includeGranularCorrelations",
        "policy",
        "walled_garden",
        "ns",
        "email",
        "serial",
        "refresh",
        "retry",
        "expiry",
        "minimum_ttl",
        "ttl",
        "org.sector",
        "org.local",
        "org.nationality",
    ]
)
PARAMS = {"events": EVENT_PARAMS, "attributes": ATTRIBUTE_PARAMS}
_PREFIXES = {"events": ("galaxy.",), "attributes": ()}

RATE_WINDOW = 900  # seconds: RateLimitComponent's fixed window


def harvest(controller: str, body: dict[str, Any]) -> dict[str, Any]:
    """The body as MISP reads it: the controller's whitelisted names only, the rest dropped silently."""
    allowed, prefixes = PARAMS[controller], _PREFIXES[controller]
    return {k: v for k, v in body.items() if k in allowed or k.startswith(prefixes)}


def _items(response: Response) -> int:
    try:
        payload = json.loads(response.body or b"null")
    except ValueError:
        return 0
    found = payload.get("response") if isinstance(payload, dict) else None
    if isinstance(found, dict):
        found = found.get("Attribute")
    return len(found) if isinstance(found, list) else 0


class RestSearchLimits:
    """The rate limit and the page-building time of the two restSearch routes. Knobs (any time):
    `rate_limit` (searches per window per user; None: the role is not limited, MISP's default) and
    `seconds_per_item` (real seconds added per event or attribute in the page)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.rate_limit: int | None = None
        self.seconds_per_item = 0.0
        self.throttled = 0  # 429s given
        self._count = 0
        self._expires = 0.0
        self._lock = threading.Lock()

    def guard(self, handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        def guarded(request: Request) -> Response:
            headers = self._take(request.path)
            if isinstance(headers, Response):
                return headers
            response = handler(request)
            if self.seconds_per_item and response.status == 200:
                time.sleep(self.seconds_per_item * _items(response))
            response.headers.update(headers)
            return response

        return guarded

    def _take(self, path: str) -> dict[str, str] | Response:
        """The rate-limit headers of an allowed search, or the 429 of a refused one."""
        limit = self.rate_limit
        if limit is None:
            return {}
        with self._lock:
            now = self.clock()
            if now >= self._expires:
                self._count, self._expires = 0, now + RATE_WINDOW
            reset = max(0, int(self._expires - now))
            if self._count >= limit:
                self.throttled += 1
                headers = {"X-Rate-Limit-Limit": str(limit), "X-Rate-Limit-Remaining": "0"}
                headers["X-Rate-Limit-Reset"] = str(reset)
                name = "Rate limit exceeded."
                return json_response(429, {"name": name, "message": name, "url": path}, headers)
            self._count += 1
            return {
                "X-Rate-Limit-Limit": str(limit),
                "X-Rate-Limit-Remaining": str(limit - self._count),
                "X-Rate-Limit-Reset": str(reset),
            }
