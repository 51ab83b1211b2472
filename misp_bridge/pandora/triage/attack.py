"""ATT&CK technique ids -> the exact MISP galaxy tags.

MISP matches galaxy tags by their full text, so a tag is only useful when the technique name is spelt
exactly as in the galaxy cluster. The names come from techniques.json, a copy of the table extracted
from the MISP galaxy (cluster version 36); its licence notice (NOTICE.md) sits beside it and must stay
with it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from misp_bridge.errors import AttackDataError, UnknownTechnique
from misp_bridge.pandora.rx import compile_pattern

PACKAGED_TABLE = Path(__file__).resolve().with_name("techniques.json")
GALAXY = "mitre-attack-pattern"
TECHNIQUE_ID = compile_pattern(r"T\d{4}(?:\.\d{3})?")  # also applied to alert JSON values


@dataclass(frozen=True)
class Technique:
    """One ATT&CK (sub-)technique as the MISP galaxy names it."""

    id: str
    name: str
    tactics: tuple[str, ...]
    revoked: bool
    deprecated: bool
    revoked_by: str | None = None  # the technique that replaced a revoked one (the galaxy's relation)

    @property
    def galaxy_tag(self) -> str:
        return f'misp-galaxy:{GALAXY}="{self.name} - {self.id}"'


def _technique(source: str, technique_id: str, raw: Any) -> Technique:
    if not TECHNIQUE_ID.fullmatch(technique_id) or not isinstance(raw, dict):
        raise AttackDataError(source, f"entry {technique_id!r} is not a technique id with an object")
    name = raw.get("name")
    tactics = raw.get("tactics", [])
    if not isinstance(name, str) or not name or not isinstance(tactics, list):
        raise AttackDataError(source, f"entry {technique_id!r} needs a name and a list of tactics")
    return Technique(
        id=technique_id,
        name=name,
        tactics=tuple(str(t) for t in tactics),
        revoked=raw.get("revoked") is True,
        deprecated=raw.get("deprecated") is True,
        revoked_by=str(raw["revoked_by"]) if raw.get("revoked_by") else None,
    )


@lru_cache(maxsize=8)
def _load(path: Path) -> Mapping[str, Technique]:
    source = str(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise AttackDataError(source, f"cannot be read ({exc.strerror})") from exc
    except ValueError as exc:
        raise AttackDataError(source, f"is not valid JSON ({exc})") from exc
    table = document.get("techniques") if isinstance(document, dict) else None
    if not isinstance(table, dict):
        raise AttackDataError(source, 'has no "techniques" object')
    return MappingProxyType({tid: _technique(source, tid, raw) for tid, raw in table.items()})


def load_techniques(path: Path | None = None) -> Mapping[str, Technique]:
    """The technique table (read once per path); the packaged copy unless a path is given."""
    return _load((path or PACKAGED_TABLE).resolve())


def current_id(technique_id: str) -> str:
    """The id a technique goes by now: a revoked one's replacement (followed to the end), else itself."""
    table = load_techniques()
    seen = {technique_id}
    while (technique := table.get(technique_id)) is not None and technique.revoked_by:
        technique_id = technique.revoked_by
        if technique_id in seen:  # a cycle in the data: stop rather than loop
            break
        seen.add(technique_id)
    return technique_id


def galaxy_tag(technique_id: str) -> str:
    """The exact galaxy tag for a technique id; UnknownTechnique if the packaged table lacks it."""
    technique = load_techniques().get(technique_id)
    if technique is None:
        raise UnknownTechnique(technique_id)
    return technique.galaxy_tag
