"""How the state file stores values: compact keys and comparable times (pure functions).

Compact keys keep 200,000 indicators within a few tens of MB: a canonical uuid is stored as its 16 bytes,
an "indicator--<uuid>" id likewise, anything else as given; a content hash only ever needs an equality
test, so a 16-byte digest of it stands in. Together this halves the size of a row and its index.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import datetime, timezone

from misp_bridge.errors import StateError
from misp_bridge.sync.convert.times import parse_iso

# Only the canonical lower-case form is packed, so unpacking gives back exactly the text that came in.
_UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_INDICATOR = "indicator--"


def pack_uuid(text: str) -> str | bytes:
    return bytes.fromhex(text.replace("-", "")) if _UUID_TEXT.fullmatch(text) else text


def unpack_uuid(value: str | bytes) -> str:
    return str(uuid.UUID(bytes=value)) if isinstance(value, bytes) else value


def pack_id(stix_id: str) -> str | bytes:
    rest = stix_id[len(_INDICATOR) :]
    if stix_id.startswith(_INDICATOR) and _UUID_TEXT.fullmatch(rest):
        return bytes.fromhex(rest.replace("-", ""))
    return stix_id


def unpack_id(value: str | bytes) -> str:
    return _INDICATOR + str(uuid.UUID(bytes=value)) if isinstance(value, bytes) else value


def digest(content_hash: str) -> bytes:
    return hashlib.blake2b(content_hash.encode("utf-8"), digest_size=16).digest()


def to_epoch(iso_time: str | None) -> float | None:
    """ISO 8601 -> epoch seconds, so expiry compares times, not strings ("...00Z" vs "...00.000Z"); any
    fraction length, on every supported Python (misp_bridge/sync/convert/times.py)."""
    if iso_time is None:
        return None
    moment = parse_iso(iso_time)
    if moment is None:
        raise StateError(f"The time {iso_time!r} is not an ISO 8601 date and time.")
    return moment.timestamp()


def to_iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat(timespec="seconds")
