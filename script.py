#!/usr/bin/env python3
"""MISP -> Microsoft Sentinel sync; see docs/sync.md."""

import sys

try:
    from misp_bridge.entry import launch
except ImportError:  # the package was not copied beside this script
    sys.stderr.write("script.py: error: the misp_bridge/ package must sit beside script.py\n")
    sys.exit(2)

if __name__ == "__main__":
    sys.exit(launch("script.py", __file__))
