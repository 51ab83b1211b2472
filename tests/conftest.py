"""Shared fixtures: one sandbox CA per test session, trusted by requests, msal and the Azure SDK."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from sandbox.samples import SAMPLE_EVENTS
from sandbox.tls import SandboxCA

pytest_plugins = [
    "tests.fixtures.misp",
    "tests.fixtures.azure",
    "tests.fixtures.keyvault",
    "tests.fixtures.realmisp",
    "tests.fixtures.azurite",
]

MISP_EVENTS = SAMPLE_EVENTS


@pytest.fixture(scope="session")
def sandbox_ca(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxCA]:
    ca = SandboxCA(tmp_path_factory.mktemp("ca"))
    # msal and the Azure SDK take these over any verify= they are given (docs/contracts.md 3).
    saved = {k: os.environ.get(k) for k in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")}
    os.environ["REQUESTS_CA_BUNDLE"] = str(ca.ca_path)
    os.environ["SSL_CERT_FILE"] = str(ca.ca_path)
    yield ca
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    """The real-MISP tier says how many of its tests ran; one that skipped them all says so and fails."""
    if "realmisp" not in (config.getoption("markexpr") or "") or "not realmisp" in config.getoption(
        "markexpr"
    ):
        return
    ran = len(terminalreporter.stats.get("passed", [])) + len(terminalreporter.stats.get("failed", []))
    skipped = terminalreporter.stats.get("skipped", [])
    terminalreporter.write_line(f"real-MISP tier: {ran} test(s) ran, {len(skipped)} skipped")
    if ran == 0:
        reasons = {str(report.longrepr[-1]) for report in skipped if isinstance(report.longrepr, tuple)}
        terminalreporter.write_line(
            "real-MISP tier: SKIPPED THEM ALL - " + ("; ".join(sorted(reasons)) or "nothing was collected"),
            red=True,
        )


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    markexpr = session.config.getoption("markexpr") or ""
    if "realmisp" in markexpr and "not realmisp" not in markexpr and exitstatus == 0:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        stats = reporter.stats if reporter is not None else {}
        if not stats.get("passed"):
            session.exitstatus = pytest.ExitCode.NO_TESTS_COLLECTED
