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


class RunLockHeld(LockHeld):
    """The run lock on a state file stayed taken for the whole wait; names the file and the holder."""

    def __init__(self, state_file: str, pid: int | None, waited: float) -> None:
        self.state_file = state_file
        self.pid = pid
        self.waited = waited
        holder = f"process {pid}" if pid is not None else "another process"
        super().__init__(
            f"Another sync run ({holder}) holds the lock on the state file {state_file}; "
            f"waited {waited:g} s, try again when it has finished."
        )


class InvalidValue(BridgeError):
    """A MISP attribute value cannot become a STIX pattern; names the type and the problem, not the value."""

    def __init__(self, misp_type: str, problem: str) -> None:
        self.misp_type = misp_type
        self.problem = problem
        super().__init__(f"A MISP {misp_type} attribute was skipped because its value {problem}.")


class UnknownTechnique(BridgeError):
    """An ATT&CK technique id is not in the packaged galaxy table."""

    def __init__(self, technique_id: str, source: str = "techniques.json") -> None:
        self.technique_id = technique_id
        self.source = source
        super().__init__(
            f"ATT&CK technique {technique_id!r} is not in {source}; "
            "use an id from the MISP mitre-attack-pattern galaxy such as 'T1110.001'."
        )


class AttackDataError(BridgeError):
    """The ATT&CK technique table cannot be read or has the wrong shape."""

    def __init__(self, source: str, problem: str) -> None:
        self.source = source
        self.problem = problem
        super().__init__(f"{source}: {problem}.")


class RulesError(BridgeError):
    """A triage rules file is wrong; names the file, the rule and the problem."""

    def __init__(self, source: str, problem: str, rule_id: str | None = None) -> None:
        self.source = source
        self.problem = problem
        self.rule_id = rule_id
        where = f"{source}: rule {rule_id!r}" if rule_id else source
        super().__init__(f"{where} {problem}.")


class KeyVaultUnavailable(KeyVaultError):
    """Key Vault or its Entra ID token endpoint is unreachable or kept failing (worth retrying later)."""


class ConfigFileError(ConfigError):
    """A settings file is missing or cannot be run; names the file (and the line) instead of a setting."""

    def __init__(self, source: str, problem: str) -> None:
        super().__init__("", problem, source)
        # The file name is the subject of the sentence: "config.py not found at ...".
        self.args = (f"{source} {problem}",)


class ManagementError(SentinelError):
    """The Sentinel management (ARM) API refused a request; names the workspace and what to fix."""

    def __init__(self, workspace: str, status: int, cause: str) -> None:
        self.workspace = workspace
        self.status = status
        self.cause = cause
        super().__init__(
            f"The Sentinel management API refused workspace {workspace} (HTTP {status}): {cause}."
        )


class ManagementUnavailable(SentinelUnavailable):
    """The Sentinel management (ARM) API kept failing or could not be reached after the retries."""

    def __init__(self, workspace: str, reason: str) -> None:
        self.workspace = workspace
        self.reason = reason
        super().__init__(f"The Sentinel management API for workspace {workspace} {reason}; try again later.")


class SpoolError(BridgeError):
    """The plugin's spool directory or one of its files cannot be written or read; names the path."""

    def __init__(self, path: object, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"Spool {path}: {problem}.")


class MispRejected(MispError):
    """MISP refused an event or a sighting for good (validation, permission); it is not retried."""

    def __init__(self, what: str, status: int | None, reason: str) -> None:
        self.what = what
        self.status = status
        self.reason = reason
        code = f" ({status})" if status is not None else ""
        super().__init__(f"MISP refused {what}{code}: {reason}.")


class MispKeyRefused(MispUnavailable):
    """MISP answered 403 to the API key; kept for a retry because the key may be fixed in Pandora."""

    def __init__(self, url: str) -> None:
        self.url = url
        super().__init__(
            f"MISP at {url} refused the API key (403 Authentication failed); "
            "check field 2 of the Pandora action (the key is not shown here)."
        )
