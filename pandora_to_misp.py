#!/usr/bin/env python3
"""Pandora FMS alert command: turn one SIEM alert into a triaged MISP event; see docs/pandora.md."""

import sys

try:
    from misp_bridge.entry import launch
except ImportError:  # the package was not copied beside this script
    sys.stderr.write(
        "pandora_to_misp.py: error: the misp_bridge/ package must sit beside pandora_to_misp.py\n"
    )
    sys.exit(2)

if __name__ == "__main__":
    sys.exit(launch("pandora_to_misp.py", __file__))
