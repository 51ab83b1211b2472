"""script.py end to end when the services answer in ways the documentation does not promise.

A 200 that is not Sentinel's answer, Entra ID failing with 5xx, a missing role reported as a 401: each
must leave the run's bookkeeping true (nothing recorded as delivered without evidence) and end in one
clear line.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from misp_bridge.cli import Environment
from misp_bridge.sync import cli
from tests.e2e.test_sync import EVENT_FILES, XORIST, expected, run, seed, stored, summary_json, ws_counts
from tests.fakes import FakeClock, FakeSleep
from tests.fixtures.azure import AzureSandbox
from tests.fixtures.misp import MispSandbox
from tests.fixtures.sync_config import workspace_entry, write_config


@pytest.mark.parametrize("fault", ["html", "truncated"])
def test_a_200_that_is_not_sentinels_answer_is_never_recorded_as_delivered(
    tmp_path: Path,
    misp: MispSandbox,
    azure: AzureSandbox,
    capsys: pytest.CaptureFixture[str],
    fault: str,
) -> None:
    """Finding 6: a proxy's HTML page (or a reply cut short) on every upload used to be taken as "all
    accepted": nothing reached Sentinel and the next run said "unchanged" for every indicator."""
    seed(misp, EVENT_FILES[:3])
    config = write_config(tmp_path, misp, azure)
    want = expected(config)
    assert len(want) > 100  # more than one batch
    azure.sentinel.faults.only = "upload"
    setattr(azure.sentinel.faults, fault, 10_000)

    assert run(config, "--json") == 1

    counts = ws_counts(summary_json(capsys.readouterr().out), azure)
    assert counts["uploaded"] == 0 and counts["pending"] == len(want)
    if fault == "html":
        assert stored(azure) == {}
    azure.sentinel.faults.reset()

    assert run(config, "--json") == 0

    counts = ws_counts(summary_json(capsys.readouterr().out), azure)
    # Everything goes, from the pending list (so MISP's copies then count as unchanged).
    assert counts["uploaded"] == len(want) and counts["pending"] == 0
    assert set(stored(azure)) == set(want)


def test_entra_failing_for_one_tenant_stops_that_workspace_alone_with_exit_4(
    tmp_path: Path, misp: MispSandbox, azure: AzureSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    """Finding 9: Entra ID answering 5xx raised msal's MsalServiceError out of the run: "unexpected
    MsalServiceError", exit 1, and every workspace stopped. Now: retried, then this workspace stops
    (its indicators kept pending), the others carry on, exit 4."""
    seed(misp, [XORIST])
    other_tenant, other_client = (
        "0d0e0f10-1112-4314-9516-171819202122",
        "1a1b1c1d-2e2f-4a3b-8c4d-5e6f7a8b9c0d",
    )
    azure.entra.add_client(other_tenant, other_client, "second-secret-XYZ~1")
    second = "7e6d5c4b-3a29-4f18-8e07-d6c5b4a39281"
    azure.add_workspace(second, "entra-down-ws", client_id=other_client)
    spaces = [
        workspace_entry(azure),
        workspace_entry(
            azure,
            tenant=other_tenant,
            client_id=other_client,
            client_secret="second-secret-XYZ~1",
            workspace_id=second,
            workspaceName="entra-down-ws",
        ),
    ]
    config = write_config(tmp_path, misp, azure, ms_auth=spaces)
    azure.entra.faults.only = f"/{other_tenant}/oauth2/"
    azure.entra.faults.statuses.extend([503] * 100)

    code = run(config, "--json")

    out, err = capsys.readouterr()
    assert code == 4, err
    want = expected(config)
    assert set(stored(azure)) == set(want)
    data = summary_json(out)
    assert data["workspaces"]["entra-down-ws"]["pending"] == len(want)
    assert "Entra ID" in data["workspaces"]["entra-down-ws"]["error"]
    assert "failed (HTTP Error: 503)" in data["workspaces"]["entra-down-ws"]["error"]
    assert "unexpected" not in err and "Traceback" not in err


def test_misp_rate_limit_is_waited_out_not_a_fatal_error(
    tmp_path: Path,
    misp_factory: Callable[..., MispSandbox],
    azure: AzureSandbox,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Finding 10: restSearch's per-role limit (429 + X-Rate-Limit-Reset) ended the sync with exit 3."""
    clock = FakeClock(time.time())
    misp = misp_factory(clock=clock)
    seed(misp, EVENT_FILES[:3])
    misp.app.restsearch.rate_limit = 2
    config = write_config(tmp_path, misp, azure, misp_event_limit_per_page=1)
    sleep = FakeSleep(clock)

    code = cli.main(["--config", str(config), "--no-progress", "--json"], env=Environment(sleep=sleep))

    err = capsys.readouterr().err
    assert code == 0, err
    assert misp.app.restsearch.throttled >= 1
    misp.app.restsearch.rate_limit = None  # for the oracle's own searches
    assert set(stored(azure)) == set(expected(config))
    assert 900.0 in sleep.calls
    assert "rate limit reached" in err
