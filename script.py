#!/usr/bin/env python3
"""MISP -> Microsoft Sentinel sync; see docs/sync.md. Everything lives in misp_bridge.sync.cli."""

import sys

from misp_bridge.sync.cli import main

if __name__ == "__main__":
    sys.exit(main())
