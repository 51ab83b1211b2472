"""Check a misp-bridge config.py offline, then whether MISP, Key Vault, Entra ID and Sentinel answer."""

import sys

from misp_bridge.checkconfig.cli import main

if __name__ == "__main__":
    sys.exit(main())
