"""HTTPS_PROXY and NO_PROXY are honoured by every client the tools use (item 5): PyMISP (the sync, the
plugin, check-config), msal (Entra ID), requests (the upload and management APIs) and azure-core /
azure-identity (Key Vault and its token). A CONNECT proxy on loopback counts the tunnels it opens."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

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
from tests.fixtures.proxy import ConnectProxy, connect_proxy
from tests.fixtures.sync_config import workspace_entry, write_config

PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")
SSHD = "sshd[4242]: Failed password for invalid user admin from 203.0.113.77 port 52144 ssh2"


def no_sleep(_seconds: float) -> None:
    """Retries return at once."""


def host(url: str) -> str:
    return url.removeprefix("https://").split("/")[0]


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[ConnectProxy]:
    for name in (*PROXY_VARIABLES, "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    with connect_proxy() as running:
        monkeypatch.setenv("HTTPS_PROXY", running.url)
        yield running


@pytest.fixture
def vault_config(
    tmp_path: Path,
    misp_factory: Callable[..., MispSandbox],
    azure: AzureSandbox,
    keyvault: KeyVaultSandbox,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[Path, MispSandbox]:
    """A config whose secrets come from Key Vault, so every client has something to send."""
    misp = misp_factory(api_key=keyvault.secrets["MISP-Key"])
    seed(misp, [XORIST])
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
    )
    return config, misp


def run_everything(config: Path, misp: MispSandbox, spool: Path) -> list[int]:
    env = Environment(sleep=no_sleep)
    return [
        sync_main(["--config", str(config), "--no-progress"], env=env),
        check_main(["--config", str(config)], env=env),
        delete_main(["--config", str(config), "--all", "--dry-run"], env=env),
        plugin_main(["-u", misp.url, "-k", misp.key, "--ca-bundle", str(misp.ca_path), "--spool-dir",
                     str(spool), "-a", "web1", "-n", "SSH brute force", "-d", SSHD], env=env),
    ]  # fmt: skip


def test_every_client_goes_through_https_proxy(
    tmp_path: Path,
    vault_config: tuple[Path, MispSandbox],
    azure: AzureSandbox,
    keyvault: KeyVaultSandbox,
    proxy: ConnectProxy,
) -> None:
    config, misp = vault_config
    assert run_everything(config, misp, tmp_path / "spool") == [0, 0, 0, 0]
    expected = {
        host(misp.url),  # PyMISP
        host(azure.authority_host),  # msal
        host(azure.upload_base_url),  # requests: uploads and the management API (one host here)
        host(keyvault.vault_url),  # azure-core
        host(keyvault.authority_host),  # azure-identity's token for the vault
    }
    assert expected <= set(proxy.tunnels), proxy.tunnels


def test_no_proxy_bypasses_it(
    tmp_path: Path,
    vault_config: tuple[Path, MispSandbox],
    proxy: ConnectProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    config, misp = vault_config
    assert run_everything(config, misp, tmp_path / "spool") == [0, 0, 0, 0]
    assert proxy.tunnels == {}
