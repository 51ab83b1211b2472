"""The project's one exception tree.

Every error carries its context as attributes and renders as one sentence a user can act on. No message
ever contains a secret: callers pass names, hosts and status codes, never keys or tokens. Each command's
exit code follows from the branch an error belongs to (see the tables in each CLI module).

    BridgeError
    ├── UsageError                   a command-line argument is wrong
    ├── ConfigError                  a setting is wrong; names the setting
    │   └── ConfigFileError          a settings file is missing or cannot be run
    ├── ConfigErrors                 several settings are wrong at once
    ├── StateError                   the sync's state file cannot be used
    ├── OutputFileError              a file the sync writes on request cannot be written
    ├── LockHeld                     another run holds a lock
    │   ├── RunLockHeld              ... the sync's run lock, for the whole wait
    │   └── RunLeaseHeld             ... the state table's run lease (the Function), for the whole wait
    ├── SpoolError                   the plugin's spool cannot be written or read
    ├── TriageDataError              the plugin's packaged or custom triage data is wrong
    │   ├── RulesError               ... a rules file
    │   ├── AttackDataError          ... the ATT&CK technique table
    │   └── UnknownTechnique         ... an ATT&CK id the table does not know
    ├── InvalidValue                 a MISP value cannot become a STIX pattern
    ├── MispError                    MISP refused something or answered nonsense
    │   ├── MispRejected             MISP refused the request itself (validation, permission, 4xx)
    │   ├── MispKeyRefused           403 to the API key
    │   ├── MispTlsError             the server's certificate is not trusted
    │   ├── MispBadReply             a 2xx that is not JSON (a login page, a proxy)
    │   └── MispUnavailable          down, slow, 5xx, rate-limited past the retries: worth retrying later
    │       ├── MispServerFailed     ... MISP answered 5xx (it is up, but failed on this request)
    │       ├── MispTimeout          no complete answer within the timeout (a smaller page may do)
    │       └── BudgetSpent          the plugin's time budget ran out before MISP could be tried
    ├── SentinelError                Sentinel, its management API or Entra ID refused something
    │   ├── AuthError                Entra ID gave no token (AADSTS explained)
    │   ├── AzureTlsError            a Microsoft endpoint's certificate is not trusted
    │   ├── WorkspaceRefused         uploads to a workspace must stop (403, 404, repeated 401)
    │   ├── ManagementError          the management (ARM) API refused a request
    │   └── SentinelUnavailable      unreachable or still failing after the retries
    │       └── ManagementUnavailable
    ├── KeyVaultError                a Key Vault secret could not be read
    │   └── KeyVaultUnavailable      ... because the vault or Entra ID could not be reached
    └── FunctionRunFailed            an Azure Function invocation ended in error (the host marks it failed)
"""

from __future__ import annotations

# --- usage and configuration -----------------------------------------------------------------------


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


class ConfigFileError(ConfigError):
    """A settings file is missing or cannot be run; names the file (and the line) instead of a setting."""

    def __init__(self, source: str, problem: str) -> None:
        super().__init__("", problem, source)
        # The file name is the subject of the sentence: "config.py not found at ...".
        self.args = (f"{source} {problem}",)


class ConfigErrors(BridgeError):
    """Several settings are wrong at once; lists all of them."""

    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))


# --- local files and locks -------------------------------------------------------------------------


class StateError(BridgeError):
    """The state database cannot be opened or written."""


class OutputFileError(BridgeError):
    """A file the tools write on request (parsed_indicators.txt, sentinel_response.txt) cannot be
    written; names the file and why (a symbolic link in its place is refused)."""

    def __init__(self, path: object, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"The file {path} cannot be written: {problem}.")


class LockHeld(BridgeError):
    """Another run holds a lock."""


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


class RunLeaseHeld(LockHeld):
    """The run lease on the state table stayed taken for the whole wait; names the table, the holder
    and until when the lease runs unless its holder renews it."""

    def __init__(self, where: str, holder: str, until: str, waited: float) -> None:
        self.where = where
        self.holder = holder
        self.until = until
        self.waited = waited
        super().__init__(
            f"Another sync run ({holder}) holds the lease on {where} until {until} unless it renews it; "
            f"waited {waited:g} s, try again when it has finished."
        )


class SpoolError(BridgeError):
    """The plugin's spool directory or one of its files cannot be written or read; names the path."""

    def __init__(self, path: object, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"Spool {path}: {problem}.")


# --- the plugin's triage data ----------------------------------------------------------------------


class TriageDataError(BridgeError):
    """The triage rules or the ATT&CK table are wrong: the operator must fix a file (exit code 2)."""


class RulesError(TriageDataError):
    """A triage rules file is wrong; names the file, the rule and the problem."""

    def __init__(self, source: str, problem: str, rule_id: str | None = None) -> None:
        self.source = source
        self.problem = problem
        self.rule_id = rule_id
        where = f"{source}: rule {rule_id!r}" if rule_id else source
        super().__init__(f"{where} {problem}.")


class AttackDataError(TriageDataError):
    """The ATT&CK technique table cannot be read or has the wrong shape."""

    def __init__(self, source: str, problem: str) -> None:
        self.source = source
        self.problem = problem
        super().__init__(f"{source}: {problem}.")


class UnknownTechnique(TriageDataError):
    """An ATT&CK technique id is not in the packaged galaxy table."""

    def __init__(self, technique_id: str, source: str = "techniques.json") -> None:
        self.technique_id = technique_id
        self.source = source
        super().__init__(
            f"ATT&CK technique {technique_id!r} is not in {source}; "
            "use an id from the MISP mitre-attack-pattern galaxy such as 'T1110.001'."
        )


# --- MISP ------------------------------------------------------------------------------------------


class InvalidValue(BridgeError):
    """A MISP attribute value cannot become a STIX pattern; names the type and the problem, not the value."""

    def __init__(self, misp_type: str, problem: str) -> None:
        self.misp_type = misp_type
        self.problem = problem
        super().__init__(f"A MISP {misp_type} attribute was skipped because its value {problem}.")


class MispError(BridgeError):
    """MISP refused a request or answered something unusable (not worth retrying as is)."""


class MispRejected(MispError):
    """MISP refused an event, a sighting or a search (validation, permission, not found)."""

    def __init__(self, what: str, status: int | None, reason: str) -> None:
        self.what = what
        self.status = status
        self.reason = reason
        code = f" (HTTP {status})" if status is not None else ""
        super().__init__(f"MISP refused {what}{code}: {reason.rstrip('.')}.")


class MispUnavailable(MispError):
    """MISP is down, timed out or answered 5xx (worth retrying later)."""


class MispKeyRefused(MispError):
    """MISP answered 403 to the API key; `hint` says where the key is set (a setting, a Pandora field)."""

    def __init__(self, url: str, hint: str) -> None:
        self.url = url
        self.hint = hint
        super().__init__(f"MISP at {url} refused the API key (403 Authentication failed); {hint}.")


class MispTlsError(MispError):
    """MISP's TLS certificate is not trusted; `hint` names the setting that gives the CA, `reason` is
    what the TLS library said (an expired certificate or a wrong name gets other advice)."""

    def __init__(self, url: str, hint: str, reason: str = "") -> None:
        self.url = url
        self.hint = tls_advice(reason, hint)
        self.reason = reason
        why = f" ({reason})" if reason else ""
        super().__init__(f"MISP at {url}: its TLS certificate is not trusted{why}; {self.hint}.")


class MispBadReply(MispError):
    """MISP answered with something that is not JSON (a login page or a proxy in the way)."""

    def __init__(self, url: str, action: str, hint: str) -> None:
        self.url = url
        self.hint = hint
        super().__init__(
            f"MISP at {url} answered something that is not JSON while {action} (a login page or a proxy?); "
            f"{hint}"
        )


class MispServerFailed(MispUnavailable):
    """MISP answered 5xx: it is reachable but failed on this request (the request may be the cause)."""


class MispTimeout(MispUnavailable):
    """MISP did not finish its answer within the timeout (restSearch builds a whole page first)."""


class BudgetSpent(MispUnavailable):
    """Too little of the plugin's time budget is left to try MISP."""

    def __init__(self, remaining: float) -> None:
        self.remaining = remaining
        super().__init__(f"Only {remaining:.1f} s of the time budget were left, so MISP was not tried.")


# --- Microsoft: Entra ID, Sentinel, Key Vault ------------------------------------------------------


class SentinelError(BridgeError):
    """Sentinel or Entra ID refused a request (not worth retrying as is)."""


class AuthError(SentinelError):
    """Entra ID did not give a token; the message explains the AADSTS code in words."""


class AzureTlsError(SentinelError):
    """A Microsoft endpoint's TLS certificate is not trusted; names the host (and port) and the CA
    setting, with what the TLS library said."""

    def __init__(self, host: str, setting: str = "ms_ca_bundle", reason: str = "") -> None:
        self.host = host
        self.setting = setting
        self.reason = reason
        super().__init__(tls_sentence(host, setting, reason))


class WorkspaceRefused(SentinelError):
    """Sentinel refused this workspace (403, 404, repeated 401): no point sending more to it."""

    def __init__(self, workspace: str, status: int, cause: str) -> None:
        self.workspace = workspace
        self.status = status
        self.cause = cause
        if status:
            super().__init__(f"Sentinel refused uploads to workspace {workspace} (HTTP {status}): {cause}")
        else:  # no HTTP refusal: no token, or a certificate refused on our side
            super().__init__(f"Uploads to workspace {workspace} stopped: {cause}")


class ManagementError(SentinelError):
    """The Sentinel management (ARM) API refused a request; names the workspace and what to fix."""

    def __init__(self, workspace: str, status: int, cause: str) -> None:
        self.workspace = workspace
        self.status = status
        self.cause = cause
        super().__init__(
            f"The Sentinel management API refused workspace {workspace} (HTTP {status}): {cause}."
        )


class SentinelUnavailable(SentinelError):
    """Sentinel or Entra ID is unreachable or kept failing after the retries."""


class ManagementUnavailable(SentinelUnavailable):
    """The Sentinel management (ARM) API kept failing or could not be reached after the retries."""

    def __init__(self, workspace: str, reason: str) -> None:
        self.workspace = workspace
        self.reason = reason
        super().__init__(f"The Sentinel management API for workspace {workspace} {reason}; try again later.")


class KeyVaultError(BridgeError):
    """A Key Vault secret could not be read; names the secret, never its value."""


class KeyVaultUnavailable(KeyVaultError):
    """Key Vault or its Entra ID token endpoint is unreachable or kept failing (worth retrying later)."""


class FunctionRunFailed(BridgeError):
    """An invocation of the Azure Function ended in error; the message is the one line already logged.
    Raised to the Functions host so that the invocation counts as failed."""


# --- TLS failures, recognised under whatever wraps them ----------------------------------------------

_VERIFY_FAILED = ("CERTIFICATE_VERIFY_FAILED", "certificate verify failed")


def untrusted_certificate(exc: BaseException) -> tuple[str | None, str] | None:
    """(URL of the request, the TLS library's reason) when a certificate was checked and refused
    somewhere under `exc` (msal, azure-core and PyMISP wrap requests' SSLError), else None. A handshake
    cut short (a proxy or a server closing the connection) is not a refusal: None."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        text = str(current)
        if any(marker in text for marker in _VERIFY_FAILED):
            reason = text.split("certificate verify failed:", 1)[-1] if "verify failed:" in text else ""
            reason = reason.split("(_ssl.c", 1)[0].strip(" '\")(")
            request = getattr(current, "request", None)
            return getattr(request, "url", None), reason
        current = current.__cause__ or current.__context__
    return None


def tls_advice(reason: str, ca_hint: str) -> str:
    """What to do about a refused certificate: the CA setting, unless the certificate itself is wrong."""
    low = reason.lower()
    if "expired" in low:
        return "the server's certificate has expired: it must be renewed (or this host's clock is wrong)"
    if "hostname mismatch" in low or "not valid for" in low:
        return "the certificate is made out to another name: check the URL"
    return ca_hint


def tls_sentence(host: str, setting: str, reason: str = "") -> str:
    """One sentence for a Microsoft endpoint whose certificate was refused."""
    why = f" ({reason})" if reason else ""
    advice = tls_advice(reason, f"set {setting} to the CA bundle that signs it")
    return f"the TLS certificate of {host} is not trusted{why}; {advice}"
