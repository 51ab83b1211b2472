"""script.py end to end when the services answer in ways the documentation does not promise.

A 200 that is not Sentinel's answer, Entra ID failing with 5xx, a missing role reported as a 401: each
must leave the run's bookkeeping true (nothing recorded as delivered without evidence) and end in one
clear line.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.test_sync import EVENT_FILES, expected, run, seed, stored, summary_json, ws_counts
from tests.fixtures.azure import AzureSandbox
from tests.fixtures.misp import MispSandbox
from tests.fixtures.sync_config import write_config


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
