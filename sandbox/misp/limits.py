"""What a real MISP 2.5.1 can and cannot store, as events/add shows it (docs/contracts.md section 2).

Verified on MISP 2.5.1 built from source (MariaDB, strict sql_mode, the default utf8mb3 schema):

- a 4-byte UTF-8 character (U+10000 and above: emoji, many CJK extension characters) in an attribute
  VALUE is rewritten to '?' before validation (AttributeValidationTool::handle4ByteUnicode);
- the same character in the event `info` makes the INSERT fail: HTTP 500, nothing saved;
- in an attribute `comment` the event row is already committed when the attribute's INSERT fails:
  HTTP 500, and the event stays WITHOUT that attribute (and those after it), so a retry of the same
  uuid meets "Event already exists";
- an attribute that fails validation (a value over 65,535 bytes, a bad address, a category the type
  does not allow) is dropped and logged server-side; the reply is still a 200;
- deleting an event puts its uuid on the event blocklist; events/add with that uuid then answers 403
  "Event blocked by event blocklist." until an admin removes the entry (eventBlocklists/delete).
"""

from __future__ import annotations

import ipaddress
from typing import Any

MAX_VALUE_BYTES = 65_535  # MispAttribute::maxTextLength, in bytes (strlen)
TOO_LONG = (
    "The entered string is too long and would get truncated. Please consider adding the data as an "
    "attachment instead"
)
BLOCKED = "Event blocked by event blocklist."
INTERNAL_ERROR = "An Internal Error Has Occurred."


def has_4byte(text: object) -> bool:
    """Whether `text` holds a character utf8mb3 cannot store (outside the Basic Multilingual Plane)."""
    return isinstance(text, str) and any(ord(char) > 0xFFFF for char in text)


def mb3_value(value: str) -> str:
    """An attribute value as MISP stores it: every 4-byte character becomes '?'."""
    return "".join("?" if ord(char) > 0xFFFF else char for char in value) if has_4byte(value) else value


def value_problem(attr_type: str, value: str) -> dict[str, list[str]] | None:
    """MISP's validation error for a value over 65,535 bytes or a malformed address, or None."""
    if len(value.encode("utf-8", "surrogatepass")) > MAX_VALUE_BYTES:
        return {"value": [TOO_LONG]}
    if attr_type in ("ip-src", "ip-dst"):
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            return {"value": ["IP address has an invalid format."]}
    return None


def first_bad_comment(attributes: list[dict[str, Any]]) -> int | None:
    """The index of the first attribute whose comment utf8mb3 cannot store (the INSERT that fails)."""
    return next((i for i, a in enumerate(attributes) if has_4byte(a.get("comment"))), None)
