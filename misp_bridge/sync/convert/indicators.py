"""MISP attribute -> STIX 2.1 indicator for Sentinel (docs/mapping.md), as plain JSON-ready dicts.

Objects are built as dicts, not through stix2 constructors: those validate on every call and are far
too slow for the conversion budget (>= 5,000 attributes/s). The tests validate the output with stix2.
Ids are deterministic so a re-upload updates the stored indicator instead of duplicating it.

An attribute goes through three steps: `_skip_reason` (the rules that leave it out), `_TagFacts` (what
its and its event's tags say: confidence, threat type, TLP, kill chain, labels) and `_body` (one STIX
object per pattern; a split composite gives two).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from misp_bridge.errors import InvalidValue
from misp_bridge.sync.convert import events
from misp_bridge.sync.convert.options import ConvertOptions
from misp_bridge.sync.convert.patterns import Part, escape, pattern_for, reads_as_pattern
from misp_bridge.sync.convert.times import ONE_MS, iso, parse_time, truncate_ms, utc
from misp_bridge.sync.indicator import Indicator, content_hash

log = logging.getLogger("misp_bridge.convert")

__all__ = ["SKIP_REASONS", "Skip", "convert_attribute", "convert_event", "generation_id", "revoked"]

# Fixed namespace for the uuid5 ids of indicators whose attribute has no usable uuid of its own.
ID_NAMESPACE = uuid.UUID("92286667-3f2e-592f-a130-23db194b3068")
# Fixed namespace for the ids of later generations (an indicator back after a revocation).
GENERATION_NAMESPACE = uuid.UUID("fa358f37-d107-50d5-8a72-6d7b8e6b1830")

SKIP_REASONS: tuple[str, ...] = (
    "not to_ids",
    "deleted",
    "type not accepted",
    "not an indicator type",
    "invalid value",
    "free text reads as a pattern",
    "expired",
    "duplicate",
)

_KILL_CHAIN = "kill-chain:"
_KILL_CHAIN_NAME = "lockheed-martin-cyber-kill-chain"


@dataclass(frozen=True)
class Skip:
    attribute_uuid: str
    event_uuid: str
    misp_type: str
    reason: str


@dataclass(frozen=True)
class _EventFacts:
    """What every attribute of one event shares, computed once per event."""

    uuid: str
    timestamp: datetime | None
    tags: tuple[str, ...]
    name: str
    description_tail: str
    created_by_ref: str | None
    external_references: tuple[Mapping[str, str], ...]


@dataclass(frozen=True)
class _TagFacts:
    """What an attribute's tags, then its event's, say about its indicators."""

    confidence: int
    threattype: str
    marking: str | None
    phases: tuple[str, ...]
    labels: tuple[str, ...]


# --- small pure helpers ---------------------------------------------------------------------------


def _canonical_uuid(text: str) -> str | None:
    """Lower-case canonical form of an RFC 4122 uuid (what STIX 2.1 ids require), else None."""
    try:
        parsed = uuid.UUID(text)
    except (ValueError, TypeError, AttributeError):
        return None
    return str(parsed) if parsed.variant == uuid.RFC_4122 else None


def _event_facts(event: Mapping[str, Any], options: ConvertOptions) -> _EventFacts:
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
    return _EventFacts(
        uuid=event_uuid,
        timestamp=parse_time(event.get("timestamp")),
        tags=tuple(events.tag_names(event.get("Tag"), options.ignore_localtags)),
        name=info or f"MISP event {event_uuid}",
        description_tail=tail,
        created_by_ref=f"identity--{org_uuid}" if org_uuid else None,
        external_references=(reference,),
    )


def _tag_facts(attribute: Mapping[str, Any], event: _EventFacts, options: ConvertOptions) -> _TagFacts:
    attribute_tags = events.tag_names(attribute.get("Tag"), options.ignore_localtags)
    names = attribute_tags + list(event.tags)  # attribute first: it wins every "attribute over event" rule
    confidence = events.first_match(names, options.confidence_map)
    marking = events.tlp_marking(names, options.tlp_markings)
    phases = [events.tag_value(n, _KILL_CHAIN) for n in events.dedupe(names) if n.startswith(_KILL_CHAIN)]
    known = options.kill_chain_phases  # a constants.py KILL_CHAIN_MARKING_OBJECT_DEFINITION's phases
    return _TagFacts(
        confidence=options.default_confidence if confidence is None else int(confidence),
        threattype=events.threattype(names) or options.default_threattype,
        marking=marking or options.tlp_markings.get(options.default_tlp.lower()),
        phases=tuple(phase for phase in phases if phase and (known is None or phase in known)),
        labels=tuple(events.labels(names, options.tags_ignore, options.allowed_taxonomies)),
    )


def _valid_until(
    attribute: Mapping[str, Any], pattern: str, valid_from: datetime, options: ConvertOptions, now: datetime
) -> datetime:
    if not options.ignore_misp_last_seen:
        last_seen = parse_time(attribute.get("last_seen"))
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


def _ids(attribute_uuid: str, event: _EventFacts, misp_type: str, value: str, count: int) -> list[str]:
    canonical = _canonical_uuid(attribute_uuid)
    base = canonical or attribute_uuid or event.uuid
    ids = [f"indicator--{canonical}"] if canonical else []
    while len(ids) < count:
        part = len(ids)
        ids.append(f"indicator--{uuid.uuid5(ID_NAMESPACE, f'{base}|{misp_type}|{value}|{part}')}")
    return ids


def generation_id(base_id: str, generation: int) -> str:
    """The id of an indicator's `generation`: generation 0 is the id `_ids` gives (so nothing uploaded
    before generations existed changes id); generation g >= 1 is a uuid5 of the generation-0 id and g.
    Revocation is final in Sentinel, so an indicator that must come back after one needs a new id; the
    state records the generation so every run computes the same one (docs/mapping.md "Ids")."""
    if generation <= 0:
        return base_id
    return f"indicator--{uuid.uuid5(GENERATION_NAMESPACE, f'{base_id}|{generation}')}"


# --- the conversion -------------------------------------------------------------------------------


def _patterns(
    attribute: Mapping[str, Any], misp_object: Mapping[str, Any] | None, options: ConvertOptions
) -> list[Part] | str:
    """The (pattern, note) parts of an attribute, or the reason it is skipped."""
    reason = events.filter_reason(attribute, misp_object, options.accepted_types)
    if reason is not None:
        return reason
    misp_type = str(attribute.get("type") or "")
    value = attribute.get("value")
    if not isinstance(value, str) or not value.strip():
        return "invalid value"
    if misp_type in options.custom_types:
        # What the original sends (no free-text form is documented); never a working expression.
        return "free text reads as a pattern" if reads_as_pattern(value) else [(escape(value), "")]
    try:
        parts = pattern_for(misp_type, value, remove_pipe=options.remove_pipe)
    except InvalidValue:
        return "invalid value"
    return "not an indicator type" if parts is None else parts


def _body(
    stix_id: str,
    pattern: str,
    *,
    valid_until: datetime,
    stamp: str,
    description: str,
    event: _EventFacts,
    tags: _TagFacts,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": stix_id,
        "created": stamp,
        "modified": stamp,
        "name": event.name,
        "description": description,
        "pattern": pattern,
        "pattern_type": "stix",
        "pattern_version": "2.1",
        "valid_from": stamp,
        "valid_until": iso(valid_until),
        "confidence": tags.confidence,
        "indicator_types": [tags.threattype],
        "external_references": [dict(ref) for ref in event.external_references],
    }
    if tags.labels:
        body["labels"] = list(tags.labels)
    if tags.phases:
        body["kill_chain_phases"] = [
            {"kill_chain_name": _KILL_CHAIN_NAME, "phase_name": p} for p in tags.phases
        ]
    if tags.marking:
        body["object_marking_refs"] = [tags.marking]
    if event.created_by_ref:
        body["created_by_ref"] = event.created_by_ref
    return body


def _convert(
    attribute: Mapping[str, Any],
    event: _EventFacts,
    options: ConvertOptions,
    now: datetime,
    misp_object: Mapping[str, Any] | None = None,
) -> list[Indicator] | Skip:
    attribute_uuid = str(attribute.get("uuid") or "")
    misp_type = str(attribute.get("type") or "")
    parts = _patterns(attribute, misp_object, options)
    if isinstance(parts, str):
        return Skip(attribute_uuid, event.uuid, misp_type, parts)
    now = utc(now)
    stamp = parse_time(attribute.get("timestamp")) or event.timestamp or now
    valid_from = truncate_ms(stamp)
    tags = _tag_facts(attribute, event, options)
    comment = str(attribute.get("comment") or "").strip()
    name = events.object_name(misp_object)
    was_part = f"(was part of {name} object)" if name else ""
    value = str(attribute.get("value"))
    indicators: list[Indicator] = []
    for stix_id, (pattern, note) in zip(
        _ids(attribute_uuid, event, misp_type, value, len(parts)), parts, strict=True
    ):
        valid_until = _valid_until(attribute, pattern, valid_from, options, now)
        if valid_until <= now:
            continue
        head = " ".join(text for text in (comment, was_part, note) if text)
        description = f"{head} - {event.description_tail}" if head else event.description_tail
        body = _body(
            stix_id,
            pattern,
            valid_until=valid_until,
            stamp=iso(stamp),
            description=description,
            event=event,
            tags=tags,
        )
        indicators.append(Indicator(stix_id, body, content_hash(body), attribute_uuid, event.uuid, misp_type))
    return indicators or Skip(attribute_uuid, event.uuid, misp_type, "expired")


# What a hostile value can make the conversion raise (Python's int-conversion limit, a date past year
# 9999, a lone surrogate that UTF-8 cannot encode): one attribute is skipped, never the run.
_VALUE_ERRORS = (ValueError, OverflowError, ArithmeticError, TypeError, RecursionError)


def _guarded(
    attribute: Mapping[str, Any],
    event: _EventFacts,
    options: ConvertOptions,
    now: datetime,
    misp_object: Mapping[str, Any] | None = None,
) -> list[Indicator] | Skip:
    try:
        return _convert(attribute, event, options, now, misp_object)
    except _VALUE_ERRORS as exc:
        attribute_uuid = str(attribute.get("uuid") or "")
        misp_type = str(attribute.get("type") or "")
        log.warning(
            "MISP attribute %s (%s) of event %s skipped: its value cannot be converted (%s)",
            attribute_uuid or "without uuid",
            misp_type,
            event.uuid,
            type(exc).__name__,
        )
        return Skip(attribute_uuid, event.uuid, misp_type, "invalid value")


def convert_attribute(
    attribute: Mapping[str, Any],
    event: Mapping[str, Any],
    options: ConvertOptions,
    now: datetime,
    *,
    object_name: str | None = None,
) -> list[Indicator] | Skip:
    """Convert one attribute of an event: its indicators (two for a split domain|ip), or why not."""
    facts = _event_facts(events.unwrap(event), options)
    misp_object = {"name": object_name} if object_name else None
    return _guarded(attribute, facts, options, now, misp_object)


def convert_event(
    event: Mapping[str, Any], options: ConvertOptions, now: datetime
) -> Iterator[Indicator | Skip]:
    """Convert every considered attribute of one event; each stix id comes out at most once."""
    inner = events.prepare(event, remove_eventreports=options.remove_eventreports)
    facts = _event_facts(inner, options)
    seen: set[str] = set()
    for attribute, misp_object in events.iter_attributes(inner, flatten=options.flatten_attributes):
        result = _guarded(attribute, facts, options, now, misp_object)
        if isinstance(result, Skip):
            yield result
            continue
        fresh = [indicator for indicator in result if indicator.stix_id not in seen]
        if not fresh:
            yield Skip(result[0].attribute_uuid, facts.uuid, result[0].misp_type, "duplicate")
        for indicator in fresh:
            seen.add(indicator.stix_id)
            yield indicator


def revoked(indicator: Indicator, now: datetime) -> Indicator:
    """The same indicator marked revoked, with a modified time strictly later than the stored one."""
    modified = truncate_ms(now)
    previous = parse_time(indicator.body.get("modified"))
    if previous is not None and modified <= previous:
        modified = truncate_ms(previous) + ONE_MS
    return indicator.with_changes(revoked=True, modified=iso(modified))
