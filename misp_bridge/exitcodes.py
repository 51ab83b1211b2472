"""Exit codes of the command-line tools, and which error gives which code (docs/architecture.md)."""

from __future__ import annotations

from enum import IntEnum

from misp_bridge.errors import (
    BridgeError,
    ConfigError,
    ConfigErrors,
    KeyVaultError,
    LockHeld,
    MispError,
    OutputFileError,
    SentinelError,
    StateError,
)


class SyncExit(IntEnum):
    """script.py, check-config.py and delete-from-azure.py."""

    OK = 0  # all done (check-config: usable)
    FAILURES = 1  # finished, but something is pending or rejected (check-config: warnings only)
    USAGE = 2  # usage or configuration error
    MISP = 3  # MISP unreachable or refused
    SENTINEL = 4  # Sentinel / Entra ID / Key Vault unreachable or refused
    LOCKED = 5  # another run holds the state lock


class PluginExit(IntEnum):
    """pandora_to_misp.py."""

    SENT = 0  # event created or sighting added (or a recovery run: nothing to do)
    SPOOLED = 1  # MISP unavailable: the alert is kept in the spool for a later run
    USAGE = 2  # bad arguments


# script.py and delete-from-azure.py: exception class -> exit code; the first class that matches wins,
# so subclasses come first.
SYNC_EXIT_FOR: tuple[tuple[type[BaseException], int], ...] = (
    (LockHeld, SyncExit.LOCKED),
    (ConfigErrors, SyncExit.USAGE),
    (ConfigError, SyncExit.USAGE),
    (StateError, SyncExit.USAGE),
    (OutputFileError, SyncExit.USAGE),
    (MispError, SyncExit.MISP),
    (SentinelError, SyncExit.SENTINEL),
    (KeyVaultError, SyncExit.SENTINEL),
    (BridgeError, SyncExit.FAILURES),
)
