"""Triage rules as data: the Rule model and the loader of rules.toml (or an operator's own file).

A rules file is read and checked once: a wrong one fails at load time with one sentence naming the file,
the rule and the problem, never halfway through an alert. The format is described at the top of the
packaged rules.toml. Patterns are RE2 (misp_bridge/pandora/rx.py): linear time whatever the alert holds,
so a custom rule cannot stall a run either; a pattern RE2 refuses (a lookaround, a backreference) is a
load-time error naming the file, the rule and the pattern.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, cast

from misp_bridge.errors import RulesError
from misp_bridge.pandora.rx import Pattern, RegexError, compile_pattern
from misp_bridge.pandora.triage.attack import load_techniques

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

IocSide = Literal["source", "destination", "none"]

PACKAGED_RULES = Path(__file__).resolve().with_name("rules.toml")
CATEGORIES = ("Network activity", "Payload delivery", "External analysis")
IOC_SIDES: tuple[IocSide, ...] = ("source", "destination", "none")
THREAT_LEVELS = {1: "High", 2: "Medium", 3: "Low"}
NO_MATCH_LEVEL = 3
NO_MATCH_CATEGORY = "Network activity"
NO_MATCH_SIDE: IocSide = "source"
# Suricata eve alerts carry ATT&CK ids of their own; they are trusted when the table knows them.
EVE_TECHNIQUES = "alert.metadata.mitre_technique_id"
# How far an exclusion looks before or after a match: enough for any log context, and a bound that
# keeps the work per match constant (so linear over the alert).
GUARD_WINDOW = 256
# The MISP types a rule may vouch for (rule key `to_ids`).
IOC_TYPES = ("url", "domain", "email", "md5", "sha1", "sha256", "ip-src", "ip-dst")


@dataclass(frozen=True)
class RulePattern:
    """One pattern of a rule: an RE2 regex, optionally with what may not come right before or after a
    match (RE2 has no lookarounds; these take their place, within GUARD_WINDOW characters)."""

    regex: Pattern
    not_preceded_by: Pattern | None = None  # compiled as (?:X)\z, searched in the window before
    not_followed_by: Pattern | None = None  # matched at the start of the window after

    @property
    def pattern(self) -> str:
        return self.regex.pattern

    def found(self, text: str) -> bool:
        """Whether some match of the regex is not excluded by its guards (matches taken left to right,
        without overlap)."""
        if self.not_preceded_by is None and self.not_followed_by is None:
            return self.regex.search(text) is not None
        for match in self.regex.finditer(text):
            start, end = match.start(), match.end()
            before = self.not_preceded_by
            if before is not None and before.search(text[max(0, start - GUARD_WINDOW) : start]):
                continue
            after = self.not_followed_by
            if after is not None and after.match(text[end : end + GUARD_WINDOW]):
                continue
            return True
        return False


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    keywords: tuple[str, ...]
    patterns: tuple[RulePattern, ...]
    json_fields: Mapping[str, tuple[str, ...]]
    techniques: tuple[str, ...]
    category: str
    threat_level: int
    ioc_side: IocSide
    to_ids: tuple[str, ...] = ()  # IOC types from the text this rule makes detection rules


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    source: str


# re's IGNORECASE and RE2's case folding equate the dotless i with i; casefold() alone does not.
_FOLD_EXTRA = str.maketrans({"\u0131": "i"})


def fold(text: str) -> str:
    """Case-fold the way keywords are compared (a substring test on the folded alert)."""
    return text.casefold().translate(_FOLD_EXTRA)


class _Problem(Exception):
    """Internal: a field checker's complaint, turned into a RulesError with the file and rule id."""


def _strings(value: object, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _Problem(f"has {key} that is not a list of non-empty strings")
    return tuple(cast("list[str]", value))


def _text(value: object, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Problem(f"has {key} that is not a non-empty string")
    return value


def _keywords(value: object, key: str) -> tuple[str, ...]:
    return tuple(fold(k) for k in _strings(value, key))


def _regex(pattern: object, key: str, *, suffix: str = "") -> Pattern:
    if not isinstance(pattern, str) or not pattern:
        raise _Problem(f"has {key} that is not a non-empty string")
    try:
        # Case-insensitive, ^ and $ at every line: the rules' dialect (rules.toml's header).
        return compile_pattern(f"(?:{pattern}){suffix}", ignore_case=True, multiline=True)
    except RegexError as exc:
        raise _Problem(
            f"has pattern {pattern!r} in {key} that RE2 cannot compile ({exc}); RE2 has no lookarounds "
            "or backreferences: use not_preceded_by / not_followed_by (see docs/triage.md)"
        ) from None


_GUARDS = {"regex", "not_preceded_by", "not_followed_by"}


def _pattern(entry: object, key: str) -> RulePattern:
    if isinstance(entry, str):
        return RulePattern(_regex(entry, key))
    if not isinstance(entry, dict) or "regex" not in entry or set(entry) - _GUARDS:
        raise _Problem(
            f"has {key} with an entry that is neither a string nor a table of "
            "regex (and not_preceded_by, not_followed_by)"
        )
    before = entry.get("not_preceded_by")
    after = entry.get("not_followed_by")
    return RulePattern(
        _regex(entry["regex"], key),
        None if before is None else _regex(before, f"{key}.not_preceded_by", suffix=r"\z"),
        None if after is None else _regex(after, f"{key}.not_followed_by"),
    )


def _patterns(value: object, key: str) -> tuple[RulePattern, ...]:
    if not isinstance(value, list):
        raise _Problem(f"has {key} that is not a list of patterns")
    return tuple(_pattern(entry, key) for entry in value)


def _to_ids(value: object, key: str) -> tuple[str, ...]:
    types = _strings(value, key)
    unknown = [t for t in types if t not in IOC_TYPES]
    if unknown:
        raise _Problem(f"has {key} {unknown[0]!r}; it must be among {', '.join(IOC_TYPES)}")
    return types


def _json_fields(value: object, key: str) -> Mapping[str, tuple[str, ...]]:
    if not isinstance(value, dict) or not value:
        raise _Problem(f"has {key} that is not a table of dotted path = [values]")
    fields = {}
    for path, accepted in value.items():
        if not path or any(not part for part in path.split(".")):
            raise _Problem(f"has a bad JSON path {path!r} in {key}")
        fields[path] = tuple(v.casefold() for v in _strings(accepted, f"{key}.{path}"))
    return MappingProxyType(fields)


def _techniques(value: object, key: str) -> tuple[str, ...]:
    table = load_techniques()
    ids = _strings(value, key)
    for technique_id in ids:
        if technique_id not in table:
            raise _Problem(f"names unknown ATT&CK technique {technique_id!r}")
    return ids


def _category(value: object, key: str) -> str:
    if value not in CATEGORIES:
        raise _Problem(f"has {key} {value!r}; it must be one of {', '.join(CATEGORIES)}")
    return value


def _threat_level(value: object, key: str) -> int:
    if isinstance(value, bool) or value not in THREAT_LEVELS:
        raise _Problem(f"has {key} {value!r}; it must be 1 (High), 2 (Medium) or 3 (Low)")
    return value


def _ioc_side(value: object, key: str) -> IocSide:
    if value not in IOC_SIDES:
        raise _Problem(f"has {key} {value!r}; it must be one of {', '.join(IOC_SIDES)}")
    return value


_REQUIRED = object()
_EMPTY: Mapping[str, tuple[str, ...]] = MappingProxyType({})
# key -> (checker, value when absent); "name" defaults to the id.
_FIELDS: dict[str, tuple[Callable[[object, str], Any], object]] = {
    "name": (_text, None),
    "keywords": (_keywords, ()),
    "patterns": (_patterns, ()),
    "json_fields": (_json_fields, _EMPTY),
    "techniques": (_techniques, ()),
    "category": (_category, _REQUIRED),
    "threat_level": (_threat_level, _REQUIRED),
    "ioc_side": (_ioc_side, _REQUIRED),
    "to_ids": (_to_ids, ()),
}
_TOP_LEVEL = {"extends_default", "rule"}


def _rule(rule_id: str, raw: Mapping[str, Any]) -> Rule:
    unknown = sorted(set(raw) - set(_FIELDS) - {"id"})
    if unknown:
        raise _Problem(f"has unknown key(s) {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for key, (check, absent) in _FIELDS.items():
        if key in raw:
            values[key] = check(raw[key], key)
        elif absent is _REQUIRED:
            raise _Problem(f"has no {key}")
        else:
            values[key] = absent
    if not (values["keywords"] or values["patterns"] or values["json_fields"]):
        raise _Problem("has no keywords, patterns or json_fields to match on")
    values["name"] = values["name"] or rule_id
    return Rule(id=rule_id, **values)


def _parse(path: Path) -> tuple[tuple[Rule, ...], bool]:
    source = str(path)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RulesError(source, f"cannot be read ({exc.strerror})") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RulesError(source, f"is not valid TOML ({exc})") from exc
    unknown = sorted(set(document) - _TOP_LEVEL)
    if unknown:
        raise RulesError(source, f"has unknown top-level key(s) {', '.join(unknown)}")
    extends = document.get("extends_default", False)
    if not isinstance(extends, bool):
        raise RulesError(source, "has extends_default that is not true or false")
    raw_rules = document.get("rule", [])
    if not isinstance(raw_rules, list) or not raw_rules:
        raise RulesError(source, "has no [[rule]] tables")
    rules: list[Rule] = []
    seen: set[str] = set()
    for number, raw in enumerate(raw_rules, start=1):
        rule_id = raw.get("id") if isinstance(raw, dict) else None
        if not isinstance(rule_id, str) or not rule_id.strip():
            raise RulesError(source, f"has rule number {number} without an id")
        if rule_id in seen:
            raise RulesError(source, "appears twice", rule_id)
        seen.add(rule_id)
        try:
            rules.append(_rule(rule_id, raw))
        except _Problem as exc:
            raise RulesError(source, str(exc), rule_id) from None
    return tuple(rules), extends


@lru_cache(maxsize=1)
def _default_rules() -> RuleSet:
    rules, _ = _parse(PACKAGED_RULES)
    return RuleSet(rules=rules, source=str(PACKAGED_RULES))


def load_rules(path: Path | None = None) -> RuleSet:
    """The packaged rules, or an operator's file (alone, or before the defaults if it extends them)."""
    if path is None:
        return _default_rules()
    rules, extends = _parse(path)
    if not extends:
        return RuleSet(rules=rules, source=str(path))
    own = {rule.id for rule in rules}
    # The operator's rules go first: they are the more specific ones, so they decide the category.
    defaults = tuple(rule for rule in _default_rules().rules if rule.id not in own)
    return RuleSet(rules=rules + defaults, source=f"{path} + {PACKAGED_RULES.name}")
