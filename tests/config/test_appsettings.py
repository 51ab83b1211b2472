"""App settings -> Settings (config/appsettings.py) and the host's functionTimeout (function/host.py).

The original Function's names keep working, config.py's names are read in their types, and every wrong
value is one line naming the setting as the user wrote it, never its value.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from misp_bridge.config.appsettings import default_budget, inspect_app_settings, load_app_settings
from misp_bridge.config.defaults import SETTING_DEFAULTS
from misp_bridge.errors import ConfigError, ConfigErrors
from misp_bridge.function.host import function_timeout, parse_timespan

TENANT = "6f1d2c3b-4a59-4e8d-9c71-0a1b2c3d4e5f"
CLIENT = "0c1e5a7b-2d3f-4a6b-8c9d-1e2f3a4b5c6d"
WORKSPACE = "2a4b6c8d-1e3f-4a5b-9c7d-0e1f2a3b4c5d"
OTHER_WORKSPACE = "3b5c7d9e-2f4a-4b6c-8d8e-1f2a3b4c5d6e"
SECRET = "app-secret-7Hq~Lw3-value"
MISP_KEY = "misp-key-4f2a9c0e7b1d4e8a9c3f"
REFERENCE = "@Microsoft.KeyVault(VaultName=soc-vault;SecretName=tenants)"


def original(**changes: str) -> dict[str, str]:
    """The app settings of an original misp2sentinel Function (one tenant), plus the storage account."""
    values = {
        "mispurl": "https://misp.example.org",
        "mispkey": MISP_KEY,
        "tenants": json.dumps(
            [{"tenantId": TENANT, "id": CLIENT, "secret": SECRET, "workspaceId": WORKSPACE}]
        ),
        "misp_event_filters": json.dumps({"published": 1, "tags": ["tlp:green"]}),
        "timerTriggerSchedule": "0 0 */2 * * *",
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        "FUNCTIONS_WORKER_RUNTIME": "python",  # the platform's own settings are left alone
        "WEBSITE_SITE_NAME": "soc-misp2sentinel",
    }
    values.update(changes)
    return values


def read(values: dict[str, str], tmp_path: Path, **options: Any) -> tuple[Any, list[str]]:
    options.setdefault("function_timeout", 600.0)
    found, issues = inspect_app_settings(values, work_dir=tmp_path, **options)
    return found, [str(issue) for issue in issues]


def test_the_original_functions_settings_become_the_syncs(tmp_path: Path) -> None:
    found, issues = read(original(), tmp_path)
    assert issues == []
    settings = found.settings
    assert settings.misp_domain == "https://misp.example.org" and settings.misp_key == MISP_KEY
    [ws] = settings.ms_auth
    assert (ws.tenant, ws.client_id, ws.client_secret, ws.workspace_id) == (TENANT, CLIENT, SECRET, WORKSPACE)
    assert dict(settings.misp_event_filters) == {"published": 1, "tags": ["tlp:green"]}
    # config.py's defaults for the rest; nothing written beside a config.py that does not exist
    assert settings.days_to_expire == SETTING_DEFAULTS["days_to_expire"] == 50
    assert settings.log_file is None and settings.state_file == tmp_path / "misp2sentinel.db"
    assert (found.state_backend, found.state_table, found.state_storage) == (
        "table",
        "misp2sentinel",
        "AzureWebJobsStorage",
    )
    assert found.cleanups == () and found.run_budget == 510.0 and found.lease_seconds == 900.0


def test_several_tenants_older_shape_and_the_single_workspace_fallback(tmp_path: Path) -> None:
    two = [
        {"tenantId": TENANT, "id": CLIENT, "secret": SECRET, "workspaceId": WORKSPACE},
        {"tenantId": TENANT, "id": CLIENT, "secret": SECRET, "workspaceId": OTHER_WORKSPACE,
         "subscriptionId": "sub", "resourceGroupName": "rg", "workspaceName": "ws-2"},
    ]  # fmt: skip
    found, _ = read(original(tenants=json.dumps(two)), tmp_path)
    assert [ws.workspace_id for ws in found.settings.ms_auth] == [WORKSPACE, OTHER_WORKSPACE]
    assert found.settings.ms_auth[1].has_management and found.settings.ms_auth[1].label == "ws-2"

    older = {TENANT: {"id": CLIENT, "secret": SECRET, "workspaceid": WORKSPACE}}
    found, issues = read(original(tenants=json.dumps(older)), tmp_path)
    assert found.settings.ms_auth[0].workspace_id == WORKSPACE
    assert issues == [
        "app settings: tenants uses the older shape (an object keyed by tenant id); it still works"
    ]

    single = original(
        tenants="", tenant_id=TENANT, client_id=CLIENT, client_secret=SECRET, workspace_id=WORKSPACE,
        subscription_id="sub", resource_group_name="rg", workspace_name="soc-ws",
    )  # fmt: skip
    found, issues = read(single, tmp_path)
    assert issues == [] and found.vault_client_secret_applies
    [ws] = found.settings.ms_auth
    assert (ws.workspace_id, ws.subscription_id, ws.resource_group, ws.workspace_name) == (
        WORKSPACE, "sub", "rg", "soc-ws",
    )  # fmt: skip


def test_config_py_names_are_read_in_their_types(tmp_path: Path) -> None:
    found, issues = read(
        original(
            days_to_expire="90",
            ms_check_if_exist_in_sentinel="FALSE",
            misp_timeout="12.5",
            days_to_expire_mapping='{"ipv4-addr": 30}',
            sourcesystem="SOC-MISP",
            enable_delete_outdated_indicators="true",
            verify_recent_toids_change="True",
            state_backend="sqlite",
            run_budget="120",
        ),
        tmp_path,
    )
    assert issues == []
    s = found.settings
    assert (s.days_to_expire, s.ms_check_if_exist_in_sentinel, s.misp_timeout) == (90, False, 12.5)
    assert dict(s.days_to_expire_mapping) == {"ipv4-addr": 30} and s.sourcesystem == "SOC-MISP"
    assert found.cleanups == ("verify_recent_toids_change", "delete_outdated_indicators")
    assert found.state_backend == "sqlite" and found.run_budget == 120.0


def test_warnings_name_the_setting_as_written(tmp_path: Path) -> None:
    tenants = json.dumps(
        [{"tenantId": TENANT, "id": CLIENT, "secret": SECRET, "workspaceId": "ws", "color": "red"}]
    )
    found, issues = read(original(tenants=tenants), tmp_path)
    assert found is not None
    assert issues == [
        "app settings: tenants[0].color is not a known key",
        "app settings: tenants[0].workspaceId does not look like a GUID "
        "(xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)",
    ]


def test_local_mode_and_the_functions_default_filters(tmp_path: Path) -> None:
    values = original(local_mode="true")
    del values["misp_event_filters"]
    found, issues = read(values, tmp_path)
    assert found.settings.misp_verifycert is False
    assert issues == ["app settings: local_mode is False: TLS certificates are not checked"]
    assert dict(found.settings.misp_event_filters) == {
        "published": 1,
        "publish_timestamp": "14d",
        "enforceWarninglist": True,
    }


CRON = (
    "timerTriggerSchedule must be an NCRONTAB expression: {second} {minute} {hour} {day} {month} "
    "{day-of-week}, like '0 0 * * * *' (hourly); got %d fields"
)
UNRESOLVED = (
    "is still a Key Vault reference (@Microsoft.KeyVault(...)): the platform could not resolve it; give "
    "the Function App's managed identity the Key Vault Secrets User role on the vault (or a Get secret "
    "access policy), check the secret's name, and see the reference's status under the app's Environment "
    "variables"
)


def tenant(**entry: str) -> str:
    base = {"tenantId": TENANT, "id": CLIENT, "secret": SECRET, "workspaceId": WORKSPACE}
    return json.dumps([{k: v for k, v in {**base, **entry}.items() if v != "-"}])


WRONG: list[tuple[dict[str, str], str]] = [
    ({"dry_run": "maybe"}, "dry_run must be true or false, got 'maybe'"),
    ({"days_to_expire": "ten"}, "days_to_expire must be a number, got 'ten'"),
    ({"misp_event_limit_per_page": "0"}, "misp_event_limit_per_page must be 1..10000, got 0"),
    (
        {"misp_event_filters": "{published: 1}"},
        "misp_event_filters must be an object in JSON; it is not valid JSON (line 1 column 2)",
    ),
    ({"misp_event_filters": "[1]"}, "misp_event_filters must be an object in JSON, got a JSON list"),
    ({"mispurl": "http://misp.example.org"}, "mispurl must be an https:// URL, got http://"),
    ({"mispkey": ""}, "mispkey is missing"),
    (
        {"mispkey": "abc\ndef-secret"},
        "mispkey contains a line break, tab or other control character; remove it",
    ),
    (
        {"tenants": '"x"'},
        "tenants must be a list of {tenantId, id, secret, workspaceId} in JSON, got a JSON str",
    ),
    ({"tenants": tenant(tenantId="-")}, "tenants[0].tenantId is missing"),
    (
        {"tenants": tenant(secret="<secret>")},
        "tenants[0].secret is still a placeholder; fill in the real value",
    ),
    (
        {"tenants": ""},
        "tenants is missing, and so is the single workspace (tenant_id, client_id, client_secret, "
        "workspace_id): set one of them",
    ),
    (
        {"tenants": "", "tenant_id": TENANT, "client_secret": SECRET, "workspace_id": WORKSPACE},
        "client_id is missing",
    ),
    ({"timerTriggerSchedule": "every hour"}, CRON % 2),
    ({"timerTriggerSchedule": "0 61 * * * *"}, CRON % 6),
    (
        {"timerTriggerSchedule": ""},
        "timerTriggerSchedule is missing: the timer reads its schedule from it (like '0 0 * * * *': hourly)",
    ),
    (
        {"run_budget": "600"},
        "run_budget must be more than 0 seconds and less than the host's functionTimeout (600 s), got 600",
    ),
    (
        {"state_lease_seconds": "300"},
        "state_lease_seconds must be more than 600 seconds (the host's functionTimeout, so that a living "
        "run never outlasts its lease), got 300",
    ),
    (
        {"state_table": "state-table"},
        "state_table must be a table name: 3 to 63 letters and digits, starting with a letter",
    ),
    ({"state_backend": "cosmos"}, "state_backend must be 'table' or 'sqlite', got 'cosmos'"),
    (
        {"AzureWebJobsStorage": ""},
        "AzureWebJobsStorage is missing: the state table needs a storage account (a connection string, or "
        "AzureWebJobsStorage__accountName with a managed identity)",
    ),
    ({"mispkey": REFERENCE}, "mispkey " + UNRESOLVED),
]


@pytest.mark.parametrize(("changes", "message"), WRONG)
def test_every_wrong_setting_is_one_line_naming_it(
    changes: dict[str, str], message: str, tmp_path: Path
) -> None:
    found, issues = read(original(**changes), tmp_path)
    assert found is None
    assert issues == [f"app settings: {message}"]
    for secret in (SECRET, MISP_KEY, "def-secret"):
        assert all(secret not in issue for issue in issues)


def test_load_raises_every_error_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigErrors) as err:
        load_app_settings(original(dry_run="x", days_to_expire="0", tenants=REFERENCE), work_dir=tmp_path)
    errors = err.value.errors
    assert sorted(e.setting for e in errors) == ["days_to_expire", "dry_run", "tenants"]
    assert all(e.source == "app settings" and "\n" not in str(e) for e in errors)
    [tenants] = [e for e in errors if e.setting == "tenants"]
    assert tenants.problem.startswith("is still a Key Vault reference")


def test_a_local_settings_file_keeps_key_vault_references_as_warnings(tmp_path: Path) -> None:
    found, issues = read(
        original(mispkey=REFERENCE, tenants=REFERENCE), tmp_path, local=True, source="local.settings.json"
    )
    assert found is not None and found.unresolved == ("mispkey", "tenants")
    tail = "is a Key Vault reference: Azure resolves it when the app runs; not checked here"
    assert issues == [f"local.settings.json: mispkey {tail}", f"local.settings.json: tenants {tail}"]


@pytest.mark.parametrize(
    ("schedule", "warning"),
    [
        ("0 */2 * * *", None),  # the original README's five fields: current hosts read them without seconds
        ("0 30 9 * * Mon-Fri", None),
        ("*/10 * * * * *", "runs more than once a minute: its first field (seconds) is not one number"),
        ("00:30:00", "is a TimeSpan: only App Service plans run those; use NCRONTAB ('0 */30 * * * *')"),
    ],
)
def test_schedules(schedule: str, warning: str | None, tmp_path: Path) -> None:
    found, issues = read(original(timerTriggerSchedule=schedule), tmp_path)
    assert found is not None
    assert issues == ([f"app settings: timerTriggerSchedule {warning}"] if warning else [])


@pytest.mark.parametrize(
    ("timeout", "ms_timeout", "budget"),
    [
        (300.0, 60.0, 210.0),
        (600.0, 60.0, 510.0),
        (1800.0, 60.0, 1620.0),
        (60.0, 60.0, 30.0),
        (None, 60.0, None),
    ],
)
def test_the_default_budget_stops_work_before_the_host_does(
    timeout: float | None, ms_timeout: float, budget: float | None
) -> None:
    assert default_budget(timeout, ms_timeout) == budget
    if timeout is not None and budget is not None:
        assert budget < timeout


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("00:05:00", 300.0), ("00:10:00", 600.0), ("02:00:00", 7200.0), ("1.00:00:00", 86400.0), ("-1", None)],
)
def test_function_timeout_formats(text: str, seconds: float | None) -> None:
    assert parse_timespan(text, "host.json") == seconds


@pytest.mark.parametrize("text", ["24:00:00", "10 minutes", "00:60:00", "00:00:00", ""])
def test_function_timeout_refused(text: str) -> None:
    with pytest.raises(ConfigError, match=r"^host\.json: functionTimeout must be"):
        parse_timespan(text, "host.json")


def test_where_the_host_reads_its_timeout(tmp_path: Path) -> None:
    assert function_timeout(tmp_path, {}) == 300.0  # no host.json: the smallest plan default
    (tmp_path / "host.json").write_text('{"version": "2.0", "functionTimeout": "00:30:00"}')
    assert function_timeout(tmp_path, {}) == 1800.0
    assert function_timeout(tmp_path, {"AzureFunctionsJobHost__functionTimeout": "-1"}) is None
    shipped = Path(__file__).resolve().parents[2] / "azure_function"
    assert function_timeout(shipped, {}) == 600.0  # valid on every plan (Consumption allows 10 minutes)


def test_a_misspelt_setting_is_named_and_the_platforms_are_left_alone(tmp_path: Path) -> None:
    values = original(
        delete_outdated_indicator="true",
        misp_event_filter='{"published": 1}',
        AZURE_CLIENT_ID="not ours",
        APPLICATIONINSIGHTS_CONNECTION_STRING="InstrumentationKey=x",
        AzureWebJobsStorage__accountName="acct",
    )
    found, issues = read(values, tmp_path)
    assert found is not None and found.cleanups == ()
    assert issues == [
        "app settings: delete_outdated_indicator is not a setting the Function reads; "
        "did you mean delete_outdated_indicators?",
        "app settings: misp_event_filter is not a setting the Function reads; "
        "did you mean misp_event_filters?",
    ]
