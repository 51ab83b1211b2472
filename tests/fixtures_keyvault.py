"""The `keyvault` fixture: an Entra ID emulator and a Key Vault emulator over HTTPS on loopback.

One tenant and one app registration (allowed `get`/`list` on the vault) and the two secrets the original
tool reads, `MISP-Key` and `ClientSecret`. `KeyVaultSandbox.credential()` gives a real azure-identity
credential pointed at the emulator; `KeyVaultSandbox.environ()` gives the AZURE_* variables that make
`DefaultAzureCredential` use it (apply them with monkeypatch.setenv).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from azure.identity import ClientSecretCredential

from sandbox.entra import EntraApp
from sandbox.http import Server
from sandbox.keyvault import KeyVaultApp
from sandbox.tls import SandboxCA

KV_TENANT = "8f3c2a51-4d6e-4b7a-9c1d-2e5f6a7b8c9d"
KV_CLIENT_ID = "1b2c3d4e-5f60-4a1b-8c2d-3e4f5a6b7c8d"
KV_CLIENT_SECRET = "kv-sandbox-client-secret-Zq8~e1"  # the identity that reads the vault
KV_SECRETS = {
    "MISP-Key": "sandbox-misp-key-2f9d0c7e41b84a6f",
    "ClientSecret": "sandbox-sentinel-secret-7Hq~Lw3",
}


@dataclass(frozen=True)
class KeyVaultSandbox:
    vault_url: str
    authority_host: str
    tenant: str
    client_id: str
    client_secret: str
    app: KeyVaultApp
    entra: EntraApp
    ca_path: Path
    secrets: dict[str, str] = field(default_factory=dict, repr=False)

    def credential(self, *, secret: str | None = None, **kwargs: Any) -> ClientSecretCredential:
        """A real ClientSecretCredential against the Entra emulator (another secret to test a wrong one)."""
        return ClientSecretCredential(
            self.tenant,
            self.client_id,
            self.client_secret if secret is None else secret,
            authority=self.authority_host,
            disable_instance_discovery=True,
            **kwargs,
        )

    def environ(self) -> dict[str, str]:
        """The environment DefaultAzureCredential's EnvironmentCredential reads."""
        return {
            "AZURE_TENANT_ID": self.tenant,
            "AZURE_CLIENT_ID": self.client_id,
            "AZURE_CLIENT_SECRET": self.client_secret,
            "AZURE_AUTHORITY_HOST": self.authority_host,
        }


def _stop(*servers: Server) -> None:
    """Stop servers without waiting out serve_forever's half-second poll: a connection wakes each loop."""
    stoppers = [threading.Thread(target=server.stop) for server in servers]
    for stopper in stoppers:
        stopper.start()
    for server, stopper in zip(servers, stoppers, strict=True):
        while stopper.is_alive():
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", server.port), 0.2):
                pass
            stopper.join(0.01)


@pytest.fixture
def keyvault(sandbox_ca: SandboxCA) -> Iterator[KeyVaultSandbox]:
    entra = EntraApp()
    entra.add_client(KV_TENANT, KV_CLIENT_ID, KV_CLIENT_SECRET)
    entra_server = Server(entra, sandbox_ca).start()
    vault = KeyVaultApp(entra, KV_TENANT, entra_server.url)
    vault.allow(KV_CLIENT_ID)
    for name, value in KV_SECRETS.items():
        vault.set_secret(name, value)
    vault_server = Server(vault, sandbox_ca).start()
    try:
        yield KeyVaultSandbox(
            vault_url=vault_server.url,
            authority_host=entra_server.url,
            tenant=KV_TENANT,
            client_id=KV_CLIENT_ID,
            client_secret=KV_CLIENT_SECRET,
            app=vault,
            entra=entra,
            ca_path=sandbox_ca.ca_path,
            secrets=dict(KV_SECRETS),
        )
    finally:
        _stop(vault_server, entra_server)
