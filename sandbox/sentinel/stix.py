"""How the Sentinel stand-in judges one uploaded STIX object, and what it can match on (pure).

Validation mirrors the upload API (docs/contracts.md 4): required properties, `valid_until` after
`valid_from`, confidence 0-100, a real STIX pattern, then a full parse with stix2 so anything stix2
rejects is rejected too. Messages follow the service's "Error for Property=<name>: ..." form.

Sentinel fills ObservableKey/ObservableValue (what its TI-map analytics match) only for a single
equality or an OR of equalities; `observables` returns those pairs, or nothing for any other pattern.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import stix2
from stix2 import patterns as sp
from stix2.pattern_visitor import create_pattern_object
from stix2patterns.v21.pattern import Pattern
from stix2patterns.validator import run_validator

UPLOAD_TYPES = frozenset({"indicator", "attack-pattern", "threat-actor", "identity", "relationship"})
LEGACY_TYPES = frozenset({"indicator"})
REQUIRED = ("id", "type", "created", "modified")
REQUIRED_INDICATOR = ("pattern", "pattern_type", "valid_from")
# STIX 2.1 pattern-type-ov: the languages the upload API takes (docs/contracts.md 4).
PATTERN_TYPES = frozenset({"stix", "pcre", "sigma", "snort", "suricata", "yara"})
TIMESTAMPS = ("created", "modified", "valid_from", "valid_until")
_ID = re.compile(r"[a-z0-9-]+--[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")


@dataclass(frozen=True)
class Observable:
    """One ObservableKey/ObservableValue pair, e.g. `ipv4-addr:value` = `192.0.2.1`."""

    key: str
    value: str

    @property
    def object_type(self) -> str:
        return self.key.partition(":")[0]

    @property
    def path(self) -> str:
        return self.key.partition(":")[2]


def _message(prop: str, problem: str, actual: object) -> str:
    shown = "NULL" if actual is None else str(actual)
    return f"Error for Property={prop}: {problem} Actual value: {shown}."


def parse_time(value: object) -> datetime | None:
    """An RFC 3339 timestamp as an aware datetime, or None when it is not one."""
    if not isinstance(value, str):
        return None
    text = value.strip().replace("z", "Z")
    if not text.endswith("Z") and not re.search(r"[+-]\d\d:\d\d\Z", text):
        return None
    text = text[:-1] + "+00:00" if text.endswith("Z") else text
    # fromisoformat on 3.10 accepts only 3 or 6 fraction digits: pad or cut to 6.
    match = re.match(r"(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?([+-]\d\d:\d\d)\Z", text)
    if not match:
        return None
    head, fraction, zone = match.groups()
    fraction = ((fraction or "") + "000000")[:6]
    try:
        return datetime.fromisoformat(f"{head}.{fraction}{zone}")
    except ValueError:
        return None


def _check_fields(obj: dict[str, Any], allowed_types: frozenset[str]) -> list[str]:
    errors = [
        _message(p, "Required property is missing.", None) for p in REQUIRED if obj.get(p) in (None, "")
    ]
    kind = obj.get("type")
    if kind not in (None, "") and kind not in allowed_types:
        errors.append(_message("type", "Object type is not supported.", kind))
    if kind == "indicator":
        errors += [
            _message(p, "Required property is missing.", None)
            for p in REQUIRED_INDICATOR
            if obj.get(p) in (None, "")
        ]
    ident = obj.get("id")
    if ident not in (None, "") and (
        not isinstance(ident, str) or not _ID.match(ident) or ident.partition("--")[0] != kind
    ):
        errors.append(_message("id", "Must be <type>--<uuid> matching the object type.", ident))
    times = {p: parse_time(obj[p]) for p in TIMESTAMPS if obj.get(p) not in (None, "")}
    errors += [_message(p, "Invalid timestamp.", obj[p]) for p, t in times.items() if t is None]
    created, modified = times.get("created"), times.get("modified")
    if created is not None and modified is not None and modified < created:
        errors.append(_message("modified", "Must not be earlier than created.", obj["modified"]))
    start, end = times.get("valid_from"), times.get("valid_until")
    if start is not None and end is not None and end <= start:
        errors.append(_message("valid_until", "Must be later than valid_from.", obj["valid_until"]))
    if "confidence" in obj:
        confidence = obj["confidence"]
        if isinstance(confidence, bool) or not isinstance(confidence, int) or not 0 <= confidence <= 100:
            errors.append(_message("confidence", "Must be an integer between 0 and 100.", confidence))
    language = obj.get("pattern_type")
    if kind == "indicator" and language not in (None, "") and language not in PATTERN_TYPES:
        errors.append(_message("pattern_type", "Unsupported pattern type.", language))
    if kind == "indicator" and obj.get("pattern_type") == "stix" and isinstance(obj.get("pattern"), str):
        problems = run_validator(obj["pattern"], stix_version="2.1")
        if problems:
            errors.append(_message("pattern", f"Invalid STIX pattern ({problems[0]}).", obj["pattern"]))
    return errors


def validate(obj: object, allowed_types: frozenset[str] = UPLOAD_TYPES) -> list[str]:
    """Every reason the service would reject `obj`; an empty list means it is ingested."""
    if not isinstance(obj, dict):
        return [_message("stixobject", "Must be a JSON object.", obj)]
    errors = _check_fields(obj, allowed_types)
    if errors:
        return errors
    candidate = copy.deepcopy(obj)
    candidate.setdefault("spec_version", "2.1")
    try:
        stix2.parse(candidate, allow_custom=True, version="2.1")
    except (stix2.exceptions.STIXError, ValueError, TypeError) as exc:
        # stix2 raises its own errors and bare ValueErrors; both mean "rejected".
        return [_message("stixobject", f"Invalid STIX object ({exc}).", obj.get("id"))]
    return []


def _equalities(expr: object) -> list[Observable] | None:
    """The equality pairs of a comparison that is one equality or an OR of them; None otherwise."""
    if isinstance(expr, sp.EqualityComparisonExpression) and not expr.negated:
        if not isinstance(expr.rhs, sp.StringConstant):
            return None
        return [Observable(str(expr.lhs), str(expr.rhs.value))]
    if isinstance(expr, sp.OrBooleanExpression):
        found: list[Observable] = []
        for operand in expr.operands:
            pairs = _equalities(operand)
            if pairs is None:
                return None
            found += pairs
        return found
    return None


def _observations(expr: object) -> list[Observable] | None:
    if isinstance(expr, sp.ObservationExpression):
        return _equalities(expr.operand)
    if isinstance(expr, sp.OrObservationExpression):
        found: list[Observable] = []
        for operand in expr.operands:
            pairs = _observations(operand)
            if pairs is None:
                return None
            found += pairs
        return found
    return None


def observables(pattern: str) -> tuple[Observable, ...]:
    """What Sentinel would match this STIX pattern on; empty when it would match nothing."""
    try:
        tree = create_pattern_object(pattern, version="2.1")
    except Exception:  # stix2's pattern builder raises assorted types on bad input
        return ()
    return tuple(_observations(tree) or ())


def root_types(pattern: str) -> tuple[str, ...]:
    """The cyber-observable types a STIX pattern mentions (for the `patternTypes` query filter)."""
    try:
        return tuple(Pattern(pattern).inspect().comparisons)
    except Exception:  # the ANTLR-based parser raises assorted types on bad input
        return ()


def parsed_pattern(found: tuple[Observable, ...]) -> list[dict[str, Any]]:
    """The management API's `parsedPattern`: one entry per object type with its values."""
    grouped: dict[str, list[dict[str, str]]] = {}
    for item in found:
        grouped.setdefault(item.object_type, []).append({"valueType": item.path, "value": item.value})
    return [{"patternTypeKey": key, "patternTypeValues": values} for key, values in grouped.items()]
