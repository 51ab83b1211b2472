"""A Function App's settings -> the sync's Settings, checked with the same one-line errors as config.py.

Where they come from: the app's environment at run time (app settings, Key Vault references already
resolved by the platform), or the `Values` of a local.settings.json that check-config reads. Each value
is a string. Three groups of names (docs/azure-function.md, "Settings"):

- the original misp2sentinel Function's: `mispurl`, `mispkey`, `tenants` (a JSON list of
  {"tenantId", "id", "secret", "workspaceId"}, or the older object keyed by tenant id), the single
  workspace `tenant_id` / `client_id` / `client_secret` / `workspace_id` (with `subscription_id`,
  `resource_group_name`, `workspace_name`) used when `tenants` is empty or absent, `misp_event_filters`
  (JSON), `key_vault_name`, `local_mode`, `timerTriggerSchedule`, and its later
  `enable_verify_toids_change` / `enable_delete_outdated_indicators`;
- every config.py setting under its own name (`days_to_expire`, `ms_check_if_exist_in_sentinel`, ...):
  "true"/"false", numbers and JSON objects are read as such;
- the Function's own: `verify_recent_toids_change`, `delete_outdated_indicators` (the clean-up passes),
  `state_backend` (table | sqlite), `state_table`, `state_storage`, `run_budget`, `state_lease_seconds`.

An empty setting counts as absent. Everything else takes config.py's defaults (config/defaults.py),
except `misp_event_filters`, whose default is the original Function's, and `log_file` (none: the host
collects the logs). A value still reading `@Microsoft.KeyVault(...)` is an error naming the setting and
the likely cause; in a local.settings.json (which Azure never resolves) it is a warning, and a
stand-in takes its place so that the other settings are still checked.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from misp_bridge.config.defaults import SETTING_DEFAULTS
from misp_bridge.config.issues import Collector, Issue
from misp_bridge.config.load import KNOWN_SETTINGS, inspect_values
from misp_bridge.config.locate import Lookup
from misp_bridge.config.model import Settings
from misp_bridge.errors import ConfigError, ConfigErrors
from misp_bridge.function.host import schedule_problem

# The original Function's filters when misp_event_filters is absent (includeEventTags left out: MISP's
# events search drops it, events carry their tags anyway).
FUNCTION_EVENT_FILTERS = {"published": 1, "publish_timestamp": "14d", "enforceWarninglist": True}
KEY_VAULT_REFERENCE = "@Microsoft.KeyVault("
CLEANUPS = ("verify_recent_toids_change", "delete_outdated_indicators")
_ALIASES = {  # the original's names -> config.py's (or this Function's)
    "mispurl": "misp_domain",
    "mispkey": "misp_key",
    "enable_verify_toids_change": "verify_recent_toids_change",
    "enable_delete_outdated_indicators": "delete_outdated_indicators",
}
_SINGLE = {  # single-workspace app settings -> ms_auth keys
    "tenant_id": "tenant",
    "client_id": "client_id",
    "client_secret": "client_secret",
    "workspace_id": "workspace_id",
    "subscription_id": "subscription_id",
    "resource_group_name": "resourceGroupName",
    "workspace_name": "workspaceName",
}
_TENANT_KEYS = {  # keys of one `tenants` entry -> ms_auth keys (config.py's own pass through)
    "tenantId": "tenant",
    "id": "client_id",
    "secret": "client_secret",
    "workspaceId": "workspace_id",
    "workspaceid": "workspace_id",  # the older, dict-keyed shape
    "subscriptionId": "subscription_id",
}
_FUNCTION_ONLY = frozenset(
    {*CLEANUPS, "state_backend", "state_table", "state_storage", "run_budget", "state_lease_seconds"}
)
KNOWN_APP_SETTINGS = frozenset(
    {*_ALIASES, *_SINGLE, *_FUNCTION_ONLY, *(KNOWN_SETTINGS - {"ms_auth"}), "tenants", "local_mode",
     "timerTriggerSchedule"}
)  # fmt: skip
_NO_WORKSPACE = (
    "is missing, and so is the single workspace (tenant_id, client_id, client_secret, workspace_id): "
    "set one of them"
)
_TABLE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]{2,62}")
# Stand-ins for Key Vault references a local file cannot resolve: they pass every check.
_STAND_IN_SECRET = "resolved-by-azure-at-run-time"  # noqa: S105 - a stand-in, not a secret
_STAND_IN_GUID = "00000000-0000-4000-8000-000000000000"


@dataclass(frozen=True)
class FunctionSettings:
    """What one invocation runs with: the sync's Settings plus the Function's own choices."""

    settings: Settings
    cleanups: tuple[str, ...]  # CLEANUPS the settings turn on, in the order they run
    state_backend: Literal["table", "sqlite"]
    state_table: str
    state_storage: str  # the connection prefix (AzureWebJobsStorage by default)
    run_budget: float | None  # seconds; None: no budget
    lease_seconds: float
    vault_client_secret_applies: bool  # key_vault_name's ClientSecret is for the single workspace only
    unresolved: tuple[str, ...] = ()  # settings a local file keeps as Key Vault references


def unresolved_reference() -> str:
    return (
        f"is still a Key Vault reference ({KEY_VAULT_REFERENCE}...)): the platform could not resolve "
        "it; give the Function App's managed identity the Key Vault Secrets User role on the vault (or a Get "
        "secret access policy), check the secret's name, and see the reference's status under the app's "
        "Environment variables"
    )


class _Reader:
    """Turns the string settings into config.py's raw values, noting every problem in `c`."""

    def __init__(self, values: Mapping[str, str], c: Collector, *, local: bool) -> None:
        self.values = {k: v for k, v in values.items() if isinstance(v, str) and v.strip()}
        self.c = c
        self.local = local
        self.unresolved: list[str] = []
        self.refused: set[str] = set()  # refused already (an "is missing" would say it twice)
        self.names: dict[str, str] = {}  # config.py's name -> the app setting it came from

    def get(self, name: str) -> str | None:
        value = self.values.get(name)
        if value is None or not value.lstrip().startswith(KEY_VAULT_REFERENCE):
            return value
        if not self.local:
            self.c.error(name, unresolved_reference())
            self.refused.add(name)
            return None
        self.c.warning(
            name, "is a Key Vault reference: Azure resolves it when the app runs; not checked here"
        )
        self.unresolved.append(name)
        return _STAND_IN_SECRET

    def json(self, name: str, kind: type | tuple[type, ...], what: str) -> Any:
        text = self.get(name)
        if text is None or text == _STAND_IN_SECRET:
            return None
        try:
            value = json.loads(text)
        except ValueError as exc:
            where = (
                f" (line {exc.lineno} column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
            )
            self.c.error(name, f"must be {what} in JSON; it is not valid JSON{where}")
            self.refused.add(name)
            return None
        if not isinstance(value, kind):
            self.c.error(name, f"must be {what} in JSON, got a JSON {type(value).__name__}")
            self.refused.add(name)
            return None
        return value

    def flag(self, name: str) -> bool | None:
        text = self.get(name)
        if text is None:
            return None
        word = text.strip().lower()
        if word not in ("true", "false"):
            self.c.error(name, f"must be true or false, got {text.strip()[:20]!r}")
            return None
        return word == "true"

    def number(self, name: str) -> int | float | None:
        text = self.get(name)
        if text is None:
            return None
        try:
            return int(text.strip())
        except ValueError:
            pass
        try:
            return float(text.strip())
        except ValueError:
            self.c.error(name, f"must be a number, got {text.strip()[:20]!r}")
            return None


def _raw_setting(reader: _Reader, name: str, key: str) -> Any:
    """config.py's setting `name` from the app setting `key`, in config.py's Python type."""
    default = SETTING_DEFAULTS[name]
    if name == "misp_verifycert":
        text = reader.get(key)
        flag = text.strip().lower() if text else None
        return {"true": True, "false": False}.get(flag, text) if flag else None
    if isinstance(default, bool):
        return reader.flag(key)
    if isinstance(default, (int, float)):
        return reader.number(key)
    if isinstance(default, dict):
        return reader.json(key, dict, "an object")
    return reader.get(key)


def _workspaces(reader: _Reader) -> tuple[Any, bool]:
    """ms_auth from `tenants`, else from the single-workspace settings; and whether it came from the
    latter (a Key Vault ClientSecret applies to that workspace only, as in the original)."""
    text = reader.get("tenants")
    if text == _STAND_IN_SECRET:
        entry = {"tenant": _STAND_IN_GUID, "client_id": _STAND_IN_GUID, "client_secret": _STAND_IN_SECRET,
                 "workspace_id": _STAND_IN_GUID}  # fmt: skip
        return [entry], False
    tenants = (
        reader.json("tenants", (list, dict), "a list of {tenantId, id, secret, workspaceId}")
        if text
        else None
    )
    if isinstance(tenants, dict):  # the older shape: {"<tenant id>": {"id", "secret", "workspaceid"}}
        reader.c.warning("tenants", "uses the older shape (an object keyed by tenant id); it still works")
        tenants = [{"tenantId": t, **v} if isinstance(v, dict) else v for t, v in tenants.items()]
    if tenants:
        reader.names["ms_auth"] = "tenants"
        return [
            {_TENANT_KEYS.get(k, k): v for k, v in e.items()} if isinstance(e, dict) else e for e in tenants
        ], False
    single = {key: value for name, key in _SINGLE.items() if (value := reader.get(name)) is not None}
    if not single:
        return None, False
    reader.names["ms_auth"] = "single"
    single.setdefault("client_secret", "")  # may come from key_vault_name's ClientSecret
    return single, True


def _rename(issue: Issue, names: Mapping[str, str]) -> Issue:
    """An issue under the name the user wrote (tenants[0].tenantId, tenant_id, mispurl)."""
    setting = issue.setting
    if setting == "ms_auth" and issue.message == "is missing":
        return Issue(issue.severity, "tenants", _NO_WORKSPACE, issue.source)
    if setting.startswith("ms_auth"):
        back = {v: k for k, v in _TENANT_KEYS.items() if k != "workspaceid"}
        if names.get("ms_auth") == "tenants":
            setting = re.sub(
                r"^ms_auth\[(\d+)\]\['(\w+)'\]", lambda m: f"tenants[{m[1]}].{back.get(m[2], m[2])}", setting
            )
            setting = re.sub(r"^ms_auth\b", "tenants", setting)
        elif names.get("ms_auth") == "single":
            single = {v: k for k, v in _SINGLE.items()}
            setting = re.sub(r"^ms_auth\['(\w+)'\]", lambda m: single.get(m[1], m[1]), setting)
        else:
            setting = re.sub(r"^ms_auth\b", "tenants", setting)
    else:
        setting = names.get(setting, setting)
    return Issue(issue.severity, setting, issue.message, issue.source) if setting != issue.setting else issue


def check_schedule(reader: _Reader) -> None:
    name = "timerTriggerSchedule"
    text = reader.get(name)
    if text is None:
        if name not in reader.values:
            reader.c.error(
                name, "is missing: the timer reads its schedule from it (like '0 0 * * * *': hourly)"
            )
        return
    problem = schedule_problem(text)
    if problem is not None:
        severity, message = problem
        (reader.c.error if severity == "error" else reader.c.warning)(name, message)


# -- the Function's own settings -----------------------------------------------------------------------


def default_budget(function_timeout: float | None, ms_timeout: float) -> float | None:
    """Stop taking work early enough that a request in flight (ms_timeout) and the run's bookkeeping end
    before the host's timeout: at least ms_timeout + 30 s or a tenth of the timeout before it."""
    if function_timeout is None:
        return None
    return max(function_timeout - max(ms_timeout + 30, function_timeout / 10), function_timeout / 2)


def _function_options(reader: _Reader, function_timeout: float | None) -> dict[str, Any]:
    c, out = reader.c, dict[str, Any]()
    out["cleanups"] = tuple(
        name
        for name in CLEANUPS
        if reader.flag(next((a for a, n in _ALIASES.items() if n == name and a in reader.values), name))
    )
    backend = (reader.get("state_backend") or "table").strip().lower()
    if backend not in ("table", "sqlite"):
        c.error("state_backend", f"must be 'table' or 'sqlite', got {backend[:20]!r}")
    out["state_backend"] = "sqlite" if backend == "sqlite" else "table"
    table = (reader.get("state_table") or "misp2sentinel").strip()
    if not _TABLE_NAME.fullmatch(table) or table.lower() == "tables":
        c.error("state_table", "must be a table name: 3 to 63 letters and digits, starting with a letter")
    out["state_table"] = table
    prefix = (reader.get("state_storage") or "AzureWebJobsStorage").strip()
    out["state_storage"] = prefix
    if out["state_backend"] == "table" and not any(
        reader.get(prefix + tail) for tail in ("", "__accountName", "__tableServiceUri")
    ):
        c.error(prefix, "is missing: the state table needs a storage account (a connection string, or "
                f"{prefix}__accountName with a managed identity)")  # fmt: skip
    ms_timeout = reader.number("ms_timeout") or SETTING_DEFAULTS["ms_timeout"]
    budget = reader.number("run_budget")
    if budget is not None and not 0 < budget < (function_timeout or float("inf")):
        limit = (
            f" and less than the host's functionTimeout ({function_timeout:g} s)" if function_timeout else ""
        )
        c.error("run_budget", f"must be more than 0 seconds{limit}, got {budget:g}")
    elif budget is not None and function_timeout and function_timeout - budget < ms_timeout + 30:
        c.warning(
            "run_budget",
            f"leaves less than ms_timeout + 30 s ({ms_timeout + 30:g} s) before the host's "
            "functionTimeout: a request in flight at the cut may be killed with the run",
        )
    out["run_budget"] = (
        float(budget) if budget is not None else default_budget(function_timeout, float(ms_timeout))
    )
    lease = reader.number("state_lease_seconds")
    floor = max(60.0, function_timeout or 0.0)
    if lease is not None and lease <= floor:
        c.error("state_lease_seconds", f"must be more than {floor:g} seconds (the host's functionTimeout, "
                "so that a living run never outlasts its lease), got " + f"{lease:g}")  # fmt: skip
    out["lease_seconds"] = float(lease) if lease is not None else (function_timeout or 600.0) + 300.0
    return out


def _likely_typos(reader: _Reader) -> None:
    """A setting that is none of ours but close to one of our names is probably that one, misspelt.
    (The environment holds the platform's settings too: only near misses are reported.)"""
    for name in reader.values:
        if name in KNOWN_APP_SETTINGS or name.startswith(("AzureWebJobs", "AzureFunctionsJobHost")):
            continue
        close = difflib.get_close_matches(name, KNOWN_APP_SETTINGS, n=1, cutoff=0.85)
        if close and name.lower() != name.upper():
            reader.c.warning(name, f"is not a setting the Function reads; did you mean {close[0]}?")


# -- the entry points ------------------------------------------------------------------------------------


def inspect_app_settings(
    values: Mapping[str, str],
    *,
    work_dir: Path,
    app_dir: Path | None = None,
    function_timeout: float | None = None,
    source: str = "app settings",
    local: bool = False,
) -> tuple[FunctionSettings | None, list[Issue]]:
    """Read and check every setting; FunctionSettings is None when any issue is an error. Never raises.
    `work_dir` is where relative paths and written files go (a temporary directory in Azure); the
    constants.py beside the app (`app_dir`) is used when there is one; `local` reads a
    local.settings.json (Key Vault references are expected there)."""
    c = Collector(source, work_dir)
    reader = _Reader(values, c, local=local)
    _likely_typos(reader)
    check_schedule(reader)
    options = _function_options(reader, function_timeout)
    raw: dict[str, Any] = {}
    for name in sorted(KNOWN_SETTINGS - {"ms_auth"}):
        aliases = [a for a, n in _ALIASES.items() if n == name]
        alias = next((a for a in aliases if a in reader.values), None)
        if alias is not None or (aliases and name not in reader.values):
            reader.names[name] = alias or aliases[0]  # messages use the original's name when unset
        value = _raw_setting(reader, name, alias or name)
        if value is not None:
            raw[name] = value
    local_mode = reader.flag("local_mode")
    if local_mode and "misp_verifycert" not in raw:
        raw["misp_verifycert"] = False
        reader.names["misp_verifycert"] = "local_mode"
    raw.setdefault("misp_event_filters", dict(FUNCTION_EVENT_FILTERS))
    raw.setdefault("log_file", None)
    raw.setdefault("state_file", str(work_dir / "misp2sentinel.db"))
    workspaces, single = _workspaces(reader)
    if workspaces is not None:
        raw["ms_auth"] = workspaces
    # constants.py as the sync's tools find it (config/locate.py): in the app's folder, else built in.
    located = Lookup(app_dir).constants(app_dir) if app_dir is not None else None
    constants = located.path if located is not None else None
    settings, issues = inspect_values(raw, c, config_path=work_dir / "app-settings", constants_path=constants)
    issues = [
        renamed
        for issue in issues
        if not (
            (renamed := _rename(issue, reader.names)).setting in reader.refused
            and issue.message == "is missing"
        )
    ]
    if settings is None or any(issue.severity == "error" for issue in issues):
        return None, issues
    found = FunctionSettings(
        settings=settings,
        vault_client_secret_applies=single,
        unresolved=tuple(reader.unresolved),
        **options,
    )
    return found, issues


def load_app_settings(values: Mapping[str, str], **options: Any) -> tuple[FunctionSettings, list[Issue]]:
    """inspect_app_settings that raises ConfigErrors (every error, one line each) instead of returning
    None; the warnings come back for the caller to log."""
    found, issues = inspect_app_settings(values, **options)
    errors = [issue for issue in issues if issue.severity == "error"]
    if errors or found is None:
        raise ConfigErrors([ConfigError(issue.setting, issue.message, issue.source) for issue in errors])
    return found, [issue for issue in issues if issue.severity == "warning"]
