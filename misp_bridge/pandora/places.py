"""Where the plugin keeps its alerts and its log: the spool directories and the log file.

By default the spool is `spool/` beside pandora_to_misp.py when that can be written, else the system
spool /var/spool/pandora_to_misp (always for an installed package, whose directory is not the plugin's
to write in); the log sits beside the spool, or in /var/log/pandora with the system spool. A spool that
cannot be used falls back to the running user's own state directory (docs/pandora.md).
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Mapping
from pathlib import Path

from misp_bridge.cli import Environment
from misp_bridge.errors import SpoolError
from misp_bridge.pandora.spool import Spool

ROOT = Path(__file__).resolve().parents[2]  # where pandora_to_misp.py sits, beside the package
SYSTEM_SPOOL = Path("/var/spool/pandora_to_misp")
SYSTEM_LOG = Path("/var/log/pandora/pandora_to_misp.log")
LOG_NAME = "pandora_to_misp.log"
STATE_NAME = "pandora_to_misp"


def default_spool_dir() -> Path:
    """spool/ beside pandora_to_misp.py when it can be written there, else the system spool (always
    for an installed package, whose directory is not the plugin's to write in)."""
    if not (ROOT / "pandora_to_misp.py").is_file():
        return SYSTEM_SPOOL
    beside = ROOT / "spool"
    usable = beside if beside.is_dir() else ROOT
    return beside if os.access(usable, os.W_OK) else SYSTEM_SPOOL


def state_dir(env: Mapping[str, str]) -> Path | None:
    """The running user's own state directory ($XDG_STATE_HOME or ~/.local/state)/pandora_to_misp."""
    base = env.get("XDG_STATE_HOME", "").strip()
    if base and Path(base).is_absolute():
        return Path(base) / STATE_NAME
    home = env.get("HOME", "").strip()
    if not home:
        try:
            home = pwd.getpwuid(os.geteuid()).pw_dir
        except KeyError:
            return None
    return Path(home) / ".local" / "state" / STATE_NAME if home else None


def log_file_for(spool_dir: Path, given: Path | None) -> Path:
    """--log-file, else the system log beside the system spool, else pandora_to_misp.log beside the spool."""
    if given is not None:
        return given
    return SYSTEM_LOG if spool_dir == SYSTEM_SPOOL else spool_dir.parent / LOG_NAME


def usable_spools(configured: Path, env: Environment) -> tuple[list[Spool], list[str]]:
    """The spools this run may use, the configured one first, and why one was left out."""
    found: list[Spool] = []
    problems: list[str] = []
    fallback = state_dir(env.env)
    for directory in (configured, None if fallback is None else fallback / "spool"):
        if directory is None or any(s.directory == directory for s in found):
            continue
        spool = Spool(directory, clock=env.clock)
        try:
            spool.ensure()
        except SpoolError as exc:
            problems.append(str(exc))
            continue
        found.append(spool)
    return found, problems
