"""Fixtures for the MISP sandbox: a fresh MISP per test, served over HTTPS with the session CA.

- `misp`: a `MispSandbox` with default permissions (tag editor and sighting on).
- `misp_factory`: a callable taking `MispApp` keyword arguments (perm_tag_editor=False, clock=...,
  known_tags=[...], warninglist=[...]) and returning a started `MispSandbox`; stopped after the test.
- `make_pymisp(sandbox)`: a real PyMISP client trusting the sandbox CA.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymisp
import pytest

from sandbox.http import Server
from sandbox.misp import MispApp
from sandbox.tls import SandboxCA

MISP_KEY = "sandbox-misp-api-key-0000000000000000000000"


@dataclass(frozen=True)
class MispSandbox:
    url: str
    key: str
    app: MispApp
    ca_path: Path


def make_pymisp(sandbox: MispSandbox, timeout: float = 10) -> pymisp.PyMISP:
    """A real PyMISP client for the sandbox (its constructor already makes three requests)."""
    return pymisp.PyMISP(sandbox.url, sandbox.key, ssl=str(sandbox.ca_path), timeout=timeout)


@pytest.fixture
def misp_factory(sandbox_ca: SandboxCA) -> Iterator[Callable[..., MispSandbox]]:
    with ExitStack() as stack:

        def start(**options: Any) -> MispSandbox:
            app = MispApp(options.pop("api_key", MISP_KEY), **options)
            server = stack.enter_context(Server(app, sandbox_ca))
            return MispSandbox(url=server.url, key=app.api_key, app=app, ca_path=sandbox_ca.ca_path)

        yield start


@pytest.fixture
def misp(misp_factory: Callable[..., MispSandbox]) -> MispSandbox:
    return misp_factory()
