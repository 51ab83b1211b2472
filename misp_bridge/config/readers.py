"""Offline checks of raw config.py / constants.py values: each reader converts one value or records issues.

Readers never stop at the first problem: they note an Issue and hand back a stand-in value so that every
other setting is still checked. No message ever contains a secret value.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from misp_bridge.config.defaults import DEFAULT_SCOPE, WORKSPACE_KEYS
from misp_bridge.config.issues import Collector

_PLACEHOLDER = re.compile(r"^\s*<[^<>]*>\s*$")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_DOMAIN = re.compile(r"^(?=.{4,253}$)([A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,63}$")
DURATION = re.compile(r"^[1-9][0-9]*[smhd]$")
_MARKING_ID = re.compile(r"^marking-definition--[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$")


Reader = Callable[[Collector, str, Any], Any]

# Control characters (a newline in a key, an escape in a user agent) break HTTP headers and URLs, and
# would be printed escaped: never in a setting. Tab included.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_PROBLEM = "contains a line break, tab or other control character; remove it"
# datetime stops at year 9999; 100 years is far beyond any indicator's useful life.
MAX_DAYS = 36_500
MAX_SECONDS = 3_600.0  # a timeout longer than an hour is a mistake, not a slow network
MAX_PAGE = 10_000  # MISP builds a whole page in memory before it answers
_VAULT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9]$")
_DURATION_SECONDS = {"s": 1, "m": 60, "h": 3_600, "d": 86_400}
MAX_DURATION = 10 * 365 * 86_400


def _has_control(value: Any) -> bool:
    return isinstance(value, str) and bool(_CONTROL.search(value))


def kind(value: Any) -> str:
    return type(value).__name__


def wrong_type(c: Collector, name: str, expected: str, value: Any) -> None:
    c.error(name, f"must be {expected}, got {kind(value)}")


def is_placeholder(value: Any) -> bool:
    """True for the '<tenant>'-style markers config.py.default ships with."""
    return isinstance(value, str) and bool(_PLACEHOLDER.match(value))


def suggest(name: str, known: Iterable[str]) -> str:
    """A ' ; did you mean X?' tail when a known name is close to `name`, else ''."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""


def text(*, secret: bool = False, required: bool = True) -> Reader:
    def read(c: Collector, name: str, value: Any) -> Any:
        if not isinstance(value, str):
            wrong_type(c, name, "a string", value)
            return ""
        deferred = secret and c.secrets_later
        if _has_control(value):
            c.error(name, _CONTROL_PROBLEM)  # never the value: it may be a secret
        elif is_placeholder(value) and not deferred:
            c.error(name, "is still a placeholder; fill in the real value")
        elif not value.strip() and required and not deferred:
            c.error(name, "is empty")
        return value

    return read


def optional_text(c: Collector, name: str, value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, str):
        wrong_type(c, name, "None or a string", value)
        return None
    if _has_control(value):
        c.error(name, _CONTROL_PROBLEM)
    elif is_placeholder(value):
        c.error(name, "is still a placeholder; fill in the real value or set it to None")
    return value.strip() or None


def flag(c: Collector, name: str, value: Any) -> Any:
    if not isinstance(value, bool):
        wrong_type(c, name, "True or False", value)
        return False
    return value


def integer(low: int, high: int | None = None) -> Reader:
    def read(c: Collector, name: str, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            wrong_type(c, name, "an integer", value)
            return low
        if high is None and value < low:
            c.error(name, f"must be at least {low}, got {value}")
        elif high is not None and not low <= value <= high:
            c.error(name, f"must be {low}..{high}, got {value}")
        return value

    return read


def seconds(c: Collector, name: str, value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        wrong_type(c, name, "a number of seconds", value)
        return 1.0
    if not math.isfinite(value) or not 0 < value <= MAX_SECONDS:
        c.error(name, f"must be more than 0 and at most {MAX_SECONDS:g} seconds, got {value}")
        return 1.0
    return float(value)


def choice(*allowed: str) -> Reader:
    def read(c: Collector, name: str, value: Any) -> Any:
        if value not in allowed:
            words = " or ".join(repr(a) for a in allowed)
            c.error(name, f"must be {words}, got {value!r}")
        return value

    return read


def check_https(c: Collector, name: str, value: str) -> None:
    """Errors unless `value` is an https URL with a host; never echoes more than the scheme."""
    parts = urlsplit(value)
    if parts.scheme.lower() != "https":
        c.error(name, f"must be an https:// URL, got {parts.scheme or 'no scheme'}://")
    elif not parts.hostname:
        c.error(name, "must be an https:// URL with a host name")


def url(c: Collector, name: str, value: Any) -> Any:
    if not isinstance(value, str):
        wrong_type(c, name, "a string", value)
        return ""
    if _has_control(value) or " " in value.strip():
        c.error(name, "must be a URL without spaces or control characters")
    elif is_placeholder(value):
        c.error(name, "is still a placeholder; fill in the real value")
    elif not value.strip():
        c.error(name, "is empty")
    else:
        check_https(c, name, value.strip())
    return value.strip().rstrip("/")


def optional_url(c: Collector, name: str, value: Any) -> Any:
    found = optional_text(c, name, value)
    if found is not None and not is_placeholder(found):
        check_https(c, name, found)
        return found.rstrip("/")
    return found


def duration(c: Collector, name: str, value: Any) -> Any:
    if not isinstance(value, str) or not DURATION.match(value):
        c.error(name, f"must be a number followed by s, m, h or d (like '1d'), got {value!r}")
    elif len(value) > 12 or int(value[:-1]) * _DURATION_SECONDS[value[-1]] > MAX_DURATION:
        c.error(name, f"must be at most ten years (like '3650d'), got {value[:20]!r}")
    return value


def _resolve(c: Collector, raw: str | Path) -> Path:
    path = Path(raw).expanduser()
    return path if path.is_absolute() else c.base_dir / path


def output_path(*, optional: bool) -> Reader:
    def read(c: Collector, name: str, value: Any) -> Any:
        if value is None and optional:
            return None
        if isinstance(value, str) and not value.strip():
            c.error(name, "is empty")
            return None
        if not isinstance(value, (str, Path)):
            wrong_type(c, name, "None or a file path" if optional else "a file path", value)
            return None
        if _has_control(str(value)):
            c.error(name, _CONTROL_PROBLEM)
            return None
        return _resolve(c, value)

    return read


def _existing_file(c: Collector, name: str, value: str | Path) -> Path:
    path = _resolve(c, value)
    if _has_control(str(value)):
        c.error(name, _CONTROL_PROBLEM)
    elif not path.is_file():
        c.error(name, f"points to {path}, which does not exist")
    return path


def ca_bundle(c: Collector, name: str, value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, (str, Path)):
        wrong_type(c, name, "None or a CA bundle path", value)
        return None
    return _existing_file(c, name, value)


def verifycert(c: Collector, name: str, value: Any) -> Any:
    if value is False:
        c.warning(name, "is False: TLS certificates are not checked")
        return False
    if value is True:
        return True
    if isinstance(value, (str, Path)) and str(value).strip():
        return str(_existing_file(c, name, value))
    wrong_type(c, name, "True, False or a CA bundle path", value)
    return True


def expire_mapping(c: Collector, name: str, value: Any) -> Any:
    if not isinstance(value, Mapping):
        wrong_type(c, name, "a dict of pattern key -> days", value)
        return {}
    result: dict[str, int] = {}
    for key, days in value.items():
        where = f"{name}[{key!r}]"
        if not isinstance(key, str) or not key:
            c.error(name, f"keys must be non-empty strings, got {kind(key)}")
        elif isinstance(days, bool) or not isinstance(days, int):
            wrong_type(c, where, "a whole number of days", days)
        elif not 1 <= days <= MAX_DAYS:
            c.error(where, f"must be 1..{MAX_DAYS}, got {days}")
        else:
            result[key] = days
    return result


def vault_name(c: Collector, name: str, value: Any) -> Any:
    """A Key Vault name (it becomes https://<name>.vault.azure.net): 3-24 letters, digits and hyphens."""
    found = optional_text(c, name, value)
    if isinstance(found, str) and not is_placeholder(found) and not _VAULT_NAME.match(found):
        c.error(name, "must be a Key Vault name: 3 to 24 letters, digits and hyphens, starting with a letter")
    return found


def not_reserved_source(c: Collector, name: str, value: Any) -> Any:
    found = text()(c, name, value)
    if isinstance(found, str) and found.strip().casefold() == "microsoft sentinel":
        c.error(name, "must not be 'Microsoft Sentinel': Sentinel keeps that name for its own indicators")
    return found


def read_workspace(c: Collector, where: str, raw: Any) -> dict[str, Any] | None:
    """Checks one ms_auth dict; returns Workspace keyword arguments (None when it is not a dict)."""
    if not isinstance(raw, Mapping):
        wrong_type(c, where, "a dict (or a list of dicts)", raw)
        return None
    for key in raw:
        if key not in WORKSPACE_KEYS:
            c.warning(f"{where}[{key!r}]", f"is not a known key{suggest(str(key), WORKSPACE_KEYS)}")
    out: dict[str, Any] = {}
    for key in ("tenant", "client_id", "client_secret", "workspace_id"):
        name = f"{where}[{key!r}]"
        if key not in raw:
            c.error(name, "is missing")
            out[key] = ""
            continue
        out[key] = text(secret=key == "client_secret")(c, name, raw[key])
        shape_ok = _GUID.match(out[key]) or (key == "tenant" and _DOMAIN.match(out[key]))
        if key != "client_secret" and out[key] and not is_placeholder(out[key]) and not shape_ok:
            shape = "a GUID or a domain name" if key == "tenant" else "a GUID"
            c.warning(name, f"does not look like {shape} (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)")
    out["new_upload_api"] = flag(c, f"{where}['new_upload_api']", raw.get("new_upload_api", True))
    if out["new_upload_api"] is False:
        c.warning(f"{where}['new_upload_api']", "is False: the legacy upload API is deprecated by Microsoft")
    out["scope"] = text()(c, f"{where}['scope']", raw.get("scope", DEFAULT_SCOPE))
    for key in ("subscription_id", "resourceGroupName", "workspaceName"):
        out[WORKSPACE_KEYS[key]] = optional_text(c, f"{where}[{key!r}]", raw.get(key))
    return out


def read_workspaces(c: Collector, name: str, value: Any) -> list[dict[str, Any]]:
    """ms_auth is one workspace dict or a non-empty list of them, each workspace_id listed once."""
    if isinstance(value, Mapping):
        found = read_workspace(c, name, value)
        return [found] if found else []
    if not isinstance(value, (list, tuple)) or not value:
        c.error(name, "must be a dict or a non-empty list of dicts")
        return []
    result = [w for i, raw in enumerate(value) if (w := read_workspace(c, f"{name}[{i}]", raw))]
    seen: set[str] = set()
    for ws in result:
        wid = ws["workspace_id"]
        if wid.lower() in seen and not is_placeholder(wid):
            c.error(name, f"lists workspace_id {wid} more than once")
        seen.add(wid.lower())
    return result


# --- constants.py -------------------------------------------------------------------------------


def str_sequence(c: Collector, name: str, value: Any) -> Any:
    if isinstance(value, str) or not isinstance(value, (list, tuple, set, frozenset)):
        wrong_type(c, name, "a list of strings", value)
        return ()
    bad = [item for item in value if not isinstance(item, str)]
    if bad:
        c.error(name, f"must hold only strings, got {kind(bad[0])}")
    return tuple(item for item in value if isinstance(item, str))


def marking_table(c: Collector, name: str, value: Any) -> Any:
    if not isinstance(value, Mapping):
        wrong_type(c, name, "a dict of TLP tag -> marking-definition id", value)
        return {}
    for tag, marking in value.items():
        if not isinstance(marking, str) or not _MARKING_ID.match(marking):
            c.error(f"{name}[{tag!r}]", "must be a STIX id like marking-definition--<uuid>")
    return dict(value)
