"""Start every emulator at once for a person (the demo, trying the tools by hand) rather than a test.

`start_all` takes the directory for itself (a lock file: a second launcher on the same directory refuses
instead of overwriting the first one's CA, config.py and keyvault.env), builds one CA in it, one Entra ID
holding two app registrations (the Sentinel app, which holds Microsoft Sentinel Contributor on one
workspace, and the identity that reads Key Vault), one Sentinel (upload, legacy and management APIs on
one server), one Key Vault holding `MISP-Key` and `ClientSecret`, and one MISP. `write_config` turns the
running set into a config.py that script.py, check-config.py and delete-from-azure.py accept as is (and
misp.key for the plugin's --key-file).

Every identifier and secret here is a made-up sandbox value: printing or writing them leaks nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pprint
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.entra import EntraApp
from sandbox.http import Server
from sandbox.keyvault import KeyVaultApp
from sandbox.misp.app import MispApp
from sandbox.samples import SAMPLE_EVENTS
from sandbox.sentinel.app import SentinelApp
from sandbox.tls import SandboxCA

MISP_KEY = "sandbox-misp-demo-key-00000000000000000000"
TENANT = "3e7a9c1d-5b2f-4d8e-a6c4-0f1e2d3c4b5a"
CLIENT_ID = "7d2e4f6a-8b1c-4e3d-9a5f-6c7b8a9d0e1f"
CLIENT_SECRET = "sandbox-demo-secret-Xy7~q"  # noqa: S105 - a sandbox value
WORKSPACE_ID = "5c6d7e8f-9a0b-4c1d-8e2f-3a4b5c6d7e8f"
WORKSPACE_NAME = "sentinel-demo"
SUBSCRIPTION_ID = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
RESOURCE_GROUP = "rg-sandbox"
VAULT_CLIENT_ID = "4f5e6d7c-8b9a-4c0d-9e1f-2a3b4c5d6e7f"
VAULT_CLIENT_SECRET = "sandbox-demo-vault-reader-Kp2~w"  # noqa: S105 - a sandbox value

# Each emulator's offset from --port-base, in start order (Entra first: Key Vault names it).
PORT_OFFSETS = {"misp": 0, "entra": 1, "sentinel": 2, "keyvault": 3}
VAULT_ENV_FILE = "keyvault.env"  # the AZURE_* variables of the identity allowed to read the vault
MISP_KEY_FILE = "misp.key"  # the MISP key alone, for the plugin's --key-file
LOCK_FILE = ".sandbox.lock"


class DirectoryInUse(Exception):
    """Another running sandbox holds the directory: its files must not be overwritten."""

    def __init__(self, directory: Path, holder: str) -> None:
        self.directory = directory
        super().__init__(
            f"a sandbox ({holder}) is running with {directory}; stop it, or give this one another --dir"
        )


@contextmanager
def hold_directory(directory: Path) -> Iterator[None]:
    """The directory is this launcher's until the block ends (an exclusive flock, released by the OS
    if the process dies); DirectoryInUse when another launcher has it."""
    directory.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 32, 0).decode("ascii", "replace").strip()
            raise DirectoryInUse(directory, f"pid {holder}" if holder else "another process") from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock


SYNTHETIC_EVENTS = (7, 20)  # events x attributes when a folder without sample events is given


@dataclass(frozen=True)
class Sandboxes:
    """The running emulators, their URLs and the identities they know."""

    directory: Path
    ca_path: Path
    misp_url: str
    entra_url: str
    sentinel_url: str
    vault_url: str
    misp: MispApp
    entra: EntraApp
    sentinel: SentinelApp
    vault: KeyVaultApp
    misp_key: str = field(default=MISP_KEY, repr=False)
    tenant: str = TENANT
    client_id: str = CLIENT_ID
    client_secret: str = field(default=CLIENT_SECRET, repr=False)
    workspace_id: str = WORKSPACE_ID
    workspace_name: str = WORKSPACE_NAME
    subscription_id: str = SUBSCRIPTION_ID
    resource_group: str = RESOURCE_GROUP

    def vault_environ(self) -> dict[str, str]:
        """The AZURE_* variables that make DefaultAzureCredential read the sandbox vault."""
        return {
            "AZURE_TENANT_ID": self.tenant,
            "AZURE_CLIENT_ID": VAULT_CLIENT_ID,
            "AZURE_CLIENT_SECRET": VAULT_CLIENT_SECRET,
            "AZURE_AUTHORITY_HOST": self.entra_url,
        }

    def counts(self) -> dict[str, int]:
        """What MISP and Sentinel hold right now."""
        events = self.misp.events()
        return {
            "misp_events": len(events),
            "misp_attributes": sum(_attribute_count(e) for e in events),
            "misp_sightings": len(self.misp.sightings()),
            "sentinel_objects": len(self.sentinel.objects(self.workspace_id)),
            "sentinel_upload_requests": len(self.sentinel.upload_requests),
        }


def _attribute_count(event: dict[str, Any]) -> int:
    inside_objects = sum(len(obj.get("Attribute", [])) for obj in event.get("Object", []))
    return len(event.get("Attribute", [])) + inside_objects


def _port(port_base: int | None, name: str) -> int:
    return 0 if port_base is None else port_base + PORT_OFFSETS[name]


def _stop(servers: list[Server]) -> None:
    """Stop all servers at once; a connection wakes each serve loop so nobody waits out its poll."""
    stoppers = [threading.Thread(target=server.stop) for server in servers]
    for stopper in stoppers:
        stopper.start()
    for server, stopper in zip(servers, stoppers, strict=True):
        while stopper.is_alive():
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", server.port), 0.2):
                pass
            stopper.join(0.01)


@contextmanager
def start_all(
    directory: Path, *, port_base: int | None = None, window_seconds: float = 60.0
) -> Iterator[Sandboxes]:
    """Run MISP, Entra ID, Sentinel and Key Vault on 127.0.0.1 until the block ends.

    `window_seconds` scales Sentinel's 100-requests-a-minute window (a benchmark runs it in seconds).
    """
    servers: list[Server] = []
    with contextlib.ExitStack() as held:
        held.enter_context(hold_directory(directory))
        held.callback(_stop, servers)
        yield _start(directory, servers, port_base, window_seconds)


def _start(directory: Path, servers: list[Server], port_base: int | None, window_seconds: float) -> Sandboxes:
    ca = SandboxCA(directory)
    misp = MispApp(MISP_KEY)
    servers.append(Server(misp, ca, _port(port_base, "misp")).start())
    entra = EntraApp()
    entra.add_client(TENANT, CLIENT_ID, CLIENT_SECRET)
    entra.add_client(TENANT, VAULT_CLIENT_ID, VAULT_CLIENT_SECRET)
    entra_server = Server(entra, ca, _port(port_base, "entra")).start()
    servers.append(entra_server)
    sentinel = SentinelApp(entra, window_seconds=window_seconds)
    sentinel.add_workspace(
        WORKSPACE_ID,
        name=WORKSPACE_NAME,
        subscription_id=SUBSCRIPTION_ID,
        resource_group=RESOURCE_GROUP,
        contributors={CLIENT_ID},
    )
    servers.append(Server(sentinel, ca, _port(port_base, "sentinel")).start())
    vault = KeyVaultApp(entra, TENANT, entra_server.url)
    vault.allow(VAULT_CLIENT_ID)
    vault.set_secret("MISP-Key", MISP_KEY)
    vault.set_secret("ClientSecret", CLIENT_SECRET)
    servers.append(Server(vault, ca, _port(port_base, "keyvault")).start())
    return Sandboxes(
        directory=directory,
        ca_path=ca.ca_path,
        misp_url=servers[0].url,
        entra_url=servers[1].url,
        sentinel_url=servers[2].url,
        vault_url=servers[3].url,
        misp=misp,
        entra=entra,
        sentinel=sentinel,
        vault=vault,
    )


def seed(misp: MispApp, events_dir: Path = SAMPLE_EVENTS) -> tuple[int, str]:
    """Seed the sample events of a folder (synthetic ones when it holds none); (count, where from)."""
    files = sorted(events_dir.glob("*.json")) if events_dir.is_dir() else []
    if not files:
        n_events, n_attributes = SYNTHETIC_EVENTS
        return len(misp.bulk_seed(n_events, n_attributes)), "synthetic data (bulk_seed)"
    for path in files:
        misp.seed_file(path)
    return len(files), str(events_dir)


def config_values(sandboxes: Sandboxes) -> dict[str, Any]:
    """The settings of a config.py pointing at the sandboxes; everything else keeps its default."""
    directory = sandboxes.directory.resolve()
    ca = str(sandboxes.ca_path.resolve())
    return {
        "ms_auth": {
            "tenant": sandboxes.tenant,
            "client_id": sandboxes.client_id,
            "client_secret": sandboxes.client_secret,
            "new_upload_api": True,
            "scope": "https://management.azure.com/.default",
            "workspace_id": sandboxes.workspace_id,
            "subscription_id": sandboxes.subscription_id,
            "resourceGroupName": sandboxes.resource_group,
            "workspaceName": sandboxes.workspace_name,
        },
        "ms_authority_host": sandboxes.entra_url,
        "ms_upload_base_url": sandboxes.sentinel_url,
        "ms_legacy_upload_base_url": sandboxes.sentinel_url,
        "ms_management_base_url": sandboxes.sentinel_url,
        "ms_ca_bundle": ca,
        "misp_key": sandboxes.misp_key,
        "misp_domain": sandboxes.misp_url,
        "misp_verifycert": ca,
        # The sample events date from 2016-2019: no time window and no workflow tag, or nothing matches.
        "misp_event_filters": {"published": 1, "enforceWarninglist": True},
        # Counted from the samples' own (2016-2019) timestamps 50 days would have expired them all; a
        # long life keeps valid_until fixed, where "current_date" would change it (and re-upload) each run.
        "days_to_expire": 5000,
        "log_file": str(directory / "misp2sentinel.log"),
        "state_file": str(directory / "misp2sentinel.db"),
    }


def write_config(sandboxes: Sandboxes) -> Path:
    """Write DIR/config.py and DIR/keyvault.env (both mode 0600); the config's path."""
    lines = [
        "# Written by `python -m sandbox`: the sync's settings for the local sandboxes.",
        "# Every id and secret below is a made-up sandbox value. Other settings keep their defaults",
        "# (see config.py.default). The sandbox Key Vault also holds MISP-Key and ClientSecret: set",
        f"# key_vault_url = {sandboxes.vault_url!r} and load the identity: . ./{VAULT_ENV_FILE}",
        "",
    ]
    for name, value in config_values(sandboxes).items():
        lines.append(f"{name} = {pprint.pformat(value, sort_dicts=False, width=100)}")
    exports = [f"export {name}={value}" for name, value in sandboxes.vault_environ().items()]
    _write_private(sandboxes.directory / VAULT_ENV_FILE, exports)
    _write_private(sandboxes.directory / MISP_KEY_FILE, [sandboxes.misp_key])
    return _write_private(sandboxes.directory / "config.py", lines)


def _write_private(path: Path, lines: list[str]) -> Path:
    """Write a file only its owner can read, as a file holding (even sandbox) secrets should be."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    path.chmod(0o600)  # an existing file keeps its old mode through O_CREAT
    return path
