"""The plugin against a real MISP 2.5: an alert becomes an event with its galaxy tags, a repeat a sighting."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from misp_bridge.cli import Environment
from misp_bridge.pandora.cli import main
from tests.fixtures.realmisp import RealMisp

pytestmark = pytest.mark.realmisp

SSHD = "Oct 11 22:14:15 {agent} sshd[4242]: Failed password for invalid user admin from {ip} port 52144 ssh2"


def _event_of(real_misp: RealMisp, agent: str) -> dict[str, Any]:
    found = real_misp.client().search(controller="events", eventinfo=f"%{agent}%", pythonify=False)
    assert isinstance(found, list) and len(found) == 1, found
    event: dict[str, Any] = found[0]["Event"]
    real_misp.created.append(event["uuid"])
    return event


def test_an_alert_becomes_one_event_then_a_sighting(real_misp: RealMisp, tmp_path: Path) -> None:
    agent = f"web-{uuid.uuid4().hex[:8]}"
    data = SSHD.format(agent=agent, ip="198.51.100.77")
    argv = ["-u", real_misp.url, "-k", real_misp.key, "-a", agent, "-n", "SSH brute force", "-d", data,
            "--spool-dir", str(tmp_path / "spool")]  # fmt: skip
    if isinstance(real_misp.ca, str):
        argv += ["--ca-bundle", real_misp.ca]

    assert main(argv, env=Environment(env={})) == 0
    assert main(argv, env=Environment(env={})) == 0  # the same attack again: a sighting, not a second event

    event = _event_of(real_misp, agent)
    ips = [a for a in event["Attribute"] if a["type"] == "ip-src"]
    assert [a["value"] for a in ips] == ["198.51.100.77"] and ips[0]["to_ids"] is True
    texts = [a for a in event["Attribute"] if a["type"] == "text"]
    assert texts and texts[0]["value"] == data
    tags = {t["name"] for t in event.get("Tag", [])}
    assert 'misp-galaxy:mitre-attack-pattern="Password Guessing - T1110.001"' in tags
    assert event["threat_level_id"] == "2"
    sightings = real_misp.client().search_sightings(context="attribute", context_id=ips[0]["id"])
    assert len(sightings) == 1
    assert not list((tmp_path / "spool").glob("*.json"))  # nothing left waiting
