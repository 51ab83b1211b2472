"""What the Functions host allows one invocation: its functionTimeout, read as the host reads it.

The app setting `AzureFunctionsJobHost__functionTimeout` overrides host.json's `functionTimeout`. The
format is a .NET TimeSpan, `[d.]hh:mm:ss` (hours 0-23), or `-1` for no limit. Without either, the host
applies its plan's default, which the app cannot see: the smallest one (Consumption, 5 minutes) is
assumed, so the run's budget is never too long.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

from misp_bridge.errors import ConfigError

OVERRIDE = "AzureFunctionsJobHost__functionTimeout"
SMALLEST_DEFAULT = 300.0  # seconds: the Consumption plan's default functionTimeout
_TIMESPAN = re.compile(r"(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.\d+)?")


def parse_timespan(text: str, source: str) -> float | None:
    """Seconds of a functionTimeout value; None for -1 (no limit). ConfigError when malformed."""
    value = text.strip()
    if value == "-1":
        return None
    match = _TIMESPAN.fullmatch(value)
    if match is None or int(match[2]) > 23 or int(match[3]) > 59 or int(match[4]) > 59:
        raise ConfigError(
            "functionTimeout", f"must be [d.]hh:mm:ss (hours 0-23) or -1, got {value[:20]!r}", source
        )
    days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    total = float(((days * 24 + hours) * 60 + minutes) * 60 + seconds)
    if total <= 0:
        raise ConfigError("functionTimeout", "must be longer than 0 seconds", source)
    return total


def function_timeout(app_dir: Path, env: Mapping[str, str]) -> float | None:
    """The host's functionTimeout in seconds (None: unbounded), see the module docstring."""
    override = (env.get(OVERRIDE) or "").strip()
    if override:
        return parse_timespan(override, "app settings")
    path = app_dir / "host.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return SMALLEST_DEFAULT
    except (OSError, ValueError) as exc:
        raise ConfigError("", f"cannot be read as JSON ({type(exc).__name__})", "host.json") from None
    value = config.get("functionTimeout") if isinstance(config, dict) else None
    if value is None:
        return SMALLEST_DEFAULT
    if not isinstance(value, str):
        raise ConfigError("functionTimeout", 'must be a string like "00:10:00"', "host.json")
    return parse_timespan(value, "host.json")
