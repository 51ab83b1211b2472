"""Revocation is final in Sentinel: script.py end to end when indicators are revoked and come back.

Findings 3 and 5 of the sync's audit: an attribute whose to_ids goes off and on again must come back
under a new id while the revoked one stays revoked; a lost state learns it from Sentinel's refusal; a
revocation that fails is kept pending and sent by the next run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from misp_bridge.sync.state.store import State
from tests.e2e.test_sync import XORIST, expected, run, seed, stored, summary_json, ws_counts
from tests.fixtures.azure import AzureSandbox
from tests.fixtures.misp import MispSandbox
from tests.fixtures.sync_config import write_config


def generation_id(base_id: str, generation: int) -> str:
    # Imported here, not at the top: the module's tests then fail on older code for the reason they name.
    from misp_bridge.sync.convert import generation_id as next_id

    return next_id(base_id, generation)


def _one_indicator(config: Path, event_uuid: str) -> tuple[str, str]:
    target = next(i for i in expected(config).values() if i.event_uuid == event_uuid)
    return target.stix_id, target.attribute_uuid


def test_to_ids_off_then_on_comes_back_under_a_new_id(
    tmp_path: Path, misp: MispSandbox, azure: AzureSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    (event_uuid,) = seed(misp, [XORIST])
    config = write_config(tmp_path, misp, azure)
    assert run(config) == 0
    first_id, attribute_uuid = _one_indicator(config, event_uuid)
    misp.app.store.edit_attribute(attribute_uuid, {"to_ids": False})
    assert run(config, "--verify-recent-toids-change") == 0
    assert stored(azure)[first_id]["revoked"] is True
    misp.app.store.edit_attribute(attribute_uuid, {"to_ids": True})
    capsys.readouterr()

    code = run(config, "--json")

    out, err = capsys.readouterr()
    assert code == 0, err
    second_id = generation_id(first_id, 1)
    held = stored(azure)
    assert held[first_id]["revoked"] is True  # the revoked id stays revoked
    assert "revoked" not in held[second_id]
    assert held[second_id]["pattern"] == held[first_id]["pattern"]
    counts = ws_counts(summary_json(out), azure)
    assert counts["uploaded"] == 1 and counts["rejected"] == 0 and counts["returned"] == 1
    with State.open(tmp_path / "state.db") as state:
        assert state.generations(azure.workspace_id, [first_id]) == {first_id: 1}
    # Re-runs agree on the new id: nothing to send.
    sent = len(azure.sentinel.upload_requests)
    assert run(config) == 0
    assert len(azure.sentinel.upload_requests) == sent


def test_a_lost_state_learns_the_revocation_from_sentinel_and_sends_a_new_id(
    tmp_path: Path, misp: MispSandbox, azure: AzureSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    (event_uuid,) = seed(misp, [XORIST])
    config = write_config(tmp_path, misp, azure)
    assert run(config) == 0
    first_id, attribute_uuid = _one_indicator(config, event_uuid)
    misp.app.store.edit_attribute(attribute_uuid, {"to_ids": False})
    assert run(config, "--verify-recent-toids-change") == 0
    misp.app.store.edit_attribute(attribute_uuid, {"to_ids": True})
    for leftover in tmp_path.glob("state.db*"):
        leftover.unlink()  # the state file is lost
    capsys.readouterr()

    code = run(config, "--json")

    out, err = capsys.readouterr()
    assert code == 0, err
    held = stored(azure)
    assert held[first_id]["revoked"] is True
    assert "revoked" not in held[generation_id(first_id, 1)]
    assert ws_counts(summary_json(out), azure)["rejected"] == 0
    with State.open(tmp_path / "state.db") as state:
        assert state.generations(azure.workspace_id, [first_id]) == {first_id: 1}
        assert state.classify(azure.workspace_id, [(first_id, "x")]) == {first_id: "revoked"}
    sent = len(azure.sentinel.upload_requests)
    assert run(config) == 0
    assert len(azure.sentinel.upload_requests) == sent


def test_a_failed_revocation_is_kept_pending_and_sent_next_run(
    tmp_path: Path, misp: MispSandbox, azure: AzureSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    (event_uuid,) = seed(misp, [XORIST])
    config = write_config(tmp_path, misp, azure)
    assert run(config) == 0
    first_id, attribute_uuid = _one_indicator(config, event_uuid)
    misp.app.store.edit_attribute(attribute_uuid, {"to_ids": False})
    azure.sentinel.faults.only = "upload"
    azure.sentinel.faults.statuses.extend([503] * 8)  # every attempt of the revocation fails
    capsys.readouterr()

    assert run(config, "--json", "--verify-recent-toids-change") == 1

    out, err = capsys.readouterr()
    assert "revoked" not in stored(azure)[first_id]
    assert ws_counts(summary_json(out), azure)["pending"] == 1
    assert "kept to send again next run" in err
    with State.open(tmp_path / "state.db") as state:
        [pending] = list(state.pending(azure.workspace_id))
        assert pending.indicator.stix_id == first_id and pending.indicator.is_revocation

    assert run(config, "--json") == 0

    assert stored(azure)[first_id]["revoked"] is True
    counts = ws_counts(summary_json(capsys.readouterr().out), azure)
    assert counts["revoked"] == 1 and counts["pending"] == 0 and counts["uploaded"] == 0
    with State.open(tmp_path / "state.db") as state:
        assert state.classify(azure.workspace_id, [(first_id, "x")]) == {first_id: "revoked"}
