"""A run's deadline (script.py --budget; the Function's run budget): it stops taking new work, keeps the
rest pending, and the next run completes: nothing lost, nothing sent twice.

The deadline is made to pass at a chosen moment (while Sentinel handles a chosen upload request) by
moving the run's monotonic clock, so what is in flight at the cut is known and the test is not timed.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from misp_bridge.azure.http import AzureSender, RetryPolicy
from misp_bridge.azure.ratelimit import SlidingWindow
from misp_bridge.cli import Environment
from misp_bridge.config import load_settings
from misp_bridge.sync import cli, pipeline
from misp_bridge.sync.deadline import Deadline
from misp_bridge.sync.state.store import State
from misp_bridge.sync.wiring import token_provider
from tests.e2e.test_sync import EVENT_FILES, expected, seed, stored
from tests.fakes import FakeClock
from tests.fixtures.azure import AzureSandbox, on_upload, upload_counts
from tests.fixtures.misp import MispSandbox
from tests.fixtures.sync_config import write_config


def no_sleep(_seconds: float) -> None:
    """Back-offs return at once."""


def run(config: Path, *extra: str, monotonic: FakeClock | None = None) -> tuple[int, dict[str, Any], str]:
    out, err = io.StringIO(), io.StringIO()
    env = Environment(stdout=out, stderr=err, sleep=no_sleep, monotonic=monotonic or FakeClock())
    code = cli.main(["--config", str(config), "--no-progress", "--json", *extra], env=env, lock_wait=0.2)
    lines = out.getvalue().strip().splitlines()
    return code, (json.loads(lines[-1]) if lines else {}), err.getvalue()


def test_deadline_counts_from_its_start_and_keeps_the_first_reason() -> None:
    clock = FakeClock(100.0)
    deadline = Deadline(30, clock)
    assert not deadline.passed() and deadline.remaining() == 30
    clock.advance(29.5)
    assert not deadline.passed() and deadline.remaining() == pytest.approx(0.5)
    clock.advance(0.5)
    assert deadline.passed() and deadline.remaining() == 0
    assert deadline.reason == "the run's time budget of 30 s is spent"
    deadline.stop("the state lease was lost")
    assert deadline.reason == "the run's time budget of 30 s is spent"

    unlimited = Deadline(None, clock)
    clock.advance(10**9)
    assert not unlimited.passed() and unlimited.remaining() is None
    unlimited.stop("the state lease was lost")
    assert unlimited.passed() and unlimited.reason == "the state lease was lost"


@pytest.mark.parametrize("value", ["0", "-5", "nan", "inf", "ten", "700000"])
def test_budget_flag_refuses_nonsense(value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["--config", str(tmp_path / "config.py"), "--budget", value])
    assert code == 2
    assert "--budget" in capsys.readouterr().err


def test_cut_by_its_budget_then_the_next_run_completes_with_every_id_sent_once(
    tmp_path: Path, misp: MispSandbox, azure: AzureSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(misp, EVENT_FILES)
    monkeypatch.setattr(pipeline, "CLASSIFY_CHUNK", 20)  # dispatch event by event
    # Small batches and pages: the cut lands with batches on the wire, batches queued and MISP unread.
    config = write_config(tmp_path, misp, azure, ms_max_indicators_request=10, misp_event_limit_per_page=1)
    want = expected(config)
    clock = FakeClock(0.0)
    on_upload(azure, after=3, action=lambda: clock.advance(3600))

    code, first, err = run(config, "--budget", "600", monotonic=clock)

    assert code == 1, err
    assert first["stopped"] == "the run's time budget of 600 s is spent"
    assert "stopped early: the run's time budget of 600 s is spent" in err
    held_after_cut = set(stored(azure))
    assert held_after_cut and held_after_cut < set(want)
    with State.open(tmp_path / "state.db") as state:
        pending = {p.indicator.stix_id for p in state.pending(azure.workspace_id)}
        assert [p.attempts for p in state.pending(azure.workspace_id)] == [1] * len(pending)
        [last] = state.last_runs(1)
    assert pending and not pending & held_after_cut  # converted, not sent: kept
    assert last["exit_code"] == 1 and last["summary"]["stopped"]
    assert first["events"] < 7  # the rest of MISP was left for the next run
    assert "indicators not sent because the run is stopping" in (tmp_path / "sync.log").read_text()

    code, second, err = run(config)

    assert code == 0, err
    assert "stopped" not in second
    assert set(stored(azure)) == set(want)
    counts = upload_counts(azure)
    assert set(counts) == set(want)
    assert max(counts.values()) == 1  # a graceful cut sends nothing twice
    with State.open(tmp_path / "state.db") as state:
        assert state.pending_count(azure.workspace_id) == 0


def test_cut_while_sending_what_an_earlier_run_left_pending(
    tmp_path: Path, misp: MispSandbox, azure: AzureSandbox
) -> None:
    """Pending items not reached before the cut stay pending as they were (attempts unchanged)."""
    seed(misp, EVENT_FILES)
    config = write_config(tmp_path, misp, azure, ms_max_indicators_request=50, ms_max_parallel_requests=1)
    want = expected(config)
    with State.open(tmp_path / "state.db") as state:
        state.add_pending(azure.workspace_id, list(want.values()))
    clock = FakeClock(0.0)
    on_upload(azure, after=2, action=lambda: clock.advance(3600))

    code, summary, err = run(config, "--budget", "60", monotonic=clock)

    assert code == 1, err
    assert summary["events"] == 0  # MISP was not read: the budget ran out first
    sent = set(upload_counts(azure))
    assert 0 < len(sent) < len(want)
    with State.open(tmp_path / "state.db") as state:
        left = list(state.pending(azure.workspace_id))
    assert {p.indicator.stix_id for p in left} == set(want) - sent
    assert {p.attempts for p in left} == {1}

    assert run(config)[0] == 0
    assert set(stored(azure)) == set(want)
    assert max(upload_counts(azure).values()) == 1


def test_clean_up_passes_are_skipped_once_the_run_is_stopping(
    tmp_path: Path, misp: MispSandbox, azure: AzureSandbox
) -> None:
    seed(misp, EVENT_FILES[:1])
    config = write_config(tmp_path, misp, azure)
    clock = FakeClock(0.0)
    on_upload(azure, after=1, action=lambda: clock.advance(3600))

    code, summary, err = run(config, "--budget", "60", "--delete-outdated-indicators", monotonic=clock)
    assert summary["stopped"]

    assert code == 1, err
    assert "--delete-outdated-indicators skipped: the run's time budget of 60 s is spent" in err
    mgmt = [r for r in azure.sentinel.requests if "queryIndicators" in r.path]
    assert mgmt == []


def test_the_sender_sends_no_retry_once_the_run_is_stopping(
    tmp_path: Path, misp: MispSandbox, azure: AzureSandbox
) -> None:
    """A 503 is normally retried; past the deadline the reply so far is final (no second request)."""
    settings = load_settings(write_config(tmp_path, misp, azure))
    ws = settings.ms_auth[0]
    deadline = Deadline(None)
    sender = AzureSender(
        tokens=token_provider(settings, ws),
        limiter=SlidingWindow(100, 60),
        user_agent="test",
        verify=str(azure.ca_path),
        timeout=10,
        policy=RetryPolicy(max_attempts=5),
        sleep=no_sleep,
        stop=deadline.passed,
    )
    azure.sentinel.faults.statuses = [503, 503, 503]
    on_upload(azure, after=1, action=lambda: deadline.stop("the state lease was lost"))

    reply = sender.post(azure.upload_url, {"sourcesystem": "MISP", "stixobjects": []})

    assert reply.status == 503 and reply.attempts == 1
    assert sum(1 for r in azure.sentinel.requests if r.path.endswith(":upload")) == 1
