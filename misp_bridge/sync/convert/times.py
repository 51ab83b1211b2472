"""Times as MISP sends them and as STIX wants them (pure functions)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

ONE_MS = timedelta(milliseconds=1)


def utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def parse_time(value: Any) -> datetime | None:
    """MISP timestamps are epoch seconds (as text); first/last_seen are ISO 8601. None when unusable."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        if isinstance(value, (int, float)) or (isinstance(value, str) and value.strip().isdigit()):
            return datetime.fromtimestamp(int(value), tz=timezone.utc)
        if isinstance(value, str):
            return utc(datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
    except (ValueError, OverflowError, OSError):
        return None
    return None


@lru_cache(maxsize=4096)  # events share a handful of timestamps; formatting is a hot spot
def iso(moment: datetime) -> str:
    """STIX timestamp: UTC, millisecond precision, trailing Z."""
    moment = utc(moment)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def truncate_ms(moment: datetime) -> datetime:
    moment = utc(moment)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
