"""A sync killed with SIGKILL at fixed points, then run again: nothing lost, nothing duplicated, and
Sentinel holds exactly what an uninterrupted run gives.

How: script.py runs as a real process; the sandboxes run in this test process, and a `Trip`
(sandbox/http.py) on one of them kills the sync when that service receives its Nth matching request:
on its arrival (nothing done), or once processed (the work done, no reply). No test-only code path in
the product. The points:

- after a MISP page: MISP's 2nd events restSearch arrives (page 1 converted, its uploads under way);
- in the middle of a batch: Sentinel's 2nd upload arrives (a batch in flight, not stored);
- after an upload, before the state commit: Sentinel stores the 1st batch and the sync never hears.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sandbox.http import App, Trip, TripPoint
from tests.conftest import MISP_EVENTS
from tests.fixtures.azure import AzureSandbox
from tests.fixtures.misp import MispSandbox
from tests.fixtures.sync_config import write_config

ROOT = Path(__file__).resolve().parents[2]
UPLOAD = r"threat-intelligence-stix-objects:upload"
MISP_PAGE = r"/events/restSearch"


def sync(config: Path, trip_app: App | None = None, **trip: Any) -> subprocess.CompletedProcess[str]:
    """script.py as a process; with `trip_app`, a Trip on it kills that process (SIGKILL)."""
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "script.py"), "--config", str(config), "--no-progress"],
        cwd=config.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if trip_app is not None:
        trip_app.faults.trip = Trip(lambda: os.kill(process.pid, signal.SIGKILL), **trip)
    try:
        out, err = process.communicate(timeout=180)
    finally:
        if trip_app is not None:
            trip_app.faults.trip = None
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def held(azure: AzureSandbox) -> dict[str, dict[str, Any]]:
    return {k: {f: v for f, v in body.items() if f != "sourcesystem"} for k, body in
            azure.sentinel.objects(azure.workspace_id).items()}  # fmt: skip


@pytest.fixture
def seeded(misp: MispSandbox) -> MispSandbox:
    for path in sorted(MISP_EVENTS.glob("*.json")):
        misp.app.seed_file(path)
    return misp


def reference(
    tmp_path: Path, misp: MispSandbox, azure_factory: Callable[..., AzureSandbox]
) -> dict[str, Any]:
    """What an uninterrupted run leaves in a fresh Sentinel."""
    azure = azure_factory()
    (tmp_path / "reference").mkdir()
    done = sync(write_config(tmp_path / "reference", misp, azure))
    assert done.returncode == 0, done.stderr
    return held(azure)


POINTS = [
    pytest.param("misp", MISP_PAGE, 2, "arrival", id="after-a-misp-page"),
    pytest.param("sentinel", UPLOAD, 2, "arrival", id="in-the-middle-of-a-batch"),
    pytest.param("sentinel", UPLOAD, 1, "processed", id="uploaded-before-the-state-commit"),
]


@pytest.mark.parametrize(("service", "path", "nth", "at"), POINTS)
def test_killed_then_run_again_loses_and_duplicates_nothing(
    tmp_path: Path,
    seeded: MispSandbox,
    azure_factory: Callable[..., AzureSandbox],
    service: str,
    path: str,
    nth: int,
    at: TripPoint,
) -> None:
    want = reference(tmp_path, seeded, azure_factory)
    assert len(want) > 300  # seven events, 3 to a MISP page, 100 indicators to a batch: 4 batches

    azure = azure_factory()  # a fresh, empty Sentinel behind the same URLs
    config = write_config(tmp_path, seeded, azure)
    app: App = seeded.app if service == "misp" else azure.sentinel
    killed = sync(config, app, only=path, nth=nth, at=at)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    stored_before = held(azure)
    if at == "processed":
        assert stored_before  # Sentinel holds the batch the sync never heard back about

    again = sync(config)
    assert again.returncode == 0, again.stderr
    resent = int(re.search(r"uploaded (\d+),", again.stderr).group(1))  # type: ignore[union-attr]
    assert resent > 0  # the kill left work for this run: it was not a finished run being repeated
    got = held(azure)
    assert set(got) == set(want)  # nothing lost, no indicator under a second id
    assert got == want  # the same content as the uninterrupted run
    third = sync(config)  # the state agrees with Sentinel: nothing left to send
    assert third.returncode == 0
    assert f"uploaded 0, unchanged {len(want)}" in third.stderr
