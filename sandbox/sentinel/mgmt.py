"""The management (ARM) side of the Sentinel stand-in: queryIndicators filters, paging, item shapes (pure
over a SentinelStore snapshot). docs/contracts.md 5.

The skip token carries the offset AND the filters, so following `nextLink` with a GET (no body) gives the
same page as re-POSTing the filters with `"skipToken"`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sandbox.sentinel.stix import parse_time, parsed_pattern, root_types
from sandbox.sentinel.store import StoredObject, Workspace

API_VERSION = "2025-09-01"
ITEM_TYPE = "Microsoft.SecurityInsights/ThreatIntelligence"
LIST_FILTERS = ("sources", "patternTypes", "threatTypes", "ids", "keywords")


@dataclass(frozen=True)
class Semantics:
    """Readings of the two undocumented queryIndicators filters (docs/contracts.md 5), so the product can
    be tested under each: what `ids` matches ("stix_id": the externalId, "name": the ARM name, "both",
    or "ignored") and what `includeDisabled: false` hides ("revoked", "expired" or "either")."""

    ids_match: str = "stix_id"
    include_disabled: str = "revoked"

    def __post_init__(self) -> None:
        if self.ids_match not in ("stix_id", "name", "both", "ignored"):
            raise ValueError(f"unknown ids reading {self.ids_match!r}")
        if self.include_disabled not in ("revoked", "expired", "either"):
            raise ValueError(f"unknown includeDisabled reading {self.include_disabled!r}")


class QueryError(Exception):
    """A queryIndicators body the service would refuse with 400."""


def arm_prefix(workspace: Workspace) -> str:
    return (
        f"/subscriptions/{workspace.subscription_id}/resourceGroups/{workspace.resource_group}"
        f"/providers/Microsoft.OperationalInsights/workspaces/{workspace.name}"
        "/providers/Microsoft.SecurityInsights"
    )


def dotnet_time(moment: datetime | float | None) -> str | None:
    """A time as the service writes it: UTC, 7 fractional digits (100 ns ticks) with trailing zeros
    trimmed, no fraction at all when it is zero (`2020-04-15T20:11:57.9666134Z`, `...:11.07Z`)."""
    if moment is None:
        return None
    if isinstance(moment, datetime):
        whole = moment.astimezone(timezone.utc).replace(microsecond=0, tzinfo=None)
        ticks = moment.microsecond * 10
    else:
        whole = datetime(1970, 1, 1) + timedelta(seconds=int(moment // 1))
        ticks = round((moment % 1) * 10**7)
        if ticks >= 10**7:
            whole, ticks = whole + timedelta(seconds=1), 0
    fraction = f"{ticks:07d}".rstrip("0")
    return f"{whole:%Y-%m-%dT%H:%M:%S}" + (f".{fraction}" if fraction else "") + "Z"


def _stix_time(value: object) -> str | None:
    parsed = parse_time(value)
    return dotnet_time(parsed) if parsed is not None else None


# STIX external_reference keys -> the ARM spec's ThreatIntelligenceExternalReference keys.
_REFERENCE_KEYS = {
    "source_name": "sourceName",
    "external_id": "externalId",
    "url": "url",
    "description": "description",
    "hashes": "hashes",
}


def _reference(ref: object) -> dict[str, Any]:
    if not isinstance(ref, dict):
        return {}
    return {arm: ref[stix] for stix, arm in _REFERENCE_KEYS.items() if ref.get(stix) is not None}


def observable_type(stix: dict[str, Any]) -> str:
    """The ARM `patternType`: the observable type the pattern is about (`ipv4-addr`, `url`, `file`),
    not STIX's `pattern_type`; a pattern in another language keeps its language's name."""
    if stix.get("pattern_type") == "stix":
        found = root_types(str(stix.get("pattern")))
        if found:
            return found[0]
    return str(stix.get("pattern_type") or "")


def item(workspace: Workspace, stored: StoredObject) -> dict[str, Any]:
    """One indicator in the shape of the ARM specification (ThreatIntelligence.json 2025-09-01):
    camelCase properties and external references, observable `patternType`, .NET-style times."""
    stix = stored.stix
    properties: dict[str, Any] = {
        "source": stored.source,
        "externalId": stored.stix_id,
        "displayName": stix.get("name", ""),
        "description": stix.get("description"),
        "pattern": stix.get("pattern"),
        "patternType": observable_type(stix),
        "patternVersion": stix.get("pattern_version"),
        "validFrom": _stix_time(stix.get("valid_from")),
        "validUntil": _stix_time(stix.get("valid_until")),
        "created": _stix_time(stix.get("created")),
        "modified": _stix_time(stix.get("modified")),
        "createdByRef": stix.get("created_by_ref"),
        "revoked": bool(stix.get("revoked", False)),
        "confidence": stix.get("confidence"),
        "indicatorTypes": list(stix.get("indicator_types", [])),
        "threatTypes": list(stix.get("indicator_types", [])),
        "threatIntelligenceTags": list(stix.get("labels", [])),
        "labels": list(stix.get("labels", [])),
        "killChainPhases": [
            {"killChainName": k.get("kill_chain_name"), "phaseName": k.get("phase_name")}
            for k in stix.get("kill_chain_phases", [])
            if isinstance(k, dict)
        ],
        "externalReferences": [_reference(r) for r in stix.get("external_references", [])],
        "objectMarkingRefs": list(stix.get("object_marking_refs", [])),
        "language": stix.get("lang"),
        "lastUpdatedTimeUtc": dotnet_time(stored.received),
        "parsedPattern": parsed_pattern(stored.observables),
    }
    return {
        "id": f"{arm_prefix(workspace)}/threatIntelligence/{stored.name}",
        "name": stored.name,
        "etag": f'"{stored.name[:8]}-{int(stored.received * 1000)}"',
        "type": ITEM_TYPE,
        "kind": "indicator",
        "properties": properties,
    }


def encode_skip(offset: int, filters: dict[str, Any]) -> str:
    raw = json.dumps({"o": offset, "f": filters}, sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_skip(token: str) -> tuple[int, dict[str, Any]]:
    try:
        raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        return int(raw["o"]), dict(raw["f"])
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise QueryError("The skip token is not valid.") from exc


def _number(filters: dict[str, Any], key: str) -> int | None:
    value = filters.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise QueryError(f"The value of '{key}' must be an integer.")
    return value


def _time(filters: dict[str, Any], key: str) -> datetime | None:
    value = filters.get(key)
    if value is None:
        return None
    parsed = parse_time(value)
    if parsed is None:
        raise QueryError(f"The value of '{key}' must be a date-time.")
    return parsed


def _lower_list(filters: dict[str, Any], key: str) -> set[str] | None:
    value = filters.get(key)
    if value is None or value == []:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise QueryError(f"The value of '{key}' must be a list of strings.")
    return {v.lower() for v in value}


def _disabled(stored: StoredObject, meaning: str, now: float) -> bool:
    revoked = bool(stored.stix.get("revoked", False))
    until = parse_time(stored.stix.get("valid_until"))
    expired = until is not None and until.timestamp() <= now
    return {"revoked": revoked, "expired": expired, "either": revoked or expired}[meaning]


def _predicates(
    filters: dict[str, Any], semantics: Semantics, now: float
) -> list[Callable[[StoredObject], bool]]:
    """One test per filter present; an object is returned when it passes them all."""
    checks: list[Callable[[StoredObject], bool]] = []
    low, high = _number(filters, "minConfidence"), _number(filters, "maxConfidence")
    if low is not None:
        checks.append(lambda s: isinstance(s.stix.get("confidence"), int) and s.stix["confidence"] >= low)
    if high is not None:
        checks.append(lambda s: isinstance(s.stix.get("confidence"), int) and s.stix["confidence"] <= high)
    after, before = _time(filters, "minValidUntil"), _time(filters, "maxValidUntil")
    if after is not None:
        checks.append(lambda s: (t := parse_time(s.stix.get("valid_until"))) is not None and t >= after)
    if before is not None:
        checks.append(lambda s: (t := parse_time(s.stix.get("valid_until"))) is not None and t <= before)
    if not filters.get("includeDisabled", False):
        checks.append(lambda s: not _disabled(s, semantics.include_disabled, now))
    lists = {key: _lower_list(filters, key) for key in LIST_FILTERS}
    if (sources := lists["sources"]) is not None:
        checks.append(lambda s: s.source.lower() in sources)
    if (kinds := lists["patternTypes"]) is not None:
        checks.append(
            lambda s: bool(
                kinds & {str(s.stix.get("pattern_type", "")).lower(), *root_types(str(s.stix.get("pattern")))}
            )
        )
    if (threats := lists["threatTypes"]) is not None:
        checks.append(lambda s: bool(threats & {str(t).lower() for t in s.stix.get("indicator_types", [])}))
    if (ids := lists["ids"]) is not None and semantics.ids_match != "ignored":
        by_name, by_stix = semantics.ids_match in ("name", "both"), semantics.ids_match in ("stix_id", "both")
        checks.append(lambda s: (by_name and s.name.lower() in ids) or (by_stix and s.stix_id.lower() in ids))
    if (words := lists["keywords"]) is not None:
        checks.append(lambda s: any(w in _searchable(s) for w in words))
    return checks


def _searchable(stored: StoredObject) -> str:
    stix = stored.stix
    parts = [stix.get("name"), stix.get("description"), stix.get("pattern"), stored.stix_id]
    parts += list(stix.get("labels", []))
    return " ".join(str(p) for p in parts if p).lower()


def _sort_key(value: Any) -> Any:
    """Times sort as times (trimmed fractions do not sort as text), everything else as it is."""
    if isinstance(value, (int, float)):
        return (0, float(value), "")
    moment = parse_time(value) if isinstance(value, str) else None
    return (0, moment.timestamp(), "") if moment is not None else (1, 0.0, str(value))


def _sort(items: list[dict[str, Any]], sort_by: object) -> list[dict[str, Any]]:
    if sort_by is None:
        return items
    if not isinstance(sort_by, list):
        raise QueryError("The value of 'sortBy' must be a list of {itemKey, sortOrder}.")
    # Apply the least significant key first: Python's sort is stable.
    for entry in reversed(sort_by):
        if not isinstance(entry, dict) or not isinstance(entry.get("itemKey"), str):
            raise QueryError("Each 'sortBy' entry needs an 'itemKey'.")
        order = str(entry.get("sortOrder", "ascending")).lower()
        if order not in ("ascending", "descending"):
            raise QueryError("The 'sortOrder' must be 'ascending' or 'descending'.")
        key = entry["itemKey"]
        present = [i for i in items if i["properties"].get(key) is not None]
        missing = [i for i in items if i["properties"].get(key) is None]
        present.sort(key=lambda i: _sort_key(i["properties"][key]), reverse=order == "descending")
        items = present + missing
    return items


def query(
    workspace: Workspace,
    objects: list[StoredObject],
    filters: dict[str, Any],
    semantics: Semantics = Semantics(),
    now: float = 0.0,
) -> tuple[list[dict[str, Any]], int | None]:
    """One page of items and the offset of the next page (None on the last page)."""
    size = _number(filters, "pageSize")
    size = 100 if size is None else size
    if not 1 <= size <= 1000:
        raise QueryError("The value of 'pageSize' must be between 1 and 1000.")
    offset = 0
    if filters.get("skipToken"):
        offset, _ = decode_skip(str(filters["skipToken"]))
    checks = _predicates(filters, semantics, now)
    indicators = [o for o in objects if o.stix.get("type") == "indicator" and all(c(o) for c in checks)]
    items = _sort([item(workspace, o) for o in indicators], filters.get("sortBy"))
    page = items[offset : offset + size]
    return page, offset + size if offset + size < len(items) else None
