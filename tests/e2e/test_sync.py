"""The sync end to end: script.py's main() against the MISP and Entra ID + Sentinel sandboxes.

Real clients (PyMISP, msal, requests) talk HTTPS to the sandboxes on loopback. Every test seeds MISP,
runs `main([...])` in-process and checks the exit code, the output and what Sentinel and the state hold.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

import sandbox.sentinel.app
from misp_bridge.cli import Environment
from misp_bridge.config import load_settings
from misp_bridge.errors import StateError
from misp_bridge.sync import cli
from misp_bridge.sync.context import CleanupResult, ContextFactory, RunContext
from misp_bridge.sync.convert import convert_event, options_from_settings
from misp_bridge.sync.indicator import Indicator
from misp_bridge.sync.misp_source import MispSource
from misp_bridge.sync.state.store import State
from misp_bridge.sync.wiring import build_context
from sandbox.http import Request, Response, json_response
from tests.conftest import MISP_EVENTS
from tests.fixtures.azure import AzureSandbox
from tests.fixtures.keyvault import KeyVaultSandbox
from tests.fixtures.misp import MispSandbox
from tests.fixtures.sync_config import workspace_entry, write_config

EVENT_FILES = sorted(MISP_EVENTS.glob("*.json"))
XORIST = MISP_EVENTS / "xorist_ransomware.json"


def no_sleep(_seconds: float) -> None:
    """Retry back-offs return at once; the limiter re-checks the real clock, so limits still hold."""


def run(
    config: Path, *extra: str, lock_wait: float = 0.2, context_factory: ContextFactory = build_context
) -> int:
    argv = ["--config", str(config), "--no-progress", *extra]
    return cli.main(
        argv, env=Environment(sleep=no_sleep), lock_wait=lock_wait, context_factory=context_factory
    )


def seed(misp: MispSandbox, files: list[Path] = EVENT_FILES) -> list[str]:
    return [misp.app.seed_file(path) for path in files]


def expected(config: Path, event_uuid: str | None = None) -> dict[str, Indicator]:
    """What convert_event makes of the events MISP serves, by stix id (the oracle for the run)."""
    settings = load_settings(config)
    options = options_from_settings(settings)
    source = MispSource(
        url=settings.misp_domain,
        key=settings.misp_key,
        verify=str(settings.misp_verifycert),
        timeout=10,
        page_size=50,
    )
    now = datetime.now(timezone.utc)
    found: dict[str, Indicator] = {}
    for event in source.events(settings.misp_event_filters, uuid=event_uuid):
        for result in convert_event(event, options, now):
            if isinstance(result, Indicator):
                found[result.stix_id] = result
    return found


def stored(azure: AzureSandbox, workspace_id: str | None = None) -> dict[str, dict[str, Any]]:
    objects = azure.sentinel.objects(workspace_id or azure.workspace_id)
    return {
        stix_id: {k: v for k, v in body.items() if k != "sourcesystem"} for stix_id, body in objects.items()
    }


def summary_json(out: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return data


def ws_counts(data: dict[str, Any], azure: AzureSandbox) -> dict[str, Any]:
    counts: dict[str, Any] = data["workspaces"][azure.workspace_name]
    return counts


@pytest.fixture
def all_events(misp: MispSandbox) -> list[str]:
    return seed(misp)


# -- the main path -----------------------------------------------------------------------------------


def test_all_seven_events_arrive_exactly_and_matchable(
    tmp_path: Path,
    misp: MispSandbox,
    azure: AzureSandbox,
    all_events: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(tmp_path, misp, azure)
    want = expected(config)
    assert len(want) > 300  # the seven events hold 352 to_ids attributes

    code = run(config, "--json")

    out, err = capsys.readouterr()
    assert code == 0, err
    held = stored(azure)
    assert set(held) == set(want)
    for stix_id, indicator in want.items():
        assert held[stix_id] == dict(indicator.body), stix_id
        assert azure.sentinel.matchable(azure.workspace_id, stix_id), indicator.body["pattern"]
    data = summary_json(out)
    assert data["events"] == 7
    assert data["indicators"] == len(want)
    assert ws_counts(data, azure)["uploaded"] == len(want)
    assert ws_counts(data, azure)["pending"] == 0
    assert ws_counts(data, azure)["requests"] >= len(want) // 100
    assert sum(data["skipped"].values()) + data["indicators"] >= data["attributes"]
    assert "Sync finished" in err and f"uploaded {len(want)}" in err
    # No secret anywhere: stdout, stderr, the log file.
    log_text = (tmp_path / "sync.log").read_text(encoding="utf-8")
    for secret in (misp.key, azure.client_secret):
        assert secret not in out + err + log_text


def test_second_run_uploads_nothing(
    tmp_path: Path,
    misp: MispSandbox,
    azure: AzureSandbox,
    all_events: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(tmp_path, misp, azure)
    assert run(config) == 0
    requests_before = len(azure.sentinel.upload_requests)
    capsys.readouterr()

    assert run(config, "--json") == 0

    data = summary_json(capsys.readouterr().out)
    assert len(azure.sentinel.upload_requests) == requests_before
    assert ws_counts(data, azure)["uploaded"] == 0
    assert ws_counts(data, azure)["unchanged"] == len(stored(azure))


def test_changed_attribute_is_sent_again_under_the_same_id(
    tmp_path: Path, misp: MispSandbox, azure: AzureSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    (event_uuid,) = seed(misp, [XORIST])
    config = write_config(tmp_path, misp, azure)
    assert run(config) == 0
    before = stored(azure)
    target = next(i for i in expected(config).values() if i.event_uuid == event_uuid)
    misp.app.store.edit_attribute(target.attribute_uuid, {"comment": "seen again in a new campaign"})
    capsys.readouterr()

    assert run(config, "--json") == 0

    data = summary_json(capsys.readouterr().out)
    after = stored(azure)
    assert set(after) == set(before)
    assert ws_counts(data, azure)["uploaded"] == 1
    assert after[target.stix_id] != before[target.stix_id]
    assert "seen again in a new campaign" in after[target.stix_id]["description"]


def test_content_change_without_a_newer_attribute_timestamp_gets_a_newer_modified(
    tmp_path: Path, misp: MispSandbox, azure: AzureSandbox
) -> None:
    """A change outside the attribute (here the confidence setting; in MISP an event tag or the event
    info) keeps the attribute timestamp, so `modified` must be bumped for Sentinel to take the update
    as a newer version of the object it holds."""
    seed(misp, [XORIST])
    assert run(write_config(tmp_path, misp, azure)) == 0
    before = stored(azure)

    assert run(write_config(tmp_path, misp, azure, default_confidence=80)) == 0

    after = stored(azure)
    assert set(after) == set(before)
    for stix_id, body in after.items():
        assert body["confidence"] == 80
        assert body["modified"] > before[stix_id]["modified"]
        assert body["created"] == before[stix_id]["created"]


def test_expired_indicators_are_skipped(
    tmp_path: Path, misp: MispSandbox, azure: AzureSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(misp, [XORIST])
    # The default 50 days from the attribute timestamp (2016) ended long ago.
    config = write_config(tmp_path, misp, azure, days_to_expire=50)

    assert run(config, "--json") == 0

    data = summary_json(capsys.readouterr().out)
    assert data["indicators"] == 0
    assert data["skipped"]["expired"] > 0
    assert azure.sentinel.upload_requests == []


# -- failures and recovery -----------------------------------------------------------------------------

REJECT_VALUE = "61d2b2d8c5f3e1d7a4b6c8e0f2a4b6c8"  # an md5 the patched sandbox refuses


@pytest.fixture
def rejecting(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sentinel refuses (per object, in a 200 reply) any indicator whose pattern holds REJECT_VALUE."""
    real = sandbox.sentinel.app.validate

    def validate(obj: object, allowed: frozenset[str] = sandbox.sentinel.app.UPLOAD_TYPES) -> list[str]:
        if isinstance(obj, dict) and REJECT_VALUE in str(obj.get("pattern", "")):
            return ["Error for Property=pattern: the test refuses this value."]
        return real(obj, allowed)

    monkeypatch.setattr(sandbox.sentinel.app, "validate", validate)


def event_with(
    values: list[tuple[str, str]], uuid: str = "5f0c0a11-1d2e-4f3a-9b4c-5d6e7f8a9b0c"
) -> dict[str, Any]:
    return {
        "Event": {
            "uuid": uuid,
            "info": "Test event",
            "date": "2024-05-01",
            "published": True,
            "timestamp": "1714560000",
            "publish_timestamp": "1714560000",
            "Orgc": {"name": "CIRCL", "uuid": "55f6ea5e-2c60-40e5-964f-47a8950d210f"},
            "Attribute": [
                {
                    "uuid": f"7a0c0a11-1d2e-4f3a-9b4c-{n:012d}",
                    "type": misp_type,
                    "category": "Payload delivery",
                    "value": value,
                    "to_ids": True,
                    "timestamp": "1714560000",
                }
                for n, (misp_type, value) in enumerate(values)
            ],
        }
    }


def test_rejected_objects_are_logged_and_not_retried_until_changed(
    tmp_path: Path,
    misp: MispSandbox,
    azure: AzureSandbox,
    rejecting: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    misp.app.seed_event(event_with([("md5", REJECT_VALUE), ("domain", "bad.example.org")]))
    config = write_config(tmp_path, misp, azure)

    assert run(config, "--json") == 1
    out, err = capsys.readouterr()
    assert ws_counts(summary_json(out), azure)["rejected"] == 1
    assert "7a0c0a11-1d2e-4f3a-9b4c-000000000000" in err  # the MISP attribute uuid
    assert "the test refuses this value" in (tmp_path / "sync.log").read_text(encoding="utf-8")
    requests_before = len(azure.sentinel.upload_requests)

    assert run(config, "--json") == 0
    counts = ws_counts(summary_json(capsys.readouterr().out), azure)
    assert counts["rejected_unchanged"] == 1
    assert len(azure.sentinel.upload_requests) == requests_before

    misp.app.store.edit_attribute("7a0c0a11-1d2e-4f3a-9b4c-000000000000", {"comment": "fixed"})
    assert run(config, "--json") == 1  # changed, so sent again (and refused again)
    assert ws_counts(summary_json(capsys.readouterr().out), azure)["rejected"] == 1


def test_throttling_server_errors_and_drops_lose_nothing(
    tmp_path: Path, misp: MispSandbox, azure: AzureSandbox, all_events: list[str]
) -> None:
    config = write_config(tmp_path, misp, azure, ms_max_parallel_requests=2)
    azure.sentinel.throttle_next = 2
    azure.sentinel.faults.only = "upload"
    azure.sentinel.faults.statuses.extend([500, 503])
    azure.sentinel.faults.drops = 2

    assert run(config) == 0

    assert set(stored(azure)) == set(expected(config))
    statuses = [record.status for record in azure.sentinel.upload_requests]
    assert statuses.count(429) == 2


def _refuse_after(azure: AzureSandbox, monkeypatch: pytest.MonkeyPatch, allowed: int) -> None:
    """Sentinel accepts `allowed` upload requests, then answers 403 (the role was taken away)."""
    real = azure.sentinel._ingest_checked
    seen = {"n": 0}

    def ingest(request: Request, *args: Any) -> tuple[Response, int]:
        seen["n"] += 1
        if seen["n"] > allowed:
            body = {"error": {"code": "UnauthorizedAccess", "message": "no permission on the workspace"}}
            return json_response(403, body), 0
        return real(request, *args)

    monkeypatch.setattr(azure.sentinel, "_ingest_checked", ingest)


def test_interrupted_run_sends_pending_first_next_time(
    tmp_path: Path,
    misp: MispSandbox,
    azure: AzureSandbox,
    all_events: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(tmp_path, misp, azure, ms_max_indicators_request=20, ms_max_parallel_requests=1)
    want = expected(config)
    _refuse_after(azure, monkeypatch, allowed=3)

    assert run(config, "--json") == 4
    out, err = capsys.readouterr()
    counts = ws_counts(summary_json(out), azure)
    assert counts["uploaded"] == 60
    assert counts["pending"] == len(want) - 60
    assert "Microsoft Sentinel Contributor" in err
    monkeypatch.undo()
    with State.open(tmp_path / "state.db") as state:
        left = {pending.indicator.stix_id for pending in state.pending(azure.workspace_id)}
    delivered_first = set(stored(azure))
    misp.app.seed_event(event_with([("domain", "late.example.org"), ("ip-dst", "198.51.100.7")]))
    want = expected(config)

    assert run(config, "--json") == 0

    assert set(stored(azure)) == set(want)
    counts = ws_counts(summary_json(capsys.readouterr().out), azure)
    assert counts["pending"] == 0
    with State.open(tmp_path / "state.db") as state:
        assert state.pending_count(azure.workspace_id) == 0
    # The second run stored the items left pending before anything else new.
    order = sorted(azure.sentinel.stored(azure.workspace_id).values(), key=lambda obj: obj.seq)
    fresh = [obj.stix_id for obj in order if obj.stix_id not in delivered_first]
    assert set(fresh[: len(left)]) == left
    assert len(fresh) == len(left) + 2


def test_overlapping_run_exits_5(
    tmp_path: Path, misp: MispSandbox, azure: AzureSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, misp, azure)
    with State.open(tmp_path / "state.db") as state, state.lock():
        code = run(config, lock_wait=0.1)
    assert code == 5
    err = capsys.readouterr().err
    assert "Another sync run" in err and "holds the lock" in err
    assert "Traceback" not in err


# -- flags and settings --------------------------------------------------------------------------------


def test_uuid_pushes_one_event_only(
    tmp_path: Path, misp: MispSandbox, azure: AzureSandbox, all_events: list[str]
) -> None:
    config = write_config(tmp_path, misp, azure)
    chosen = all_events[0]
    want = expected(config, event_uuid=chosen)
    assert 0 < len(want) < len(expected(config))

    assert run(config, "--uuid", chosen) == 0

    assert set(stored(azure)) == set(want)


@pytest.mark.parametrize("how", ["flag", "setting"])
def test_dry_run_uploads_nothing_and_keeps_state(
    tmp_path: Path, misp: MispSandbox, azure: AzureSandbox, capsys: pytest.CaptureFixture[str], how: str
) -> None:
    seed(misp, [XORIST])
    config = write_config(tmp_path, misp, azure, dry_run=how == "setting")
    flags = ["--dry-run"] if how == "flag" else []

    assert run(config, "--json", *flags) == 0

    data = summary_json(capsys.readouterr().out)
    assert data["dry_run"] is True
    assert ws_counts(data, azure)["would_upload"] == len(expected(config))
    assert azure.sentinel.upload_requests == []
    with State.open(tmp_path / "state.db") as state:
        assert state.is_empty(azure.workspace_id)
        assert state.last_runs() == []


def test_parsed_indicators_and_sentinel_responses_are_written(
    tmp_path: Path, misp: MispSandbox, azure: AzureSandbox, rejecting: None
) -> None:
    misp.app.seed_event(event_with([("md5", REJECT_VALUE), ("domain", "bad.example.org")]))
    config = write_config(tmp_path, misp, azure, write_parsed_indicators=True, sentinel_write_response=True)

    run(config)

    parsed = [json.loads(line) for line in (tmp_path / "parsed_indicators.txt").read_text().splitlines()]
    assert {body["id"] for body in parsed} == set(expected(config))
    responses = [json.loads(line) for line in (tmp_path / "sentinel_response.txt").read_text().splitlines()]
    assert [r["status"] for r in responses] == [200]
    assert "recordIndex" in responses[0]["body"]
    for path in (tmp_path / "parsed_indicators.txt", tmp_path / "sentinel_response.txt"):
        assert azure.client_secret not in path.read_text() and misp.key not in path.read_text()


def test_legacy_upload_api(tmp_path: Path, misp: MispSandbox, azure: AzureSandbox) -> None:
    seed(misp, [XORIST])
    config = write_config(tmp_path, misp, azure, ms_auth=workspace_entry(azure, new_upload_api=False))

    assert run(config) == 0

    held = azure.sentinel.stored(azure.workspace_id)
    assert set(held) == set(expected(config))
    assert {obj.via for obj in held.values()} == {"legacy"}


def test_two_workspaces_each_get_every_indicator(
    tmp_path: Path, misp: MispSandbox, azure: AzureSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(misp, [XORIST, MISP_EVENTS / "HTML_event.json"])
    second = "7e6d5c4b-3a29-4f18-8e07-d6c5b4a39281"
    azure.add_workspace(second, "sentinel-ws-2")
    spaces = [
        workspace_entry(azure),
        workspace_entry(azure, workspace_id=second, workspaceName="sentinel-ws-2"),
    ]
    config = write_config(tmp_path, misp, azure, ms_auth=spaces)

    assert run(config, "--json") == 0

    want = set(expected(config))
    assert set(stored(azure)) == want
    assert set(stored(azure, second)) == want
    data = summary_json(capsys.readouterr().out)
    assert {label: c["uploaded"] for label, c in data["workspaces"].items()} == {
        "sentinel-ws": len(want),
        "sentinel-ws-2": len(want),
    }
    assert azure.sentinel.rate_violations == []


def test_one_refused_workspace_stops_alone(
    tmp_path: Path, misp: MispSandbox, azure: AzureSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(misp, [XORIST])
    second = "7e6d5c4b-3a29-4f18-8e07-d6c5b4a39281"
    azure.add_workspace(second, "no-role-ws", contributor=False)
    spaces = [workspace_entry(azure), workspace_entry(azure, workspace_id=second, workspaceName="no-role-ws")]
    config = write_config(tmp_path, misp, azure, ms_auth=spaces)

    assert run(config, "--json") == 4

    want = expected(config)
    assert set(stored(azure)) == set(want)
    data = summary_json(capsys.readouterr().out)
    assert data["workspaces"]["no-role-ws"]["pending"] == len(want)
    assert "Microsoft Sentinel Contributor" in data["workspaces"]["no-role-ws"]["error"]


def test_bad_config_lists_every_problem(
    tmp_path: Path, misp: MispSandbox, azure: AzureSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, misp, azure, misp_key="", ms_max_indicators_request=500)

    assert run(config) == 2

    err = capsys.readouterr().err
    assert "config.py: misp_key is empty" in err
    assert "ms_max_indicators_request must be" in err
    assert "Traceback" not in err


def test_missing_config_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(tmp_path / "nowhere.py") == 2
    assert "not found" in capsys.readouterr().err


def test_misp_down_exits_3(
    tmp_path: Path, misp: MispSandbox, azure: AzureSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, misp, azure)
    misp.app.faults.down = True

    assert run(config) == 3

    err = capsys.readouterr().err
    assert "MISP at" in err and "unreachable" in err
    assert "Traceback" not in err


def test_wrong_client_secret_exits_4_with_aadsts_explained(
    tmp_path: Path, misp: MispSandbox, azure: AzureSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(misp, [XORIST])
    wrong = "not-the-right-secret-9Xq"
    config = write_config(tmp_path, misp, azure, ms_auth=workspace_entry(azure, client_secret=wrong))

    assert run(config) == 4

    out, err = capsys.readouterr()
    assert "AADSTS7000215" in err and "client secret is wrong" in err
    log_text = (tmp_path / "sync.log").read_text(encoding="utf-8")
    assert wrong not in out + err + log_text
    with State.open(tmp_path / "state.db") as state:
        assert state.pending_count(azure.workspace_id) == len(expected(config))


# -- clean-up flags ------------------------------------------------------------------------------------


def fake_passes(
    calls: list[tuple[str, RunContext, str | None]], errors: tuple[str, ...] = ()
) -> ContextFactory:
    """A context factory whose clean-up passes record their calls (and report `errors`)."""

    def recorder(name: str) -> Callable[[RunContext, str | None], CleanupResult]:
        def function(ctx: RunContext, event_uuid: str | None) -> CleanupResult:
            calls.append((name, ctx, event_uuid))
            ctx.summary.count(ctx.targets[0].label, "revoked", 2)
            return CleanupResult(revoked={ctx.targets[0].label: 2}, errors=errors)

        return function

    passes = {
        "verify_recent_toids_change": recorder("toids"),
        "delete_outdated_indicators": recorder("expired"),
    }
    return lambda settings, **kw: build_context(settings, cleanups=passes, **kw)


def test_a_cleanup_pass_that_meets_a_problem_makes_the_run_exit_1(
    tmp_path: Path, misp: MispSandbox, azure: AzureSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[tuple[str, RunContext, str | None]] = []
    config = write_config(tmp_path, misp, azure)

    code = run(config, "--delete-outdated-indicators", context_factory=fake_passes(calls, ("no index",)))

    assert code == 1
    assert [name for name, _ctx, _uuid in calls] == ["expired"]
    assert "--delete-outdated-indicators: no index" in capsys.readouterr().err


@pytest.fixture
def fake_cleanup() -> list[tuple[str, RunContext, str | None]]:
    return []


def test_cleanup_flags_call_the_cleanup_passes(
    tmp_path: Path,
    misp: MispSandbox,
    azure: AzureSandbox,
    fake_cleanup: list[tuple[str, RunContext, str | None]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    (event_uuid,) = seed(misp, [XORIST])
    config = write_config(tmp_path, misp, azure)

    code = run(
        config,
        "--json",
        "--uuid",
        event_uuid,
        "--verify-recent-toids-change",
        "--delete-outdated-indicators",
        context_factory=fake_passes(fake_cleanup),
    )

    assert code == 0
    assert [(name, uuid) for name, _ctx, uuid in fake_cleanup] == [
        ("toids", event_uuid),
        ("expired", event_uuid),
    ]
    assert ws_counts(summary_json(capsys.readouterr().out), azure)["revoked"] == 4
    assert set(stored(azure)) == set(expected(config, event_uuid))


# -- secrets from Key Vault, output ----------------------------------------------------------------------


def test_secrets_come_from_key_vault(
    tmp_path: Path,
    misp_factory: Callable[..., MispSandbox],
    azure: AzureSandbox,
    keyvault: KeyVaultSandbox,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    misp = misp_factory(api_key=keyvault.secrets["MISP-Key"])
    seed(misp, [XORIST])
    keyvault.app.set_secret("ClientSecret", azure.client_secret)
    for name, value in keyvault.environ().items():
        monkeypatch.setenv(name, value)
    config = write_config(
        tmp_path,
        misp,
        azure,
        misp_key="",
        ms_auth=workspace_entry(azure, client_secret=""),
        key_vault_url=keyvault.vault_url,
    )

    assert run(config) == 0

    assert len(stored(azure)) == len(expected_with_key(config, misp.key)) > 0
    out, err = capsys.readouterr()
    log_text = (tmp_path / "sync.log").read_text(encoding="utf-8")
    for secret in (misp.key, azure.client_secret, keyvault.client_secret):
        assert secret not in out + err + log_text


def expected_with_key(config: Path, key: str) -> dict[str, Indicator]:
    settings = load_settings(config).with_secrets(misp_key=key)
    source = MispSource(
        url=settings.misp_domain, key=key, verify=str(settings.misp_verifycert), timeout=10, page_size=50
    )
    now = datetime.now(timezone.utc)
    options = options_from_settings(settings)
    return {
        r.stix_id: r
        for event in source.events({})
        for r in convert_event(event, options, now)
        if isinstance(r, Indicator)
    }


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal(
    tmp_path: Path, misp: MispSandbox, azure: AzureSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(misp, [XORIST])
    config = write_config(tmp_path, misp, azure)
    terminal = _Terminal()

    assert cli.main(["--config", str(config)], env=Environment(stderr=terminal, sleep=no_sleep)) == 0
    assert "MISP events" in terminal.getvalue()

    quiet = _Terminal()
    assert (
        cli.main(["--config", str(config), "--no-progress"], env=Environment(stderr=quiet, sleep=no_sleep))
        == 0
    )
    assert "MISP events" not in quiet.getvalue()


def test_unexpected_error_is_one_line_with_the_traceback_in_the_log(
    tmp_path: Path,
    misp: MispSandbox,
    azure: AzureSandbox,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seed(misp, [XORIST])
    config = write_config(tmp_path, misp, azure)

    def broken(*_args: Any) -> Iterator[Any]:
        raise RuntimeError("conversion blew up")

    monkeypatch.setattr("misp_bridge.sync.pipeline.convert_event", broken)

    assert run(config) == 1

    err = capsys.readouterr().err
    assert "unexpected RuntimeError: conversion blew up" in err
    assert "Traceback" not in err
    assert "Traceback" in (tmp_path / "sync.log").read_text(encoding="utf-8")


def test_check_if_exist_in_sentinel_skips_ids_already_there(
    tmp_path: Path,
    misp: MispSandbox,
    azure: AzureSandbox,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seed(misp, [XORIST])
    config = write_config(tmp_path, misp, azure, ms_check_if_exist_in_sentinel=True)
    want = sorted(expected(config))
    already = set(want[:3])
    asked: list[list[str]] = []

    def existing_ids(ctx: RunContext, target: Any, stix_ids: list[str]) -> set[str]:
        asked.append(list(stix_ids))
        return already & set(stix_ids)

    factory: ContextFactory = lambda settings, **kw: build_context(settings, existing_ids=existing_ids, **kw)  # noqa: E731

    assert run(config, "--json", context_factory=factory) == 0

    assert set(stored(azure)) == set(want) - already
    assert sorted(i for batch in asked for i in batch) == want
    assert all(len(batch) <= 100 for batch in asked)
    assert ws_counts(summary_json(capsys.readouterr().out), azure)["exists_in_sentinel"] == 3


def test_state_failure_in_the_upload_thread_stops_the_run_and_keeps_items(
    tmp_path: Path,
    misp: MispSandbox,
    azure: AzureSandbox,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seed(misp, [XORIST])
    config = write_config(tmp_path, misp, azure)

    def disk_full(self: State, *_args: Any) -> None:
        raise StateError(f"The state file {self.path} could not be written (database or disk is full).")

    monkeypatch.setattr(State, "record_delivered", disk_full)

    assert run(config) == 2

    err = capsys.readouterr().err
    assert "could not be written (database or disk is full)" in err and "Traceback" not in err
    monkeypatch.undo()
    with State.open(tmp_path / "state.db") as state:
        # Sentinel got them, the state could not say so: kept pending, re-sent (an upsert) next run.
        assert state.pending_count(azure.workspace_id) == len(expected(config))


def test_uuid_must_be_a_uuid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(tmp_path / "config.py", "--uuid", "not-a-uuid") == 2
    assert "is not an event uuid" in capsys.readouterr().err


def test_real_cleanup_passes_run_after_the_upload(
    tmp_path: Path, misp: MispSandbox, azure: AzureSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(misp, [XORIST])
    config = write_config(tmp_path, misp, azure)
    assert run(config) == 0
    capsys.readouterr()

    code = run(config, "--json", "--verify-recent-toids-change", "--delete-outdated-indicators")

    out, err = capsys.readouterr()
    assert code == 0, err
    counts = ws_counts(summary_json(out), azure)
    assert counts["revoked"] == 0 and counts["uploaded"] == 0
    assert not any(body.get("revoked") for body in stored(azure).values())


def test_toids_switched_off_is_revoked_by_the_flag(
    tmp_path: Path, misp: MispSandbox, azure: AzureSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    (event_uuid,) = seed(misp, [XORIST])
    config = write_config(tmp_path, misp, azure)
    assert run(config) == 0
    target = next(i for i in expected(config).values() if i.event_uuid == event_uuid)
    misp.app.store.edit_attribute(target.attribute_uuid, {"to_ids": False})
    capsys.readouterr()

    assert run(config, "--json", "--verify-recent-toids-change") == 0

    counts = ws_counts(summary_json(capsys.readouterr().out), azure)
    assert counts["revoked"] == 1
    assert stored(azure)[target.stix_id]["revoked"] is True


def test_key_vault_credential_uses_ms_authority_host_without_azure_authority_host(
    tmp_path: Path,
    misp_factory: Callable[..., MispSandbox],
    azure: AzureSandbox,
    keyvault: KeyVaultSandbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With no AZURE_AUTHORITY_HOST in the environment, the vault's credential asks ms_authority_host
    (same cloud as the workspaces), so a stand-in authority works from config.py alone. A dry run needs
    no Sentinel token, so only the vault's Entra ID is involved here."""
    misp = misp_factory(api_key=keyvault.secrets["MISP-Key"])
    seed(misp, [XORIST])
    for name, value in keyvault.environ().items():
        if name != "AZURE_AUTHORITY_HOST":
            monkeypatch.setenv(name, value)
    monkeypatch.delenv("AZURE_AUTHORITY_HOST", raising=False)
    config = write_config(
        tmp_path,
        misp,
        azure,
        misp_key="",
        ms_auth=workspace_entry(azure, client_secret=""),
        key_vault_url=keyvault.vault_url,
        ms_authority_host=keyvault.authority_host,
    )
    assert run(config, "--dry-run") == 0
    assert any(r.path.startswith("/secrets/") and r.header("authorization") for r in keyvault.app.requests)
