"""check-config.py --function-settings: a Function's local.settings.json (or `az functionapp config
appsettings list` output) checked offline with config.py's one-line findings, then probed: Key Vault,
MISP, Entra ID, Sentinel and the state table (Azurite). Nothing is written, no secret printed."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from misp_bridge.checkconfig.cli import main
from tests.checkconfig.test_checkconfig import secrets_of
from tests.conftest import MISP_EVENTS
from tests.fixtures.azure import AzureSandbox
from tests.fixtures.azurite import ACCOUNT_KEY, Azurite, new_table_name
from tests.fixtures.misp import MispSandbox

Run = Callable[..., tuple[int, str]]
REFERENCE = "@Microsoft.KeyVault(SecretUri=https://soc-vault.vault.azure.net/secrets/tenants/)"


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    def go(path: Path, *flags: str) -> tuple[int, str]:
        code = main(["--function-settings", str(path), *flags])
        captured = capsys.readouterr()
        return code, captured.out + captured.err

    return go


def values_for(misp: MispSandbox, azure: AzureSandbox, azurite: Azurite, **changes: str) -> dict[str, str]:
    tenants = [{"tenantId": azure.tenant, "id": azure.client_id, "secret": azure.client_secret,
                "workspaceId": azure.workspace_id}]  # fmt: skip
    values = {
        "FUNCTIONS_WORKER_RUNTIME": "python",
        "AzureWebJobsStorage": azurite.connection_string,
        "state_table": new_table_name(),
        "timerTriggerSchedule": "0 0 * * * *",
        "mispurl": misp.url,
        "mispkey": misp.key,
        "tenants": json.dumps(tenants),
        "misp_event_filters": '{"published": true}',
        "misp_verifycert": str(misp.ca_path),
        "ms_ca_bundle": str(azure.ca_path),
        "ms_authority_host": azure.authority_host,
        "ms_upload_base_url": azure.upload_base_url,
        "ms_management_base_url": azure.management_base_url,
    }
    values.update(changes)
    return {k: v for k, v in values.items() if v != "-"}


def local_settings(directory: Path, values: dict[str, Any], *, host_timeout: str | None = None) -> Path:
    path = directory / "local.settings.json"
    path.write_text(json.dumps({"IsEncrypted": False, "Values": values}), encoding="utf-8")
    if host_timeout is not None:
        (directory / "host.json").write_text(json.dumps({"version": "2.0", "functionTimeout": host_timeout}))
    return path


def test_good_settings_pass_every_probe_and_write_nothing(
    tmp_path: Path, misp: MispSandbox, azure: AzureSandbox, azurite: Azurite, run: Run
) -> None:
    misp.app.seed_file(MISP_EVENTS / "xorist_ransomware.json")
    values = values_for(misp, azure, azurite)
    code, out = run(local_settings(tmp_path, values, host_timeout="00:10:00"))

    assert code == 0, out
    valid = "OK    local.settings.json: every setting is valid (run budget 510 s of functionTimeout 600 s;"
    assert f"[settings]\n  {valid}" in out
    for area in ("[misp]", "[entra/", "[sentinel/", "[storage]"):
        assert area in out
    assert f"the state table {values['state_table']} at {azurite.endpoint} does not exist yet" in out
    assert azure.sentinel.objects(azure.workspace_id) == {}
    for secret in [*secrets_of(misp, azure), ACCOUNT_KEY]:
        assert secret not in out


def test_errors_are_one_line_each_under_the_names_written(
    tmp_path: Path, misp: MispSandbox, azure: AzureSandbox, azurite: Azurite, run: Run
) -> None:
    values = values_for(misp, azure, azurite, run_budget="400", dry_run="yes", mispurl="misp.example.org")
    code, out = run(local_settings(tmp_path, values, host_timeout="00:05:00"))

    assert code == 2
    errors = [line.strip() for line in out.splitlines() if line.strip().startswith("ERROR")]
    assert errors == [
        "ERROR local.settings.json: run_budget must be more than 0 seconds and less than the host's "
        "functionTimeout (300 s), got 400",
        "ERROR local.settings.json: dry_run must be true or false, got 'yes'",
        "ERROR local.settings.json: mispurl must be an https:// URL, got no scheme://",
    ]
    assert "note: network checks skipped: fix the errors above first" in out
    assert misp.app.requests == [] and azure.entra.requests == []


def test_key_vault_references_are_warnings_and_skip_the_probes(
    tmp_path: Path, misp: MispSandbox, azure: AzureSandbox, azurite: Azurite, run: Run
) -> None:
    key_reference = REFERENCE.replace("tenants", "mispkey")
    values = values_for(misp, azure, azurite, tenants=REFERENCE, mispkey=key_reference)
    code, out = run(local_settings(tmp_path, values))

    assert code == 1, out
    assert "WARN  local.settings.json: mispkey is a Key Vault reference: Azure resolves it" in out
    assert "WARN  local.settings.json: tenants is a Key Vault reference" in out
    assert "note: network checks skipped: mispkey, tenants are Key Vault references" in out
    assert misp.app.requests == []


def test_the_az_cli_list_shape_and_a_refused_storage_key(
    tmp_path: Path, misp: MispSandbox, azure: AzureSandbox, azurite: Azurite, run: Run
) -> None:
    misp.app.seed_file(MISP_EVENTS / "xorist_ransomware.json")
    wrong_key = azurite.connection_string.replace(ACCOUNT_KEY, "B" * 86 + "==")
    values = values_for(misp, azure, azurite, AzureWebJobsStorage=wrong_key)
    path = tmp_path / "appsettings.json"
    path.write_text(json.dumps([{"name": k, "value": v, "slotSetting": False} for k, v in values.items()]))

    code, out = run(path, "--json")

    assert code == 2
    issues = json.loads(out)["issues"]
    [storage] = [i for i in issues if i["area"] == "storage"]
    assert storage["severity"] == "error" and storage["setting"] == "AzureWebJobsStorage"
    where = f"the state table {values['state_table']} at {azurite.endpoint}"
    assert storage["message"].startswith(f"{where} could not be read (HTTP 403")
    assert "B" * 20 not in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not valid JSON (line 1 column 2)"),
        ('{"IsEncrypted": true, "Values": {}}', "is encrypted; run `func settings decrypt` first"),
        ('{"Values": {"n": 30}}', "has values that are not strings (n); app settings are text"),
        ("[1, 2]", 'must hold {"Values": {...}} (local.settings.json) or a list of {"name", "value"}'),
    ],
)
def test_unusable_files_are_one_line(tmp_path: Path, content: str, message: str, run: Run) -> None:
    path = tmp_path / "local.settings.json"
    path.write_text(content)
    code, out = run(path)
    assert code == 2
    assert f"ERROR local.settings.json {message}" in out


def test_the_shipped_example_names_every_setting_it_needs(tmp_path: Path, run: Run) -> None:
    example = Path(__file__).resolve().parents[2] / "azure_function" / "local.settings.json.example"
    path = tmp_path / "local.settings.json"
    path.write_text(example.read_text().replace("<vault>", "soc-vault"))
    code, out = run(path, "--offline")
    assert code == 1, out  # only the two Key Vault references to resolve in Azure
    assert out.count("WARN") == 2 and "ERROR" not in out
