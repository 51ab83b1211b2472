"""What the Functions host reads: the timer's schedule, and one invocation's functionTimeout.

The schedule is NCRONTAB in UTC, `{second} {minute} {hour} {day} {month} {day-of-week}`; current hosts
also take five fields (no seconds). A TimeSpan (`hh:mm:ss`) works on App Service plans only.

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
from typing import Literal

from misp_bridge.errors import ConfigError

OVERRIDE = "AzureFunctionsJobHost__functionTimeout"
_CRON_RANGES = ((0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (0, 6))
_CRON_TERM = re.compile(r"(\*|[0-9A-Za-z]+(?:-[0-9A-Za-z]+)?)(?:/([0-9]+))?")
_NAMES = re.compile(r"(?i)(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|sun|mon|tue|wed|thu|fri|sat)")
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


def _cron_field(field: str, low: int, high: int) -> bool:
    for term in field.split(","):
        match = _CRON_TERM.fullmatch(term)
        if match is None:
            return False
        for part in match.group(1).split("-"):
            number = part.isdigit() and low <= int(part) <= high
            if part != "*" and not _NAMES.fullmatch(part) and not number:
                return False
    return True


def schedule_problem(text: str) -> tuple[Literal["error", "warning"], str] | None:
    """What is wrong with a timer schedule, as (severity, the rest of a sentence), or None."""
    fields = text.split()
    if re.fullmatch(r"\d{1,2}:\d{2}:\d{2}", text.strip()):
        return "warning", "is a TimeSpan: only App Service plans run those; use NCRONTAB ('0 */30 * * * *')"
    ranges = _CRON_RANGES if len(fields) == 6 else _CRON_RANGES[1:]
    if len(fields) not in (5, 6) or not all(_cron_field(f, *r) for f, r in zip(fields, ranges, strict=False)):
        return "error", (
            "must be an NCRONTAB expression: {second} {minute} {hour} {day} {month} {day-of-week}, "
            f"like '0 0 * * * *' (hourly); got {len(fields)} fields"
        )
    if len(fields) == 6 and not fields[0].isdigit():
        return "warning", "runs more than once a minute: its first field (seconds) is not one number"
    return None
