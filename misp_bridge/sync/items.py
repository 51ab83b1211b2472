"""queryIndicators items back to STIX bodies (docs/contracts.md 5).

An ARM item is not STIX: its external references are camelCase (`sourceName`), its `patternType` is the
observable type (`ipv4-addr`), its times carry up to 7 fraction digits. A revocation rebuilt from an item
has to convert each back, or Sentinel refuses it ("No values for required properties for
ExternalReference", "Unsupported pattern type").
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from misp_bridge.azure.management import external_id, properties
from misp_bridge.sync.convert.times import parse_iso, stix_time

_ITEM_FIELDS: dict[str, str] = {
    # queryIndicators property -> STIX property, for values copied as they are
    "displayName": "name",
    "description": "description",
    "pattern": "pattern",
    "patternVersion": "pattern_version",
    "createdByRef": "created_by_ref",
    "confidence": "confidence",
    "labels": "labels",
    "objectMarkingRefs": "object_marking_refs",
    "language": "lang",
}
# Times: ARM writes them .NET-style (7 digits, trimmed); STIX parsers want at most 6.
_ITEM_TIMES: dict[str, str] = {
    "validFrom": "valid_from",
    "validUntil": "valid_until",
    "created": "created",
}
# ARM's ThreatIntelligenceExternalReference keys -> STIX external_reference keys (either spelling in).
_REFERENCE_KEYS: dict[str, str] = {
    "sourceName": "source_name",
    "source_name": "source_name",
    "externalId": "external_id",
    "external_id": "external_id",
    "url": "url",
    "description": "description",
    "hashes": "hashes",
}
# STIX 2.1 pattern-type-ov: an item's patternType naming one of these is a pattern language; anything
# else (`ipv4-addr`, `url`, `file`) is ARM's observable type, and the pattern is STIX.
PATTERN_LANGUAGES = frozenset({"stix", "pcre", "sigma", "snort", "suricata", "yara"})


def _references(value: Any) -> list[dict[str, Any]]:
    """STIX external_references out of ARM's camelCase ones; an entry without a source name (which
    STIX requires) is left out."""
    result = []
    for ref in value if isinstance(value, list) else ():
        if not isinstance(ref, Mapping):
            continue
        converted = {
            stix: ref[arm] for arm, stix in _REFERENCE_KEYS.items() if ref.get(arm) not in (None, "", {})
        }
        if converted.get("source_name"):
            result.append(converted)
    return result


def item_time(props: Mapping[str, Any], key: str) -> datetime | None:
    """A time property of an item (any fraction length), or None."""
    value = props.get(key)
    return parse_iso(value) if isinstance(value, str) else None


def body_from_item(item: Mapping[str, Any]) -> dict[str, Any] | None:
    """The STIX indicator a queryIndicators item stands for, or None when it lacks what an upload needs.

    ARM items are not STIX (docs/contracts.md 5): references are camelCase, `patternType` is the
    observable type, times carry up to 7 digits. Each is converted back here.
    """
    props = properties(item)
    stix_id = external_id(item)
    valid_from = item_time(props, "validFrom")
    if not stix_id.startswith("indicator--") or not props.get("pattern") or valid_from is None:
        return None
    body: dict[str, Any] = {"type": "indicator", "spec_version": "2.1", "id": stix_id}
    for source, target in _ITEM_FIELDS.items():
        value = props.get(source)
        if value not in (None, "", []):
            body[target] = value
    for source, target in _ITEM_TIMES.items():
        moment = item_time(props, source)
        if moment is not None:
            body[target] = stix_time(moment)
    kinds = props.get("indicatorTypes") or props.get("threatTypes")
    if kinds:
        body["indicator_types"] = list(kinds)
    references = _references(props.get("externalReferences"))
    if references:
        body["external_references"] = references
    language = str(props.get("patternType") or "").lower()
    body["pattern_type"] = language if language in PATTERN_LANGUAGES else "stix"
    body.setdefault("created", body["valid_from"])
    phases = [
        {"kill_chain_name": p.get("killChainName"), "phase_name": p.get("phaseName")}
        for p in props.get("killChainPhases") or []
        if isinstance(p, Mapping) and p.get("killChainName") and p.get("phaseName")
    ]
    if phases:
        body["kill_chain_phases"] = phases
    # revoked() makes `modified` later than this; Sentinel's own update time is the safer floor.
    stamps = [item_time(props, key) for key in ("modified", "lastUpdatedTimeUtc", "created")]
    body["modified"] = stix_time(max((t for t in stamps if t is not None), default=valid_from))
    return body


__all__ = ["PATTERN_LANGUAGES", "body_from_item", "item_time"]
