"""Running settings files (config.py, constants.py) safely, and reading the constants.py tables.

A settings file is executed from its path in a namespace of its own, never imported, so nothing else
in the process can reach its globals; anything it raises becomes one Issue naming the line.
"""

from __future__ import annotations

import runpy
import traceback
from pathlib import Path
from types import MappingProxyType, ModuleType
from typing import Any

from misp_bridge.config.defaults import BUILTIN_CONSTANTS
from misp_bridge.config.issues import Collector, Issue
from misp_bridge.config.readers import (
    Reader,
    confidence_table,
    marking_table,
    str_sequence,
    suggest,
    text,
)

_CONSTANTS: dict[str, Reader] = {
    "MISP_TAGS_IGNORE": str_sequence,
    "MISP_ALLOWED_TAXONOMIES": str_sequence,
    "MISP_CONFIDENCE": confidence_table,
    "MISP_CUSTOM_ATTRIBUTE": str_sequence,
    "UPLOAD_INDICATOR_MISP_ACCEPTED_TYPES": str_sequence,
    "TLP_MARKING_OBJECT_DEFINITION": marking_table,
    "SENTINEL_DEFAULT_THREATTYPE": text(),
    "SENTINEL_DEFAULT_TLP": text(),
}

# Exceptions whose text names only identifiers (a variable, a module): safe to show. Any other text
# could quote a value from config.py, perhaps a secret, so only its type and line are reported.
_SAFE_TEXT_ERRORS = (NameError, ImportError, AttributeError)


def run_file(path: Path, c: Collector) -> dict[str, Any] | None:
    """Executes a settings file in a fresh namespace; a failure becomes one Issue, never a traceback."""
    try:
        namespace = runpy.run_path(str(path), run_name=f"misp_bridge_user_{path.stem}")
    except SyntaxError as exc:
        where = f"line {exc.lineno}" if exc.lineno else "its code"
        c.issues.append(Issue("error", "", f"{where} has a syntax error ({exc.msg})", c.source))
        return None
    except OSError as exc:
        c.issues.append(Issue("error", "", f"cannot be read ({exc.strerror})", c.source))
        return None
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - user code can raise anything; report, not crash
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == str(path)]
        where = f"line {frames[-1].lineno}" if frames else "running it"
        detail = f": {exc}" if isinstance(exc, _SAFE_TEXT_ERRORS) else ""
        c.issues.append(Issue("error", "", f"{where} raised {type(exc).__name__}{detail}", c.source))
        return None
    # Imports, helper functions and classes (the old Key Vault snippet has some) are not settings.
    return {
        name: value
        for name, value in namespace.items()
        if not name.startswith("_") and not callable(value) and not isinstance(value, ModuleType)
    }


def find_constants(config_dir: Path, project_dir: Path) -> Path | None:
    """constants.py beside config.py first, then the project's own (beside script.py)."""
    for candidate in (config_dir / "constants.py", project_dir / "constants.py"):
        if candidate.is_file():
            return candidate
    return None


def read_constants(path: Path | None, project_dir: Path, issues: list[Issue]) -> dict[str, Any]:
    """constants.py values converted to Settings types; names a user's file leaves out keep the built-ins."""
    raw: dict[str, Any] = dict(BUILTIN_CONSTANTS)
    c = Collector("constants.py", path.parent if path else project_dir)
    if path is not None:
        found = run_file(path, c)
        for name, value in (found or {}).items():
            if name in _CONSTANTS:
                raw[name] = value
            elif hint := suggest(name, _CONSTANTS):
                # Old constants files carry many tables of the retired Graph API: only likely typos warn.
                c.warning(name, f"is not a known constant{hint}")
    values = {name: reader(c, name, raw[name]) for name, reader in _CONSTANTS.items()}
    custom = frozenset(values["MISP_CUSTOM_ATTRIBUTE"])
    markings = values["TLP_MARKING_OBJECT_DEFINITION"]
    if values["SENTINEL_DEFAULT_TLP"] not in markings:
        c.error("SENTINEL_DEFAULT_TLP", "must be a key of TLP_MARKING_OBJECT_DEFINITION")
    issues.extend(c.issues)
    return {
        "misp_tags_ignore": values["MISP_TAGS_IGNORE"],
        "misp_allowed_taxonomies": values["MISP_ALLOWED_TAXONOMIES"],
        "misp_confidence": MappingProxyType(values["MISP_CONFIDENCE"]),
        "misp_custom_attribute": custom,
        # A custom type is meant to be sent, so listing it in MISP_CUSTOM_ATTRIBUTE is enough.
        "upload_indicator_misp_accepted_types": frozenset(values["UPLOAD_INDICATOR_MISP_ACCEPTED_TYPES"])
        | custom,
        "tlp_marking_object_definition": MappingProxyType(markings),
        "sentinel_default_threattype": values["SENTINEL_DEFAULT_THREATTYPE"],
        "sentinel_default_tlp": values["SENTINEL_DEFAULT_TLP"],
    }
