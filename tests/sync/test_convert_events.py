"""Whole events: the seven shared MISP events, object flattening, event reports, a golden file.

Regenerate the golden file after a deliberate mapping change with:
    MISP_BRIDGE_REGEN_GOLDEN=1 .venv/bin/python -m pytest -q tests/test_events_flatten.py
and review the diff before committing it.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from misp_bridge.sync.convert import ConvertOptions, Skip, convert_event, events
from misp_bridge.sync.indicator import Indicator
from tests.conftest import MISP_EVENTS
from tests.sync.test_convert_mapping import assert_valid_stix

GOLDEN = Path(__file__).resolve().parent / "golden" / "xorist_ransomware.stix.json"
NOW = datetime(2024, 1, 1, tzinfo=timezone.utc)
# current_date start keeps 2016 indicators alive at NOW so every attribute reaches the builder.
LIVE = ConvertOptions(misp_domain="https://misp.example", days_to_expire_start="current_date")


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((MISP_EVENTS / name).read_text(encoding="utf-8"))
    return data


def tally(results: list[Indicator | Skip]) -> dict[str, int]:
    return dict(Counter("indicator" if isinstance(r, Indicator) else r.reason for r in results))


EXPECTED = {
    "HTML_event.json": {"indicator": 4, "not to_ids": 8, "type not accepted": 1},
    "galaxy_1.json": {"indicator": 4, "not to_ids": 6},
    "long_event.json": {"indicator": 257, "not to_ids": 112, "type not accepted": 1},
    "mainly_objects_1.json": {"indicator": 21, "not to_ids": 53},
    "sighting_1.json": {"indicator": 5},
    "to_delete1.json": {"indicator": 54, "not to_ids": 21},
    "xorist_ransomware.json": {"indicator": 5, "not to_ids": 4},
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shared_events_convert_with_counts_by_reason(name: str) -> None:
    results = list(convert_event(load(name), LIVE, NOW))
    assert tally(results) == EXPECTED[name]
    indicators = [r for r in results if isinstance(r, Indicator)]
    assert len({i.stix_id for i in indicators}) == len(indicators)
    for indicator in indicators:
        assert_valid_stix(indicator.body)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shared_events_expire_with_default_start(name: str) -> None:
    # valid_from + 50 days is long past in 2024: every convertible attribute is counted as expired.
    results = list(convert_event(load(name), ConvertOptions(misp_domain="https://m"), NOW))
    counts = tally(results)
    assert "indicator" not in counts
    assert counts.get("expired", 0) == EXPECTED[name]["indicator"]


def test_inner_event_dict_is_accepted() -> None:
    wrapped = list(convert_event(load("xorist_ransomware.json"), LIVE, NOW))
    inner = list(convert_event(load("xorist_ransomware.json")["Event"], LIVE, NOW))
    assert wrapped == inner


def test_object_attributes_are_flattened_with_a_note() -> None:
    results = [r for r in convert_event(load("mainly_objects_1.json"), LIVE, NOW) if isinstance(r, Indicator)]
    notes = Counter(r.body["description"].split(" - ")[0] for r in results)
    assert notes["(was part of pe-section object)"] == 8
    assert notes["(was part of pe object)"] == 4
    assert notes["(was part of file object)"] == 9


def test_flattening_off_keeps_only_event_attributes() -> None:
    options = ConvertOptions(
        misp_domain="https://m", days_to_expire_start="current_date", flatten_attributes=False
    )
    assert list(convert_event(load("mainly_objects_1.json"), options, NOW)) == []
    galaxy = list(convert_event(load("galaxy_1.json"), options, NOW))
    assert len(galaxy) == len(load("galaxy_1.json")["Event"]["Attribute"])


def test_deleted_object_skips_its_attributes() -> None:
    data = load("mainly_objects_1.json")
    for misp_object in data["Event"]["Object"]:
        misp_object["deleted"] = True
    assert tally(list(convert_event(data, LIVE, NOW))) == {"deleted": 74}


def test_event_reports_are_removed() -> None:
    data = load("xorist_ransomware.json")
    data["Event"]["EventReport"] = [{"uuid": "r", "name": "report", "content": "x" * 1000}]
    assert "EventReport" not in events.prepare(data, remove_eventreports=True)
    assert "EventReport" in data["Event"]  # the caller's event is left as it was
    assert "EventReport" in events.prepare(data, remove_eventreports=False)
    assert tally(list(convert_event(data, LIVE, NOW))) == EXPECTED["xorist_ransomware.json"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (True, True),
        (False, False),
        (1, True),
        (0, False),
        ("1", True),
        ("0", False),
        ("true", True),
        (None, False),
    ],
    ids=repr,
)
def test_flag_values(raw: Any, expected: bool) -> None:
    assert events.flag(raw) is expected


def test_golden_xorist() -> None:
    now = datetime(2016, 9, 1, tzinfo=timezone.utc)
    options = ConvertOptions(misp_domain="https://misp.example")
    results = list(convert_event(load("xorist_ransomware.json"), options, now))
    produced = {
        "indicators": [dict(r.body) for r in results if isinstance(r, Indicator)],
        "skipped": [[r.attribute_uuid, r.misp_type, r.reason] for r in results if isinstance(r, Skip)],
    }
    text = json.dumps(produced, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    if os.environ.get("MISP_BRIDGE_REGEN_GOLDEN"):
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8")
