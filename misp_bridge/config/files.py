"""Running settings files (config.py, constants.py) safely (the tables are read in config/tables.py).

A settings file is executed from its path in a namespace of its own, never imported, so nothing else
in the process can reach its globals; anything it raises becomes one Issue naming the line.
"""

from __future__ import annotations

import runpy
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

from misp_bridge.config.issues import Collector, Issue

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
