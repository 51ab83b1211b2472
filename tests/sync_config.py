"""Write a config.py that points the sync at the sandboxes (tests only).

`write_config(tmp_path, misp, azure, **overrides)` -> path of a config.py in tmp_path. Overrides are
config.py settings by name (ms_auth replaces the single sandbox workspace, e.g. with a list). Both
CAs are the session sandbox CA: misp_verifycert and ms_ca_bundle get its path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.fixtures_azure import AzureSandbox
from tests.fixtures_misp import MispSandbox

# Attribute timestamps of the shared events are years old: a long life keeps them unexpired, stably
# (counting from "current_date" would change valid_until, and so the content, on every run).
LONG_LIFE_DAYS = 36500


def workspace_entry(azure: AzureSandbox, **changes: Any) -> dict[str, Any]:
    """The sandbox workspace as an ms_auth dict (management settings included)."""
    entry: dict[str, Any] = {
        "tenant": azure.tenant,
        "client_id": azure.client_id,
        "client_secret": azure.client_secret,
        "workspace_id": azure.workspace_id,
        "new_upload_api": True,
        "scope": "https://management.azure.com/.default",
        "subscription_id": azure.subscription_id,
        "resourceGroupName": azure.resource_group,
        "workspaceName": azure.workspace_name,
    }
    entry.update(changes)
    return entry


def settings_for(tmp_path: Path, misp: MispSandbox, azure: AzureSandbox, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "ms_auth": workspace_entry(azure),
        "misp_key": misp.key,
        "misp_domain": misp.url,
        "misp_verifycert": str(misp.ca_path),
        "misp_event_filters": {},
        "misp_event_limit_per_page": 3,
        "days_to_expire": LONG_LIFE_DAYS,
        "days_to_expire_mapping": {},
        "log_file": str(tmp_path / "sync.log"),
        "state_file": str(tmp_path / "state.db"),
        "ms_authority_host": azure.authority_host,
        "ms_upload_base_url": azure.upload_base_url,
        "ms_legacy_upload_base_url": azure.legacy_base_url,
        "ms_management_base_url": azure.management_base_url,
        "ms_ca_bundle": str(azure.ca_path),
        "ms_timeout": 10,
        "misp_timeout": 10,
    }
    values.update(overrides)
    return values


def write_config(tmp_path: Path, misp: MispSandbox, azure: AzureSandbox, **overrides: Any) -> Path:
    """A config.py (mode 600) for the sandboxes; returns its path."""
    values = settings_for(tmp_path, misp, azure, **overrides)
    path = tmp_path / "config.py"
    path.write_text("".join(f"{name} = {value!r}\n" for name, value in values.items()), encoding="utf-8")
    path.chmod(0o600)
    return path
