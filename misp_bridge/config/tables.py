"""The constants.py tables: read in this project's shapes and in every shape the original's file has had.

A user moving from misp2sentinel brings the constants.py of whatever version they ran (docs/sync.md,
"Moving from misp2sentinel"). Its tables are read as they are:

- MISP_CONFIDENCE as `{"prefix": "misp:confidence-level", "matches": {"usually-confident": 75, ...}}`
  (the original's only shape) or as this project's `{'misp:confidence-level="usually-confident"': 75}`.
  The original spells one key `confidence-cannot-be-evalued`, which no MISP tag carries (the taxonomy
  says `evaluated`): it counts for the real spelling too.
- The accepted types come from UPLOAD_INDICATOR_MISP_ACCEPTED_TYPES, or from MISP_ACTIONABLE_TYPES in
  files older than that name (2022-2023); MISP_CUSTOM_ATTRIBUTE is added either way.
- KILL_CHAIN_MARKING_OBJECT_DEFINITION, when a file has it, limits `kill-chain:<phase>` tags to its
  phases, as the original did; PARSED_INDICATORS_FILE_NAME names write_parsed_indicators' file.
- Tables only the original's own code used (ATTR_MAPPING, MISP_HASH_TYPES, MISP_SPECIAL_CASE_TYPES,
  MISP_ANALYSIS, MISP_THREATLEVEL in either numbering) are checked for shape and otherwise unused, and
  its plumbing names (Graph API URLs, file names, dict keys) are accepted without a word.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from misp_bridge.config.defaults import BUILTIN_CONSTANTS, PARSED_INDICATORS_FILE
from misp_bridge.config.files import run_file
from misp_bridge.config.issues import Collector, Issue
from misp_bridge.config.readers import (
    Reader,
    kind,
    marking_table,
    str_sequence,
    suggest,
    text,
    wrong_type,
)

# The misspelt confidence key of the original -> the taxonomy's spelling.
MISSPELT_CONFIDENCE = {"confidence-cannot-be-evalued": "confidence-cannot-be-evaluated"}


def confidence_table(c: Collector, name: str, value: Any) -> Any:
    """Tag -> confidence (0-100), from either shape (see the module docstring)."""
    if not isinstance(value, Mapping):
        wrong_type(c, name, "a dict of tag -> confidence", value)
        return {}
    if set(value) == {"prefix", "matches"}:
        return _nested_confidence(c, name, value["prefix"], value["matches"])
    table: dict[str, int] = {}
    for tag, level in value.items():
        if _level_ok(c, f"{name}[{tag!r}]", level):
            table[str(tag)] = level
    return table


def _level_ok(c: Collector, where: str, level: Any) -> bool:
    if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= 100:
        c.error(where, f"must be 0..100, got {level!r}")
        return False
    return True


def _nested_confidence(c: Collector, name: str, prefix: Any, matches: Any) -> dict[str, int]:
    if not isinstance(prefix, str) or not prefix.strip():
        c.error(f"{name}['prefix']", "must be a tag prefix such as 'misp:confidence-level'")
        return {}
    if not isinstance(matches, Mapping):
        wrong_type(c, f"{name}['matches']", "a dict of taxonomy value -> confidence", matches)
        return {}
    table: dict[str, int] = {}
    for value, level in matches.items():
        if not _level_ok(c, f"{name}['matches'][{value!r}]", level):
            continue
        table[f'{prefix.strip()}="{value}"'] = level
        fixed = MISSPELT_CONFIDENCE.get(str(value))
        if fixed is not None:
            table.setdefault(f'{prefix.strip()}="{fixed}"', level)
    return table


def text_mapping(c: Collector, name: str, value: Any) -> Any:
    """A dict of text -> text (ATTR_MAPPING, KILL_CHAIN_MARKING_OBJECT_DEFINITION)."""
    if not isinstance(value, Mapping):
        wrong_type(c, name, "a dict of text -> text", value)
        return {}
    bad = [key for key, item in value.items() if not isinstance(key, str) or not isinstance(item, str)]
    if bad:
        c.error(f"{name}[{bad[0]!r}]", "must map text to text")
    return {key: item for key, item in value.items() if isinstance(key, str) and isinstance(item, str)}


def level_names(c: Collector, name: str, value: Any) -> Any:
    """MISP_ANALYSIS / MISP_THREATLEVEL: a dict of MISP's numbers -> names (either numbering)."""
    if not isinstance(value, Mapping):
        wrong_type(c, name, "a dict of number -> name", value)
        return {}
    for key, item in value.items():
        if isinstance(key, bool) or not isinstance(key, int) or not isinstance(item, str):
            c.error(f"{name}[{key!r}]", f"must map a number to a name, got {kind(key)} -> {kind(item)}")
            break
    return dict(value)


# Tables that shape the indicators: name -> reader. Their defaults are BUILTIN_CONSTANTS.
USED: dict[str, Reader] = {
    "MISP_TAGS_IGNORE": str_sequence,
    "MISP_ALLOWED_TAXONOMIES": str_sequence,
    "MISP_CONFIDENCE": confidence_table,
    "MISP_CUSTOM_ATTRIBUTE": str_sequence,
    "UPLOAD_INDICATOR_MISP_ACCEPTED_TYPES": str_sequence,
    "TLP_MARKING_OBJECT_DEFINITION": marking_table,
    "SENTINEL_DEFAULT_THREATTYPE": text(),
    "SENTINEL_DEFAULT_TLP": text(),
}
# The original's names this project reads when a file has them (no built-in value).
OPTIONAL: dict[str, Reader] = {
    "MISP_ACTIONABLE_TYPES": str_sequence,
    "KILL_CHAIN_MARKING_OBJECT_DEFINITION": text_mapping,
    "PARSED_INDICATORS_FILE_NAME": text(),
}
# The original's tables only its own code used: checked for shape, otherwise unused.
SHAPE_ONLY: dict[str, Reader] = {
    "ATTR_MAPPING": text_mapping,
    "MISP_HASH_TYPES": str_sequence,
    "MISP_SPECIAL_CASE_TYPES": str_sequence,
    "MISP_ANALYSIS": level_names,
    "MISP_THREATLEVEL": level_names,
}
# The original's plumbing, every version included: accepted without a word, never used.
PLUMBING = frozenset(
    {
        *("CLIENT_ID", "CLIENT_SECRET", "TENANT", "SCOPE", "USER_AGENT", "ACCESS_TOKEN", "WORKSPACE_ID"),
        *("LOG_DIRECTORY_NAME", "EXISTING_INDICATORS_HASH_FILE_NAME", "EXPIRATION_DATE_TIME"),
        *("EXPIRATION_DATE_FILE_NAME", "UPLOAD_INDICATOR_API_ACCEPTED_TYPES", "GRAPH_TI_INDICATORS_URL"),
        *("GRAPH_BULK_POST_URL", "GRAPH_BULK_DEL_URL", "INDICATOR_REQUEST_HASH", "EVENT_MAPPING"),
        *("REQUIRED_GRAPH_METADATA", "OPTIONAL_GRAPH_METADATA", "GRAPH_OBSERVABLES"),
    }
)
KNOWN_CONSTANTS = frozenset(USED) | frozenset(OPTIONAL) | frozenset(SHAPE_ONLY) | PLUMBING


def _read_file(path: Path, c: Collector) -> dict[str, Any]:
    found = run_file(path, c) or {}
    for name in found:
        if name not in KNOWN_CONSTANTS and (hint := suggest(name, KNOWN_CONSTANTS - PLUMBING)):
            c.warning(name, f"is not a known constant{hint}")
    return found


def read_constants(path: Path | None, base_dir: Path, issues: list[Issue]) -> dict[str, Any]:
    """The Settings fields the constants tables give; names a file leaves out keep the built-ins."""
    c = Collector("constants.py", path.parent if path else base_dir)
    found = _read_file(path, c) if path is not None else {}
    raw = {**BUILTIN_CONSTANTS, **{name: found[name] for name in USED if name in found}}
    values = {name: reader(c, name, raw[name]) for name, reader in USED.items()}
    extra = {name: reader(c, name, found[name]) for name, reader in OPTIONAL.items() if name in found}
    for name, reader in SHAPE_ONLY.items():
        if name in found:
            reader(c, name, found[name])
    accepted = values["UPLOAD_INDICATOR_MISP_ACCEPTED_TYPES"]
    if "UPLOAD_INDICATOR_MISP_ACCEPTED_TYPES" not in found and "MISP_ACTIONABLE_TYPES" in extra:
        accepted = extra["MISP_ACTIONABLE_TYPES"]  # files from before the name existed
    custom = frozenset(values["MISP_CUSTOM_ATTRIBUTE"])
    lists_types = "UPLOAD_INDICATOR_MISP_ACCEPTED_TYPES" in found or "MISP_ACTIONABLE_TYPES" in found
    if lists_types and "MISP_CUSTOM_ATTRIBUTE" not in found:
        custom = frozenset()  # a file listing its types but older than custom types sends none
    markings = values["TLP_MARKING_OBJECT_DEFINITION"]
    if values["SENTINEL_DEFAULT_TLP"] not in markings:
        c.error("SENTINEL_DEFAULT_TLP", "must be a key of TLP_MARKING_OBJECT_DEFINITION")
    phases = extra.get("KILL_CHAIN_MARKING_OBJECT_DEFINITION")
    issues.extend(c.issues)
    return {
        "misp_tags_ignore": values["MISP_TAGS_IGNORE"],
        "misp_allowed_taxonomies": values["MISP_ALLOWED_TAXONOMIES"],
        "misp_confidence": MappingProxyType(values["MISP_CONFIDENCE"]),
        "misp_custom_attribute": custom,
        # A custom type is meant to be sent, so listing it in MISP_CUSTOM_ATTRIBUTE is enough.
        "upload_indicator_misp_accepted_types": frozenset(accepted) | custom,
        "tlp_marking_object_definition": MappingProxyType(markings),
        "sentinel_default_threattype": values["SENTINEL_DEFAULT_THREATTYPE"],
        "sentinel_default_tlp": values["SENTINEL_DEFAULT_TLP"],
        "kill_chain_phases": None if phases is None else frozenset(phases),
        "parsed_indicators_file": extra.get("PARSED_INDICATORS_FILE_NAME") or PARSED_INDICATORS_FILE,
    }
