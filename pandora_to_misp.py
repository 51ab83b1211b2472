#!/usr/bin/env python3
"""Pandora FMS alert command: turn one SIEM alert into a triaged MISP event (see docs/pandora.md)."""

from misp_bridge.pandora.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
