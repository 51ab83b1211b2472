"""Fixtures for the Entra ID + Sentinel sandbox: one tenant, one app holding Microsoft Sentinel Contributor
on one workspace, served over HTTPS with the session's sandbox CA.

`azure` is function-scoped so knobs, tokens and stored objects never leak between tests. Tests that need
a fake clock or a scaled rate window build their own with `start_azure(...)`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msal
import pytest

from sandbox.entra import EntraApp
from sandbox.http import App, Request, Response, Server, json_response
from sandbox.sentinel import SentinelApp
from sandbox.sentinel_store import Workspace
from sandbox.tls import SandboxCA

TENANT = "6f1d2c3b-4a59-4e8d-9c71-0a1b2c3d4e5f"
CLIENT_ID = "0c1e5a7b-2d3f-4a6b-8c9d-1e2f3a4b5c6d"
CLIENT_SECRET = "sandbox-secret-Q8~x"  # only ever a sandbox value
WORKSPACE_ID = "2a4b6c8d-1e3f-4a5b-9c7d-0e1f2a3b4c5d"
WORKSPACE_NAME = "sentinel-ws"
SUBSCRIPTION_ID = "9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
RESOURCE_GROUP = "rg-soc"


@dataclass(frozen=True)
class AzureSandbox:
    authority_host: str
    upload_base_url: str
    legacy_base_url: str
    management_base_url: str
    tenant: str
    client_id: str
    client_secret: str
    workspace_id: str
    workspace_name: str
    subscription_id: str
    resource_group: str
    entra: EntraApp
    sentinel: SentinelApp
    ca_path: Path

    @property
    def upload_url(self) -> str:
        return (
            f"{self.upload_base_url}/workspaces/{self.workspace_id}"
            "/threat-intelligence-stix-objects:upload?api-version=2024-02-01-preview"
        )

    @property
    def legacy_url(self) -> str:
        return (
            f"{self.legacy_base_url}/{self.workspace_id}/threatintelligence:upload-indicators"
            "?api-version=2022-07-01"
        )

    def management_url(self, tail: str = "queryIndicators", workspace_name: str | None = None) -> str:
        """`.../threatIntelligence/main/<tail>?api-version=2025-09-01` for this (or another) workspace."""
        return (
            f"{self.management_base_url}/subscriptions/{self.subscription_id}/resourceGroups/"
            f"{self.resource_group}/providers/Microsoft.OperationalInsights/workspaces/"
            f"{workspace_name or self.workspace_name}/providers/Microsoft.SecurityInsights/"
            f"threatIntelligence/main/{tail}?api-version=2025-09-01"
        )

    def add_workspace(
        self, workspace_id: str, name: str, *, contributor: bool = True, client_id: str | None = None
    ) -> Workspace:
        """A second workspace in the same subscription; the fixture's app holds the role unless told not."""
        holders = {client_id or self.client_id} if contributor else set()
        return self.sentinel.add_workspace(
            workspace_id,
            name=name,
            subscription_id=self.subscription_id,
            resource_group=self.resource_group,
            contributors=holders,
        )


class FakeClock:
    """A clock tests move by hand: `clock()` reads it, `clock.advance(s)` moves it."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def msal_token(
    sandbox: AzureSandbox,
    scope: str = "https://management.azure.com/.default",
    *,
    client_id: str | None = None,
    secret: str | None = None,
) -> dict[str, Any]:
    """What msal's acquire_token_for_client returns against the sandbox (a token or an error dict)."""
    app = msal.ConfidentialClientApplication(
        client_id or sandbox.client_id,
        client_credential=secret or sandbox.client_secret,
        authority=f"{sandbox.authority_host}/{sandbox.tenant}",
        instance_discovery=False,
    )
    result: dict[str, Any] = app.acquire_token_for_client(scopes=[scope])
    return result


def bearer(sandbox: AzureSandbox, scope: str = "https://management.azure.com/.default") -> dict[str, str]:
    """An Authorization header with a fresh sandbox token."""
    return {"Authorization": f"Bearer {msal_token(sandbox, scope)['access_token']}"}


class Switch(App):
    """A long-lived server front whose requests go to whichever app the current test plugged in.

    Stopping a server waits out its loop's poll interval (~0.5 s); reusing two servers for the whole
    session and swapping fresh apps in per test keeps every test isolated without paying that each time.
    """

    name = "azure-switch"

    def __init__(self) -> None:
        super().__init__()
        self.target: App | None = None

    def dispatch(self, request: Request) -> Response:
        if self.target is None:
            return json_response(503, {"message": "no sandbox app plugged in"})
        return self.target.dispatch(request)


def build_apps(clock: Callable[[], float] = time.time, **sentinel_knobs: Any) -> tuple[EntraApp, SentinelApp]:
    """Fresh Entra ID and Sentinel apps: one tenant, one app with the role on one workspace."""
    entra = EntraApp(clock=clock)
    entra.add_client(TENANT, CLIENT_ID, CLIENT_SECRET)
    sentinel = SentinelApp(entra, clock=clock, **sentinel_knobs)
    sentinel.add_workspace(
        WORKSPACE_ID,
        name=WORKSPACE_NAME,
        subscription_id=SUBSCRIPTION_ID,
        resource_group=RESOURCE_GROUP,
        contributors={CLIENT_ID},
    )
    return entra, sentinel


def _sandbox(
    entra: EntraApp, sentinel: SentinelApp, entra_url: str, sentinel_url: str, ca: Path
) -> AzureSandbox:
    return AzureSandbox(
        authority_host=entra_url,
        upload_base_url=sentinel_url,
        legacy_base_url=sentinel_url,
        management_base_url=sentinel_url,
        tenant=TENANT,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        workspace_id=WORKSPACE_ID,
        workspace_name=WORKSPACE_NAME,
        subscription_id=SUBSCRIPTION_ID,
        resource_group=RESOURCE_GROUP,
        entra=entra,
        sentinel=sentinel,
        ca_path=ca,
    )


@contextmanager
def start_azure(
    ca: SandboxCA, *, clock: Callable[[], float] = time.time, **sentinel_knobs: Any
) -> Iterator[AzureSandbox]:
    """Start dedicated Entra ID and Sentinel servers (for a demo or a benchmark; tests use `azure`)."""
    entra, sentinel = build_apps(clock, **sentinel_knobs)
    entra_server, sentinel_server = Server(entra, ca).start(), Server(sentinel, ca).start()
    try:
        yield _sandbox(entra, sentinel, entra_server.url, sentinel_server.url, ca.ca_path)
    finally:
        # Each stop waits out the server loop's poll interval: stop both at once to halve that.
        stopper = threading.Thread(target=entra_server.stop)
        stopper.start()
        sentinel_server.stop()
        stopper.join()


AzureFactory = Callable[..., AzureSandbox]


@pytest.fixture(scope="session")
def _azure_servers(sandbox_ca: SandboxCA) -> Iterator[tuple[Server, Server]]:
    entra_server, sentinel_server = Server(Switch(), sandbox_ca).start(), Server(Switch(), sandbox_ca).start()
    yield entra_server, sentinel_server
    stopper = threading.Thread(target=entra_server.stop)
    stopper.start()
    sentinel_server.stop()
    stopper.join()


@pytest.fixture
def azure_factory(_azure_servers: tuple[Server, Server], sandbox_ca: SandboxCA) -> Iterator[AzureFactory]:
    """`azure_factory(clock=..., window_seconds=..., ...)` -> a fresh AzureSandbox on the shared servers.

    Knobs are SentinelApp's keyword arguments. Only the most recently made sandbox is served.
    """
    entra_server, sentinel_server = _azure_servers
    entra_switch, sentinel_switch = entra_server.app, sentinel_server.app
    assert isinstance(entra_switch, Switch) and isinstance(sentinel_switch, Switch)

    def make(*, clock: Callable[[], float] = time.time, **sentinel_knobs: Any) -> AzureSandbox:
        entra, sentinel = build_apps(clock, **sentinel_knobs)
        entra_switch.target, sentinel_switch.target = entra, sentinel
        return _sandbox(entra, sentinel, entra_server.url, sentinel_server.url, sandbox_ca.ca_path)

    yield make
    entra_switch.target = sentinel_switch.target = None


@pytest.fixture
def azure(azure_factory: AzureFactory) -> AzureSandbox:
    """One tenant, one app (client id + secret) holding Microsoft Sentinel Contributor on one workspace."""
    return azure_factory()
