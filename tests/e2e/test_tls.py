"""A certificate the tools do not trust is named as what it is (item 9): one sentence with "TLS", the
host (with its port) and the setting that gives the CA, on every path: MISP from the sync, check-config
and the plugin; Entra ID through msal; Key Vault through azure-core; the upload and management APIs.

Each service is served a second time by a server whose certificate comes from a CA nobody trusts (the
same emulator object behind it); the tools trust only the session's sandbox CA.
"""

from __future__ import annotations

import datetime
import io
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from misp_bridge.checkconfig.cli import main as check_main
from misp_bridge.cli import Environment
from misp_bridge.pandora.cli import main as plugin_main
from misp_bridge.sync.cli import main as sync_main
from misp_bridge.sync.delete_cli import main as delete_main
from sandbox.http import App, Server
from sandbox.tls import SandboxCA
from tests.e2e.test_sync import XORIST, seed
from tests.fixtures.azure import AzureSandbox
from tests.fixtures.keyvault import KeyVaultSandbox
from tests.fixtures.misp import MispSandbox
from tests.fixtures.sync_config import write_config


@pytest.fixture(scope="module")
def rogue_ca(tmp_path_factory: pytest.TempPathFactory) -> SandboxCA:
    return SandboxCA(tmp_path_factory.mktemp("rogue-ca"))


@contextmanager
def untrusted(app: App, ca: SandboxCA, context: ssl.SSLContext | None = None) -> Iterator[str]:
    """The same emulator behind a certificate of a CA the tools do not trust (or another certificate
    of the trusted one, `context`); yields its URL."""
    server = Server(app, ca, context=context).start()
    try:
        yield server.url
    finally:
        server.stop()


def no_sleep(_seconds: float) -> None:
    """Back-offs return at once: a TLS failure must not be retried anyway."""


def run(main: object, *argv: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    environment = Environment(stdout=out, stderr=err, sleep=no_sleep, env=env if env is not None else {})
    code = main(list(argv), env=environment)  # type: ignore[operator]
    return code, out.getvalue(), err.getvalue()


def assert_named(text: str, url: str, setting: str) -> None:
    host = url.removeprefix("https://")
    lines = [line for line in text.splitlines() if host in line]
    assert lines, text
    assert any("TLS" in line and setting in line for line in lines), text
    assert "SSLError" not in text and "could not be reached" not in text


def test_misp_from_the_sync(
    tmp_path: Path, misp: MispSandbox, azure: AzureSandbox, rogue_ca: SandboxCA
) -> None:
    with untrusted(misp.app, rogue_ca) as url:
        config = write_config(tmp_path, misp, azure, misp_domain=url)
        code, _, err = run(sync_main, "--config", str(config), "--no-progress")
    assert code == 3
    assert_named(err, url, "misp_verifycert")


def test_misp_from_check_config(
    tmp_path: Path, misp: MispSandbox, azure: AzureSandbox, rogue_ca: SandboxCA
) -> None:
    with untrusted(misp.app, rogue_ca) as url:
        config = write_config(tmp_path, misp, azure, misp_domain=url)
        code, out, _ = run(check_main, "--config", str(config))
    assert code == 2
    assert_named(out, url, "misp_verifycert")


def test_misp_from_the_plugin(tmp_path: Path, misp: MispSandbox, rogue_ca: SandboxCA) -> None:
    with untrusted(misp.app, rogue_ca) as url:
        argv = [
            "-u",
            url,
            "-k",
            misp.key,
            "--ca-bundle",
            str(misp.ca_path),
            "--spool-dir",
            str(tmp_path / "s"),
        ]
        code, out, err = run(
            plugin_main, *argv, "-a", "web1", "-n", "probe", "-d", "Failed password from 192.0.2.9"
        )
    assert code == 1
    assert_named(err, url, "--ca-bundle")
    assert "kept in the spool" in out


def test_entra_id_through_msal(
    tmp_path: Path, misp: MispSandbox, azure: AzureSandbox, rogue_ca: SandboxCA
) -> None:
    seed(misp, [XORIST])
    with untrusted(azure.entra, rogue_ca) as url:
        config = write_config(tmp_path, misp, azure, ms_authority_host=url)
        code, _, err = run(sync_main, "--config", str(config), "--no-progress")
        checked, out, _ = run(check_main, "--config", str(config))
    assert code == 4
    assert_named(err, url, "ms_ca_bundle")
    assert checked == 2
    assert_named(out, url, "ms_ca_bundle")


def test_the_upload_api(tmp_path: Path, misp: MispSandbox, azure: AzureSandbox, rogue_ca: SandboxCA) -> None:
    seed(misp, [XORIST])
    with untrusted(azure.sentinel, rogue_ca) as url:
        config = write_config(tmp_path, misp, azure, ms_upload_base_url=url)
        code, _, err = run(sync_main, "--config", str(config), "--no-progress")
        checked, out, _ = run(check_main, "--config", str(config))
    assert code == 4
    assert_named(err, url, "ms_ca_bundle")
    assert checked == 2
    assert_named(out, url, "ms_ca_bundle")


def test_the_management_api(
    tmp_path: Path, misp: MispSandbox, azure: AzureSandbox, rogue_ca: SandboxCA
) -> None:
    with untrusted(azure.sentinel, rogue_ca) as url:
        config = write_config(tmp_path, misp, azure, ms_management_base_url=url)
        code, _, err = run(delete_main, "--config", str(config), "--all", "--dry-run")
    assert code == 4
    assert_named(err, url, "ms_ca_bundle")


def test_key_vault_through_azure_core(
    tmp_path: Path,
    misp: MispSandbox,
    azure: AzureSandbox,
    keyvault: KeyVaultSandbox,
    rogue_ca: SandboxCA,
) -> None:
    with untrusted(keyvault.app, rogue_ca) as url:
        config = write_config(tmp_path, misp, azure, key_vault_url=url)
        code, _, err = run(sync_main, "--config", str(config), "--no-progress", env=keyvault.environ())
        checked, out, _ = run(check_main, "--config", str(config), env=keyvault.environ())
    assert code == 4
    assert_named(err, url, "ms_ca_bundle")
    assert checked == 2
    assert_named(out, url, "ms_ca_bundle")


@pytest.mark.parametrize(
    ("names", "expired", "advice"),
    [
        (("misp.example.org",), False, "the certificate is made out to another name: check the URL"),
        (
            (),
            True,
            "the server's certificate has expired: it must be renewed (or this host's clock is wrong)",
        ),
    ],
    ids=["wrong-name", "expired"],
)
def test_a_wrong_certificate_gets_its_own_advice(
    tmp_path: Path,
    misp: MispSandbox,
    azure: AzureSandbox,
    sandbox_ca: SandboxCA,
    names: tuple[str, ...],
    expired: bool,
    advice: str,
) -> None:
    """Setting a CA cannot fix a certificate made out to another host or one past its end date."""
    ended = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1) if expired else None
    context = sandbox_ca.other_context(*names, not_after=ended)
    with (
        untrusted(misp.app, sandbox_ca, context) as misp_url,
        untrusted(azure.sentinel, sandbox_ca, context) as url,
    ):
        config = write_config(tmp_path, misp, azure, misp_domain=misp_url)
        code, _, err = run(sync_main, "--config", str(config), "--no-progress")
        config = write_config(tmp_path, misp, azure, ms_management_base_url=url)
        deleted, _, delete_err = run(delete_main, "--config", str(config), "--all", "--dry-run")
    assert code == 3
    assert_named(err, misp_url, advice.split(":", maxsplit=1)[0])
    assert advice in err and "misp_verifycert" not in err
    assert deleted == 4
    assert advice in delete_err and "ms_ca_bundle" not in delete_err
