"""Which attributes of one MISP event are considered (docs/mapping.md), and their tags, as pure functions.

MISP exports differ by version and by feed: fields may be missing, and flags come as booleans,
0/1 or strings. A missing field takes its documented default here so no event fails on a gap.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

_TRUE_TEXT = frozenset({"1", "true", "yes"})


def flag(value: Any) -> bool:
    """MISP flags arrive as bool, 0/1 or "0"/"1"/"true"; anything missing or unknown is False."""
    if isinstance(value, str):
        return value.strip().lower() in _TRUE_TEXT
    return bool(value) if isinstance(value, (bool, int)) else False


def unwrap(event: Mapping[str, Any]) -> Mapping[str, Any]:
    """Accept both a restSearch/view item ({"Event": {...}}) and the inner event dict."""
    inner = event.get("Event")
    return inner if isinstance(inner, Mapping) else event


def prepare(event: Mapping[str, Any], *, remove_eventreports: bool) -> Mapping[str, Any]:
    """The inner event, without its event reports when asked (they can be large and are never indicators)."""
    inner = unwrap(event)
    if remove_eventreports and "EventReport" in inner:
        return {key: value for key, value in inner.items() if key != "EventReport"}
    return inner


def _mappings(value: Any) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def iter_attributes(
    event: Mapping[str, Any], *, flatten: bool
) -> Iterator[tuple[Mapping[str, Any], Mapping[str, Any] | None]]:
    """Yield (attribute, its object or None): the event's own attributes, then, when flattening,
    every object's attributes in object order."""
    for attribute in _mappings(event.get("Attribute")):
        yield attribute, None
    if not flatten:
        return
    for misp_object in _mappings(event.get("Object")):
        for attribute in _mappings(misp_object.get("Attribute")):
            yield attribute, misp_object


def filter_reason(
    attribute: Mapping[str, Any], misp_object: Mapping[str, Any] | None, accepted_types: frozenset[str]
) -> str | None:
    """The skip reason for an attribute that is not to be converted, else None."""
    if flag(attribute.get("deleted")) or (misp_object is not None and flag(misp_object.get("deleted"))):
        return "deleted"
    if not flag(attribute.get("to_ids")):
        return "not to_ids"
    if attribute.get("type") not in accepted_types:
        return "type not accepted"
    return None


def object_name(misp_object: Mapping[str, Any] | None) -> str | None:
    if misp_object is None:
        return None
    name = misp_object.get("name")
    return str(name) if name else "unnamed"


# --- tags -----------------------------------------------------------------------------------------

_THREATTYPE = "sentinel-threattype:"


def tag_names(tags: Any, ignore_local: bool) -> list[str]:
    """Names of a MISP Tag list; local tags (bool, 0/1 or missing flag) left out when ignore_local."""
    names: list[str] = []
    for tag in tags if isinstance(tags, list) else ():
        if not isinstance(tag, Mapping) or not isinstance(tag.get("name"), str):
            continue
        if ignore_local and flag(tag.get("local")):
            continue
        names.append(tag["name"])
    return names


def tag_value(name: str, prefix: str) -> str:
    return name[len(prefix) :].strip().strip('"')


def dedupe(names: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(names))


def labels(names: Sequence[str], ignore: tuple[str, ...], allowed: tuple[str, ...]) -> list[str]:
    """De-duplicated tag names, as the original matched its tables: a tag holding any MISP_TAGS_IGNORE
    entry is left out, and a non-empty MISP_ALLOWED_TAXONOMIES keeps only tags holding "<taxonomy>:"
    (both case-insensitive, anywhere in the tag)."""
    dropped = tuple(entry.strip().lower() for entry in ignore if entry.strip())
    wanted = tuple(f"{taxonomy.strip().lower()}:" for taxonomy in allowed if taxonomy.strip())
    kept = []
    for name in dedupe(names):
        lowered = name.lower()
        if any(entry in lowered for entry in dropped):
            continue
        if wanted and not any(prefix in lowered for prefix in wanted):
            continue
        kept.append(name)
    return kept


def first_match(names: Sequence[str], table: Mapping[str, Any]) -> Any:
    """The table entry of the first name found in it, case-insensitively (the table's keys are lower
    case; names come attribute tags first)."""
    for name in names:
        found = table.get(name, table.get(name.lower()))
        if found is not None:
            return found
    return None


def threattype(names: Sequence[str]) -> str | None:
    for name in names:
        if name.startswith(_THREATTYPE) and tag_value(name, _THREATTYPE):
            return tag_value(name, _THREATTYPE)
    return None


def tlp_marking(names: Sequence[str], markings: Mapping[str, str]) -> str | None:
    for name in names:
        lowered = name.lower()
        if lowered.startswith("tlp:") and lowered in markings:
            return markings[lowered]
    return None
