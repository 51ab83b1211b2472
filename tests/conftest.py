"""Shared fixtures: one sandbox CA per test session, trusted by requests, msal and the Azure SDK."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from sandbox.samples import SAMPLE_EVENTS
from sandbox.tls import SandboxCA

pytest_plugins = ["tests.fixtures.misp", "tests.fixtures.azure", "tests.fixtures.keyvault"]

MISP_EVENTS = SAMPLE_EVENTS


@pytest.fixture(scope="session")
def sandbox_ca(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxCA]:
    ca = SandboxCA(tmp_path_factory.mktemp("ca"))
    # msal and the Azure SDK take these over any verify= they are given (CONTRACTS.md 3).
    saved = {k: os.environ.get(k) for k in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")}
    os.environ["REQUESTS_CA_BUNDLE"] = str(ca.ca_path)
    os.environ["SSL_CERT_FILE"] = str(ca.ca_path)
    yield ca
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
