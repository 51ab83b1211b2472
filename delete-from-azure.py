#!/usr/bin/env python3
"""Revoke indicators this tool uploaded to Microsoft Sentinel; see docs/operations.md."""

import sys

try:
    from misp_bridge.entry import launch
except ImportError:  # the package was not copied beside this script
    sys.stderr.write(
        "delete-from-azure.py: error: the misp_bridge/ package must sit beside delete-from-azure.py\n"
    )
    sys.exit(2)

if __name__ == "__main__":
    sys.exit(launch("delete-from-azure.py", __file__))
