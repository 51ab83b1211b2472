"""The plugin end to end: main(argv) in-process, real PyMISP over HTTPS to the MISP sandbox."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from misp_bridge.cli import Environment
from misp_bridge.pandora.cli import main
from tests.fixtures.misp import MispSandbox

SSHD = (
    "Oct 11 22:14:15 web1 sshd[4242]: "
    "Failed password for invalid user admin from 203.0.113.77 port 52144 ssh2"
)
C2 = "Cobalt Strike beacon detected: outbound connection src=10.1.2.3 dst=198.51.100.23 dpt=443"
SUDO = (
    "Oct 11 22:14:15 web1 sudo: alice : user NOT in sudoers ; TTY=pts/0 ; PWD=/home/alice ; COMMAND=/bin/bash"
)
SSH_TAGS = [
    'misp-galaxy:mitre-attack-pattern="Brute Force - T1110"',
    'misp-galaxy:mitre-attack-pattern="Password Guessing - T1110.001"',
]


def plugin(misp: MispSandbox, spool: Path, *extra: str, key: str | None = None) -> int:
    return main(["-u", misp.url, "-k", misp.key if key is None else key, "--spool-dir", str(spool),
                 "--ca-bundle", str(misp.ca_path), *extra])  # fmt: skip


def alert(misp: MispSandbox, spool: Path, data: str, *extra: str, name: str = "SSH brute force",
          agent: str = "web1", key: str | None = None) -> int:  # fmt: skip
    return plugin(misp, spool, "-a", agent, "-n", name, "-d", data, *extra, key=key)


def tag_names(item: dict[str, Any]) -> list[str]:
    return [t["name"] for t in item.get("Tag", [])]


def by_type(event: dict[str, Any], attr_type: str) -> list[dict[str, Any]]:
    return [a for a in event["Attribute"] if a["type"] == attr_type]


def spooled(spool: Path) -> list[Path]:
    return sorted(spool.glob("*.json"))


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    return tmp_path / "spool"


def test_sshd_alert_creates_a_triaged_event(misp: MispSandbox, spool: Path) -> None:
    assert alert(misp, spool, SSHD) == 0
    [event] = misp.app.events()
    assert event["info"] == "Pandora FMS: SSH brute force on web1 from 203.0.113.77"
    assert tag_names(event) == ["tlp:green", *SSH_TAGS]
    assert event["threat_level_id"] == "2"
    assert event["distribution"] == "0"
    assert event["analysis"] == "0"
    [ip] = by_type(event, "ip-src")
    assert (ip["value"], ip["category"], ip["to_ids"]) == ("203.0.113.77", "Network activity", True)
    [text] = by_type(event, "text")
    assert text["value"] == SSHD
    assert (text["to_ids"], text["category"]) == (False, "Other")
    assert spooled(spool) == []


def test_outbound_c2_alert_reports_the_destination(misp: MispSandbox, spool: Path) -> None:
    assert alert(misp, spool, C2, name="C2 beacon") == 0
    [event] = misp.app.events()
    assert [a["value"] for a in by_type(event, "ip-dst")] == ["198.51.100.23"]
    assert by_type(event, "ip-src") == []
    assert event["threat_level_id"] == "1"
    assert event["info"].endswith("to 198.51.100.23")


def test_local_alert_invents_no_attacker(misp: MispSandbox, spool: Path) -> None:
    assert alert(misp, spool, SUDO, name="sudo abuse") == 0
    [event] = misp.app.events()
    assert [a["type"] for a in event["Attribute"]] == ["text"]
    assert tag_names(event) == [
        "tlp:green",
        'misp-galaxy:mitre-attack-pattern="Sudo and Sudo Caching - T1548.003"',
        'misp-galaxy:mitre-attack-pattern="Exploitation for Privilege Escalation - T1068"',
    ]
    assert event["info"] == "Pandora FMS: sudo abuse on web1"


def test_overrides_win_over_triage(misp: MispSandbox, spool: Path) -> None:
    # Pandora pastes _field6_ unquoted, so the options arrive word-split.
    field6 = [
        "-t",
        "tlp:red",
        "-s",
        "1",
        "-l",
        "1",
        "-c",
        "External analysis",
        "-g",
        "SOC-Team, Critical-Alert",
    ]
    assert alert(misp, spool, SSHD, *field6) == 0
    [event] = misp.app.events()
    assert tag_names(event) == ["tlp:red", *SSH_TAGS, "SOC-Team", "Critical-Alert"]
    assert (event["threat_level_id"], event["distribution"]) == ("1", "1")
    assert by_type(event, "ip-src")[0]["category"] == "External analysis"


def test_repeated_alert_adds_a_sighting(misp: MispSandbox, spool: Path) -> None:
    assert alert(misp, spool, SSHD) == 0
    assert alert(misp, spool, SSHD) == 0
    assert alert(misp, spool, SSHD) == 0
    [event] = misp.app.events()
    ip_uuid = by_type(event, "ip-src")[0]["uuid"]
    sightings = misp.app.sightings()
    assert len(sightings) == 2
    assert {s["attribute_uuid"] for s in sightings} == {ip_uuid}


def test_dedup_zero_creates_an_event_per_alert(misp: MispSandbox, spool: Path) -> None:
    assert alert(misp, spool, SSHD, "--dedup-hours", "0") == 0
    assert alert(misp, spool, SSHD, "--dedup-hours", "0") == 0
    assert len(misp.app.events()) == 2
    assert misp.app.sightings() == []


def test_down_spools_without_the_key_then_replays_exactly_once(misp: MispSandbox, spool: Path) -> None:
    misp.app.faults.down = True
    assert alert(misp, spool, SSHD) == 1
    [path] = spooled(spool)
    assert misp.key not in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    record = json.loads(path.read_text())
    assert record["misp_url"] == misp.url and record["alert"]["data"] == SSHD
    misp.app.faults.down = False
    assert plugin(misp, spool, "--flush-spool") == 0
    assert spooled(spool) == []
    [event] = misp.app.events()
    assert record["record_id"] in by_type(event, "text")[0]["comment"]
    assert plugin(misp, spool, "--flush-spool") == 0
    assert len(misp.app.events()) == 1


def test_next_alert_replays_the_spool_first(misp: MispSandbox, spool: Path) -> None:
    misp.app.faults.down = True
    assert alert(misp, spool, SSHD) == 1
    misp.app.faults.down = False
    assert alert(misp, spool, C2, name="C2 beacon") == 0
    infos = sorted(e["info"] for e in misp.app.events())
    assert infos == [
        "Pandora FMS: C2 beacon on web1 to 198.51.100.23",
        "Pandora FMS: SSH brute force on web1 from 203.0.113.77",
    ]
    assert spooled(spool) == []


@pytest.mark.parametrize("dedup", ["0", "24"], ids=["dedup-off", "dedup-on"])
def test_lost_reply_is_not_duplicated(misp: MispSandbox, spool: Path, dedup: str) -> None:
    """events/add reached MISP but its reply was lost: the replay finds the event it made (by the kept
    alert's id) and adds neither a second event nor a sighting."""
    misp.app.faults.only = r"^/events/add"
    misp.app.faults.lost = 1
    assert alert(misp, spool, SSHD, "--dedup-hours", dedup) == 1
    assert len(misp.app.events()) == 1 and len(spooled(spool)) == 1
    assert plugin(misp, spool, "--flush-spool", "--dedup-hours", dedup) == 0
    assert len(misp.app.events()) == 1
    assert misp.app.sightings() == []
    assert spooled(spool) == []


@pytest.mark.parametrize(
    "disturb",
    [
        pytest.param(lambda app: app.faults.statuses.extend([500] * 5), id="5xx"),
        pytest.param(lambda app: setattr(app.faults, "html", 5), id="html-instead-of-json"),
        pytest.param(lambda app: setattr(app.faults, "down", True), id="down"),
    ],
)
def test_unusable_misp_spools(misp: MispSandbox, spool: Path, disturb: Callable[[Any], None]) -> None:
    disturb(misp.app)
    assert alert(misp, spool, SSHD) == 1
    assert len(spooled(spool)) == 1
    assert misp.app.events() == []


def test_refused_key_spools_and_says_so_without_the_key(
    misp: MispSandbox, spool: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = "wrong-key-0123456789abcdef0123456789abcdef"
    assert alert(misp, spool, SSHD, key=wrong) == 1
    err = capsys.readouterr().err
    assert "refused the API key" in err
    assert wrong not in err
    [path] = spooled(spool)
    assert wrong not in path.read_text()
    log = (spool.parent / "pandora_to_misp.log").read_text()
    assert "refused the API key" in log and wrong not in log


def test_key_from_environment(misp: MispSandbox, spool: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MISP_KEY", misp.key)
    assert alert(misp, spool, SSHD, key="") == 0
    assert len(misp.app.events()) == 1


def test_recovery_creates_nothing(misp: MispSandbox, spool: Path) -> None:
    """Pandora prefixes [RECOVER] to fields 2-20: key, agent, alert name and data all carry it."""
    before = len(misp.app.requests)
    code = alert(misp, spool, f"[RECOVER]{SSHD}", "[RECOVER]-t", "tlp:red", key=f"[RECOVER]{misp.key}",
                 agent="[RECOVER]web1", name="[RECOVER]SSH brute force")  # fmt: skip
    assert code == 0
    assert len(misp.app.requests) == before
    assert spooled(spool) == []


def test_without_tag_editor_unknown_galaxy_tags_are_skipped(
    misp_factory: Callable[..., MispSandbox], spool: Path
) -> None:
    misp = misp_factory(perm_tag_editor=False, known_tags=["tlp:green"])
    assert alert(misp, spool, SSHD) == 0
    [event] = misp.app.events()
    assert tag_names(event) == ["tlp:green"]
    assert len(by_type(event, "ip-src")) == 1


def test_key_never_in_log_or_stderr(
    misp: MispSandbox, spool: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    misp.app.faults.down = True
    assert alert(misp, spool, SSHD) == 1
    misp.app.faults.down = False
    assert alert(misp, spool, SSHD) == 0
    log = (spool.parent / "pandora_to_misp.log").read_text()
    assert "the alert was kept in" in log and "1 replayed" in log
    assert misp.key not in log
    assert misp.key not in capsys.readouterr().err


def test_refused_spooled_event_moves_to_failed(misp: MispSandbox, spool: Path) -> None:
    misp.app.faults.down = True
    assert alert(misp, spool, SSHD) == 1
    [path] = spooled(spool)
    record = json.loads(path.read_text())
    # An earlier version's record (a built event) that MISP refuses for good (403 "Could not add Event").
    record["alert"] = None
    record["event"] = {"uuid": "3f0c6c1e-8d1f-4b5e-9a52-4c1f0e2d7a10", "info": "", "Attribute": []}
    path.write_text(json.dumps(record))
    misp.app.faults.down = False
    assert plugin(misp, spool, "--flush-spool") == 0
    assert spooled(spool) == []
    [failed] = sorted((spool / "failed").glob("*.json"))
    assert "Could not add Event" in json.loads(failed.read_text())["failed_reason"]
    assert misp.app.events() == []


@pytest.mark.parametrize(
    ("offset", "later", "events", "sightings"),
    [
        pytest.param(3540, 120, 1, 1, id="previous-window-within-an-hour"),
        pytest.param(10, 3650, 2, 0, id="previous-window-but-older-than-an-hour"),
    ],
)
def test_twin_in_the_previous_window(
    misp_factory: Callable[..., MispSandbox],
    spool: Path,
    offset: float,
    later: float,
    events: int,
    sightings: int,
) -> None:
    # The second alert always falls in the next hour bucket; only the age decides.
    now = [1_700_000_000.0 // 3600 * 3600 + offset]
    misp = misp_factory(clock=lambda: now[0])
    argv = ["-u", misp.url, "-k", misp.key, "--spool-dir", str(spool), "--ca-bundle", str(misp.ca_path),
            "-a", "web1", "-n", "SSH brute force", "-d", SSHD, "--dedup-hours", "1"]  # fmt: skip
    assert main(argv, env=Environment(env={}, clock=lambda: now[0])) == 0
    now[0] += later
    assert main(argv, env=Environment(env={}, clock=lambda: now[0])) == 0
    assert len(misp.app.events()) == events
    assert len(misp.app.sightings()) == sightings
