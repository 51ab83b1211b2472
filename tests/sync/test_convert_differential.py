"""Differential test against the oracle, misp-stix (MISPtoSTIX21Parser), on the seven shared events.

For every top-level attribute both converters turn into an indicator, the meaning (object type,
property, value) must agree once docs/mapping.md's deliberate differences are mapped:
- the oracle's network-traffic:src_ref/dst_ref (type + value) is our ipv4-addr / ipv6-addr:value;
- its email-message:from_ref / to_refs[*] is our email-addr:value;
- its domain-name:resolves_to_refs[*].value is our separate IP indicator;
- with remove_pipe (the default) the dropped halves (ports, file:name beside a hash, registry value
  data) are not in our patterns: they go into the description.
Hash keys compare equal whatever the quoting (file:hashes.MD5 vs file:hashes.'MD5').
Oracle attributes inside MISP objects become object-level indicators with the object's id, so only
top-level attributes are compared one to one.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
from misp_stix_converter import MISPtoSTIX21Parser

from misp_bridge.sync.convert import ConvertOptions, convert_event
from misp_bridge.sync.convert.patterns import COMPOSITE
from misp_bridge.sync.indicator import Indicator
from tests.conftest import MISP_EVENTS
from tests.sync.test_convert_mapping import comparisons

NOW = datetime(2024, 1, 1, tzinfo=timezone.utc)
SPLIT = ConvertOptions(misp_domain="https://m", days_to_expire_start="current_date")
JOINED = ConvertOptions(misp_domain="https://m", days_to_expire_start="current_date", remove_pipe=False)
EVENT_FILES = sorted(path.name for path in MISP_EVENTS.glob("*.json"))

Triple = tuple[str, str, str]


def _without_galaxies(data: Any) -> Any:
    # The oracle crashes on some old galaxy clusters (ids without a uuid); galaxies never make indicators.
    if isinstance(data, dict):
        return {key: _without_galaxies(value) for key, value in data.items() if key != "Galaxy"}
    if isinstance(data, list):
        return [_without_galaxies(item) for item in data]
    return data


def oracle_patterns(event: dict[str, Any]) -> dict[str, str]:
    parser = MISPtoSTIX21Parser()
    parser.parse_misp_event(_without_galaxies(event))
    return {
        obj["id"].split("--", 1)[1]: obj["pattern"]
        for obj in parser.stix_objects
        if obj["type"] == "indicator"
    }


def _family(value: str) -> str:
    return "ipv4-addr" if ipaddress.ip_network(value, strict=False).version == 4 else "ipv6-addr"


def translate(oracle: list[Triple], *, split: bool) -> set[Triple]:
    """The oracle's comparisons written the way docs/mapping.md says this project writes them."""
    out: set[Triple] = set()
    has_hash = any(path.startswith("hashes.") for _obj, path, _value in oracle)
    for obj, path, raw in oracle:
        # The oracle escapes '%' in values (a LIKE habit); the meaning is the bare character.
        value = raw.replace("\\%", "%")
        if obj == "network-traffic" and path in ("src_ref.value", "dst_ref.value"):
            out.add((_family(value), "value", value))
        elif obj == "network-traffic" and path in ("src_ref.type", "dst_ref.type"):
            continue  # folded into the address object above
        elif obj == "email-message" and path in ("from_ref.value", "to_refs.*.value"):
            out.add(("email-addr", "value", value))
        elif obj == "domain-name" and path == "resolves_to_refs.*.value":
            out.add((_family(value), "value", value))
        elif split and (path in ("src_port", "dst_port", "values.data") or (path == "name" and has_hash)):
            continue  # the dropped half of a composite, kept in the description
        else:
            out.add((obj, path, value))
    return out


def ours(event: dict[str, Any], options: ConvertOptions) -> dict[str, tuple[str, list[str]]]:
    found: dict[str, tuple[str, list[str]]] = {}
    for result in convert_event(event, options, NOW):
        if isinstance(result, Indicator):
            found.setdefault(result.attribute_uuid, (result.misp_type, []))[1].append(result.body["pattern"])
    return found


def mismatches(name: str, options: ConvertOptions) -> Iterator[str]:
    event = json.loads((MISP_EVENTS / name).read_text(encoding="utf-8"))
    oracle = oracle_patterns(event)
    split = options.remove_pipe
    for attribute_uuid, (misp_type, patterns) in ours(event, options).items():
        if attribute_uuid not in oracle:
            continue
        mine = {c for pattern in patterns for c in comparisons(pattern)}
        if not split and misp_type in COMPOSITE:
            expected = {(o, p, v.replace("\\%", "%")) for o, p, v in comparisons(oracle[attribute_uuid])}
        else:
            expected = translate(comparisons(oracle[attribute_uuid]), split=split)
        if mine != expected:
            yield f"{name}/{misp_type}/{attribute_uuid}: ours {sorted(mine)} oracle {sorted(expected)}"


@pytest.mark.parametrize("name", EVENT_FILES)
@pytest.mark.parametrize("options", [SPLIT, JOINED], ids=["remove_pipe", "keep_pipe"])
def test_meaning_agrees_with_misp_stix(name: str, options: ConvertOptions) -> None:
    problems = list(mismatches(name, options))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", EVENT_FILES)
def test_every_top_level_indicator_is_also_one_for_the_oracle(name: str) -> None:
    event = json.loads((MISP_EVENTS / name).read_text(encoding="utf-8"))
    top_level = {a["uuid"] for a in event["Event"].get("Attribute", [])}
    oracle = oracle_patterns(event)
    missing = sorted(
        f"{misp_type}/{uuid}"
        for uuid, (misp_type, _p) in ours(event, SPLIT).items()
        if uuid in top_level and uuid not in oracle
    )
    assert not missing, missing


def test_translation_covers_each_listed_difference() -> None:
    # A guard that the mapping above really maps: each oracle form from docs/mapping.md, translated.
    cases = {
        "[network-traffic:src_ref.type = 'ipv4-addr' AND network-traffic:src_ref.value = '192.0.2.1'"
        " AND network-traffic:src_port = '80']": {("ipv4-addr", "value", "192.0.2.1")},
        "[email-message:to_refs[*].value = 'd@x.example']": {("email-addr", "value", "d@x.example")},
        "[domain-name:value = 'x.example' AND domain-name:resolves_to_refs[*].value = '2001:db8::1']": {
            ("domain-name", "value", "x.example"),
            ("ipv6-addr", "value", "2001:db8::1"),
        },
        "[file:name = 'a.exe' AND file:hashes.MD5 = 'abc']": {("file", "hashes.MD5", "abc")},
        "[autonomous-system:number = '64496']": {("autonomous-system", "number", "64496")},
    }
    for oracle_pattern, expected in cases.items():
        assert translate(comparisons(oracle_pattern), split=True) == expected, oracle_pattern


# Where the oracle itself loses meaning, recorded so the test notices if it ever changes:
# it writes SHA-512/224 and SHA-512/256 digests under the SHA-224 / SHA-256 keys.
ORACLE_SLIPS = {"hashes.SHA-224": "hashes.SHA-512/224", "hashes.SHA-256": "hashes.SHA-512/256"}


def _table_event() -> tuple[dict[str, Any], dict[str, str]]:
    from tests.sync.test_convert_mapping import TABLE, attribute, event

    attributes, types = [], {}
    for index, (misp_type, value, _expected) in enumerate(TABLE):
        attribute_uuid = f"00000000-0000-4000-8000-{index:012d}"
        attributes.append(attribute(misp_type, value, uuid=attribute_uuid))
        types[attribute_uuid] = misp_type
    return event(*attributes), types


@pytest.mark.parametrize("options", [SPLIT, JOINED], ids=["remove_pipe", "keep_pipe"])
def test_every_table_row_agrees_with_misp_stix(options: ConvertOptions) -> None:
    event, types = _table_event()
    oracle = oracle_patterns(event)
    problems: list[str] = []
    compared = 0
    for attribute_uuid, (misp_type, patterns) in ours(event, options).items():
        if attribute_uuid not in oracle:
            continue
        compared += 1
        mine = {c for pattern in patterns for c in comparisons(pattern)}
        if not options.remove_pipe and misp_type in COMPOSITE:
            expected = set(comparisons(oracle[attribute_uuid]))
        else:
            expected = translate(comparisons(oracle[attribute_uuid]), split=options.remove_pipe)
        if misp_type.split("|")[-1] in ("sha512/224", "sha512/256"):
            expected = {(o, ORACLE_SLIPS.get(p, p) if o == "file" else p, v) for o, p, v in expected}
        if mine != expected:
            problems.append(f"{misp_type}/{attribute_uuid}: ours {sorted(mine)} oracle {sorted(expected)}")
    assert not problems, "\n".join(problems)
    # The oracle makes no indicator for tlsh, and PyMISP's validation rejects its filename|impfuzzy:
    # every other row of the table must really have been compared.
    uncompared = {types[u] for u in types if u not in oracle}
    assert uncompared == {"tlsh", "filename|tlsh", "filename|impfuzzy"}
    assert compared == len(types) - 3


def test_shared_events_really_overlap_with_the_oracle() -> None:
    # Guards against a vacuous pass: most of our indicators must have an oracle twin to compare with.
    compared = 0
    for name in EVENT_FILES:
        event = json.loads((MISP_EVENTS / name).read_text(encoding="utf-8"))
        oracle = oracle_patterns(event)
        compared += sum(1 for attribute_uuid in ours(event, SPLIT) if attribute_uuid in oracle)
    assert compared == 326
