"""Keep secrets and hostile text out of what the tools write.

Two guards, applied to every log record and every line a tool prints:

- `redact()` masks every registered secret in each form it can take in text (as it is, escaped the way
  repr() or JSON would print it, URL-encoded), bearer tokens, `Authorization:` header values and the
  password of a URL's `user:password@`;
- `escape_controls()` writes control characters (newlines, carriage returns, ANSI escapes, NUL ...) as
  visible escapes, so data an attacker wrote (an alert, a MISP message) can neither forge a log line
  nor drive a terminal.

`RedactingFilter` does both to a record, once, when it is logged.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import traceback
from urllib.parse import quote

_lock = threading.Lock()
_secrets: set[str] = set()
MASK = "***"
MIN_SECRET = 4  # shorter values would mask innocent text everywhere

_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9\-._~+/]+=*", re.IGNORECASE)
_AUTH_HEADER = re.compile(
    r"""(['"]?Authorization['"]?\s*[:=]\s*['"]?)(?!Bearer\b)[^'",\s}]+""", re.IGNORECASE
)
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]{0,20}://[^/\s:@]{0,200}:)[^/\s@]{1,200}@", re.IGNORECASE)
# C0 controls except tab, DEL, and the C1 controls (ESC and CSI start terminal sequences).
_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\x1b": "\\x1b"}


def _forms(value: str) -> set[str]:
    """The ways a secret can appear in text: raw, repr-escaped, JSON-escaped, URL-encoded, trimmed."""
    forms = {value, value.strip()}
    forms.add(value.encode("unicode_escape").decode("ascii"))
    forms.add(json.dumps(value)[1:-1])
    forms.add(quote(value, safe=""))
    forms.add(escape_controls(value))
    return {form for form in forms if len(form) >= MIN_SECRET}


def register_secret(value: str | None) -> None:
    """Remember a secret value so that no log record or printed line can show it, in any form."""
    if value and len(value.strip()) >= MIN_SECRET:
        with _lock:
            _secrets.update(_forms(value))


def redact(text: str) -> str:
    """Return text with every registered secret, bearer token, Authorization value and URL password
    masked."""
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    text = _BEARER.sub(r"\1" + MASK, text)
    text = _AUTH_HEADER.sub(r"\1" + MASK, text)
    return _URL_PASSWORD.sub(r"\1" + MASK + "@", text)


def escape_controls(text: str) -> str:
    """Control characters written as visible escapes (`\\n`, `\\x1b`, ...); tabs are kept."""
    return _CONTROLS.sub(lambda m: _NAMED.get(m.group(0), f"\\x{ord(m.group(0)):02x}"), text)


def clean(text: str) -> str:
    """What may be written out: controls escaped, then secrets masked (in either form)."""
    return redact(escape_controls(redact(text)))


class RedactingFilter(logging.Filter):
    """Formats each record's message once: secrets masked, control characters escaped, so one record
    is one line. A traceback (file only) keeps its lines but is masked too."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = clean(record.getMessage())
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)))
            record.exc_info = None
        return True
