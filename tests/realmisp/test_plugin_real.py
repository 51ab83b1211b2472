"""The plugin against a real MISP 2.5.1: a normal alert, a repeat, an outage, and issue 8's findings 6, 7,
9 and 11 where only a real MISP shows the behaviour (utf8mb3, the 65,535-byte limit, the blocklist).

Every test uses an agent name of its own (a fresh uuid) to find its events, and hands them to the
fixture, which deletes them at the end. An outage is a TCP relay in front of the MISP that is switched
off (tests/fixtures/relay.py): the URL stays the same, as in a real outage.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from misp_bridge.cli import Environment
from misp_bridge.pandora.cli import main
from tests.fixtures.realmisp import RealMisp
from tests.fixtures.relay import Relay, relay_to

pytestmark = pytest.mark.realmisp

SSHD = "Oct 11 22:14:15 {agent} sshd[4242]: Failed password for invalid user admin from {ip} port 52144 ssh2"


def _agent() -> str:
    return f"web-{uuid.uuid4().hex[:10]}"


def _events_of(real_misp: RealMisp, agent: str) -> list[dict[str, Any]]:
    found = real_misp.client().search(controller="events", eventinfo=f"%{agent}%", pythonify=False)
    assert isinstance(found, list), found
    events = [item["Event"] for item in found]
    real_misp.created.extend(e["uuid"] for e in events if e["uuid"] not in real_misp.created)
    return events


def _sightings(real_misp: RealMisp, event: dict[str, Any]) -> list[Any]:
    [ip] = [a for a in event["Attribute"] if a["type"] == "ip-src"]
    # MISP refuses an id sent as a JSON string ("Invalid ID `15` provided."): an int it is.
    found = real_misp.client().search_sightings(context="attribute", context_id=int(ip["id"]))
    assert isinstance(found, list), found
    return found


def _argv(url: str, real_misp: RealMisp, spool: Path, agent: str, data: str, *extra: str) -> list[str]:
    words = ["-u", url, "-k", real_misp.key, "-a", agent, "-n", "SSH brute force", "-d", data,
             "--spool-dir", str(spool), *extra]  # fmt: skip
    return words + (["--ca-bundle", real_misp.ca] if isinstance(real_misp.ca, str) else [])


def _run(words: list[str]) -> int:
    return main(words, env=Environment(env={}))


@pytest.fixture
def relay(real_misp: RealMisp) -> Iterator[Relay]:
    parts = urlsplit(real_misp.url)
    with relay_to(parts.hostname or "127.0.0.1", parts.port or 443) as running:
        yield running


def test_an_alert_becomes_one_event_then_a_sighting(real_misp: RealMisp, tmp_path: Path) -> None:
    agent = _agent()
    data = SSHD.format(agent=agent, ip="198.51.100.77")
    words = _argv(real_misp.url, real_misp, tmp_path / "spool", agent, data)
    assert _run(words) == 0
    assert _run(words) == 0  # the same attack again: a sighting, not a second event

    [event] = _events_of(real_misp, agent)
    ips = [a for a in event["Attribute"] if a["type"] == "ip-src"]
    assert [a["value"] for a in ips] == ["198.51.100.77"] and ips[0]["to_ids"] is True
    texts = [a for a in event["Attribute"] if a["type"] == "text"]
    assert texts and texts[0]["value"] == data
    tags = {t["name"] for t in event.get("Tag", [])}
    assert 'misp-galaxy:mitre-attack-pattern="Password Guessing - T1110.001"' in tags
    assert event["threat_level_id"] == "2"
    assert len(_sightings(real_misp, event)) == 1
    assert not list((tmp_path / "spool").glob("*.json"))  # nothing left waiting


def test_an_outage_keeps_the_alert_and_a_flush_sends_it(
    real_misp: RealMisp, relay: Relay, tmp_path: Path
) -> None:
    agent = _agent()
    url = f"https://127.0.0.1:{relay.port}"
    spool = tmp_path / "spool"
    relay.down = True
    assert _run(_argv(url, real_misp, spool, agent, SSHD.format(agent=agent, ip="198.51.100.78"))) == 1
    assert len(list(spool.glob("*.json"))) == 1
    relay.down = False
    flush = ["-u", url, "-k", real_misp.key, "--spool-dir", str(spool), "--flush-spool"]
    assert _run(flush + (["--ca-bundle", real_misp.ca] if isinstance(real_misp.ca, str) else [])) == 0
    [event] = _events_of(real_misp, agent)
    assert [a["value"] for a in event["Attribute"] if a["type"] == "ip-src"] == ["198.51.100.78"]
    assert not list(spool.glob("*.json"))


def test_finding_9_repeats_during_an_outage_become_sightings(
    real_misp: RealMisp, relay: Relay, tmp_path: Path
) -> None:
    agent = _agent()
    url = f"https://127.0.0.1:{relay.port}"
    spool = tmp_path / "spool"
    relay.down = True
    for _ in range(3):
        assert _run(_argv(url, real_misp, spool, agent, SSHD.format(agent=agent, ip="198.51.100.79"))) == 1
    relay.down = False
    flush = ["-u", url, "-k", real_misp.key, "--spool-dir", str(spool), "--flush-spool"]
    assert _run(flush + (["--ca-bundle", real_misp.ca] if isinstance(real_misp.ca, str) else [])) == 0
    [event] = _events_of(real_misp, agent)
    assert len(_sightings(real_misp, event)) == 2


def test_finding_6_a_4_byte_character_in_name_and_data(real_misp: RealMisp, tmp_path: Path) -> None:
    """utf8mb3: an emoji in the event info is a 500 (and in a comment, a half-saved event)."""
    agent = _agent()
    data = SSHD.format(agent=agent, ip="198.51.100.80") + " \U0001f525 C:\\temp"
    words = _argv(real_misp.url, real_misp, tmp_path / "spool", agent, data)
    words[words.index("SSH brute force")] = "\U0001f525 SSH brute force"
    assert _run(words) == 0
    [event] = _events_of(real_misp, agent)
    assert event["info"].startswith("Pandora FMS: \\U0001f525 SSH brute force on ")
    [text] = [a for a in event["Attribute"] if a["type"] == "text"]
    assert text["value"].endswith("\\U0001f525 C:\\\\temp")  # reversible: the backslash doubled


def test_finding_7_90_kb_of_data_keeps_its_raw_text(real_misp: RealMisp, tmp_path: Path) -> None:
    """A real MISP drops a value over 65,535 bytes and still answers 200."""
    agent = _agent()
    data = SSHD.format(agent=agent, ip="198.51.100.81") + " " + "\u00e9" * 45_000  # 90 KB in UTF-8
    assert _run(_argv(real_misp.url, real_misp, tmp_path / "spool", agent, data)) == 0
    [event] = _events_of(real_misp, agent)
    [text] = [a for a in event["Attribute"] if a["type"] == "text"]
    assert len(text["value"].encode("utf-8")) <= 65_535
    assert text["value"].endswith("more bytes of the alert were not kept]")


def test_finding_11_a_deleted_events_repeat_goes_to_failed(real_misp: RealMisp, tmp_path: Path) -> None:
    """Deleting an event blocklists its uuid: the repeat is kept in failed/ and explained once."""
    agent = _agent()
    spool = tmp_path / "spool"
    words = _argv(real_misp.url, real_misp, spool, agent, SSHD.format(agent=agent, ip="198.51.100.82"))
    assert _run(words) == 0
    [event] = _events_of(real_misp, agent)
    client = real_misp.client()
    client.delete_event(event["uuid"])
    real_misp.created.remove(event["uuid"])
    try:
        assert _run(words) == 1
        assert _run(words) == 1
        failed = sorted((spool / "failed").glob("*.json"))
        assert len(failed) == 2
        assert "Event blocked by event blocklist" in json.loads(failed[0].read_text())["failed_reason"]
        log = (tmp_path / "pandora_to_misp.log").read_text()
        assert log.count("its uuid is on MISP's event blocklist") == 1
        assert not list(spool.glob("*.json"))
    finally:
        client.delete_event_blocklist(event["uuid"])  # leave the server as we found it
