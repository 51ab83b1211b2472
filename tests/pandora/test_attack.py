"""The packaged ATT&CK table and the exact galaxy tags built from it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from misp_bridge.errors import AttackDataError, BridgeError, UnknownTechnique
from misp_bridge.pandora.triage import attack
from misp_bridge.pandora.triage.attack import Technique, current_id, galaxy_tag, load_techniques

PACKAGE_DIR = Path(attack.__file__).resolve().parent


def test_packaged_table_has_every_galaxy_entry() -> None:
    table = load_techniques()
    assert len(table) == 1222
    assert all(isinstance(t, Technique) and t.id == tid for tid, t in table.items())


def test_table_is_cached_and_read_only() -> None:
    table = load_techniques()
    assert load_techniques() is table
    with pytest.raises(TypeError):
        table["T0000"] = table["T1110"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("technique_id", "tag"),
    [
        pytest.param(
            "T1110.001",
            'misp-galaxy:mitre-attack-pattern="Password Guessing - T1110.001"',
            id="sub-technique",
        ),
        pytest.param("T1110", 'misp-galaxy:mitre-attack-pattern="Brute Force - T1110"', id="technique"),
        pytest.param(
            "T1003.008",
            'misp-galaxy:mitre-attack-pattern="/etc/passwd and /etc/shadow - T1003.008"',
            id="name-with-slashes",
        ),
        pytest.param(
            "T1685.005",
            'misp-galaxy:mitre-attack-pattern="Clear Windows Event Logs - T1685.005"',
            id="v19-replacement",
        ),
    ],
)
def test_galaxy_tag_is_exact(technique_id: str, tag: str) -> None:
    assert galaxy_tag(technique_id) == tag
    assert load_techniques()[technique_id].galaxy_tag == tag


def test_revoked_technique_keeps_its_tag_and_flag() -> None:
    old = load_techniques()["T1070.001"]
    assert old.revoked is True
    assert old.deprecated is False
    assert old.tactics == ("stealth",)
    assert old.galaxy_tag == 'misp-galaxy:mitre-attack-pattern="Clear Windows Event Logs - T1070.001"'
    assert load_techniques()["T1685.005"].revoked is False


@pytest.mark.parametrize("bad_id", ["T9999", "t1110", "T1110.1", "", "Brute Force"])
def test_unknown_id_raises_a_clear_sentence(bad_id: str) -> None:
    with pytest.raises(UnknownTechnique) as caught:
        galaxy_tag(bad_id)
    assert isinstance(caught.value, BridgeError)
    assert caught.value.technique_id == bad_id
    assert str(caught.value) == (
        f"ATT&CK technique {bad_id!r} is not in techniques.json; "
        "use an id from the MISP mitre-attack-pattern galaxy such as 'T1110.001'."
    )


def test_notice_travels_with_the_table() -> None:
    notice = (PACKAGE_DIR / "NOTICE.md").read_text(encoding="utf-8")
    assert (PACKAGE_DIR / "techniques.json").is_file()
    assert "The MITRE Corporation" in notice
    assert "reproduce" in notice and "MITRE's copyright designation" in notice


def test_packaged_copy_matches_its_meta_count() -> None:
    document = json.loads((PACKAGE_DIR / "techniques.json").read_text(encoding="utf-8"))
    assert document["meta"]["count"] == len(document["techniques"]) == 1222
    assert document["meta"]["cluster_version"] == 36


def test_other_table_path_is_read(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(
        json.dumps({"techniques": {"T1000": {"name": "Example", "tactics": ["impact"], "revoked": True}}}),
        encoding="utf-8",
    )
    table = load_techniques(path)
    assert table == {"T1000": Technique("T1000", "Example", ("impact",), True, False)}


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        pytest.param("{not json", "is not valid JSON", id="bad-json"),
        pytest.param('{"meta": {}}', 'has no "techniques" object', id="no-techniques"),
        pytest.param(
            '{"techniques": {"X1": {"name": "n", "tactics": []}}}',
            "entry 'X1' is not a technique id with an object",
            id="bad-id",
        ),
        pytest.param(
            '{"techniques": {"T1000": {"tactics": []}}}',
            "entry 'T1000' needs a name and a list of tactics",
            id="no-name",
        ),
    ],
)
def test_broken_table_is_reported(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "broken.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(AttackDataError) as caught:
        load_techniques(path)
    assert str(caught.value).startswith(f"{path.resolve()}: {problem}")
    assert str(caught.value).endswith(".")


@pytest.mark.parametrize(
    ("given", "now"),
    [
        pytest.param("T1070.001", "T1685.005", id="revoked-to-replacement"),
        pytest.param("T1562.001", "T1685", id="revoked-sub-to-new-parent"),
        pytest.param("T1110.001", "T1110.001", id="current-stays"),
        pytest.param("T9999", "T9999", id="unknown-stays"),
    ],
)
def test_current_id_follows_the_galaxy_revocations(given: str, now: str) -> None:
    assert current_id(given) == now


def test_every_revocation_points_at_a_known_current_technique() -> None:
    table = load_techniques()
    revoked = [t for t in table.values() if t.revoked_by]
    assert len(revoked) > 150
    assert all(not table[current_id(t.id)].revoked for t in revoked)
