"""Property tests: escaping round-trips through the STIX pattern grammar, and ids are deterministic."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stix2patterns.validator import validate

from misp_bridge.sync.convert import convert_attribute, pattern_for
from misp_bridge.sync.indicator import Indicator
from tests.sync.test_convert_mapping import NOW, OPTIONS, attribute, comparisons, event

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(st.text())
def test_any_domain_value_parses_back_to_itself(value: str) -> None:
    parts = pattern_for("domain", value)
    assert parts is not None
    ((pattern, note),) = parts
    assert note == ""
    assert validate(pattern, stix_version="2.1", print_errs=False)
    assert comparisons(pattern) == [("domain-name", "value", value)]


@FAST
@given(st.text(alphabet=st.sampled_from("ab\\'| \"%")))
def test_quote_and_backslash_heavy_values_round_trip(value: str) -> None:
    ((pattern, _note),) = pattern_for("url", value) or []
    assert validate(pattern, stix_version="2.1", print_errs=False)
    assert comparisons(pattern) == [("url", "value", value)]


@FAST
@given(
    value=st.text(min_size=1).filter(str.strip),
    raw_uuid=st.one_of(st.uuids().map(str), st.text(max_size=40)),
)
def test_ids_are_deterministic(value: str, raw_uuid: str) -> None:
    attr = attribute("domain", value, uuid=raw_uuid)
    first = convert_attribute(attr, event(), OPTIONS, NOW)
    second = convert_attribute(dict(attr), event(), OPTIONS, NOW)
    assert isinstance(first, list)
    assert isinstance(second, list)
    assert [i.stix_id for i in first] == [i.stix_id for i in second]
    assert [i.content_hash for i in first] == [i.content_hash for i in second]
    assert all(isinstance(i, Indicator) and i.stix_id.startswith("indicator--") for i in first)


@FAST
@given(st.ip_addresses(), st.text(min_size=1, alphabet="abcdefghijklmnopqrstuvwxyz.-"))
def test_split_domain_ip_ids_are_distinct_and_stable(address: object, domain: str) -> None:
    attr = attribute("domain|ip", f"{domain}|{address}")
    first = convert_attribute(attr, event(), OPTIONS, NOW)
    again = convert_attribute(attr, event(), OPTIONS, NOW)
    assert isinstance(first, list)
    assert isinstance(again, list)
    assert len({i.stix_id for i in first}) == 2
    assert [i.stix_id for i in first] == [i.stix_id for i in again]
