"""check-config.py: offline findings all at once, then probes against the MISP, Entra ID, Sentinel and
Key Vault sandboxes through the real clients. Nothing may be uploaded and no secret or token printed."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from misp_bridge.checkconfig.cli import main
from misp_bridge.checkconfig.report import Finding, Report
from misp_bridge.cli import Environment
from misp_bridge.exitcodes import SyncExit
from tests.conftest import MISP_EVENTS
from tests.fixtures.azure import CLIENT_ID, TENANT, AzureSandbox
from tests.fixtures.keyvault import KeyVaultSandbox
from tests.fixtures.misp import MispSandbox

OTHER_WORKSPACE = "7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MISP_KEY", "MS_CLIENT_SECRET", "key_vault_name"):
        monkeypatch.delenv(name, raising=False)


def write_config(directory: Path, values: dict[str, Any], *, mode: int = 0o600) -> Path:
    path = directory / "config.py"
    path.write_text("".join(f"{name} = {value!r}\n" for name, value in values.items()), encoding="utf-8")
    path.chmod(mode)
    return path


def good_values(tmp_path: Path, misp: MispSandbox, azure: AzureSandbox, **workspace: Any) -> dict[str, Any]:
    ms_auth = {
        "tenant": azure.tenant,
        "client_id": azure.client_id,
        "client_secret": azure.client_secret,
        "workspace_id": azure.workspace_id,
        "subscription_id": azure.subscription_id,
        "resourceGroupName": azure.resource_group,
        "workspaceName": azure.workspace_name,
        **workspace,
    }
    return {
        "ms_auth": ms_auth,
        "misp_key": misp.key,
        "misp_domain": misp.url,
        "misp_verifycert": str(misp.ca_path),
        "misp_event_filters": {"published": True},
        "ms_authority_host": azure.authority_host,
        "ms_upload_base_url": azure.upload_base_url,
        "ms_management_base_url": azure.management_base_url,
        "ms_ca_bundle": str(azure.ca_path),
        "log_file": str(tmp_path / "logs" / "sync.log"),
        "state_file": str(tmp_path / "state.db"),
    }


Run = Callable[..., tuple[int, str]]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    """Runs check-config in-process; returns (exit code, stdout + stderr)."""

    def go(config: Path, *flags: str) -> tuple[int, str]:
        code = main(["--config", str(config), *flags])
        captured = capsys.readouterr()
        return code, captured.out + captured.err

    return go


@pytest.fixture
def seeded(misp: MispSandbox) -> MispSandbox:
    for name in ("xorist_ransomware.json", "long_event.json", "galaxy_1.json"):  # galaxy_1: unpublished
        misp.app.seed_file(MISP_EVENTS / name)
    return misp


@pytest.fixture
def good(tmp_path: Path, seeded: MispSandbox, azure: AzureSandbox) -> Path:
    return write_config(tmp_path, good_values(tmp_path, seeded, azure))


def secrets_of(*sandboxes: Any) -> Iterator[str]:
    for box in sandboxes:
        if isinstance(box, MispSandbox):
            yield box.key
        elif isinstance(box, AzureSandbox):
            yield box.client_secret
            yield from box.entra._issued_at  # every access token the sandbox handed out
        elif isinstance(box, KeyVaultSandbox):
            yield box.client_secret
            yield from box.secrets.values()


# --- offline -----------------------------------------------------------------------------------------


BROKEN = """\
ms_auth = {"tenant": "<tenant>", "client_id": 42, "client_secret": "s3cr3t-value-xyz",
           "workspace_id": "<workspace_id>"}
misp_key = "<misp_key>"
misp_domain = "https://misp.example.org"
misp_verifycert = False
ms_max_indicators_request = 500
default_confidence = "high"
verbos_log = True
state_file = "plain-file/state.db"
"""


def broken_config(tmp_path: Path) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "plain-file").write_text("x")  # a file where a directory should be: unwritable even for root
    path = tmp_path / "config.py"
    path.write_text(BROKEN, encoding="utf-8")
    path.chmod(0o644)
    return path


def test_broken_config_lists_every_issue_at_once(tmp_path: Path, run: Run) -> None:
    path = broken_config(tmp_path)
    code, output = run(path)
    assert code == SyncExit.USAGE
    expected = [
        "WARN  config.py: verbos_log is not a known setting; did you mean verbose_log?",
        "ERROR config.py: ms_auth['tenant'] is still a placeholder; fill in the real value",
        "ERROR config.py: ms_auth['client_id'] must be a string, got int",
        "ERROR config.py: ms_auth['workspace_id'] is still a placeholder; fill in the real value",
        "ERROR config.py: ms_max_indicators_request must be 1..100, got 500",
        "ERROR config.py: misp_key is still a placeholder; fill in the real value",
        "WARN  config.py: misp_verifycert is False: TLS certificates are not checked",
        "ERROR config.py: default_confidence must be an integer, got str",
        f"ERROR config.py: state_file cannot be written: {tmp_path / 'plain-file'} is not a writable "
        "directory",
        f"WARN  config.py is readable by others (mode 644) and holds secrets; run chmod 600 {path}",
    ]
    lines = [line.strip() for line in output.splitlines()]
    for sentence in expected:
        assert sentence in lines
    assert "note: network checks skipped: fix the configuration errors above first" in lines
    assert "7 error(s), 3 warning(s), 1 OK: not usable: fix the errors (exit 2)" in lines
    assert "s3cr3t-value-xyz" not in output


def test_broken_config_as_json(tmp_path: Path, run: Run) -> None:
    code, output = run(broken_config(tmp_path), "--json")
    payload = json.loads(output)
    assert payload["exit"] == code == 2
    assert {tuple(sorted(issue)) for issue in payload["issues"]} == {
        ("area", "message", "setting", "severity")
    }
    by_setting = {issue["setting"]: issue for issue in payload["issues"]}
    assert by_setting["ms_max_indicators_request"] == {
        "severity": "error",
        "area": "config",
        "setting": "ms_max_indicators_request",
        "message": "config.py: ms_max_indicators_request must be 1..100, got 500",
    }
    assert by_setting["misp_verifycert"]["severity"] == "warning"


def test_state_file_that_is_a_directory(
    tmp_path: Path, run: Run, misp: MispSandbox, azure: AzureSandbox
) -> None:
    values = good_values(tmp_path, misp, azure) | {"state_file": str(tmp_path)}
    code, output = run(write_config(tmp_path, values), "--offline")
    assert code == SyncExit.USAGE
    assert f"state_file cannot be written: {tmp_path} is a directory, not a file" in output


def test_offline_makes_no_request(
    tmp_path: Path, run: Run, seeded: MispSandbox, azure: AzureSandbox, keyvault: KeyVaultSandbox
) -> None:
    values = good_values(tmp_path, seeded, azure) | {"key_vault_url": keyvault.vault_url}
    code, output = run(write_config(tmp_path, values), "--offline")
    assert code == SyncExit.OK
    assert "OK    config.py: every setting is valid" in output
    assert "note: network checks skipped (--offline)" in output
    assert seeded.app.requests == []
    assert azure.entra.requests == [] and azure.sentinel.requests == []
    assert keyvault.app.requests == [] and keyvault.entra.requests == []


# --- against the sandboxes ---------------------------------------------------------------------------


def test_good_config_is_usable_and_nothing_is_uploaded(
    good: Path, run: Run, seeded: MispSandbox, azure: AzureSandbox
) -> None:
    code, output = run(good)
    assert code == SyncExit.OK, output
    lines = [line.strip() for line in output.splitlines()]
    label = azure.workspace_name
    for expected in [
        "[misp]",
        f"OK    MISP at {seeded.url} is reachable and accepted the API key (MISP version 2.5.",
        "OK    2 MISP event(s) match misp_event_filters",
        f"[entra/{label}]",
        f"OK    Entra ID issued a token to app {azure.client_id} in tenant {azure.tenant}",
        f"[sentinel/{label}]",
        f"OK    workspace {azure.workspace_id} answered the empty-upload probe (HTTP 400 for the empty list",
        f"OK    management API answered queryIndicators for workspace {label} "
        "(no indicator of source 'MISP' yet)",
    ]:
        assert any(line.startswith(expected) for line in lines), expected
    # Nothing stored, and the one upload request carried no object.
    assert azure.sentinel.objects(azure.workspace_id) == {}
    assert [(r.n_objects, r.status) for r in azure.sentinel.upload_requests] == [(0, 400)]
    for secret in secrets_of(seeded, azure):
        assert secret not in output


def test_good_config_as_json(good: Path, run: Run) -> None:
    code, output = run(good, "--json")
    payload = json.loads(output)
    assert payload["exit"] == code == 0
    areas = [issue["area"] for issue in payload["issues"]]
    assert areas == [
        "config",  # which files were read
        "config",  # every setting is valid
        "misp",
        "misp",
        "entra/sentinel-ws",
        "sentinel/sentinel-ws",
        "sentinel/sentinel-ws",
    ]
    assert {issue["severity"] for issue in payload["issues"]} == {"ok"}


@pytest.mark.parametrize(
    ("change", "sentence"),
    [
        pytest.param(
            {"client_secret": "wrong-secret-value"},
            f"Entra ID refused a token for sentinel-ws (tenant {TENANT}, client_id {CLIENT_ID}): "
            "AADSTS7000215: the client secret is wrong (check client_secret: use the secret's Value, "
            "not its ID)",
            id="wrong-secret",
        ),
        pytest.param(
            {"tenant": "0f0e0d0c-0b0a-4909-8807-060504030201"},
            "Entra ID at https://127.0.0.1:{port} does not know tenant 0f0e0d0c-0b0a-4909-8807-060504030201 "
            "(AADSTS90002: the tenant does not exist; check tenant: the Directory (tenant) ID, and "
            "ms_authority_host)",
            id="wrong-tenant",
        ),
        pytest.param(
            {"expired": True},
            f"Entra ID refused a token for sentinel-ws (tenant {TENANT}, client_id {CLIENT_ID}): "
            "AADSTS7000222: the client secret has expired (create a new one under Certificates & secrets)",
            id="expired-secret",
        ),
    ],
)
def test_entra_refusals_explained(
    tmp_path: Path, run: Run, seeded: MispSandbox, azure: AzureSandbox, change: dict[str, Any], sentence: str
) -> None:
    change = dict(change)
    sentence = sentence.replace("{port}", azure.authority_host.rsplit(":", 1)[1])
    if change.pop("expired", False):
        azure.entra.add_client(azure.tenant, azure.client_id, azure.client_secret, secret_expired=True)
    code, output = run(write_config(tmp_path, good_values(tmp_path, seeded, azure, **change)))
    assert code == SyncExit.USAGE
    assert f"[entra/{azure.workspace_name}]\n  ERROR {sentence}" in output
    assert "[sentinel/" not in output  # no token, no Sentinel probe
    assert azure.sentinel.requests == []
    for secret in secrets_of(azure):
        assert secret not in output
    assert "wrong-secret-value" not in output


def test_role_missing_names_the_role(
    tmp_path: Path, run: Run, seeded: MispSandbox, azure: AzureSandbox
) -> None:
    azure.add_workspace(OTHER_WORKSPACE, "ws-no-role", contributor=False)
    values = good_values(tmp_path, seeded, azure, workspace_id=OTHER_WORKSPACE, workspaceName="ws-no-role")
    code, output = run(write_config(tmp_path, values))
    assert code == SyncExit.USAGE
    assert (
        f"ERROR the app {azure.client_id} lacks the Microsoft Sentinel Contributor role on workspace "
        f"{OTHER_WORKSPACE} (HTTP 403); assign it in the workspace's Access control (IAM)"
    ) in output
    assert (
        f"ERROR the app {azure.client_id} lacks the Microsoft Sentinel Contributor role on workspace "
        f"ws-no-role in resource group {azure.resource_group} (HTTP 403)"
    ) in output


def test_unknown_workspace(tmp_path: Path, run: Run, seeded: MispSandbox, azure: AzureSandbox) -> None:
    values = good_values(tmp_path, seeded, azure, workspace_id=OTHER_WORKSPACE, workspaceName="nowhere")
    code, output = run(write_config(tmp_path, values))
    assert code == SyncExit.USAGE
    assert (
        f"ERROR workspace {OTHER_WORKSPACE} was not found (HTTP 404); check workspace_id: the Log Analytics "
        "workspace ID (a GUID), not its name"
    ) in output
    assert (
        f"ERROR workspace nowhere was not found in resource group {azure.resource_group} of subscription "
        f"{azure.subscription_id} (HTTP 404); check subscription_id, resourceGroupName and workspaceName"
    ) in output


def test_throttled_probe_is_a_warning(good: Path, run: Run, azure: AzureSandbox) -> None:
    azure.sentinel.throttle_next = 1
    code, output = run(good)
    assert code == SyncExit.FAILURES
    assert f"WARN  Sentinel throttled the probe for workspace {azure.workspace_id} (HTTP 429)" in output


def test_no_matching_event_is_a_warning(
    tmp_path: Path, run: Run, misp: MispSandbox, azure: AzureSandbox
) -> None:
    code, output = run(write_config(tmp_path, good_values(tmp_path, misp, azure)))
    assert code == SyncExit.FAILURES
    assert "WARN  no MISP event matches misp_event_filters: a sync would upload nothing" in output


def test_misp_bad_key(tmp_path: Path, run: Run, seeded: MispSandbox, azure: AzureSandbox) -> None:
    values = good_values(tmp_path, seeded, azure) | {"misp_key": "not-the-right-key-00000000000000"}
    code, output = run(write_config(tmp_path, values))
    assert code == SyncExit.USAGE
    assert (
        f"ERROR MISP at {seeded.url} refused the API key (403 Authentication failed); check misp_key"
        in output
    )
    assert "not-the-right-key" not in output
    assert f"OK    Entra ID issued a token to app {azure.client_id}" in output  # later checks still run


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("how", ["dropped", "refused"])
def test_misp_down(tmp_path: Path, run: Run, seeded: MispSandbox, azure: AzureSandbox, how: str) -> None:
    values = good_values(tmp_path, seeded, azure)
    if how == "dropped":
        seeded.app.faults.down = True
    else:
        values["misp_domain"] = f"https://127.0.0.1:{_closed_port()}"
    code, output = run(write_config(tmp_path, values))
    assert code == SyncExit.USAGE
    assert "is unreachable while connecting; check misp_domain and the network" in output


# --- Key Vault ---------------------------------------------------------------------------------------


@pytest.fixture
def vault_config(
    tmp_path: Path,
    seeded: MispSandbox,
    azure: AzureSandbox,
    keyvault: KeyVaultSandbox,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """Secrets only in the vault: config.py leaves them empty."""
    for name, value in keyvault.environ().items():
        monkeypatch.setenv(name, value)
    keyvault.app.set_secret("MISP-Key", seeded.key)
    keyvault.app.set_secret("ClientSecret", azure.client_secret)
    values = good_values(tmp_path, seeded, azure, client_secret="")
    values |= {"misp_key": "", "key_vault_url": keyvault.vault_url}
    return write_config(tmp_path, values)


def test_key_vault_supplies_the_secrets(
    vault_config: Path, run: Run, keyvault: KeyVaultSandbox, seeded: MispSandbox, azure: AzureSandbox
) -> None:
    code, output = run(vault_config)
    assert code == SyncExit.OK, output
    assert f"OK    secrets 'MISP-Key' and 'ClientSecret' read from Key Vault {keyvault.vault_url}" in output
    assert output.index("[keyvault]") < output.index("[misp]") < output.index("[entra/")
    for secret in secrets_of(keyvault, seeded, azure):
        assert secret not in output


def test_key_vault_secret_missing_is_named(vault_config: Path, run: Run, keyvault: KeyVaultSandbox) -> None:
    keyvault.app.delete_secret("ClientSecret")
    code, output = run(vault_config)
    assert code == SyncExit.USAGE
    assert f"ERROR Key Vault {keyvault.vault_url}: secret 'ClientSecret' not found" in output
    assert "note: MISP check skipped: misp_key was to come from Key Vault" in output


# --- the report itself -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("severities", "code"),
    [
        pytest.param(["ok"], 0, id="all-ok"),
        pytest.param([], 0, id="nothing"),
        pytest.param(["ok", "warning"], 1, id="warnings-only"),
        pytest.param(["warning", "error", "ok"], 2, id="any-error"),
    ],
)
def test_exit_code_is_the_worst_severity(severities: list[Any], code: int) -> None:
    report = Report(tuple(Finding(s, "config", "x", "m") for s in severities))
    assert report.exit_code == code


def test_bad_arguments_are_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--no-such-flag"], env=Environment(stdout=io.StringIO())) == SyncExit.USAGE
    assert "usage: check-config.py" in capsys.readouterr().err


def test_broken_and_good_configs_side_by_side(
    tmp_path: Path, good: Path, run: Run, seeded: MispSandbox
) -> None:
    broken_code, _ = run(broken_config(tmp_path / "broken"))
    good_code, _ = run(good)
    assert (broken_code, good_code) == (2, 0)


def test_top_level_script_runs_from_any_directory(tmp_path: Path) -> None:
    script = Path(__file__).resolve().parents[2] / "check-config.py"
    config = broken_config(tmp_path / "broken")
    done = subprocess.run(
        [sys.executable, str(script), "--config", str(config), "--offline", "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert json.loads(done.stdout)["exit"] == 2


def test_verbose_says_each_check_as_it_runs(
    good: Path, run: Run, seeded: MispSandbox, azure: AzureSandbox
) -> None:
    """check-config had no --verbose (item 10); it now shows each probe, what it found and its time."""
    code, output = run(good, "--verbose")
    assert code == 0
    lines = output.splitlines()
    for what in ("Key Vault", "MISP", f"workspace {azure.workspace_name}"):
        assert f"DEBUG: checking {what} ..." in lines
        assert any(line.startswith(f"DEBUG: checked {what} in ") and " ms: " in line for line in lines), what
    misp_line = next(line for line in lines if line.startswith("DEBUG: checked MISP in "))
    assert misp_line.endswith(" ms: ok misp_key; ok misp_event_filters")
    for secret in secrets_of(seeded, azure):
        assert secret not in output
