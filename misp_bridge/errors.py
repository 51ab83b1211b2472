"""The project's one exception tree.

Every error carries its context as attributes and renders as one sentence a user can act on.
No message ever contains a secret: callers pass names and hosts, never keys or tokens.
"""

from __future__ import annotations


class BridgeError(Exception):
    """Base of every error this project raises on purpose."""


class UsageError(BridgeError):
    """A command-line argument is wrong (exit code 2)."""


class ConfigError(BridgeError):
    """A setting is missing or wrong; names the setting."""

    def __init__(self, setting: str, problem: str, source: str = "config.py") -> None:
        self.setting = setting
        self.problem = problem
        self.source = source
        super().__init__(f"{source}: {setting} {problem}")


class ConfigErrors(BridgeError):
    """Several settings are wrong at once; lists all of them."""

    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))


class MispError(BridgeError):
    """MISP refused a request or answered something unusable (not worth retrying)."""


class MispUnavailable(MispError):
    """MISP is down, timed out or answered 5xx (worth retrying later)."""


class SentinelError(BridgeError):
    """Sentinel or Entra ID refused a request (not worth retrying as is)."""


class SentinelUnavailable(SentinelError):
    """Sentinel or Entra ID is unreachable or kept failing after the retries."""


class AuthError(SentinelError):
    """Entra ID did not give a token; the message explains the AADSTS code in words."""


class KeyVaultError(BridgeError):
    """A Key Vault secret could not be read; names the secret, never its value."""


class LockHeld(BridgeError):
    """Another run holds the state lock."""


class StateError(BridgeError):
    """The state database cannot be opened or written."""
