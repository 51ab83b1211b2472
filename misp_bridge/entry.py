"""How every tool starts: the top-level scripts (script.py, ...) and the installed console scripts
(misp2sentinel, ...) both call `launch`.

`launch` imports the tool's module only then, so a Python that lacks a dependency (the system's
/usr/bin/python3 instead of the virtual environment's) gets one line naming the missing module and what
to install, exit 2, instead of a traceback. It also tells the tool where it was started from (its
config.py may sit beside it, as the original's did: config/locate.py) and under which name (the help
and the messages use it). This module and misp_bridge/cli.py import nothing outside the standard library.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from misp_bridge.cli import Environment, missing_module

# Tool -> the module whose main(argv, *, env) runs it, and the requirements file it needs.
TOOLS: dict[str, tuple[str, str]] = {
    "script.py": ("misp_bridge.sync.cli", "requirements.txt"),
    "check-config.py": ("misp_bridge.checkconfig.cli", "requirements.txt"),
    "delete-from-azure.py": ("misp_bridge.sync.delete_cli", "requirements.txt"),
    "pandora_to_misp.py": ("misp_bridge.pandora.cli", "requirements-plugin.txt"),
}
USAGE_EXIT = 2  # every tool's code for "fix how it is run" (the plugin's included)


def launch(tool: str, script: str | None = None, argv: list[str] | None = None) -> int:
    """Run `tool` (a key of TOOLS); `script` is the file that was run (default: sys.argv[0])."""
    started = Path(script or sys.argv[0])
    name = started.name or tool
    module_name, requirements = TOOLS[tool]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        sys.stderr.write(f"{name}: error: {missing_module(exc, requirements)}\n")
        return USAGE_EXIT
    env = Environment(command_dir=started.resolve().parent, command_name=name)
    return int(module.main(argv, env=env))


# Console scripts of an installed package (pyproject.toml [project.scripts]).
def misp2sentinel() -> int:
    return launch("script.py")


def check_config() -> int:
    return launch("check-config.py")


def delete_from_azure() -> int:
    return launch("delete-from-azure.py")


def pandora_to_misp() -> int:
    return launch("pandora_to_misp.py")
