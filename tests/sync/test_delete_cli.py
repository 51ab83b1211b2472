"""delete-from-azure.py run in-process against the sandboxes: modes, confirmation, refusal, dry run."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest

from misp_bridge.cli import Environment
from misp_bridge.sync.delete_cli import main
from tests.fakes import FakeClock
from tests.fixtures.azure import AzureSandbox
from tests.fixtures.cleanup import (
    context,
    indicator,
    misp_event,
    seed_sentinel,
    settings_for,
    upload_event,
    write_config,
)
from tests.fixtures.misp import MispSandbox

ROOT = Path(__file__).resolve().parents[2]


class Terminal(io.StringIO):
    """stdin as a person at a terminal would type into it."""

    def isatty(self) -> bool:
        return True


class Pipe(io.StringIO):
    def isatty(self) -> bool:
        return False


def run(argv: list[str], stdin: io.StringIO | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    env = Environment(stdin=stdin or Pipe(""), stdout=out, stderr=err)
    code = main(argv, env=env, lock_wait=0.5)
    return code, out.getvalue(), err.getvalue()


def revoked_ids(azure: AzureSandbox) -> set[str]:
    return {k for k, v in azure.sentinel.objects(azure.workspace_id).items() if v.get("revoked")}


@pytest.fixture
def seeded(azure: AzureSandbox) -> tuple[list[str], str]:
    ours = [indicator(f"192.0.2.{i}") for i in range(3)]
    foreign = indicator("198.51.100.1")
    seed_sentinel(azure, ours)
    seed_sentinel(azure, [foreign], source="OtherFeed")
    return [b["id"] for b in ours], foreign["id"]


def test_all_with_yes_revokes_only_our_source(
    tmp_path: Path, azure: AzureSandbox, seeded: tuple[list[str], str]
) -> None:
    ours, foreign = seeded
    config = write_config(tmp_path, azure)

    code, out, _ = run(["--config", str(config), "--all", "--yes"])

    assert code == 0
    assert revoked_ids(azure) == set(ours)
    assert foreign not in revoked_ids(azure)
    assert f"workspace {azure.workspace_name}: revoked 3 of 3 indicators" in out
    # A second run finds nothing active any more.
    code, out, _ = run(["--config", str(config), "--all", "--yes"])
    assert code == 0
    assert "no indicators of source MISP to revoke" in out


def test_refuses_without_terminal_or_yes(
    tmp_path: Path, azure: AzureSandbox, seeded: tuple[list[str], str]
) -> None:
    code, _, err = run(["--config", str(write_config(tmp_path, azure)), "--all"], stdin=Pipe("y\n"))
    assert code == 2
    assert "refusing to revoke indicators without confirmation; run it on a terminal or pass --yes" in err
    assert revoked_ids(azure) == set()


@pytest.mark.parametrize(
    ("answer", "revoked"),
    [("y\n", True), ("yes\n", True), ("n\n", False), ("\n", False)],
    ids=["y", "yes", "n", "empty"],
)
def test_terminal_confirmation(
    tmp_path: Path, azure: AzureSandbox, seeded: tuple[list[str], str], answer: str, revoked: bool
) -> None:
    ours, _ = seeded
    code, out, err = run(["--config", str(write_config(tmp_path, azure)), "--all"], stdin=Terminal(answer))
    assert code == 0
    assert f"Revoke 3 indicators of source MISP in workspace {azure.workspace_name}? [y/N]" in err
    assert revoked_ids(azure) == (set(ours) if revoked else set())
    if not revoked:
        assert "nothing revoked (not confirmed)" in out


def test_dry_run_lists_and_changes_nothing(
    tmp_path: Path, azure: AzureSandbox, seeded: tuple[list[str], str]
) -> None:
    ours, _ = seeded
    before = azure.sentinel.objects(azure.workspace_id)
    code, out, _ = run(["--config", str(write_config(tmp_path, azure)), "--all", "--dry-run"])
    assert code == 0
    assert all(f"would revoke {i}" in out for i in ours)
    assert "would revoke 3 indicators (dry run)" in out
    assert azure.sentinel.objects(azure.workspace_id) == before
    assert azure.sentinel.upload_requests == []


def test_older_than_uses_created_and_last_update(
    tmp_path: Path, azure_factory: Callable[..., AzureSandbox]
) -> None:
    clock = FakeClock(time.time() - 60 * 86400)
    azure = azure_factory(clock=clock)
    sixty_days_ago = datetime.fromtimestamp(clock.now, timezone.utc)
    old = indicator("192.0.2.1", created=sixty_days_ago)
    old_but_updated = indicator("192.0.2.2", created=sixty_days_ago)
    seed_sentinel(azure, [old, old_but_updated])
    clock.advance(59 * 86400)
    seed_sentinel(azure, [{**old_but_updated, "modified": old_but_updated["modified"][:-1] + "1Z"}])
    recent = indicator("192.0.2.3")
    seed_sentinel(azure, [recent])
    clock.now = time.time()

    code, out, _ = run(["--config", str(write_config(tmp_path, azure)), "--older-than", "30", "--yes"])

    assert code == 0, out
    assert revoked_ids(azure) == {old["id"]}


def test_older_than_reads_times_of_any_fraction_length(
    tmp_path: Path, azure_factory: Callable[..., AzureSandbox]
) -> None:
    """Finding 2: Sentinel writes .NET times (up to 7 digits, trailing zeros trimmed); Python 3.10's
    fromisoformat refuses them, which made --older-than skip (or wrongly keep) every such item."""
    clock = FakeClock(time.time() - 60 * 86400 + 0.0703125)  # lastUpdatedTimeUtc gets 7 digits
    azure = azure_factory(clock=clock)
    old = indicator("192.0.2.1")
    old["created"] = old["modified"] = old["valid_from"] = (
        datetime.fromtimestamp(clock.now, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + ".07Z"
    )
    seed_sentinel(azure, [old])  # straight into the store: created keeps its two digits
    clock.advance(40 * 86400)
    updated_lately = indicator("192.0.2.2")
    updated_lately["created"] = old["created"]
    seed_sentinel(azure, [updated_lately])
    clock.now = time.time()
    listed = azure.sentinel.stored(azure.workspace_id)
    assert {s.stix_id for s in listed.values()} == {old["id"], updated_lately["id"]}

    code, out, _ = run(["--config", str(write_config(tmp_path, azure)), "--older-than", "30", "--yes"])

    assert code == 0, out
    assert revoked_ids(azure) == {old["id"]}


def test_uuid_uses_state_mapping_and_external_references(
    tmp_path: Path, azure: AzureSandbox, misp: MispSandbox
) -> None:
    event, other_event = misp_event(2), misp_event(1)
    settings = settings_for(tmp_path, azure, misp)
    ctx = context(settings)
    in_state = upload_event(ctx, event)
    upload_event(ctx, other_event)
    ctx.close()
    by_reference = indicator("192.0.2.50", event_uuid=event["uuid"])
    seed_sentinel(azure, [by_reference])

    code, out, _ = run(["--config", str(settings.config_path), "--uuid", event["uuid"], "--yes"])

    assert code == 0, out
    assert revoked_ids(azure) == {*in_state, by_reference["id"]}


def test_missing_management_settings_exit_2(tmp_path: Path, azure: AzureSandbox) -> None:
    code, _, err = run(["--config", str(write_config(tmp_path, azure, management=False)), "--all", "--yes"])
    assert code == 2
    assert "ms_auth needs subscription_id, resourceGroupName and workspaceName" in err
    assert azure.client_secret not in err


@pytest.mark.parametrize(
    "argv", [[], ["--all", "--uuid", "x"], ["--older-than", "many"]], ids=["no-mode", "two-modes", "bad-days"]
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = run(argv)
    assert code == 2


def test_role_missing_exits_4(tmp_path: Path, azure: AzureSandbox, seeded: tuple[list[str], str]) -> None:
    azure.sentinel.faults.statuses.append(403)
    code, _, err = run(["--config", str(write_config(tmp_path, azure)), "--all", "--yes"])
    assert code == 4
    assert "Microsoft Sentinel Reader role" in err
