#!/usr/bin/env python3
"""Check a config.py offline, then whether MISP, Key Vault, Entra ID and Sentinel answer (operations.md)."""

import sys

try:
    from misp_bridge.entry import launch
except ImportError:  # the package was not copied beside this script
    sys.stderr.write("check-config.py: error: the misp_bridge/ package must sit beside check-config.py\n")
    sys.exit(2)

if __name__ == "__main__":
    sys.exit(launch("check-config.py", __file__))
