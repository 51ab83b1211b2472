"""Settings of the sync's tools: config.py and constants.py read, checked and frozen in one place.

model.py     Settings and Workspace, the frozen result
defaults.py  every default value and vocabulary (one source)
issues.py    Issue, Collector, Severity: findings about a configuration
readers.py   one reader per kind of value: converts it or records an issue
files.py     running config.py / constants.py safely
tables.py    the constants.py tables, in this project's shapes and every shape of the original's
locate.py    where config.py and constants.py are found (Lookup: --config, ./, beside the command)
load.py      inspect_config (every issue at once) and load_settings (raise on errors)
"""

from misp_bridge.config.issues import Issue, Severity
from misp_bridge.config.load import KNOWN_SETTINGS, inspect_config, load_settings
from misp_bridge.config.model import Settings, Workspace

__all__ = ["KNOWN_SETTINGS", "Issue", "Settings", "Severity", "Workspace", "inspect_config", "load_settings"]
