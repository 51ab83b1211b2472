"""The run summary: counters shared by threads, the text and JSON forms, the exit-code table."""

from __future__ import annotations

import json
import threading

import pytest

from misp_bridge.cli import exit_code_for, message_for
from misp_bridge.errors import (
    AuthError,
    ConfigError,
    ConfigErrors,
    KeyVaultError,
    MispUnavailable,
    RunLockHeld,
    StateError,
)
from misp_bridge.exitcodes import SYNC_EXIT_FOR, SyncExit
from misp_bridge.sync.summary import Summary


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_counts_from_many_threads_add_up() -> None:
    summary = Summary(clock=Ticks())

    def work() -> None:
        for _ in range(1000):
            summary.count("ws", "uploaded")
            summary.total("indicators")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert summary.get("ws", "uploaded") == 8000
    assert summary.get_total("indicators") == 8000


def test_as_dict_is_json_and_render_names_every_part() -> None:
    clock = Ticks()
    summary = Summary(clock=clock)
    summary.add_workspace("soc-eu")
    summary.total("events", 2)
    summary.total("attributes", 10)
    summary.total("indicators", 7)
    summary.skip("not to_ids", 3)
    summary.count("soc-eu", "uploaded", 7)
    summary.count("soc-eu", "would_upload", 0)
    summary.error("soc-eu", "Sentinel refused uploads to workspace soc-eu (HTTP 403): role missing")
    summary.error("soc-eu", "a later reason is not kept")
    clock.now += 2.5
    summary.finish()

    data = json.loads(json.dumps(summary.as_dict()))
    assert data["elapsed_seconds"] == 2.5
    assert data["skipped"] == {"not to_ids": 3}
    assert data["workspaces"]["soc-eu"]["uploaded"] == 7
    assert data["workspaces"]["soc-eu"]["error"].endswith("role missing")
    text = summary.render()
    assert text.splitlines()[0] == (
        "Sync finished in 2.5 s (exit 0): 2 events, 10 attributes seen, 7 indicators built."
    )
    assert "skipped: not to_ids 3" in text
    assert "workspace soc-eu: uploaded 7, unchanged 0, rejected 0, pending 0" in text
    assert "would_upload" not in text  # zero extras stay out
    assert "stopped: Sentinel refused" in text


def test_dry_run_heading() -> None:
    summary = Summary(clock=Ticks())
    summary.dry_run = True
    assert summary.render().startswith("Dry run (nothing uploaded, state unchanged)")


@pytest.mark.parametrize(
    ("error", "code"),
    [
        pytest.param(RunLockHeld("/tmp/state.db", 42, 10), SyncExit.LOCKED, id="lock-held"),
        pytest.param(ConfigErrors([ConfigError("misp_key", "is empty")]), SyncExit.USAGE, id="config"),
        pytest.param(StateError("The state file x is a directory."), SyncExit.USAGE, id="state-file"),
        pytest.param(MispUnavailable("MISP at x is unreachable"), SyncExit.MISP, id="misp-down"),
        pytest.param(AuthError("Entra ID refused a token"), SyncExit.SENTINEL, id="entra"),
        pytest.param(KeyVaultError("Key Vault x: secret MISP-Key not found"), SyncExit.SENTINEL, id="vault"),
        pytest.param(RuntimeError("boom"), SyncExit.FAILURES, id="unexpected"),
    ],
)
def test_exit_code_table(error: BaseException, code: SyncExit) -> None:
    assert exit_code_for(error, SYNC_EXIT_FOR, SyncExit.FAILURES) == code


def test_config_errors_are_listed_one_per_line() -> None:
    error = ConfigErrors([ConfigError("misp_key", "is empty"), ConfigError("days_to_expire", "must be >= 1")])
    assert message_for(error).splitlines() == [
        "configuration has errors:",
        "  - config.py: misp_key is empty",
        "  - config.py: days_to_expire must be >= 1",
    ]
