"""Times as MISP and Sentinel send them and as STIX wants them (pure functions).

Sentinel's management API writes times .NET-style, with up to 7 fractional digits and trailing zeros
trimmed (`2020-04-15T20:11:57.9666134Z`, `...11.07Z`); MISP writes epoch seconds and ISO 8601 with 6.
Python 3.10's `datetime.fromisoformat` takes neither "Z" nor a fraction of other than 3 or 6 digits, so
`parse_iso` reads the parts itself and hands fromisoformat a form every supported Python accepts.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

ONE_MS = timedelta(milliseconds=1)

# date, time (seconds optional), fraction of any length, zone (Z, +hh:mm, +hhmm or none = UTC)
_ISO = re.compile(r"(\d{4}-\d\d-\d\d)[Tt ](\d\d:\d\d)(:\d\d)?(?:[.,](\d+))?\s*([Zz]|[+-]\d\d(?::?\d\d)?)?")

_DAY = re.compile(r"\d{4}-\d\d-\d\d")


def utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def parse_iso(text: str) -> datetime | None:
    """An ISO 8601 / RFC 3339 date-time with any fraction length and zone, in UTC; None when it is not
    one. Digits past the microsecond are cut (a datetime holds no more)."""
    match = _ISO.fullmatch(text.strip())
    if match is None:
        if _DAY.fullmatch(text.strip()):  # a bare date means its midnight, UTC
            return parse_iso(f"{text.strip()}T00:00:00Z")
        return None
    day, clock, seconds, fraction, zone = match.groups()
    micro = ((fraction or "") + "000000")[:6]
    if zone is None or zone in ("Z", "z"):
        offset = "+00:00"
    else:
        digits = zone[1:].replace(":", "").ljust(4, "0")
        offset = f"{zone[0]}{digits[:2]}:{digits[2:]}"
    try:
        return utc(datetime.fromisoformat(f"{day}T{clock}{seconds or ':00'}.{micro}{offset}"))
    except (ValueError, OverflowError):
        return None


def parse_time(value: Any) -> datetime | None:
    """MISP timestamps are epoch seconds (as text); first/last_seen and Sentinel's times are ISO 8601.
    None when unusable."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        if isinstance(value, (int, float)) or (isinstance(value, str) and value.strip().isdigit()):
            text = str(value).strip()
            if isinstance(value, str) and len(text) > 12:  # past year 33658: hostile, not a time
                return None
            return datetime.fromtimestamp(int(value), tz=timezone.utc)
        if isinstance(value, str):
            return parse_iso(value)
    except (ValueError, OverflowError, OSError):
        return None
    return None


@lru_cache(maxsize=4096)  # events share a handful of timestamps; formatting is a hot spot
def iso(moment: datetime) -> str:
    """STIX timestamp: UTC, millisecond precision, trailing Z."""
    moment = utc(moment)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def stix_time(moment: datetime) -> str:
    """A STIX timestamp that keeps what the moment holds: milliseconds when that is exact, else
    microseconds (STIX parsers take up to six digits; Sentinel's seventh is lost either way)."""
    moment = utc(moment)
    if moment.microsecond % 1000 == 0:
        return iso(moment)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond:06d}Z"


def truncate_ms(moment: datetime) -> datetime:
    moment = utc(moment)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
