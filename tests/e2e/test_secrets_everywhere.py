"""Every command, run with known fake secrets, writes them nowhere: not on stdout or stderr, not in the
logs, the state file, the spool, parsed_indicators.txt or sentinel_response.txt.

The four tools run in-process against the sandboxes, in every way that handles a secret: the sync (a
normal run with every debug file and --verbose, a dry run, the clean-up passes, secrets from Key Vault),
delete-from-azure.py, check-config.py with and without --offline, the plugin with -k, MISP_KEY and
--key-file, with MISP up and down, and --flush-spool. Afterwards every file under the test directory
(except the ones holding the secrets on purpose: config.py and the key file) is read as bytes and
searched for each secret, raw and in the spellings a leak takes (URL-encoded, JSON-escaped).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import pytest

from misp_bridge.checkconfig.cli import main as check_main
from misp_bridge.cli import Environment
from misp_bridge.pandora.cli import main as plugin_main
from misp_bridge.sync.cli import main as sync_main
from misp_bridge.sync.delete_cli import main as delete_main
from tests.e2e.test_sync import XORIST, seed
from tests.fixtures.azure import AzureSandbox
from tests.fixtures.keyvault import KeyVaultSandbox
from tests.fixtures.misp import MispSandbox
from tests.fixtures.sync_config import workspace_entry, write_config

MISP_KEY = "known-fake-misp-key-'Zx9~\"q/42"  # quotes, a tilde, a slash: spellings differ when escaped
SSHD = "sshd[4242]: Failed password for invalid user admin from 203.0.113.77 port 52144 ssh2"


def no_sleep(_seconds: float) -> None:
    """Retries return at once."""


def spellings(secret: str) -> set[bytes]:
    forms = {secret, quote(secret, safe=""), json.dumps(secret)[1:-1], repr(secret)[1:-1]}
    return {form.encode("utf-8") for form in forms}


def written_files(root: Path, exempt: set[Path]) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and p not in exempt]


def assert_nowhere(secrets: list[str], output: str, root: Path, exempt: set[Path]) -> None:
    files = written_files(root, exempt)
    if not files or not output:
        pytest.fail("nothing was written: the test would check nothing")
    for secret in secrets:
        for form in spellings(secret):
            assert form not in output.encode("utf-8"), f"a secret in the output ({form!r})"
            for path in files:
                assert form not in path.read_bytes(), f"a secret in {path.relative_to(root)}"


Main = Callable[..., int]


def run(main: Main, argv: list[str], env: dict[str, str] | None = None) -> int:
    environment = Environment(sleep=no_sleep) if env is None else Environment(sleep=no_sleep, env=env)
    return main(argv, env=environment)


def test_the_sync_tools_write_no_secret(
    tmp_path: Path,
    misp_factory: Callable[..., MispSandbox],
    azure: AzureSandbox,
    capsys: pytest.CaptureFixture[str],
) -> None:
    misp = misp_factory(api_key=MISP_KEY)
    seed(misp, [XORIST])
    config = write_config(
        tmp_path,
        misp,
        azure,
        write_parsed_indicators=True,
        write_parsed_eventid=True,
        sentinel_write_response=True,
        verbose_log=True,
    )
    sync = ["--config", str(config), "--no-progress"]
    codes = [
        run(sync_main, [*sync, "--verbose", "--json"]),
        run(sync_main, [*sync, "--dry-run"]),
        run(sync_main, [*sync, "--verify-recent-toids-change", "--delete-outdated-indicators"]),
        run(check_main, ["--config", str(config)]),
        run(check_main, ["--config", str(config), "--offline", "--json"]),
        run(check_main, ["--config", str(config), "--verbose"]),
        run(delete_main, ["--config", str(config), "--all", "--dry-run"]),
        run(delete_main, ["--config", str(config), "--all", "--yes"]),
    ]
    captured = capsys.readouterr()
    assert codes == [0, 0, 0, 0, 0, 0, 0, 0]
    for name in ("sync.log", "state.db", "parsed_indicators.txt", "sentinel_response.txt"):
        assert (tmp_path / name).is_file(), name
    assert_nowhere([MISP_KEY, azure.client_secret], captured.out + captured.err, tmp_path, {config})


def test_secrets_from_key_vault_are_written_nowhere(
    tmp_path: Path,
    misp_factory: Callable[..., MispSandbox],
    azure: AzureSandbox,
    keyvault: KeyVaultSandbox,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    misp = misp_factory(api_key=MISP_KEY)
    seed(misp, [XORIST])
    keyvault.app.set_secret("MISP-Key", MISP_KEY)
    keyvault.app.set_secret("ClientSecret", azure.client_secret)
    for name, value in keyvault.environ().items():
        monkeypatch.setenv(name, value)
    config = write_config(
        tmp_path,
        misp,
        azure,
        misp_key="",
        ms_auth=workspace_entry(azure, client_secret=""),
        key_vault_url=keyvault.vault_url,
        sentinel_write_response=True,
    )
    assert run(sync_main, ["--config", str(config), "--no-progress", "--verbose"], dict(os.environ)) == 0
    assert run(check_main, ["--config", str(config), "--verbose"], dict(os.environ)) == 0
    captured = capsys.readouterr()
    secrets = [MISP_KEY, azure.client_secret, keyvault.client_secret]
    assert_nowhere(secrets, captured.out + captured.err, tmp_path, set())


def test_the_plugin_writes_no_secret_however_the_key_comes(
    tmp_path: Path, misp_factory: Callable[..., MispSandbox], capsys: pytest.CaptureFixture[str]
) -> None:
    misp = misp_factory(api_key=MISP_KEY)
    key_file = tmp_path / "misp.key"
    key_file.write_text(MISP_KEY + "\n", encoding="utf-8")
    key_file.chmod(0o600)
    spool = tmp_path / "spool"
    common = ["-u", misp.url, "--ca-bundle", str(misp.ca_path), "--spool-dir", str(spool)]

    def alert(agent: str, *key: str, env: dict[str, str] | None = None) -> int:
        return run(plugin_main, [*common, *key, "-a", agent, "-n", "SSH brute force", "-d", SSHD], env or {})

    codes = [
        alert("web1", "-k", MISP_KEY),
        alert("web2", "--key-file", str(key_file)),
        alert("web3", env={"MISP_KEY": MISP_KEY}),
    ]
    misp.app.faults.down = True  # the key must not reach the spool either
    codes += [alert("web4", "-k", MISP_KEY), alert("web5", "--key-file", str(key_file))]
    assert len(list(spool.glob("*.json"))) == 2
    misp.app.faults.down = False
    codes.append(run(plugin_main, [*common, "-k", MISP_KEY, "--flush-spool"], {}))
    captured = capsys.readouterr()
    assert codes == [0, 0, 0, 1, 1, 0]
    assert (tmp_path / "pandora_to_misp.log").is_file()
    assert_nowhere([MISP_KEY], captured.out + captured.err, tmp_path, {key_file})
