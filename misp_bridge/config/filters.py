"""misp_event_filters checked against what MISP's events restSearch takes (misp_bridge/misp/restsearch.py).

MISP drops a filter it does not know without a word, and reads a value it cannot use as no filter at all:
either way the search returns more than meant. Each such filter is a warning; a value that cannot be
what its filter needs (`published: object()`, `to_ids: 2`) is an error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from misp_bridge.config.defaults import DEFAULT_EVENT_FILTERS, PAGER_FILTERS
from misp_bridge.config.issues import Collector
from misp_bridge.config.readers import DURATION, kind, suggest, wrong_type
from misp_bridge.misp.restsearch import (
    FLAG_FILTERS,
    KNOWN_EVENT_FILTERS,
    NOT_A_FILTER,
    OUTPUT_ONLY,
    PYMISP_ARGUMENTS,
    body_name,
    ignored_by_events_search,
)


def _timestamp_filter(c: Collector, where: str, value: Any) -> None:
    """MISP takes an epoch, a duration such as '14d', or a [from, to] pair of those."""

    def one(item: Any) -> bool:
        if isinstance(item, bool):
            return False
        if isinstance(item, int):
            return item >= 0
        return isinstance(item, str) and (item.isdigit() or bool(DURATION.match(item)))

    pair = isinstance(value, (list, tuple)) and len(value) == 2 and all(one(v) for v in value)
    if not (pair or one(value)):
        c.error(where, f"must be an epoch, a duration like '14d' or a [from, to] pair, got {value!r}")


_TIMESTAMP_FILTERS = ("publish_timestamp", "timestamp", "event_timestamp", "attribute_timestamp")


def _plain_json(value: Any, depth: int = 0) -> bool:
    """True for what a search body can carry: text, numbers, flags, None, and lists or dicts of those."""
    if value is None or isinstance(value, (str, bool, int)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if depth > 3:
        return False
    if isinstance(value, (list, tuple)):
        return all(_plain_json(item, depth + 1) for item in value)
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and _plain_json(v, depth + 1) for k, v in value.items())
    return False


def _filter_value_problem(key: str, value: Any) -> str | None:
    """Why a filter's value cannot go to MISP as meant, or None. A value MISP cannot read as the filter
    it names is not an error MISP reports: the filter just stops filtering (a wider search)."""
    if not _plain_json(value):
        return f"must be text, a number, True/False or a list of those, got {kind(value)}"
    if body_name(key) in FLAG_FILTERS and value not in _FLAG_VALUES:
        return f"must be True, False, 0 or 1, got {value!r}"
    if key in ("tags", "event_tags"):
        texts = value if isinstance(value, (list, tuple)) else [value]
        if isinstance(value, Mapping):
            texts = [t for group in value.values() for t in (group if isinstance(group, list) else [group])]
        if not all(isinstance(t, str) and t for t in texts):
            return "must be a tag name, a list of tag names or a dict of OR/AND/NOT lists of them"
    return None


_FLAG_VALUES = (True, False, 0, 1, "0", "1")


def event_filters(c: Collector, name: str, value: Any) -> Any:
    """misp_event_filters, checked against what MISP's events restSearch takes (misp/restsearch.py)."""
    if not isinstance(value, Mapping):
        wrong_type(c, name, "a dict of MISP search filters", value)
        return dict(DEFAULT_EVENT_FILTERS)
    result: dict[str, Any] = {}
    for key, item in value.items():
        where = f"{name}[{key!r}]"
        if not isinstance(key, str) or not key:
            c.error(name, f"filter names must be non-empty strings, got {kind(key)}")
            continue
        if key in PAGER_FILTERS:
            c.warning(where, f"is ignored: {PAGER_FILTERS[key]}")
            continue
        if key in PYMISP_ARGUMENTS:
            c.error(where, "is an argument of PyMISP's search(), not a filter; remove it")
            continue
        why = ignored_by_events_search(key)
        if why is not None and body_name(key) not in OUTPUT_ONLY:
            hint = suggest(key, KNOWN_EVENT_FILTERS) if why == NOT_A_FILTER else ""
            c.warning(where, f"is dropped without a word by MISP's events search ({why}){hint}")
        problem = _filter_value_problem(key, item)
        if problem is not None:
            c.error(where, problem)
            continue
        if key in _TIMESTAMP_FILTERS:
            _timestamp_filter(c, where, item)
        result[key] = item
    return result
