"""Pure helpers for the MISP sandbox: MISP's defaults, value normalisation, filter parsing, synthetic data.

Nothing here touches the database or the network, so the store and the HTTP layer stay small.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymisp

DESCRIBE_TYPES: dict[str, Any] = json.loads(
    (Path(pymisp.__file__).parent / "data" / "describeTypes.json").read_text(encoding="utf-8")
)["result"]

ORGC = {"id": "1", "name": "SANDBOX", "uuid": "5c4f2ad5-4a9c-4b5e-9a2d-3c1a5d7e0001", "local": True}

# Categories MISP accepts for IP attributes (docs/contracts.md 2); other types use describeTypes' mapping.
IP_CATEGORIES = frozenset({"Network activity", "Payload delivery", "External analysis"})

# Values a stock MISP warninglist would flag; tests may add their own through MispApp.warninglist.
DEFAULT_WARNINGLIST = frozenset(
    {"8.8.8.8", "8.8.4.4", "1.1.1.1", "9.9.9.9", "127.0.0.1", "localhost", "google.com", "microsoft.com"}
)

_HASH_TYPES = frozenset(
    {
        "md5",
        "sha1",
        "sha224",
        "sha256",
        "sha384",
        "sha512",
        "sha512/224",
        "sha512/256",
        "sha3-256",
        "sha3-512",
        "imphash",
        "authentihash",
        "pehash",
        "tlsh",
        "vhash",
        "cdhash",
        "impfuzzy",
        "telfhash",
    }
)

EVENT_DEFAULTS: dict[str, Any] = {
    "threat_level_id": "4",
    "analysis": "0",
    "distribution": "1",
    "published": False,
    "publish_timestamp": "0",
    "sharing_group_id": "0",
    "org_id": "1",
    "orgc_id": "1",
    "locked": False,
    "proposal_email_lock": False,
    "disable_correlation": False,
    "extends_uuid": "",
    "event_creator_email": "admin@sandbox.test",
}

ATTRIBUTE_DEFAULTS: dict[str, Any] = {
    "object_id": "0",
    "object_relation": None,
    "distribution": "5",
    "sharing_group_id": "0",
    "comment": "",
    "deleted": False,
    "disable_correlation": False,
    "first_seen": None,
    "last_seen": None,
}

_STRING_FIELDS = (
    "id",
    "event_id",
    "object_id",
    "timestamp",
    "publish_timestamp",
    "threat_level_id",
    "analysis",
    "distribution",
    "sharing_group_id",
    "org_id",
    "orgc_id",
)
_FLAG_FIELDS = ("published", "to_ids", "deleted", "disable_correlation", "locked")


def as_bool(value: Any) -> bool:
    """MISP flags arrive as true/false, 0/1 or "0"/"1"."""
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def stringify(entity: dict[str, Any]) -> dict[str, Any]:
    """MISP sends ids, timestamps and levels as strings and flags as booleans."""
    for key in _STRING_FIELDS:
        if entity.get(key) is not None and not isinstance(entity[key], str):
            entity[key] = str(int(entity[key]))
    for key in _FLAG_FIELDS:
        if key in entity and entity[key] is not None:
            entity[key] = as_bool(entity[key])
    return entity


def normalise_value(attr_type: str, value: str) -> str:
    """What MISP does to a value on save: lower-case hashes (also in composites), strip `AS`."""
    if attr_type == "AS":
        return re.sub(r"^AS", "", value.strip(), flags=re.IGNORECASE)
    parts = attr_type.split("|")
    if len(parts) == 2 and "|" in value:
        halves = value.split("|", 1)
        return "|".join(h.lower() if t in _HASH_TYPES else h for t, h in zip(parts, halves, strict=True))
    return value.lower() if attr_type in _HASH_TYPES else value


def attribute_problem(attribute: dict[str, Any]) -> dict[str, list[str]] | None:
    """MISP's validation errors for one attribute, or None when it would be saved."""
    attr_type = attribute.get("type")
    if attr_type not in DESCRIBE_TYPES["types"]:
        return {"type": ["Options depend on the selected category."]}
    category = attribute.get("category")
    if category not in DESCRIBE_TYPES["category_type_mappings"]:
        return {"category": ["Options depend on the selected type."]}
    if attr_type in {"ip-src", "ip-dst"} and category not in IP_CATEGORIES:
        return {"category": ["Options depend on the selected type."]}
    if attr_type not in DESCRIBE_TYPES["category_type_mappings"][category]:
        return {"category": ["Options depend on the selected type."]}
    if str(attribute.get("value", "")).strip() == "":
        return {"value": ["Value not set."]}
    return None


def on_warninglist(value: str, warninglist: frozenset[str] | set[str]) -> bool:
    return any(part.lower() in warninglist for part in value.split("|"))


# --- filters -----------------------------------------------------------------------------------------

_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_time(value: Any, now: float) -> int | None:
    """An epoch, or `14d` / `12h` / `30m` / `45s` back from now; None when empty."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    match = re.fullmatch(r"(\d+)([dhms])", text)
    if match:
        return int(now) - int(match.group(1)) * _UNITS[match.group(2)]
    return int(float(text))


def time_range(value: Any, now: float) -> tuple[int | None, int | None] | None:
    """A filter value as an inclusive (from, to) range; a single value means `>= value`."""
    if value is None or value == "":
        return None
    if isinstance(value, (list, tuple)):
        low = parse_time(value[0], now) if value else None
        high = parse_time(value[1], now) if len(value) > 1 else None
        return low, high
    return parse_time(value, now), None


@dataclass(frozen=True)
class TagQuery:
    any_of: tuple[str, ...] = ()
    all_of: tuple[str, ...] = ()
    none_of: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.any_of or self.all_of or self.none_of)


def parse_tags(value: Any) -> TagQuery:
    """`tags` as a string, a list (OR, `!` negates) or PyMISP's {"OR", "AND", "NOT"} dict."""
    if value is None or value in ("", []):
        return TagQuery()
    if isinstance(value, dict):
        pos = TagQuery(
            tuple(_as_list(value.get("OR"))),
            tuple(_as_list(value.get("AND"))),
            tuple(_as_list(value.get("NOT"))),
        )
        return pos
    items = _as_list(value)
    return TagQuery(
        any_of=tuple(t for t in items if not t.startswith("!")),
        none_of=tuple(t[1:] for t in items if t.startswith("!")),
    )


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [str(value)]


def string_list(value: Any) -> tuple[list[str], list[str]]:
    """A list filter split into (wanted, excluded by a `!` prefix)."""
    items = _as_list(value)
    return [i for i in items if not i.startswith("!")], [i[1:] for i in items if i.startswith("!")]


# --- synthetic data ----------------------------------------------------------------------------------


def _ip(n: int) -> tuple[str, str, str]:
    return "ip-dst", "Network activity", f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def _domain(n: int) -> tuple[str, str, str]:
    return "domain", "Network activity", f"c2-{n}.bad-{n % 997}.example"


def _url(n: int) -> tuple[str, str, str]:
    return "url", "Network activity", f"https://cdn-{n}.bad-{n % 991}.example/dl/{n}.bin"


def _sha256(n: int) -> tuple[str, str, str]:
    return "sha256", "Payload delivery", hashlib.sha256(f"s{n}".encode()).hexdigest()


def _md5(n: int) -> tuple[str, str, str]:
    return "md5", "Payload delivery", hashlib.md5(f"m{n}".encode(), usedforsecurity=False).hexdigest()


def _filename_sha256(n: int) -> tuple[str, str, str]:
    digest = hashlib.sha256(f"f{n}".encode()).hexdigest()
    return "filename|sha256", "Payload delivery", f"dropper_{n}.exe|{digest}"


SYNTHETIC_KINDS: tuple[Callable[[int], tuple[str, str, str]], ...] = (
    _ip,
    _domain,
    _url,
    _sha256,
    _md5,
    _filename_sha256,
)


def synthetic_values(start: int, count: int) -> Iterator[tuple[str, str, str]]:
    """(type, category, value) for attribute numbers start..start+count-1; values never repeat."""
    for n in range(start, start + count):
        yield SYNTHETIC_KINDS[n % len(SYNTHETIC_KINDS)](n)
