"""MISP attribute -> STIX 2.1 indicator for Sentinel (MAPPING.md), as plain JSON-ready dicts.

Objects are built as dicts, not through stix2 constructors: those validate on every call and are far
too slow for the conversion budget (>= 5,000 attributes/s). The tests validate the output with stix2.
Ids are deterministic so a re-upload updates the stored indicator instead of duplicating it.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any, Literal

from misp_bridge.config.defaults import BUILTIN_CONSTANTS
from misp_bridge.errors import ConfigError, InvalidValue
from misp_bridge.sync.convert import events
from misp_bridge.sync.convert.patterns import escape, pattern_for

__all__ = [
    "DEFAULT_ACCEPTED_TYPES",
    "DEFAULT_CONFIDENCE_MAP",
    "DEFAULT_TAGS_IGNORE",
    "DEFAULT_TLP_MARKINGS",
    "SKIP_REASONS",
    "ConvertOptions",
    "Indicator",
    "Skip",
    "convert_attribute",
    "convert_event",
    "escape",
    "options_from_settings",
    "pattern_for",
    "revoked",
]

# Fixed namespace for the uuid5 ids of indicators whose attribute has no usable uuid of its own.
ID_NAMESPACE = uuid.UUID("92286667-3f2e-592f-a130-23db194b3068")

SKIP_REASONS: tuple[str, ...] = (
    "not to_ids",
    "deleted",
    "type not accepted",
    "not an indicator type",
    "invalid value",
    "expired",
    "duplicate",
)

# The defaults are constants.py's built-in tables (one source: misp_bridge.config.defaults).
DEFAULT_ACCEPTED_TYPES: frozenset[str] = frozenset(BUILTIN_CONSTANTS["UPLOAD_INDICATOR_MISP_ACCEPTED_TYPES"])
DEFAULT_TLP_MARKINGS: Mapping[str, str] = dict(BUILTIN_CONSTANTS["TLP_MARKING_OBJECT_DEFINITION"])
DEFAULT_CONFIDENCE_MAP: Mapping[str, int] = dict(BUILTIN_CONSTANTS["MISP_CONFIDENCE"])
DEFAULT_TAGS_IGNORE: tuple[str, ...] = tuple(BUILTIN_CONSTANTS["MISP_TAGS_IGNORE"])

_KILL_CHAIN = "kill-chain:"
_KILL_CHAIN_NAME = "lockheed-martin-cyber-kill-chain"
_ONE_MS = timedelta(milliseconds=1)


@dataclass(frozen=True)
class ConvertOptions:
    misp_domain: str
    days_to_expire: int = 50
    days_to_expire_start: Literal["valid_from", "current_date"] = "valid_from"
    days_to_expire_mapping: Mapping[str, int] = field(default_factory=dict)
    ignore_misp_last_seen: bool = True
    default_confidence: int = 50
    ignore_localtags: bool = True
    tags_ignore: tuple[str, ...] = DEFAULT_TAGS_IGNORE
    allowed_taxonomies: tuple[str, ...] = ()
    confidence_map: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_CONFIDENCE_MAP))
    custom_types: frozenset[str] = frozenset({"iban"})
    accepted_types: frozenset[str] = DEFAULT_ACCEPTED_TYPES
    tlp_markings: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_TLP_MARKINGS))
    default_threattype: str = "WatchList"
    default_tlp: str = "tlp:white"
    remove_pipe: bool = True
    flatten_attributes: bool = True
    remove_eventreports: bool = True


@dataclass(frozen=True)
class Indicator:
    stix_id: str
    attribute_uuid: str
    event_uuid: str
    misp_type: str
    body: Mapping[str, Any]
    content_hash: str
    valid_until: datetime


@dataclass(frozen=True)
class Skip:
    attribute_uuid: str
    event_uuid: str
    misp_type: str
    reason: str


@dataclass(frozen=True)
class _EventContext:
    """What every attribute of one event shares, computed once per event."""

    uuid: str
    timestamp: datetime | None
    tags: tuple[str, ...]
    name: str
    description_tail: str
    created_by_ref: str | None
    external_references: tuple[Mapping[str, str], ...]


# --- small pure helpers ---------------------------------------------------------------------------


def _canonical_uuid(text: str) -> str | None:
    """Lower-case canonical form of an RFC 4122 uuid (what STIX 2.1 ids require), else None."""
    try:
        parsed = uuid.UUID(text)
    except (ValueError, TypeError, AttributeError):
        return None
    return str(parsed) if parsed.variant == uuid.RFC_4122 else None


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _parse_time(value: Any) -> datetime | None:
    """MISP timestamps are epoch seconds (as text); first/last_seen are ISO 8601. None when unusable."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        if isinstance(value, (int, float)) or (isinstance(value, str) and value.strip().isdigit()):
            return datetime.fromtimestamp(int(value), tz=timezone.utc)
        if isinstance(value, str):
            return _utc(datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
    except (ValueError, OverflowError, OSError):
        return None
    return None


@lru_cache(maxsize=4096)  # events share a handful of timestamps; formatting is a hot spot
def iso(moment: datetime) -> str:
    """STIX timestamp: UTC, millisecond precision, trailing Z."""
    moment = _utc(moment)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def _truncate_ms(moment: datetime) -> datetime:
    moment = _utc(moment)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


# --- the conversion -------------------------------------------------------------------------------


def _event_context(event: Mapping[str, Any], options: ConvertOptions) -> _EventContext:
    event_uuid = str(event.get("uuid") or "")
    info = str(event.get("info") or "")
    raw_orgc = event.get("Orgc")
    orgc: Mapping[str, Any] = raw_orgc if isinstance(raw_orgc, Mapping) else {}
    org_uuid = _canonical_uuid(str(orgc.get("uuid") or ""))
    event_id = str(event.get("id") or "")
    ident = f"{event_id}-{event_uuid}" if event_id else event_uuid
    tail = f"{info} ({ident}) by {orgc.get('name') or 'unknown organisation'} on {event.get('date') or '?'}"
    reference = {
        "source_name": "MISP",
        "description": f"MISP Event: {info}",
        "external_id": event_uuid,
        "url": f"{options.misp_domain.rstrip('/')}/events/view/{event_uuid}",
    }
    return _EventContext(
        uuid=event_uuid,
        timestamp=_parse_time(event.get("timestamp")),
        tags=tuple(events.tag_names(event.get("Tag"), options.ignore_localtags)),
        name=info or f"MISP event {event_uuid}",
        description_tail=tail,
        created_by_ref=f"identity--{org_uuid}" if org_uuid else None,
        external_references=(reference,),
    )


def _valid_until(
    attribute: Mapping[str, Any], pattern: str, valid_from: datetime, options: ConvertOptions, now: datetime
) -> datetime:
    if not options.ignore_misp_last_seen:
        last_seen = _parse_time(attribute.get("last_seen"))
        if last_seen is not None and last_seen > valid_from:
            return last_seen
    days = next(
        (days for key, days in options.days_to_expire_mapping.items() if key in pattern),
        options.days_to_expire,
    )
    start = valid_from if options.days_to_expire_start == "valid_from" else now
    until = start + timedelta(days=days)
    # Sentinel rejects valid_until <= valid_from; the smallest step keeps the expiry decision intact.
    return until if until > valid_from else valid_from + timedelta(seconds=1)


def _ids(attribute_uuid: str, ctx: _EventContext, misp_type: str, value: str, count: int) -> list[str]:
    canonical = _canonical_uuid(attribute_uuid)
    base = canonical or attribute_uuid or ctx.uuid
    ids = [f"indicator--{canonical}"] if canonical else []
    while len(ids) < count:
        part = len(ids)
        ids.append(f"indicator--{uuid.uuid5(ID_NAMESPACE, f'{base}|{misp_type}|{value}|{part}')}")
    return ids


def content_hash(body: Mapping[str, Any]) -> str:
    stable = {key: value for key, value in body.items() if key != "modified"}
    text = json.dumps(stable, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _convert(
    attribute: Mapping[str, Any],
    ctx: _EventContext,
    options: ConvertOptions,
    now: datetime,
    object_name: str | None,
    *,
    misp_object: Mapping[str, Any] | None = None,
) -> list[Indicator] | Skip:
    attribute_uuid = str(attribute.get("uuid") or "")
    misp_type = str(attribute.get("type") or "")

    def skip(reason: str) -> Skip:
        return Skip(attribute_uuid, ctx.uuid, misp_type, reason)

    reason = events.filter_reason(attribute, misp_object, options.accepted_types)
    if reason is not None:
        return skip(reason)
    value = attribute.get("value")
    if not isinstance(value, str) or not value.strip():
        return skip("invalid value")
    if misp_type in options.custom_types:
        parts: list[tuple[str, str]] | None = [(escape(value), "")]
    else:
        try:
            parts = pattern_for(misp_type, value, remove_pipe=options.remove_pipe)
        except InvalidValue:
            return skip("invalid value")
    if parts is None:
        return skip("not an indicator type")

    now = _utc(now)
    stamp = _parse_time(attribute.get("timestamp")) or ctx.timestamp or now
    stamp_text = iso(stamp)
    valid_from = _truncate_ms(stamp)
    attribute_tags = events.tag_names(attribute.get("Tag"), options.ignore_localtags)
    names = attribute_tags + list(ctx.tags)  # attribute first: it wins every "attribute over event" rule
    confidence = events.first_match(names, options.confidence_map)
    threattype = events.threattype(names) or options.default_threattype
    marking = events.tlp_marking(names, options.tlp_markings) or options.tlp_markings.get(
        options.default_tlp.lower()
    )
    phases = [events.tag_value(n, _KILL_CHAIN) for n in events.dedupe(names) if n.startswith(_KILL_CHAIN)]
    labels = events.labels(names, options.tags_ignore, options.allowed_taxonomies)
    comment = str(attribute.get("comment") or "").strip()
    was_part = f"(was part of {object_name} object)" if object_name else ""

    indicators: list[Indicator] = []
    for stix_id, (pattern, note) in zip(
        _ids(attribute_uuid, ctx, misp_type, value, len(parts)), parts, strict=True
    ):
        valid_until = _valid_until(attribute, pattern, valid_from, options, now)
        if valid_until <= now:
            continue
        head = " ".join(text for text in (comment, was_part, note) if text)
        body: dict[str, Any] = {
            "type": "indicator",
            "spec_version": "2.1",
            "id": stix_id,
            "created": stamp_text,
            "modified": stamp_text,
            "name": ctx.name,
            "description": f"{head} - {ctx.description_tail}" if head else ctx.description_tail,
            "pattern": pattern,
            "pattern_type": "stix",
            "pattern_version": "2.1",
            "valid_from": stamp_text,
            "valid_until": iso(valid_until),
            "confidence": options.default_confidence if confidence is None else int(confidence),
            "indicator_types": [threattype],
            "external_references": [dict(ref) for ref in ctx.external_references],
        }
        if labels:
            body["labels"] = list(labels)
        if phases:
            body["kill_chain_phases"] = [
                {"kill_chain_name": _KILL_CHAIN_NAME, "phase_name": phase} for phase in phases if phase
            ]
        if marking:
            body["object_marking_refs"] = [marking]
        if ctx.created_by_ref:
            body["created_by_ref"] = ctx.created_by_ref
        indicators.append(
            Indicator(stix_id, attribute_uuid, ctx.uuid, misp_type, body, content_hash(body), valid_until)
        )
    return indicators or skip("expired")


def convert_attribute(
    attribute: Mapping[str, Any],
    event: Mapping[str, Any],
    options: ConvertOptions,
    now: datetime,
    *,
    object_name: str | None = None,
) -> list[Indicator] | Skip:
    """Convert one attribute of an event: its indicators (two for a split domain|ip), or why not."""
    ctx = _event_context(events.unwrap(event), options)
    return _convert(attribute, ctx, options, now, object_name)


def convert_event(
    event: Mapping[str, Any], options: ConvertOptions, now: datetime
) -> Iterator[Indicator | Skip]:
    """Convert every considered attribute of one event; each stix id comes out at most once."""
    inner = events.prepare(event, remove_eventreports=options.remove_eventreports)
    ctx = _event_context(inner, options)
    seen: set[str] = set()
    for attribute, misp_object in events.iter_attributes(inner, flatten=options.flatten_attributes):
        result = _convert(
            attribute, ctx, options, now, events.object_name(misp_object), misp_object=misp_object
        )
        if isinstance(result, Skip):
            yield result
            continue
        fresh = [indicator for indicator in result if indicator.stix_id not in seen]
        if not fresh:
            yield Skip(result[0].attribute_uuid, ctx.uuid, result[0].misp_type, "duplicate")
        for indicator in fresh:
            seen.add(indicator.stix_id)
            yield indicator


def revoked(body: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """The same indicator marked revoked, with a modified time strictly later than the stored one."""
    modified = _truncate_ms(now)
    previous = _parse_time(body.get("modified"))
    if previous is not None and modified <= previous:
        modified = _truncate_ms(previous) + _ONE_MS
    return {**body, "revoked": True, "modified": iso(modified)}


def options_from_settings(settings: Any) -> ConvertOptions:
    """Build options from a Settings object (attribute names as in config.py / constants.py)."""
    defaults = ConvertOptions(misp_domain="")

    def pick(name: str, default: Any) -> Any:
        value = getattr(settings, name, None)
        return default if value is None else value

    start = pick("days_to_expire_start", defaults.days_to_expire_start)
    if start not in ("valid_from", "current_date"):
        raise ConfigError("days_to_expire_start", f"must be 'valid_from' or 'current_date', got {start!r}")
    return ConvertOptions(
        misp_domain=str(pick("misp_domain", "")),
        days_to_expire=int(pick("days_to_expire", defaults.days_to_expire)),
        days_to_expire_start=start,
        days_to_expire_mapping=dict(pick("days_to_expire_mapping", {})),
        ignore_misp_last_seen=bool(
            pick("days_to_expire_ignore_misp_last_seen", defaults.ignore_misp_last_seen)
        ),
        default_confidence=int(pick("default_confidence", defaults.default_confidence)),
        ignore_localtags=bool(pick("ignore_localtags", defaults.ignore_localtags)),
        tags_ignore=tuple(pick("misp_tags_ignore", defaults.tags_ignore)),
        allowed_taxonomies=tuple(pick("misp_allowed_taxonomies", ())),
        confidence_map=dict(pick("misp_confidence", defaults.confidence_map)),
        custom_types=frozenset(pick("misp_custom_attribute", defaults.custom_types)),
        accepted_types=frozenset(pick("upload_indicator_misp_accepted_types", defaults.accepted_types)),
        tlp_markings={
            str(k).lower(): str(v)
            for k, v in dict(pick("tlp_marking_object_definition", defaults.tlp_markings)).items()
        },
        default_threattype=str(pick("sentinel_default_threattype", defaults.default_threattype)),
        default_tlp=str(pick("sentinel_default_tlp", defaults.default_tlp)),
        remove_pipe=bool(pick("remove_pipe_from_misp_attribute", defaults.remove_pipe)),
        flatten_attributes=bool(pick("misp_flatten_attributes", defaults.flatten_attributes)),
        remove_eventreports=bool(pick("misp_remove_eventreports", defaults.remove_eventreports)),
    )
