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


# What each code means, as the help, the summary and the log say it (docs/architecture.md "Exit codes").
SYNC_MEANINGS: dict[int, str] = {
    SyncExit.OK: "all done",
    SyncExit.FAILURES: "finished, but something is pending or was rejected",
    SyncExit.USAGE: "usage or configuration error",
    SyncExit.MISP: "MISP unreachable or refused",
    SyncExit.SENTINEL: "Sentinel, Entra ID or Key Vault unreachable or refused",
    SyncExit.LOCKED: "another run holds the state lock",
}
DELETE_MEANINGS: dict[int, str] = {
    SyncExit.OK: "done (or nothing to revoke)",
    SyncExit.FAILURES: "some indicators could not be revoked now (kept pending for the next sync)",
    SyncExit.USAGE: "usage or configuration error, or no confirmation",
    SyncExit.SENTINEL: "Sentinel, Entra ID or Key Vault unreachable or refused",
    SyncExit.LOCKED: "a sync run holds the state lock",
}
CHECK_MEANINGS: dict[int, str] = {
    SyncExit.OK: "the configuration is usable",
    SyncExit.FAILURES: "usable, but read the warnings",
    SyncExit.USAGE: "not usable: errors (or bad arguments)",
}


class PluginExit(IntEnum):
    """pandora_to_misp.py."""

    SENT = 0  # event created or sighting added (or a recovery run: nothing to do)
    SPOOLED = 1  # MISP unavailable: the alert is kept in the spool for a later run
    USAGE = 2  # bad arguments


PLUGIN_MEANINGS: dict[int, str] = {
    PluginExit.SENT: "event created or sighting added (or a recovery run: nothing to send)",
    PluginExit.SPOOLED: "the alert was kept (spool, or spool/failed/ for a refusal): see the log",
    PluginExit.USAGE: "usage error, a bad rules file, no key, or a missing Python module",
}


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
