"""The validated settings of the sync's tools: frozen dataclasses built once by `load_settings`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from misp_bridge.config.defaults import DEFAULT_SCOPE, PARSED_INDICATORS_FILE
from misp_bridge.output.redact import register_secret


@dataclass(frozen=True)
class Workspace:
    """One Sentinel workspace from ms_auth (config.py's resourceGroupName/workspaceName renamed)."""

    tenant: str
    client_id: str
    client_secret: str = field(repr=False)
    workspace_id: str
    new_upload_api: bool = True
    scope: str = DEFAULT_SCOPE
    subscription_id: str | None = None
    resource_group: str | None = None
    workspace_name: str | None = None

    @property
    def label(self) -> str:
        """A short, secret-free name for logs and the run summary."""
        return self.workspace_name or self.workspace_id

    @property
    def has_management(self) -> bool:
        """True when the management API (lookups, deletes) can address this workspace."""
        return bool(self.subscription_id and self.resource_group and self.workspace_name)


@dataclass(frozen=True)
class Settings:
    """Every config.py setting under its own name, plus the constants.py tables in lower case."""

    ms_auth: tuple[Workspace, ...]
    ms_api_version: str
    ms_delete_api_version: str
    ms_max_indicators_request: int
    ms_max_requests_minute: int
    misp_key: str = field(repr=False)
    misp_domain: str
    misp_verifycert: bool | str
    misp_event_filters: Mapping[str, Any]
    misp_event_limit_per_page: int
    days_to_expire: int
    days_to_expire_start: str
    days_to_expire_mapping: Mapping[str, int]
    days_to_expire_ignore_misp_last_seen: bool
    default_confidence: int
    sourcesystem: str
    verbose_log: bool
    log_file: Path | None
    dry_run: bool
    write_parsed_indicators: bool
    write_parsed_eventid: bool
    sentinel_write_response: bool
    remove_pipe_from_misp_attribute: bool
    ignore_localtags: bool
    misp_flatten_attributes: bool
    misp_remove_eventreports: bool
    timeframe_toids_change: str
    ms_useragent: str
    ms_check_if_exist_in_sentinel: bool
    ms_authority_host: str
    ms_upload_base_url: str
    ms_legacy_upload_base_url: str
    ms_management_base_url: str
    ms_ca_bundle: Path | None
    state_file: Path
    ms_max_parallel_requests: int
    key_vault_name: str | None
    key_vault_url: str | None
    misp_timeout: float
    ms_timeout: float
    misp_tags_ignore: tuple[str, ...]
    misp_allowed_taxonomies: tuple[str, ...]
    misp_confidence: Mapping[str, int]
    misp_custom_attribute: frozenset[str]
    upload_indicator_misp_accepted_types: frozenset[str]
    tlp_marking_object_definition: Mapping[str, str]
    sentinel_default_threattype: str
    sentinel_default_tlp: str
    config_path: Path
    kill_chain_phases: frozenset[str] | None = None  # None: any kill-chain:<phase> tag counts
    parsed_indicators_file: str = PARSED_INDICATORS_FILE
    constants_path: Path | None = None  # None: the built-in tables were used

    @property
    def vault_url(self) -> str | None:
        """The Key Vault to read secrets from: key_vault_url, else one derived from key_vault_name."""
        if self.key_vault_url:
            return self.key_vault_url
        if self.key_vault_name:
            return f"https://{self.key_vault_name}.vault.azure.net"
        return None

    @property
    def work_dir(self) -> Path:
        """Where the files the sync writes on request go: the state file's directory."""
        return self.state_file.parent

    def with_secrets(self, *, misp_key: str | None = None, client_secret: str | None = None) -> Settings:
        """A copy with Key Vault secrets in place; client_secret goes to every workspace."""
        register_secret(misp_key)
        register_secret(client_secret)
        workspaces = self.ms_auth
        if client_secret is not None:
            workspaces = tuple(replace(ws, client_secret=client_secret) for ws in self.ms_auth)
        key = self.misp_key if misp_key is None else misp_key
        return replace(self, misp_key=key, ms_auth=workspaces)
