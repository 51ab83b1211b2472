"""Event building (pure): the MISP event JSON for an alert, compared with a golden file."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from misp_bridge.pandora.event import TEXT_LIMIT, Alert, build_event, dedup_uuid, ip_attribute_uuid
from misp_bridge.pandora.iocs import extract
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


def test_long_text_is_truncated_with_a_note() -> None:
    data = "A" * (TEXT_LIMIT + 10)
    [text] = [a for a in built(data).event["Attribute"] if a["type"] == "text"]
    assert text["value"].startswith("A" * TEXT_LIMIT)
    assert text["value"].endswith("[truncated by pandora_to_misp: 10 more bytes not kept]")


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
