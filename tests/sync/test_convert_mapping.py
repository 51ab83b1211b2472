"""docs/mapping.md, row by row and rule by rule: MISP attribute -> STIX 2.1 indicator for Sentinel."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import stix2
from stix2patterns.v21.pattern import Pattern
from stix2patterns.validator import validate

from misp_bridge.config import load_settings
from misp_bridge.config.defaults import BUILTIN_CONSTANTS
from misp_bridge.errors import BridgeError, InvalidValue
from misp_bridge.sync.convert import (
    ConvertOptions,
    Skip,
    convert_attribute,
    convert_event,
    escape,
    iso,
    options_from_settings,
    pattern_for,
    revoked,
)
from misp_bridge.sync.indicator import Indicator

DEFAULT_TLP_MARKINGS = BUILTIN_CONSTANTS["TLP_MARKING_OBJECT_DEFINITION"]

NOW = datetime(2016, 9, 1, 12, 0, tzinfo=timezone.utc)
STAMP = 1472480394  # 2016-08-29T14:19:54Z
STAMP_ISO = "2016-08-29T14:19:54.000Z"
ATTR_UUID = "57C4448A-FB04-457D-87E7-4127950D210F"
EVENT_UUID = "57c4445b-c548-4654-af0b-4be3950d210f"
ORG_UUID = "55f6ea5e-2c60-40e5-964f-47a8950d210f"
OPTIONS = ConvertOptions(misp_domain="https://misp.example/")
WHITE = DEFAULT_TLP_MARKINGS["tlp:white"]
AMBER = DEFAULT_TLP_MARKINGS["tlp:amber"]
RED = DEFAULT_TLP_MARKINGS["tlp:red"]
_ESCAPED = re.compile(r"\\(.)")

H32, H40, H56, H64, H96, H128 = "a" * 32, "b" * 40, "c" * 56, "d" * 64, "e" * 96, "f" * 128


# --- helpers shared by the other STIX test files ---------------------------------------------------


def comparisons(pattern: str) -> list[tuple[str, str, str]]:
    """(object type, property path, value) of every comparison, the value unescaped."""
    found = []
    for object_type, items in Pattern(pattern).inspect().comparisons.items():
        for path, _op, literal in items:
            text = literal[1:-1] if literal.startswith("'") else literal
            value = _ESCAPED.sub(r"\1", text) if literal.startswith("'") else text
            # stix2patterns marks a [*] index with a sentinel object; spell it as "*".
            steps = (str(step) if isinstance(step, (str, int)) else "*" for step in path)
            found.append((object_type, ".".join(steps), value))
    return found


def assert_valid_stix(body: Mapping[str, Any]) -> None:
    """The object parses with stix2 and its pattern validates; stix2 raises a bare ValueError too."""
    assert validate(body["pattern"], stix_version="2.1", print_errs=False), body["pattern"]
    try:
        stix2.parse(dict(body), allow_custom=True)
    except (ValueError, stix2.exceptions.STIXError) as error:  # pragma: no cover - the failure message
        pytest.fail(f"stix2 rejected {body['id']}: {error}")


def attribute(misp_type: str, value: str, **extra: Any) -> dict[str, Any]:
    return {
        "uuid": ATTR_UUID,
        "type": misp_type,
        "category": "Network activity",
        "value": value,
        "to_ids": True,
        "timestamp": str(STAMP),
        "comment": "",
        **extra,
    }


def event(*attributes: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "Event": {
            "id": "42",
            "uuid": EVENT_UUID,
            "info": "Ransomware - Xorist",
            "date": "2016-08-29",
            "timestamp": str(STAMP),
            "Orgc": {"name": "CIRCL", "uuid": ORG_UUID},
            "Tag": [],
            "Attribute": list(attributes),
            **extra,
        }
    }


def tag(name: str, local: Any = None) -> dict[str, Any]:
    return {"name": name} if local is None else {"name": name, "local": local}


def convert_one(
    attr: Mapping[str, Any], options: ConvertOptions = OPTIONS, **event_extra: Any
) -> list[Indicator]:
    result = convert_attribute(attr, event(**event_extra), options, NOW)
    assert isinstance(result, list), result
    for indicator in result:
        assert_valid_stix(indicator.body)
    return result


def body_of(
    attr: Mapping[str, Any], options: ConvertOptions = OPTIONS, **event_extra: Any
) -> Mapping[str, Any]:
    (indicator,) = convert_one(attr, options, **event_extra)
    return indicator.body


# --- the pattern table: one case per row and per type ----------------------------------------------

HASHES = [
    ("md5", "MD5", H32.upper()),
    ("sha1", "SHA-1", H40),
    ("sha224", "SHA-224", H56),
    ("sha256", "SHA-256", H64),
    ("sha384", "SHA-384", H96),
    ("sha512", "SHA-512", H128),
    ("sha512/224", "SHA-512/224", H56),
    ("sha512/256", "SHA-512/256", H64),
    ("sha3-224", "SHA3-224", H56),
    ("sha3-256", "SHA3-256", H64),
    ("sha3-384", "SHA3-384", H96),
    ("sha3-512", "SHA3-512", H128),
    ("ssdeep", "SSDEEP", "96:Ab+/cd:Ef"),
    ("tlsh", "TLSH", "T1" + "A" * 70),
    ("imphash", "IMPHASH", H32),
    ("authentihash", "AUTHENTIHASH", H64),
    ("impfuzzy", "IMPFUZZY", "48:abc:def"),
    ("pehash", "PEHASH", H40),
    ("vhash", "VHASH", "015036656d5223z1"),
]


def _hash_expected(value: str) -> str:
    # Hex digests are lower-cased; fuzzy hashes (ssdeep, tlsh, impfuzzy, vhash) are kept as given.
    return value.lower() if re.fullmatch(r"[0-9A-Fa-f]+", value) else value


TABLE = [
    ("ip-src", "192.0.2.1", ["[ipv4-addr:value = '192.0.2.1']"]),
    ("ip-dst", "2001:db8::1", ["[ipv6-addr:value = '2001:db8::1']"]),
    ("ip-dst", "198.51.100.0/24", ["[ipv4-addr:value = '198.51.100.0/24']"]),
    ("ip-src", "2001:db8::/32", ["[ipv6-addr:value = '2001:db8::/32']"]),
    ("ip-src|port", "192.0.2.1|8080", ["[ipv4-addr:value = '192.0.2.1']"]),
    ("ip-dst|port", "2001:db8::1|443", ["[ipv6-addr:value = '2001:db8::1']"]),
    ("domain", "evil.example", ["[domain-name:value = 'evil.example']"]),
    ("hostname", "www.evil.example", ["[domain-name:value = 'www.evil.example']"]),
    (
        "domain|ip",
        "evil.example|192.0.2.7",
        ["[domain-name:value = 'evil.example']", "[ipv4-addr:value = '192.0.2.7']"],
    ),
    ("hostname|port", "c2.evil.example|8443", ["[domain-name:value = 'c2.evil.example']"]),
    ("url", "http://evil.example/a?b=1", ["[url:value = 'http://evil.example/a?b=1']"]),
    ("uri", "/gate.php", ["[url:value = '/gate.php']"]),
    ("email", "a@evil.example", ["[email-addr:value = 'a@evil.example']"]),
    ("email-src", "s@evil.example", ["[email-addr:value = 's@evil.example']"]),
    ("email-dst", "d@evil.example", ["[email-addr:value = 'd@evil.example']"]),
    ("email-subject", "Invoice 'May'", ["[email-message:subject = 'Invoice \\'May\\'']"]),
    ("filename", "C:\\evil.exe", ["[file:name = 'C:\\\\evil.exe']"]),
    *[(t, v, [f"[file:hashes.'{k}' = '{_hash_expected(v)}']"]) for t, k, v in HASHES],
    *[
        (f"filename|{t}", f"evil.exe|{v}", [f"[file:hashes.'{k}' = '{_hash_expected(v)}']"])
        for t, k, v in HASHES
    ],
    ("mutex", "Global\\mtx", ["[mutex:name = 'Global\\\\mtx']"]),
    ("AS", "AS64496", ["[autonomous-system:number = 64496]"]),
    ("AS", "64496", ["[autonomous-system:number = 64496]"]),
    ("mac-address", "AA:BB:CC:DD:EE:0F", ["[mac-addr:value = 'aa:bb:cc:dd:ee:0f']"]),
    ("regkey", "HKLM\\Software\\Run", ["[windows-registry-key:key = 'HKLM\\\\Software\\\\Run']"]),
    ("regkey|value", "HKLM\\Run|evil.exe", ["[windows-registry-key:key = 'HKLM\\\\Run']"]),
    (
        "user-agent",
        "Mozilla/5.0 (X11)",
        ["[network-traffic:extensions.'http-request-ext'.request_header.'User-Agent' = 'Mozilla/5.0 (X11)']"],
    ),
    ("x509-fingerprint-md5", H32, [f"[x509-certificate:hashes.'MD5' = '{H32}']"]),
    ("x509-fingerprint-sha1", H40.upper(), [f"[x509-certificate:hashes.'SHA-1' = '{H40}']"]),
    ("x509-fingerprint-sha256", H64, [f"[x509-certificate:hashes.'SHA-256' = '{H64}']"]),
]


@pytest.mark.parametrize(
    ("misp_type", "value", "expected"), TABLE, ids=[f"{t}={v[:24]}" for t, v, _ in TABLE]
)
def test_pattern_table_row(misp_type: str, value: str, expected: list[str]) -> None:
    assert [pattern for pattern, _note in pattern_for(misp_type, value) or []] == expected
    indicators = convert_one(attribute(misp_type, value))
    assert [i.body["pattern"] for i in indicators] == expected


NOT_INDICATORS = [
    "yara",
    "sigma",
    "snort",
    "text",
    "link",
    "comment",
    "other",
    "vulnerability",
    "ja3-fingerprint-md5",
    "btc",
    "size-in-bytes",
    "made-up-type",
]


@pytest.mark.parametrize("misp_type", NOT_INDICATORS)
def test_types_without_pattern_are_not_indicators(misp_type: str) -> None:
    assert pattern_for(misp_type, "anything") is None
    options = ConvertOptions(misp_domain="https://m", accepted_types=frozenset({misp_type}))
    result = convert_attribute(attribute(misp_type, "anything"), event(), options, NOW)
    assert result == Skip(ATTR_UUID, EVENT_UUID, misp_type, "not an indicator type")


@pytest.mark.parametrize("misp_type", ["yara", "snort", "link"])
def test_types_outside_accepted_list_are_counted_as_not_accepted(misp_type: str) -> None:
    result = convert_attribute(attribute(misp_type, "x"), event(), OPTIONS, NOW)
    assert isinstance(result, Skip)
    assert result.reason == "type not accepted"


# --- notes: the dropped half of a composite goes into the description -------------------------------

NOTES = [
    ("ip-src|port", "192.0.2.1|8080", ["port 8080"]),
    ("hostname|port", "c2.evil.example|8443", ["port 8443"]),
    ("filename|md5", f"evil.exe|{H32}", ["file name evil.exe"]),
    ("regkey|value", "HKLM\\Run|evil.exe", ["value data evil.exe"]),
    ("domain|ip", "evil.example|192.0.2.7", ["resolves to 192.0.2.7", "resolved from evil.example"]),
]


@pytest.mark.parametrize(("misp_type", "value", "notes"), NOTES, ids=[n[0] for n in NOTES])
def test_dropped_half_goes_into_the_description(misp_type: str, value: str, notes: list[str]) -> None:
    indicators = convert_one(attribute(misp_type, value, comment="seen in dropper"))
    assert [i.body["description"].split(" - ")[0] for i in indicators] == [
        f"seen in dropper {n}" for n in notes
    ]


# --- listed differences from the oracle: remove_pipe=False gives its AND form ------------------------

JOINED = [
    (
        "ip-src|port",
        "192.0.2.1|8080",
        "[network-traffic:src_ref.type = 'ipv4-addr' AND network-traffic:src_ref.value = '192.0.2.1'"
        " AND network-traffic:src_port = '8080']",
    ),
    (
        "ip-dst|port",
        "2001:db8::1|443",
        "[network-traffic:dst_ref.type = 'ipv6-addr' AND network-traffic:dst_ref.value = '2001:db8::1'"
        " AND network-traffic:dst_port = '443']",
    ),
    (
        "domain|ip",
        "evil.example|192.0.2.7",
        "[domain-name:value = 'evil.example' AND domain-name:resolves_to_refs[*].value = '192.0.2.7']",
    ),
    (
        "hostname|port",
        "h.example|8443",
        "[domain-name:value = 'h.example' AND network-traffic:dst_port = '8443']",
    ),
    (
        "filename|sha256",
        f"evil.exe|{H64.upper()}",
        f"[file:name = 'evil.exe' AND file:hashes.'SHA-256' = '{H64}']",
    ),
    (
        "regkey|value",
        "HKLM\\Run|data",
        "[windows-registry-key:key = 'HKLM\\\\Run' AND windows-registry-key:values.data = 'data']",
    ),
]


@pytest.mark.parametrize(("misp_type", "value", "expected"), JOINED, ids=[j[0] for j in JOINED])
def test_keep_pipe_gives_one_and_pattern(misp_type: str, value: str, expected: str) -> None:
    options = ConvertOptions(misp_domain="https://m", remove_pipe=False)
    (indicator,) = convert_one(attribute(misp_type, value), options)
    assert indicator.body["pattern"] == expected
    assert indicator.stix_id == f"indicator--{ATTR_UUID.lower()}"


def test_composite_split_second_id_is_stable_uuid5() -> None:
    first = convert_one(attribute("domain|ip", "evil.example|192.0.2.7"))
    again = convert_one(attribute("domain|ip", "evil.example|192.0.2.7"))
    assert [i.stix_id for i in first] == [i.stix_id for i in again]
    assert first[0].stix_id == f"indicator--{ATTR_UUID.lower()}"
    second = uuid.UUID(first[1].stix_id.split("--")[1])
    assert second.version == 5
    other = convert_one(attribute("domain|ip", "evil.example|192.0.2.8"))
    assert other[1].stix_id != first[1].stix_id


# --- invalid values --------------------------------------------------------------------------------

INVALID = [
    ("ip-src", "999.1.1.1"),
    ("ip-dst", "evil.example"),
    ("ip-dst", "10.0.0.0/33"),
    ("ip-src|port", "192.0.2.1|http"),
    ("ip-src|port", "192.0.2.1|70000"),
    ("ip-src|port", "192.0.2.1"),
    ("domain|ip", "evil.example|not-an-ip"),
    ("hostname|port", "h.example|-1"),
    ("md5", "abc"),
    ("md5", "z" * 32),
    ("sha1", H32),
    ("sha256", H64 + "0"),
    ("filename|sha1", f"evil.exe|{H32}"),
    ("imphash", "g" * 32),
    ("x509-fingerprint-sha1", "x" * 40),
    ("AS", "ASX"),
    ("AS", str(2**32)),
    ("mac-address", "aa:bb:cc"),
]


@pytest.mark.parametrize(("misp_type", "value"), INVALID, ids=[f"{t}={v[:20]}" for t, v in INVALID])
def test_invalid_values_raise_and_skip(misp_type: str, value: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        pattern_for(misp_type, value)
    assert isinstance(caught.value, BridgeError)
    assert str(caught.value).startswith(f"A MISP {misp_type} attribute was skipped because its value ")
    assert value not in str(caught.value) or len(value) < 4  # the message names the problem, not the data
    result = convert_attribute(attribute(misp_type, value), event(), OPTIONS, NOW)
    assert result == Skip(ATTR_UUID, EVENT_UUID, misp_type, "invalid value")


@pytest.mark.parametrize("value", ["", "   ", None, 12], ids=["empty", "blank", "none", "number"])
def test_empty_or_non_text_value_is_invalid(value: Any) -> None:
    result = convert_attribute(attribute("domain", "x") | {"value": value}, event(), OPTIONS, NOW)
    assert isinstance(result, Skip)
    assert result.reason == "invalid value"


# --- escaping ---------------------------------------------------------------------------------------

ESCAPES = [("plain", "plain"), ("it's", "it\\'s"), ("a\\b", "a\\\\b"), ("\\'", "\\\\\\'"), ("''", "\\'\\'")]


@pytest.mark.parametrize(("raw", "escaped"), ESCAPES, ids=[e[0] for e in ESCAPES])
def test_escape_backslash_first_then_quote(raw: str, escaped: str) -> None:
    assert escape(raw) == escaped
    (pattern, _note), = pattern_for("url", raw) or []  # fmt: skip
    assert comparisons(pattern) == [("url", "value", raw)]


# --- skip reasons -----------------------------------------------------------------------------------

SKIPS = [
    ("not to_ids", {"to_ids": False}),
    ("not to_ids", {"to_ids": "0"}),
    ("not to_ids", {"to_ids": None}),
    ("deleted", {"deleted": True}),
    ("deleted", {"deleted": "1"}),
    ("type not accepted", {"type": "yara", "value": "rule x {condition: true}"}),
    ("invalid value", {"type": "ip-dst", "value": "nope"}),
    ("expired", {"timestamp": str(STAMP - 200 * 86400)}),
]


@pytest.mark.parametrize(("reason", "change"), SKIPS, ids=[f"{r}:{next(iter(c.values()))}" for r, c in SKIPS])
def test_skip_reasons(reason: str, change: dict[str, Any]) -> None:
    attr = attribute("domain", "evil.example") | change
    result = convert_attribute(attr, event(), OPTIONS, NOW)
    assert result == Skip(ATTR_UUID, EVENT_UUID, attr["type"], reason)


def test_duplicate_ids_in_one_event_are_sent_once() -> None:
    twin = attribute("domain", "evil.example")
    results = list(convert_event(event(twin, dict(twin), attribute("url", "http://x")), OPTIONS, NOW))
    assert [type(r).__name__ for r in results] == ["Indicator", "Skip", "Skip"]
    assert results[1] == Skip(ATTR_UUID, EVENT_UUID, "domain", "duplicate")


def test_custom_type_is_sent_as_free_text() -> None:
    """Microsoft documents no free-text form: a value that is not a pattern goes as the original sends
    it (the value as the pattern, pattern_type stix)."""
    for value, pattern in (("DE89 3704'0044", "DE89 3704\\'0044"), ("DE89370400440532013000", None)):
        result = convert_attribute(attribute("iban", value), event(), OPTIONS, NOW)
        assert isinstance(result, list)
        assert result[0].body["pattern"] == (pattern or value)
        assert result[0].body["pattern_type"] == "stix"


@pytest.mark.parametrize(
    "value",
    [
        "[ipv4-addr:value NOT = 0]",
        "[EXISTS ipv4-addr:value]",
        "[domain-name:value LIKE '%'] OR [url:value MATCHES '.*']",
        " [file:name = 'x'] ",
    ],
)
def test_custom_type_value_that_is_a_pattern_is_skipped(value: str) -> None:
    """Finding 8: an attacker's value used as the pattern became a working STIX expression."""
    result = convert_attribute(attribute("iban", value), event(), OPTIONS, NOW)
    assert result == Skip(ATTR_UUID, EVENT_UUID, "iban", "free text reads as a pattern")


def test_custom_type_value_with_brackets_that_is_no_pattern_is_free_text() -> None:
    result = convert_attribute(attribute("iban", "[not a pattern]"), event(), OPTIONS, NOW)
    assert isinstance(result, list) and result[0].body["pattern"] == "[not a pattern]"


@pytest.mark.parametrize(
    ("misp_type", "value", "extra"),
    [
        ("AS", "9" * 5000, {}),
        ("AS", "AS" + "0" * 4999 + "1", {}),
        ("ip-dst|port", "192.0.2.1|" + "9" * 5000, {}),
        ("hostname|port", "evil.example|" + "1" * 4400, {}),
        ("domain", "evil.example", {"timestamp": "253402300799"}),  # 9999-12-31: valid_until overflows
        ("domain", "evil.example", {"timestamp": "9" * 5000}),
        ("domain", json.loads('"evil\\ud800.example"'), {}),  # what a JSON "\ud800" escape decodes to
    ],
    ids=[
        "as-5000-digits",
        "as-leading-zeros",
        "port-5000-digits",
        "port-4400",
        "year-9999",
        "huge-stamp",
        "surrogate",
    ],
)
def test_hostile_values_are_skipped_never_raised(misp_type: str, value: str, extra: dict[str, Any]) -> None:
    """Finding 7: one hostile value (Python's int-conversion limit, a date past 9999, a lone surrogate)
    aborted every run."""
    results = list(convert_event(event(attribute(misp_type, value, **extra)), OPTIONS, NOW))
    assert len(results) == 1
    result = results[0]
    if isinstance(result, Skip):
        assert result.reason == "invalid value"
    else:  # a huge epoch is no time at all: the event's time stands in, and the value is fine
        assert extra.get("timestamp") == "9" * 5000
        assert result.body["valid_from"] == STAMP_ISO


# --- indicator properties -----------------------------------------------------------------------------


def test_fixed_properties_and_timestamps() -> None:
    body = body_of(attribute("domain", "evil.example", comment="C2"))
    assert {k: body[k] for k in ("type", "spec_version", "pattern_type", "pattern_version")} == {
        "type": "indicator",
        "spec_version": "2.1",
        "pattern_type": "stix",
        "pattern_version": "2.1",
    }
    assert body["created"] == body["modified"] == body["valid_from"] == STAMP_ISO
    assert body["id"] == f"indicator--{ATTR_UUID.lower()}"
    assert body["name"] == "Ransomware - Xorist"
    assert body["description"] == f"C2 - Ransomware - Xorist (42-{EVENT_UUID}) by CIRCL on 2016-08-29"
    assert body["created_by_ref"] == f"identity--{ORG_UUID}"
    assert body["external_references"] == [
        {
            "source_name": "MISP",
            "description": "MISP Event: Ransomware - Xorist",
            "external_id": EVENT_UUID,
            "url": f"https://misp.example/events/view/{EVENT_UUID}",
        }
    ]


def test_missing_fields_take_defaults() -> None:
    attr = {"type": "domain", "value": "evil.example", "to_ids": True}
    bare = {"Event": {"uuid": EVENT_UUID, "timestamp": str(STAMP), "Attribute": [attr]}}
    (indicator,) = [r for r in convert_event(bare, OPTIONS, NOW) if isinstance(r, Indicator)]
    assert indicator.body["valid_from"] == STAMP_ISO  # event timestamp stands in for the attribute's
    assert "created_by_ref" not in indicator.body
    assert indicator.body["name"] == f"MISP event {EVENT_UUID}"
    assert uuid.UUID(indicator.stix_id.split("--")[1]).version == 5
    assert_valid_stix(indicator.body)


DAY = timedelta(days=1)
VALID_FROM = datetime.fromtimestamp(STAMP, tz=timezone.utc)
LAST_SEEN = "2016-10-01T10:00:00.000000+00:00"
VALID_UNTIL = [
    ("default 50 days from valid_from", {}, {}, VALID_FROM + 50 * DAY),
    ("current_date start", {"days_to_expire_start": "current_date"}, {}, NOW + 50 * DAY),
    ("days_to_expire", {"days_to_expire": 10}, {}, VALID_FROM + 10 * DAY),
    ("last_seen ignored by default", {}, {"last_seen": LAST_SEEN}, VALID_FROM + 50 * DAY),
    (
        "last_seen honoured",
        {"ignore_misp_last_seen": False},
        {"last_seen": LAST_SEEN},
        datetime(2016, 10, 1, 10, tzinfo=timezone.utc),
    ),
    (
        "last_seen before valid_from falls back",
        {"ignore_misp_last_seen": False},
        {"last_seen": "2016-01-01T00:00:00+00:00"},
        VALID_FROM + 50 * DAY,
    ),
    (
        "mapping by pattern key",
        {"days_to_expire_mapping": {"ipv4-addr": 3, "domain-name": 7}},
        {},
        VALID_FROM + 7 * DAY,
    ),
    (
        "first mapping key wins",
        {"days_to_expire_mapping": {"domain-name": 9, "domain": 2}},
        {},
        VALID_FROM + 9 * DAY,
    ),
    ("mapping for other keys ignored", {"days_to_expire_mapping": {"url": 1}}, {}, VALID_FROM + 50 * DAY),
]


@pytest.mark.parametrize(
    ("change", "extra", "expected"), [v[1:] for v in VALID_UNTIL], ids=[v[0] for v in VALID_UNTIL]
)
def test_valid_until(change: dict[str, Any], extra: dict[str, Any], expected: datetime) -> None:
    options = ConvertOptions(misp_domain="https://m", **change)
    (indicator,) = convert_one(attribute("domain", "evil.example", **extra), options)
    assert indicator.valid_until == iso(expected)
    assert indicator.body["valid_until"] == expected.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def test_valid_until_always_after_valid_from() -> None:
    future = int((NOW + 2 * DAY).timestamp())
    options = ConvertOptions(misp_domain="https://m", days_to_expire=0)
    (indicator,) = convert_one(attribute("domain", "x.example", timestamp=str(future)), options)
    assert indicator.body["valid_until"] > indicator.body["valid_from"]


def test_expired_by_mapping_only_for_that_half() -> None:
    options = ConvertOptions(misp_domain="https://m", days_to_expire_mapping={"ipv4-addr": 1})
    indicators = convert_one(attribute("domain|ip", "evil.example|192.0.2.7"), options)
    assert [i.body["pattern"] for i in indicators] == ["[domain-name:value = 'evil.example']"]


CONF = 'misp:confidence-level="{}"'
CONFIDENCE = [
    ("default", [], [], 50),
    ("event tag", [], [CONF.format("usually-confident")], 75),
    ("attribute over event", [CONF.format("unconfident")], [CONF.format("completely-confident")], 0),
    ("rarely", [CONF.format("rarely-confident")], [], 25),
    ("cannot be evaluated", [CONF.format("confidence-cannot-be-evaluated")], [], 50),
    ("unknown value", [CONF.format("sure")], [], 50),
]


@pytest.mark.parametrize(
    ("attr_tags", "event_tags", "expected"), [c[1:] for c in CONFIDENCE], ids=[c[0] for c in CONFIDENCE]
)
def test_confidence(attr_tags: list[str], event_tags: list[str], expected: int) -> None:
    attr = attribute("domain", "evil.example", Tag=[tag(t) for t in attr_tags])
    assert body_of(attr, Tag=[tag(t) for t in event_tags])["confidence"] == expected


def test_default_confidence_option() -> None:
    options = ConvertOptions(misp_domain="https://m", default_confidence=80)
    assert body_of(attribute("domain", "evil.example"), options)["confidence"] == 80


LABELS = [
    (
        "attribute then event, deduplicated",
        {},
        [tag("a:x"), tag("b:y")],
        [tag("b:y"), tag("c:z")],
        ["a:x", "b:y", "c:z"],
    ),
    ("local True dropped", {}, [tag("a:x", True)], [tag("c:z")], ["c:z"]),
    ("local 1 dropped", {}, [tag("a:x", 1)], [tag("c:z", "1")], None),
    ("local 0 kept", {}, [tag("a:x", 0)], [tag("c:z", False)], ["a:x", "c:z"]),
    ("local kept when not ignored", {"ignore_localtags": False}, [tag("a:x", True)], [], ["a:x"]),
    ("galaxy ignored", {}, [tag('misp-galaxy:threat-actor="X"'), tag("a:x")], [], ["a:x"]),
    ("custom ignore prefix", {"tags_ignore": ("a:",)}, [tag("a:x"), tag("b:y")], [], ["b:y"]),
    (
        "allowed taxonomies",
        {"allowed_taxonomies": ("tlp", "b"), "tags_ignore": ()},
        [tag("a:x"), tag("b:y")],
        [tag("tlp:red")],
        ["b:y", "tlp:red"],
    ),
]


@pytest.mark.parametrize(
    ("change", "attr_tags", "event_tags", "expected"), [c[1:] for c in LABELS], ids=[c[0] for c in LABELS]
)
def test_labels(
    change: dict[str, Any], attr_tags: list[Any], event_tags: list[Any], expected: list[str] | None
) -> None:
    options = ConvertOptions(misp_domain="https://m", **change)
    body = body_of(attribute("domain", "evil.example", Tag=attr_tags), options, Tag=event_tags)
    assert body.get("labels") == expected


def test_local_tags_do_not_set_tlp_either() -> None:
    body = body_of(attribute("domain", "evil.example", Tag=[tag("tlp:red", True)]))
    assert body["object_marking_refs"] == [WHITE]


THREATTYPES = [
    ("default WatchList", [], [], ["WatchList"]),
    ("event tag", [], ["sentinel-threattype:Botnet"], ["Botnet"]),
    ("attribute over event", ["sentinel-threattype:C2"], ["sentinel-threattype:Botnet"], ["C2"]),
]


@pytest.mark.parametrize(
    ("attr_tags", "event_tags", "expected"), [t[1:] for t in THREATTYPES], ids=[t[0] for t in THREATTYPES]
)
def test_indicator_types(attr_tags: list[str], event_tags: list[str], expected: list[str]) -> None:
    attr = attribute("domain", "evil.example", Tag=[tag(t) for t in attr_tags])
    assert body_of(attr, Tag=[tag(t) for t in event_tags])["indicator_types"] == expected


def test_kill_chain_phases() -> None:
    attr = attribute("domain", "evil.example", Tag=[tag("kill-chain:Delivery")])
    body = body_of(attr, Tag=[tag("kill-chain:Command and Control"), tag("kill-chain:Delivery")])
    assert body["kill_chain_phases"] == [
        {"kill_chain_name": "lockheed-martin-cyber-kill-chain", "phase_name": "Delivery"},
        {"kill_chain_name": "lockheed-martin-cyber-kill-chain", "phase_name": "Command and Control"},
    ]
    assert "kill_chain_phases" not in body_of(attribute("domain", "evil.example"))


TLPS = [
    ("default white", {}, [], [], WHITE),
    ("event", {}, [], ["tlp:amber"], AMBER),
    ("attribute over event", {}, ["tlp:red"], ["tlp:amber"], RED),
    ("upper case tag", {}, ["TLP:RED"], [], RED),
    ("tlp:clear is white", {}, [], ["tlp:clear"], WHITE),
    ("default setting", {"default_tlp": "tlp:amber"}, [], [], AMBER),
]


@pytest.mark.parametrize(
    ("change", "attr_tags", "event_tags", "expected"), [t[1:] for t in TLPS], ids=[t[0] for t in TLPS]
)
def test_object_marking_refs(
    change: dict[str, Any], attr_tags: list[str], event_tags: list[str], expected: str
) -> None:
    options = ConvertOptions(misp_domain="https://m", **change)
    attr = attribute("domain", "evil.example", Tag=[tag(t) for t in attr_tags])
    assert body_of(attr, options, Tag=[tag(t) for t in event_tags])["object_marking_refs"] == [expected]


def test_object_attribute_description_says_where_it_came_from() -> None:
    result = convert_attribute(attribute("md5", H32), event(), OPTIONS, NOW, object_name="file")
    assert isinstance(result, list)
    assert result[0].body["description"].startswith("(was part of file object) - Ransomware - Xorist")


IDS = [
    ("upper-case uuid lower-cased", ATTR_UUID, f"indicator--{ATTR_UUID.lower()}"),
    (
        "uuid v1 kept",
        "0f2b6a84-6b1e-11ee-8c99-0242ac120002",
        "indicator--0f2b6a84-6b1e-11ee-8c99-0242ac120002",
    ),
]


@pytest.mark.parametrize(("raw", "expected"), [i[1:] for i in IDS], ids=[i[0] for i in IDS])
def test_id_from_valid_attribute_uuid(raw: str, expected: str) -> None:
    (indicator,) = convert_one(attribute("domain", "evil.example", uuid=raw))
    assert indicator.stix_id == indicator.body["id"] == expected


@pytest.mark.parametrize(
    "raw",
    ["not-a-uuid", "", "57c4448a-fb04-457d-07e7-4127950d210f"],
    ids=["garbage", "missing", "ncs-variant"],
)
def test_id_without_valid_uuid_is_deterministic_uuid5(raw: str) -> None:
    first = convert_one(attribute("domain", "evil.example", uuid=raw))[0]
    second = convert_one(attribute("domain", "evil.example", uuid=raw))[0]
    assert first.stix_id == second.stix_id
    assert uuid.UUID(first.stix_id.split("--")[1]).version == 5
    assert convert_one(attribute("domain", "other.example", uuid=raw))[0].stix_id != first.stix_id


def test_content_hash_ignores_modified_only() -> None:
    indicator = convert_one(attribute("domain", "evil.example"))[0]
    later = convert_attribute(attribute("domain", "evil.example"), event(), OPTIONS, NOW + DAY)
    assert isinstance(later, list)
    assert later[0].content_hash == indicator.content_hash
    changed = convert_one(attribute("domain", "evil.example", comment="new"))[0]
    assert changed.content_hash != indicator.content_hash


def test_revoked_is_newer_and_valid() -> None:
    body = body_of(attribute("domain", "evil.example"))
    stored = Indicator.from_body(body)
    gone = dict(revoked(stored, NOW).body)
    assert gone["revoked"] is True
    assert gone["modified"] == "2016-09-01T12:00:00.000Z"
    assert {k: v for k, v in gone.items() if k not in ("revoked", "modified")} == {
        k: v for k, v in body.items() if k != "modified"
    }
    assert_valid_stix(gone)
    # A clock behind the stored object still yields a strictly later modified time.
    assert revoked(stored, VALID_FROM - DAY).body["modified"] == "2016-08-29T14:19:54.001Z"
    assert revoked(stored, NOW).content_hash == stored.content_hash  # the MISP content did not change


SETTINGS = {
    "misp_domain": "https://misp.corp",
    "days_to_expire": 7,
    "days_to_expire_start": "current_date",
    "days_to_expire_mapping": {"url": 2},
    "days_to_expire_ignore_misp_last_seen": False,
    "default_confidence": 60,
    "ignore_localtags": False,
    "misp_tags_ignore": ["x:"],
    "misp_allowed_taxonomies": ["tlp"],
    "misp_confidence": {"C": 1},
    "misp_custom_attribute": {"phone-number"},
    "upload_indicator_misp_accepted_types": ["domain"],
    "tlp_marking_object_definition": {"TLP:WHITE": "marking-definition--x"},
    "sentinel_default_threattype": "Botnet",
    "sentinel_default_tlp": "tlp:white",
    "remove_pipe_from_misp_attribute": False,
    "misp_flatten_attributes": False,
    "misp_remove_eventreports": False,
    "kill_chain_phases": frozenset({"Delivery"}),
}


def test_options_from_settings_reads_every_name() -> None:
    options = options_from_settings(SimpleNamespace(**SETTINGS))
    assert options == ConvertOptions(
        misp_domain="https://misp.corp",
        days_to_expire=7,
        days_to_expire_start="current_date",
        days_to_expire_mapping={"url": 2},
        ignore_misp_last_seen=False,
        default_confidence=60,
        ignore_localtags=False,
        tags_ignore=("x:",),
        allowed_taxonomies=("tlp",),
        confidence_map={"c": 1},
        custom_types=frozenset({"phone-number"}),
        accepted_types=frozenset({"domain"}),
        tlp_markings={"tlp:white": "marking-definition--x"},
        default_threattype="Botnet",
        default_tlp="tlp:white",
        remove_pipe=False,
        flatten_attributes=False,
        remove_eventreports=False,
        kill_chain_phases=frozenset({"Delivery"}),
    )


def test_convert_options_defaults_are_the_settings_defaults(tmp_path: Path) -> None:
    """One source of defaults: a config.py that sets only what it must converts like ConvertOptions()."""
    config = tmp_path / "config.py"
    config.write_text(
        "ms_auth = {'tenant': 't.example.org', 'client_id': '0c1e5a7b-2d3f-4a6b-8c9d-1e2f3a4b5c6d',"
        " 'client_secret': 's', 'workspace_id': '2a4b6c8d-1e3f-4a5b-9c7d-0e1f2a3b4c5d'}\n"
        "misp_key = 'k'\nmisp_domain = 'https://m'\n",
        encoding="utf-8",
    )
    settings = load_settings(config, env={})
    options = options_from_settings(settings)
    assert options == ConvertOptions(misp_domain="https://m")
