"""The one place that reads config.py and constants.py and turns them into frozen, validated Settings.

Lifecycle: `inspect_config` runs config.py from its path in a namespace of its own (it is never imported
as a module, so nothing else can reach its globals), applies environment overrides for the secrets,
finds constants.py, checks every value and returns Settings plus every Issue found. `load_settings`
does the same but raises ConfigErrors when any issue is an error. Key Vault secrets come later, from the
caller, through `Settings.with_secrets`.

Secret precedence: config.py < environment (`MISP_KEY`; `MS_CLIENT_SECRET` for every workspace whose
client_secret is empty or a placeholder) < Key Vault (`key_vault_name` setting, overridden by the
`key_vault_name` environment variable, as the original tool; or `key_vault_url`).
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from misp_bridge.config.defaults import ENV_DIRECTORY_DEFAULTS, REQUIRED, SETTING_DEFAULTS
from misp_bridge.config.files import run_file
from misp_bridge.config.filters import event_filters
from misp_bridge.config.issues import Collector, Issue
from misp_bridge.config.locate import Lookup
from misp_bridge.config.model import Settings, Workspace
from misp_bridge.config.readers import (
    MAX_DAYS,
    MAX_PAGE,
    Reader,
    ca_bundle,
    choice,
    duration,
    expire_mapping,
    flag,
    integer,
    is_placeholder,
    not_reserved_source,
    optional_url,
    output_path,
    read_workspaces,
    seconds,
    suggest,
    text,
    url,
    vault_name,
    verifycert,
)
from misp_bridge.config.tables import read_constants
from misp_bridge.errors import ConfigError, ConfigErrors, ConfigFileError
from misp_bridge.output.redact import register_secret

__all__ = ["KNOWN_SETTINGS", "inspect_config", "inspect_values", "load_settings", "usable"]

log = logging.getLogger(__name__)


# config.py name -> how its value is read and checked. The defaults are in config/defaults.py
# (SETTING_DEFAULTS, the one place that says what an absent setting means). ms_auth is read apart
# because it becomes Workspace objects.
_READERS: dict[str, Reader] = {
    "ms_api_version": text(),
    "ms_delete_api_version": text(),
    "ms_max_indicators_request": integer(1, 100),
    "ms_max_requests_minute": integer(1, 100),
    "misp_key": text(secret=True),
    "misp_domain": url,
    "misp_verifycert": verifycert,
    "misp_event_filters": event_filters,
    "misp_event_limit_per_page": integer(1, MAX_PAGE),
    "days_to_expire": integer(1, MAX_DAYS),
    "days_to_expire_start": choice("valid_from", "current_date"),
    "days_to_expire_mapping": expire_mapping,
    "days_to_expire_ignore_misp_last_seen": flag,
    "default_confidence": integer(0, 100),
    "sourcesystem": not_reserved_source,
    "verbose_log": flag,
    "log_file": output_path(optional=True),
    "dry_run": flag,
    "write_parsed_indicators": flag,
    "write_parsed_eventid": flag,
    "sentinel_write_response": flag,
    "remove_pipe_from_misp_attribute": flag,
    "ignore_localtags": flag,
    "misp_flatten_attributes": flag,
    "misp_remove_eventreports": flag,
    "timeframe_toids_change": duration,
    "ms_useragent": text(),
    "ms_check_if_exist_in_sentinel": flag,
    "ms_authority_host": url,
    "ms_upload_base_url": url,
    "ms_legacy_upload_base_url": url,
    "ms_management_base_url": url,
    "ms_ca_bundle": ca_bundle,
    "state_file": output_path(optional=False),
    "ms_max_parallel_requests": integer(1, 16),
    "key_vault_name": vault_name,
    "key_vault_url": optional_url,
    "misp_timeout": seconds,
    "ms_timeout": seconds,
}
KNOWN_SETTINGS = frozenset({"ms_auth", *_READERS})


def _apply_env(raw: dict[str, Any], env: Mapping[str, str]) -> None:
    """Environment overrides for secrets and the vault name, applied to copies, before any check."""
    if env.get("MISP_KEY"):
        raw["misp_key"] = env["MISP_KEY"]
    if env.get("key_vault_name"):
        raw["key_vault_name"] = env["key_vault_name"]
    secret = env.get("MS_CLIENT_SECRET")
    auth = raw.get("ms_auth")
    if not secret or auth is None:
        return

    def fill(ws: Any) -> Any:
        if not isinstance(ws, Mapping):
            return ws
        current = ws.get("client_secret", "")
        empty = not isinstance(current, str) or not current.strip() or is_placeholder(current)
        return {**ws, "client_secret": secret} if empty else dict(ws)

    if isinstance(auth, Mapping):
        raw["ms_auth"] = fill(auth)
    elif isinstance(auth, (list, tuple)):
        raw["ms_auth"] = [fill(ws) for ws in auth]


def _holds_secrets(raw: Mapping[str, Any]) -> bool:
    def real(value: Any) -> bool:
        return isinstance(value, str) and bool(value.strip()) and not is_placeholder(value)

    auth = raw.get("ms_auth")
    spaces = [auth] if isinstance(auth, Mapping) else auth if isinstance(auth, (list, tuple)) else []
    secrets = [raw.get("misp_key")] + [ws.get("client_secret") for ws in spaces if isinstance(ws, Mapping)]
    return any(real(s) for s in secrets)


def _writable_dir_issue(c: Collector, name: str, target: Path) -> None:
    """The file's directory (or the nearest existing parent, since it gets created) must be writable."""
    directory = target.parent
    while not directory.exists() and directory != directory.parent:
        directory = directory.parent
    if not directory.is_dir() or not os.access(directory, os.W_OK | os.X_OK):
        c.error(name, f"cannot be written: {directory} is not a writable directory")


def group_accounts(gid: int) -> set[str]:
    """Every account in a group: its listed members and the accounts whose primary group it is."""
    import grp
    import pwd

    try:
        members = set(grp.getgrgid(gid).gr_mem)
    except KeyError:
        return set()
    return members | {entry.pw_name for entry in pwd.getpwall() if entry.pw_gid == gid}


def _owner_name(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def exposure(path: Path) -> str | None:
    """Why a file holding secrets is too open, or None. Others may not read it; its group may, when the
    group holds at most one account besides the owner (root:misp-bridge 0640 for a service account)."""
    if os.name != "posix":
        return None
    info = path.stat()
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o007:
        return f"is readable by others (mode {mode:o}) and holds secrets; run chmod 600 {path}"
    if not mode & 0o070:
        return None
    others = sorted(group_accounts(info.st_gid) - {_owner_name(info.st_uid)})
    if len(others) <= 1:
        return None
    shown = ", ".join(others[:5]) + (", ..." if len(others) > 5 else "")
    return (
        f"is readable by its group ({len(others)} accounts besides its owner: {shown}; mode {mode:o}) and "
        f"holds secrets; run chmod 600 {path}, or give it a group only the service account is in"
    )


def _file_checks(path: Path, raw: Mapping[str, Any], values: Mapping[str, Any], c: Collector) -> None:
    for name in ("log_file", "state_file"):
        if isinstance(values.get(name), Path):
            _writable_dir_issue(c, name, values[name])
    problem = exposure(path) if _holds_secrets(raw) else None
    if problem is not None:
        c.issues.append(Issue("warning", "", problem, c.source))


def _default(name: str, env: Mapping[str, str]) -> Any:
    """What a setting config.py leaves out means here (a systemd directory for the state and the log)."""
    directory = env.get(ENV_DIRECTORY_DEFAULTS.get(name, ""), "").split(":")[0].strip()
    if directory and Path(directory).is_absolute():
        return str(Path(directory) / SETTING_DEFAULTS[name])
    return SETTING_DEFAULTS[name]


def inspect_config(
    path: Path,
    *,
    env: Mapping[str, str] | None = None,
    check_files: bool = True,
    lookup: Lookup | None = None,
) -> tuple[Settings | None, list[Issue]]:
    """Reads and checks a config.py; Settings is None when any issue is an error. Never raises.

    constants.py is looked for as `lookup` says (config/locate.py); without one, beside config.py only."""
    env = os.environ if env is None else env
    path = Path(path).expanduser().resolve()
    c = Collector(path.name, path.parent)
    if not path.is_file():
        return None, [Issue("error", "", f"not found at {path}; copy config.py.default", path.name)]
    found = run_file(path, c)
    if found is None:
        return None, c.issues
    from_file = dict(found)
    raw = dict(found)
    _apply_env(raw, env)
    checks = (lambda values: _file_checks(path, from_file, values, c)) if check_files else None
    constants = (lookup or Lookup(path.parent)).constants(path.parent)
    constants_path = constants.path if constants is not None else None
    return inspect_values(raw, c, config_path=path, constants_path=constants_path, env=env, after=checks)


def inspect_values(
    raw: Mapping[str, Any],
    c: Collector,
    *,
    config_path: Path,
    constants_path: Path | None,
    env: Mapping[str, str] | None = None,
    after: Callable[[Mapping[str, Any]], None] | None = None,
) -> tuple[Settings | None, list[Issue]]:
    """Checks raw values under config.py's names (a config.py's globals, or app settings already read
    into Python values) into Settings plus every Issue, as inspect_config does; `after(values)` adds
    checks of the converted values; `env` gives the systemd directories defaults may come from. Issues
    are recorded in `c` (its source names them). Never raises."""
    env = {} if env is None else env
    for name in raw:
        if name not in KNOWN_SETTINGS:
            c.warning(name, f"is not a known setting{suggest(name, KNOWN_SETTINGS)}")
    # With a Key Vault the secrets arrive later (with_secrets), so empty ones in config.py are fine.
    vault = (raw.get("key_vault_name"), raw.get("key_vault_url"))
    c.secrets_later = any(isinstance(v, str) and v.strip() for v in vault)

    values: dict[str, Any] = {}
    workspaces = read_workspaces(c, "ms_auth", raw["ms_auth"]) if "ms_auth" in raw else []
    if "ms_auth" not in raw:
        c.error("ms_auth", "is missing")
    for name, reader in _READERS.items():
        default = _default(name, env)
        if name in raw:
            values[name] = reader(c, name, raw[name])
        elif default is not REQUIRED:
            values[name] = reader(c, name, default)
        elif name == "misp_key" and c.secrets_later:
            values[name] = ""
        else:
            c.error(name, "is missing")
    for ws in workspaces:
        register_secret(ws["client_secret"])
    register_secret(values.get("misp_key"))
    spaces = [Workspace(**ws) for ws in workspaces]
    if values.get("ms_check_if_exist_in_sentinel") and not all(ws.has_management for ws in spaces):
        c.error(
            "ms_check_if_exist_in_sentinel",
            "needs subscription_id, resourceGroupName and workspaceName in every ms_auth workspace",
        )
    if after is not None:
        after(values)

    issues = list(c.issues)
    tables = read_constants(constants_path, config_path.parent, issues)
    if any(issue.severity == "error" for issue in issues):
        return None, issues
    values["misp_event_filters"] = MappingProxyType(values["misp_event_filters"])
    values["days_to_expire_mapping"] = MappingProxyType(values["days_to_expire_mapping"])
    settings = Settings(
        ms_auth=tuple(spaces), **values, **tables, config_path=config_path, constants_path=constants_path
    )
    return settings, issues


def load_settings(
    path: Path, *, env: Mapping[str, str] | None = None, lookup: Lookup | None = None
) -> Settings:
    """Loads a config.py or raises ConfigErrors naming every error; warnings go to the log."""
    settings, issues = inspect_config(path, env=env, lookup=lookup)
    settings = usable(settings, issues)
    for issue in issues:
        log.warning("%s", issue)
    return settings


def usable(settings: Settings | None, issues: list[Issue]) -> Settings:
    """The settings of an inspect_config result, or ConfigErrors naming every error in it."""
    errors = [issue for issue in issues if issue.severity == "error"]
    if errors or settings is None:
        raise ConfigErrors([_as_error(issue) for issue in errors])
    return settings


def _as_error(issue: Issue) -> ConfigError:
    if issue.setting:
        return ConfigError(issue.setting, issue.message, issue.source)
    return ConfigFileError(issue.source, issue.message)
