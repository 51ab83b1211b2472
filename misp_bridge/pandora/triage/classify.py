"""Triage: turn an alert's text into a threat level, ATT&CK techniques, a category and the IOC side.

Matching is pure and precompiled (RE2, linear time), so a 128 KiB alert costs tens of milliseconds.
How several matching rules combine is described at the top of rules.toml.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from misp_bridge.pandora.rx import scrub
from misp_bridge.pandora.triage.attack import TECHNIQUE_ID, galaxy_tag, load_techniques
from misp_bridge.pandora.triage.rules import (
    EVE_TECHNIQUES,
    NO_MATCH_CATEGORY,
    NO_MATCH_LEVEL,
    NO_MATCH_SIDE,
    IocSide,
    Rule,
    RuleSet,
    fold,
)


@dataclass(frozen=True)
class TriageResult:
    threat_level: int
    category: str
    techniques: tuple[str, ...]
    galaxy_tags: tuple[str, ...]
    ioc_side: IocSide
    matched: tuple[str, ...]
    to_ids: tuple[str, ...] = ()  # IOC types from the text the matching rules vouch for


def _values_at(document: object, dotted: str) -> list[object]:
    node = document
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return []
        node = node[part]
    return list(node) if isinstance(node, list) else [node]


def _json_matches(rule: Rule, document: Mapping[str, Any] | None) -> bool:
    if document is None:
        return False
    return any(
        str(value).casefold() in accepted
        for dotted, accepted in rule.json_fields.items()
        for value in _values_at(document, dotted)
        if not isinstance(value, (dict, list))
    )


def _matches(rule: Rule, text: str, folded: str, document: Mapping[str, Any] | None) -> bool:
    return (
        any(keyword in folded for keyword in rule.keywords)
        or any(pattern.found(text) for pattern in rule.patterns)
        or _json_matches(rule, document)
    )


def _as_json(alert_data: str) -> Mapping[str, Any] | None:
    # The caller may not have parsed the data; a JSON object (a Suricata eve or Wazuh alert) is cheap
    # to recognise, and anything else is simply not JSON.
    if not alert_data.lstrip().startswith("{"):
        return None
    try:
        parsed = json.loads(alert_data)
    except (ValueError, RecursionError):  # RecursionError: hostile nesting depth
        return None
    return parsed if isinstance(parsed, dict) else None


def _eve_techniques(document: Mapping[str, Any] | None) -> list[str]:
    table = load_techniques()
    found = []
    for value in _values_at(document, EVE_TECHNIQUES) if document is not None else []:
        candidate = scrub(str(value)).strip().upper()
        if TECHNIQUE_ID.fullmatch(candidate) and candidate in table:
            found.append(candidate)
    return found


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def classify(
    alert_name: str,
    alert_data: str,
    rules: RuleSet,
    json_data: Mapping[str, Any] | None = None,
) -> TriageResult:
    """Apply every rule; see rules.toml for how several matches combine."""
    document = json_data if json_data is not None else _as_json(alert_data)
    text = scrub(f"{alert_name}\n{alert_data}")
    folded = fold(text)
    matched = [rule for rule in rules.rules if _matches(rule, text, folded, document)]
    techniques = _unique([tid for rule in matched for tid in rule.techniques] + _eve_techniques(document))
    first = matched[0] if matched else None
    return TriageResult(
        threat_level=min((rule.threat_level for rule in matched), default=NO_MATCH_LEVEL),
        category=first.category if first else NO_MATCH_CATEGORY,
        techniques=techniques,
        galaxy_tags=tuple(galaxy_tag(tid) for tid in techniques),
        ioc_side=first.ioc_side if first else NO_MATCH_SIDE,
        matched=tuple(rule.id for rule in matched),
        to_ids=_unique(kind for rule in matched for kind in rule.to_ids),
    )
