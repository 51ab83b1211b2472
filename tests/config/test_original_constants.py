"""The original misp2sentinel's constants.py, in every shape it has had, read beside its config.py (item 1).

Each file in tests/data/misp2sentinel/ (verbatim copies, provenance in its README) is loaded beside a
config.py in the original's shape (tests/data/configs/original/config.py); the settings that come out
are checked against what the file itself says, read with runpy here, plus fixed facts about the files.
"""

from __future__ import annotations

import runpy
import shutil
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from misp_bridge.config import Issue, Settings, inspect_config
from misp_bridge.config.defaults import BUILTIN_CONSTANTS
from misp_bridge.sync.convert import Skip, convert_event, options_from_settings
from misp_bridge.sync.indicator import Indicator

TESTS = Path(__file__).resolve().parents[1]
ORIGINAL = TESTS / "data" / "misp2sentinel"
ORIGINAL_CONFIG = TESTS / "data" / "configs" / "original" / "config.py"
FILES = sorted(ORIGINAL.glob("*-constants.py"))
CURRENT = ORIGINAL / "683f8172549a13e89ddeb71266f0aeb38abc7632-constants.py"
GRAPH_ERA = ORIGINAL / "030fdb02710b689dd01339a5b24d9fcd85336185-constants.py"
AZURE_FUNCTION = ORIGINAL / "683f8172549a13e89ddeb71266f0aeb38abc7632-AzureFunction-constants.py"
TLP_WHITE_ERA = ORIGINAL / "ffde3d9b132c33929e28675ca4abc7b22f96558c-constants.py"
EVALUATED = 'misp:confidence-level="confidence-cannot-be-evaluated"'


def load(tmp_path: Path, constants: Path) -> tuple[Settings, list[Issue]]:
    shutil.copy(ORIGINAL_CONFIG, tmp_path / "config.py")
    (tmp_path / "config.py").chmod(0o600)
    shutil.copy(constants, tmp_path / "constants.py")
    settings, issues = inspect_config(tmp_path / "config.py", env={})
    assert settings is not None, [str(i) for i in issues]
    return settings, issues


def test_every_shape_is_in_the_data() -> None:
    assert len(FILES) == 11
    assert (ORIGINAL / "LICENSE-misp2sentinel-MIT.txt").is_file()


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name[:7] + ("-az" if "Azure" in p.name else ""))
def test_each_original_constants_file_reads_as_it_says(tmp_path: Path, path: Path) -> None:
    settings, issues = load(tmp_path, path)
    # Nothing about constants.py: every table and name of every version is known.
    assert [str(i) for i in issues] == [
        "config.py: misp_verifycert is False: TLS certificates are not checked"
    ]
    raw: dict[str, Any] = runpy.run_path(str(path))
    assert settings.constants_path == tmp_path / "constants.py"

    listed = raw.get("UPLOAD_INDICATOR_MISP_ACCEPTED_TYPES", raw["MISP_ACTIONABLE_TYPES"])
    custom = frozenset(raw.get("MISP_CUSTOM_ATTRIBUTE", ()))
    assert settings.misp_custom_attribute == custom
    assert settings.upload_indicator_misp_accepted_types == frozenset(listed) | custom

    if "MISP_CONFIDENCE" in raw:
        prefix, matches = raw["MISP_CONFIDENCE"]["prefix"], raw["MISP_CONFIDENCE"]["matches"]
        for value, level in matches.items():
            assert settings.misp_confidence[f'{prefix}="{value}"'] == level
        assert settings.misp_confidence[EVALUATED] == matches["confidence-cannot-be-evalued"]
    else:
        assert dict(settings.misp_confidence) == BUILTIN_CONSTANTS["MISP_CONFIDENCE"]

    for name, field in (
        ("MISP_TAGS_IGNORE", "misp_tags_ignore"),
        ("MISP_ALLOWED_TAXONOMIES", "misp_allowed_taxonomies"),
        ("SENTINEL_DEFAULT_THREATTYPE", "sentinel_default_threattype"),
        ("SENTINEL_DEFAULT_TLP", "sentinel_default_tlp"),
        ("TLP_MARKING_OBJECT_DEFINITION", "tlp_marking_object_definition"),
    ):
        want = raw.get(name, BUILTIN_CONSTANTS[name])
        got = getattr(settings, field)
        assert (tuple(got) if isinstance(got, tuple) else dict(got) if name.startswith("TLP") else got) == (
            tuple(want) if isinstance(want, (list, tuple)) else want
        ), name
    kill_chain = raw.get("KILL_CHAIN_MARKING_OBJECT_DEFINITION")
    assert settings.kill_chain_phases == (None if kill_chain is None else frozenset(kill_chain))
    assert settings.parsed_indicators_file == raw.get("PARSED_INDICATORS_FILE_NAME", "parsed_indicators.txt")


def test_the_current_file_in_particular(tmp_path: Path) -> None:
    settings, _ = load(tmp_path, CURRENT)
    assert settings.misp_confidence[EVALUATED] == 50
    assert settings.misp_confidence['misp:confidence-level="usually-confident"'] == 75
    assert {"port", "published", "uuid", "iban", "url"} <= settings.upload_indicator_misp_accepted_types
    assert settings.sentinel_default_tlp == "tlp:clear"
    assert settings.kill_chain_phases is not None and "Command and Control" in settings.kill_chain_phases


def test_older_files(tmp_path: Path) -> None:
    for name in "abc":
        (tmp_path / name).mkdir()
    graph, _ = load(tmp_path / "a", GRAPH_ERA)
    # 2022: the Graph API era listed its types as MISP_ACTIONABLE_TYPES, and had no custom type.
    assert "ip-dst" in graph.upload_indicator_misp_accepted_types
    assert "x509-fingerprint-sha1" not in graph.upload_indicator_misp_accepted_types  # ours only
    assert "iban" not in graph.upload_indicator_misp_accepted_types
    assert graph.misp_custom_attribute == frozenset()
    white, _ = load(tmp_path / "b", TLP_WHITE_ERA)
    assert white.sentinel_default_tlp == "tlp:white"
    function, _ = load(tmp_path / "c", AZURE_FUNCTION)
    assert function.parsed_indicators_file == "/tmp/parsed_indicators.txt"


WRONG = [
    ("MISP_THREATLEVEL = ['High']",
     "constants.py: MISP_THREATLEVEL must be a dict of number -> name, got list"),
    ("MISP_ANALYSIS = {'0': 'Initial'}",
     "constants.py: MISP_ANALYSIS['0'] must map a number to a name, got str -> str"),
    ("MISP_CONFIDENCE = {'prefix': 'misp:confidence-level', 'matches': {'x': 120}}",
     "constants.py: MISP_CONFIDENCE['matches']['x'] must be 0..100, got 120"),
    ("MISP_CONFIDENCE = {'prefix': '', 'matches': {}}",
     "constants.py: MISP_CONFIDENCE['prefix'] must be a tag prefix such as 'misp:confidence-level'"),
    ("KILL_CHAIN_MARKING_OBJECT_DEFINITION = {'Delivery': 1}",
     "constants.py: KILL_CHAIN_MARKING_OBJECT_DEFINITION['Delivery'] must map text to text"),
]  # fmt: skip


@pytest.mark.parametrize(("snippet", "sentence"), WRONG, ids=[w[0].split(" ")[0] for w in WRONG])
def test_the_original_tables_are_checked_for_shape(tmp_path: Path, snippet: str, sentence: str) -> None:
    shutil.copy(ORIGINAL_CONFIG, tmp_path / "config.py")
    (tmp_path / "config.py").chmod(0o600)
    (tmp_path / "constants.py").write_text(snippet + "\n", encoding="utf-8")
    _, issues = inspect_config(tmp_path / "config.py", env={})
    assert sentence in [str(i) for i in issues]


def _tag(name: str) -> dict[str, Any]:
    return {"name": name, "local": 0}


def _attribute(uuid: str, kind: str, value: str, tags: list[str]) -> dict[str, Any]:
    return {
        "uuid": uuid,
        "type": kind,
        "value": value,
        "to_ids": True,
        "timestamp": "1700000000",
        "Tag": [_tag(t) for t in tags],
    }


def test_the_current_file_converts_as_the_original_meant(tmp_path: Path) -> None:
    settings, _ = load(tmp_path, CURRENT)
    event = {
        "Event": {
            "uuid": "5b0e3b2c-7d0e-4a4c-9f52-2f0d1c7e9a10",
            "info": "original constants",
            "timestamp": "1700000000",
            "Tag": [_tag("Threat-Report: Q4"), _tag('misp:to_ids="True"'), _tag('workflow:state="complete"')],
            "Attribute": [
                _attribute(
                    "8d6f9a34-3c2b-4f7e-9a51-0b2c4d6e8f01",
                    "ip-dst",
                    "198.51.100.7",
                    [EVALUATED, "kill-chain:Delivery", "kill-chain:Lunch", "TLP:AMBER"],
                ),
                _attribute("1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f", "port", "4444", []),
                _attribute(
                    "2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f60", "uuid", "2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f60", []
                ),
            ],
        }
    }
    options = options_from_settings(settings)
    options = replace(options, default_confidence=80)
    # The original config's days_to_expire_mapping gives addresses one day from the attribute's time.
    results = list(convert_event(event, options, datetime(2023, 11, 15, tzinfo=timezone.utc)))
    (indicator,) = [r for r in results if isinstance(r, Indicator)]
    skips = {r.misp_type: r.reason for r in results if isinstance(r, Skip)}
    assert skips == {"port": "not an indicator type", "uuid": "not an indicator type"}
    body = indicator.body
    assert body["confidence"] == 50  # the taxonomy's spelling matched the original's misspelt key
    assert body["kill_chain_phases"] == [
        {"kill_chain_name": "lockheed-martin-cyber-kill-chain", "phase_name": "Delivery"}
    ]  # "Lunch" is no phase of the file's KILL_CHAIN_MARKING_OBJECT_DEFINITION
    assert body["object_marking_refs"] == [settings.tlp_marking_object_definition["tlp:amber"]]
    # The original's MISP_TAGS_IGNORE entries match anywhere in a tag, whatever its case ("TLP:AMBER",
    # "Threat-Report: Q4" and 'misp:to_ids="True"' go); this file does not list the property tags.
    assert body["labels"] == [
        EVALUATED,
        "kill-chain:Delivery",
        "kill-chain:Lunch",
        'workflow:state="complete"',
    ]
