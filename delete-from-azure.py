#!/usr/bin/env python3
"""Revoke indicators this tool uploaded to Microsoft Sentinel; see docs/operations.md."""

import sys

from misp_bridge.sync.delete_cli import main

if __name__ == "__main__":
    sys.exit(main())
