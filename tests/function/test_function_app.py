"""The Function App end to end: azure_function/function_app.py's timer function, found through the app's
get_functions() and called with a real azure.functions TimerRequest, as the Python worker calls it.

No Functions host runs here (Core Tools cannot be installed offline), so what the host adds is played by
the test: the app settings are the process environment, the storage account is Azurite, and MISP,
Entra ID and Sentinel are the sandboxes, reached over HTTPS by the real clients.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from misp_bridge.azure.storage import StorageTarget
from misp_bridge.errors import FunctionRunFailed
from misp_bridge.sync.state.tables import TableState
from tests.e2e.test_sync import EVENT_FILES, expected, seed, stored
from tests.fixtures.azure import AzureSandbox, on_request, on_upload, upload_counts
from tests.fixtures.azurite import Azurite
from tests.fixtures.keyvault import KeyVaultSandbox
from tests.fixtures.misp import MispSandbox
from tests.fixtures.sync_config import LONG_LIFE_DAYS, write_config

functions = pytest.importorskip("azure.functions", reason="azure-functions does not install on this Python")
from azure.functions.timer import TimerRequest  # noqa: E402

APP_DIR = Path(__file__).resolve().parents[2] / "azure_function"
Invoke = Callable[..., None]


def load_app() -> ModuleType:
    """azure_function/function_app.py as the worker loads it: a module of its own, run from its file."""
    spec = importlib.util.spec_from_file_location("function_app", APP_DIR / "function_app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def timer_function() -> Invoke:
    [function] = load_app().app.get_functions()
    assert function.get_function_name() == "misp2sentinel"
    user_function: Invoke = function.get_user_function()
    return user_function


def app_settings(
    misp: MispSandbox, azure: AzureSandbox, azurite: Azurite, table: str, **extra: str
) -> dict[str, str]:
    """What an operator would put in the Function App's settings, pointed at the sandboxes."""
    tenants = [
        {
            "tenantId": azure.tenant,
            "id": azure.client_id,
            "secret": azure.client_secret,
            "workspaceId": azure.workspace_id,
            "subscriptionId": azure.subscription_id,
            "resourceGroupName": azure.resource_group,
            "workspaceName": azure.workspace_name,
        }
    ]
    return {
        "mispurl": misp.url,
        "mispkey": misp.key,
        "tenants": json.dumps(tenants),
        "timerTriggerSchedule": "0 0 * * * *",
        "misp_event_filters": "{}",
        "AzureWebJobsStorage": azurite.connection_string,
        "state_table": table,
        # Pointing the clients at the sandboxes (every one a config.py setting under its own name).
        "misp_verifycert": str(misp.ca_path),
        "ms_ca_bundle": str(azure.ca_path),
        "ms_authority_host": azure.authority_host,
        "ms_upload_base_url": azure.upload_base_url,
        "ms_management_base_url": azure.management_base_url,
        "misp_event_limit_per_page": "3",
        "days_to_expire": str(LONG_LIFE_DAYS),
        "ms_timeout": "10",
        "misp_timeout": "10",
        **extra,
    }


@pytest.fixture
def settings_env(
    misp: MispSandbox,
    azure: AzureSandbox,
    azurite: Azurite,
    table_target: StorageTarget,
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[..., dict[str, str]]:
    """Set the app settings (as the host does: environment variables); returns them."""

    def apply(**extra: str) -> dict[str, str]:
        values = app_settings(misp, azure, azurite, table_target.table, **extra)
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        return values

    return apply


def timer(*, past_due: bool = False) -> TimerRequest:
    return TimerRequest(past_due=past_due, schedule_status={"Last": "2026-11-29T10:00:00+00:00"}, schedule={})


def runs(target: StorageTarget) -> list[dict[str, Any]]:
    with TableState.open(target) as state:
        return state.last_runs(10)


def test_the_app_declares_one_timer_function_on_the_original_schedule_setting() -> None:
    [function] = load_app().app.get_functions()
    binding = json.loads(function.get_function_json())["bindings"]
    assert binding == [
        {
            "direction": "IN",
            "type": "timerTrigger",
            "name": "timer",
            "schedule": "%timerTriggerSchedule%",
            "runOnStartup": False,
            "useMonitor": True,
        }
    ]


def test_two_invocations_in_a_row_the_second_uploads_nothing(
    timer_function: Invoke,
    settings_env: Callable[..., dict[str, str]],
    misp: MispSandbox,
    azure: AzureSandbox,
    table_target: StorageTarget,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    seed(misp, EVENT_FILES)
    settings_env()
    want = expected(write_config(tmp_path, misp, azure))
    caplog.set_level(logging.INFO)

    timer_function(timer(past_due=True))

    assert set(stored(azure)) == set(want)
    requests_after_first = len(azure.sentinel.upload_requests)
    assert "the timer is past due" in caplog.text
    assert "sync ended with exit code 0 (ok)" in caplog.text
    caplog.clear()

    timer_function(timer())

    assert len(azure.sentinel.upload_requests) == requests_after_first
    assert f"unchanged {len(want)}" in caplog.text
    assert max(upload_counts(azure).values()) == 1
    logged = [r for r in runs(table_target) if r["kind"] == "function"]
    assert [r["exit_code"] for r in logged] == [0, 0]
    for secret in (misp.key, azure.client_secret):
        assert secret not in caplog.text


def test_an_invocation_cut_by_its_budget_then_one_that_completes(
    timer_function: Invoke,
    settings_env: Callable[..., dict[str, str]],
    misp: MispSandbox,
    azure: AzureSandbox,
    table_target: StorageTarget,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    seed(misp, [path for path in EVENT_FILES if path.name != "long_event.json"])  # ~90 indicators
    settings_env(run_budget="5", ms_max_indicators_request="10", ms_max_parallel_requests="1")
    want = expected(write_config(tmp_path, misp, azure))
    # The second upload request takes longer than the whole budget: the cut comes while it is on the wire.
    on_upload(azure, after=2, action=lambda: time.sleep(5.5))
    caplog.set_level(logging.INFO)

    timer_function(timer())

    assert "stopped early: the run's time budget of 5 s is spent" in caplog.text
    assert "sync ended with exit code 1 (failures)" in caplog.text
    held = set(stored(azure))
    assert 20 <= len(held) < len(want)  # the batch on the wire at the cut was answered and recorded
    with TableState.open(table_target) as state:
        pending = {p.indicator.stix_id for p in state.pending(azure.workspace_id)}
    assert not pending & held

    settings_env(run_budget="", ms_max_indicators_request="", ms_max_parallel_requests="")  # defaults
    caplog.clear()
    timer_function(timer())

    assert "sync ended with exit code 0 (ok)" in caplog.text
    assert set(stored(azure)) == set(want)
    counts = upload_counts(azure)
    assert set(counts) == set(want) and max(counts.values()) == 1  # nothing sent twice
    assert [r["exit_code"] for r in runs(table_target)] == [0, 1]


def test_of_two_overlapping_invocations_one_runs_and_one_exits_cleanly(
    timer_function: Invoke,
    settings_env: Callable[..., dict[str, str]],
    misp: MispSandbox,
    azure: AzureSandbox,
    table_target: StorageTarget,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The first holds the lease and waits inside its first MISP search while the second runs whole."""
    seed(misp, EVENT_FILES[:3])
    settings_env()
    want = expected(write_config(tmp_path, misp, azure))
    searching, second_done = threading.Event(), threading.Event()

    def hold_the_first() -> None:
        searching.set()
        second_done.wait(30)

    on_request(misp.app, 1, hold_the_first, lambda r: "restSearch" in r.path)
    caplog.set_level(logging.INFO)
    first = threading.Thread(target=timer_function, args=(timer(),))
    first.start()
    try:
        assert searching.wait(30), "the first invocation never reached MISP"
        before = (len(misp.app.requests), len(azure.sentinel.requests), len(azure.entra.requests))

        timer_function(timer())  # returns: no exception, the host counts it as a success

        assert (len(misp.app.requests), len(azure.sentinel.requests), len(azure.entra.requests)) == before
    finally:
        second_done.set()
        first.join(60)
    held = [r.getMessage() for r in caplog.records if "holds the lease" in r.getMessage()]
    assert len(held) == 1 and held[0].endswith(
        "This invocation ends without syncing; the one running goes on."
    )
    assert f"holds the lease on {table_target.where} until " in held[0]
    assert set(stored(azure)) == set(want)
    assert max(upload_counts(azure).values()) == 1
    assert len(runs(table_target)) == 1


def test_an_unresolved_key_vault_reference_fails_the_invocation_naming_the_setting(
    timer_function: Invoke,
    settings_env: Callable[..., dict[str, str]],
    azure: AzureSandbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings_env(mispkey="@Microsoft.KeyVault(SecretUri=https://soc-vault.vault.azure.net/secrets/mispkey/)")

    with pytest.raises(FunctionRunFailed, match=r"^the app settings have 1 error\(s\); see the lines above$"):
        timer_function(timer())

    [line] = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert line.startswith(
        "app settings: mispkey is still a Key Vault reference (@Microsoft.KeyVault(...)): "
    )
    assert "Key Vault Secrets User role" in line
    assert azure.sentinel.requests == []


def test_settings_errors_are_one_line_each_and_nothing_runs(
    timer_function: Invoke,
    settings_env: Callable[..., dict[str, str]],
    azure: AzureSandbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings_env(mispurl="http://misp.example.org", ms_max_indicators_request="500", dry_run="perhaps")

    with pytest.raises(FunctionRunFailed, match=r"have 3 error"):
        timer_function(timer())

    errors = sorted(r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)
    assert errors == [
        "app settings: dry_run must be true or false, got 'perhaps'",
        "app settings: mispurl must be an https:// URL, got http://",
        "app settings: ms_max_indicators_request must be 1..100, got 500",
    ]
    assert azure.sentinel.requests == []


def test_the_original_single_workspace_settings_and_key_vault(
    timer_function: Invoke,
    settings_env: Callable[..., dict[str, str]],
    misp: MispSandbox,
    azure: AzureSandbox,
    keyvault: KeyVaultSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """key_vault_name's secrets (MISP-Key, ClientSecret) with tenant_id/client_id/workspace_id, as the
    original Function reads them; here the vault is the sandbox's, named by its URL (key_vault_url)."""
    seed(misp, EVENT_FILES[:1])
    keyvault.app.set_secret("MISP-Key", misp.key)
    keyvault.app.set_secret("ClientSecret", azure.client_secret)
    settings_env(
        tenants="",
        mispkey="",
        tenant_id=azure.tenant,
        client_id=azure.client_id,
        workspace_id=azure.workspace_id,
        key_vault_url=keyvault.vault_url,
    )
    for name, value in keyvault.environ().items():
        monkeypatch.setenv(name, value)

    timer_function(timer())

    assert set(stored(azure)) == set(expected(write_config(tmp_path, misp, azure)))


@pytest.fixture(autouse=True)
def _quiet_package_logger() -> Iterator[None]:
    """configure_host() replaces the package logger's handlers; give the CLI tests theirs back."""
    yield
    logger = logging.getLogger("misp_bridge")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logger.propagate = True


def test_misp_down_or_a_refused_workspace_fails_the_invocation_and_keeps_the_state(
    timer_function: Invoke,
    settings_env: Callable[..., dict[str, str]],
    misp: MispSandbox,
    azure: AzureSandbox,
    table_target: StorageTarget,
    caplog: pytest.LogCaptureFixture,
) -> None:
    seed(misp, EVENT_FILES[:2])
    settings_env()
    misp.app.faults.down = True

    with pytest.raises(FunctionRunFailed, match=r"^MISP at https://127\.0\.0\.1:\d+ "):
        timer_function(timer())

    assert [r["exit_code"] for r in runs(table_target)] == [3]
    misp.app.faults.down = False
    azure.sentinel.faults.statuses = [403]
    azure.sentinel.faults.only = r":upload\Z"
    caplog.clear()

    with pytest.raises(FunctionRunFailed, match=r"^sync ended with exit code 4 \(sentinel\): sentinel-ws: "):
        timer_function(timer())

    assert "sync ended with exit code 4 (sentinel)" in caplog.text
    assert [r["exit_code"] for r in runs(table_target)] == [4, 3]
    with TableState.open(table_target) as state:
        assert state.pending_count(azure.workspace_id) > 0  # kept for the next invocation
        with state.lock(wait=0):
            pass  # and the lease was given back both times
