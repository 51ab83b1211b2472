"""Times from MISP and Sentinel read alike on every supported Python (misp_bridge/sync/convert/times.py)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from misp_bridge.sync.convert.times import parse_iso, parse_time, stix_time
from misp_bridge.sync.state.codec import to_epoch


@pytest.mark.parametrize("digits", range(0, 10))
def test_times_with_any_fraction_length_parse_on_every_python(digits: int) -> None:
    """Finding 2: Sentinel writes up to 7 fraction digits with trailing zeros trimmed; Python 3.10's
    fromisoformat takes only none, 3 or 6 (and no "Z")."""
    fraction = "123456789"[:digits]
    text = "2020-04-15T20:11:57" + (f".{fraction}" if digits else "") + "Z"
    expected = datetime(2020, 4, 15, 20, 11, 57, int((fraction + "000000")[:6]), tzinfo=timezone.utc)
    assert parse_iso(text) == expected
    assert parse_time(text) == expected
    assert to_epoch(text) == expected.timestamp()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-11-01T10:00:00.000000+00:00", datetime(2023, 11, 1, 10, tzinfo=timezone.utc)),
        ("2023-11-01T12:00:00+0200", datetime(2023, 11, 1, 10, tzinfo=timezone.utc)),
        ("2023-11-01 10:00:00", datetime(2023, 11, 1, 10, tzinfo=timezone.utc)),
        ("2023-11-01T10:00Z", datetime(2023, 11, 1, 10, tzinfo=timezone.utc)),
        ("2023-11-01", datetime(2023, 11, 1, tzinfo=timezone.utc)),
        ("2023-13-01T10:00:00Z", None),
        ("yesterday", None),
        ("2023-11-01T10:00:00Zjunk", None),
    ],
)
def test_other_iso_forms(text: str, expected: datetime | None) -> None:
    assert parse_iso(text) == expected


def test_hostile_epochs_are_not_times() -> None:
    assert parse_time("9" * 5000) is None
    assert parse_time(10**30) is None


def test_stix_time_keeps_what_the_moment_holds() -> None:
    assert (
        stix_time(datetime(2020, 4, 15, 20, 11, 57, 70000, tzinfo=timezone.utc)) == "2020-04-15T20:11:57.070Z"
    )
    assert stix_time(datetime(2020, 4, 15, 20, 11, 57, 966613, tzinfo=timezone.utc)) == (
        "2020-04-15T20:11:57.966613Z"
    )
