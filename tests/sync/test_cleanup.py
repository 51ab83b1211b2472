"""Clean-up against the sandboxes: to_ids revocation, expiry revocation, existing_ids, ARM errors."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import stix2

from misp_bridge.azure.management import skip_token
from misp_bridge.errors import ConfigError, ManagementError, ManagementUnavailable
from misp_bridge.sync import cleanup
from misp_bridge.sync.convert import revoked
from misp_bridge.sync.indicator import Indicator
from misp_bridge.sync.lookup import existing_ids
from tests.fakes import FakeClock, FakeSleep
from tests.fixtures.azure import AzureSandbox
from tests.fixtures.cleanup import context, indicator, misp_event, seed_sentinel, settings_for, upload_event
from tests.fixtures.misp import MispSandbox, make_pymisp


def mgmt_requests(azure: AzureSandbox) -> list[str]:
    return [r.path for r in azure.sentinel.requests if "threatIntelligence" in r.path]


def upload_requests(azure: AzureSandbox) -> int:
    return len(azure.sentinel.upload_requests)


def flip_to_ids(misp: MispSandbox, attribute_uuid: str) -> None:
    reply = make_pymisp(misp).update_attribute({"to_ids": False}, attribute_uuid)  # type: ignore[arg-type]
    assert "errors" not in reply


# --- --verify-recent-toids-change ----------------------------------------------------------------


def test_toids_flip_revokes_only_that_indicator(
    tmp_path: Path, azure: AzureSandbox, misp: MispSandbox
) -> None:
    event = misp_event(3)
    misp.app.seed_event(event)
    ctx = context(settings_for(tmp_path, azure, misp))
    ids = upload_event(ctx, event)
    before = azure.sentinel.objects(azure.workspace_id)
    flipped = event["Attribute"][1]["uuid"]
    flip_to_ids(misp, flipped)

    result = cleanup.revoke_toids_changes(ctx)

    after = azure.sentinel.objects(azure.workspace_id)
    target_id = f"indicator--{flipped}"
    assert result.revoked == {azure.workspace_name: 1}
    assert after[target_id]["revoked"] is True
    assert after[target_id]["modified"] > before[target_id]["modified"]
    assert after[target_id]["pattern"] == before[target_id]["pattern"]
    assert {k: v for k, v in after.items() if k != target_id} == {
        k: v for k, v in before.items() if k != target_id
    }
    assert set(ids) == set(after)
    # The state knows: a second pass finds nothing left to revoke and sends nothing.
    sent = upload_requests(azure)
    assert cleanup.revoke_toids_changes(ctx).revoked == {azure.workspace_name: 0}
    assert upload_requests(azure) == sent
    # The state path needs no management query at all.
    assert mgmt_requests(azure) == []


def test_toids_with_empty_state_falls_back_to_query(
    tmp_path: Path, azure: AzureSandbox, misp: MispSandbox
) -> None:
    event = misp_event(2)
    misp.app.seed_event(event)
    ctx = context(settings_for(tmp_path / "first", azure, misp))
    upload_event(ctx, event)
    flipped = event["Attribute"][0]["uuid"]
    flip_to_ids(misp, flipped)
    # Another source's indicator with the same id must stay untouched.
    other = indicator("198.51.100.1", stix_id=f"indicator--{flipped}")
    seed_sentinel(azure, [other], source="OtherFeed")
    fresh = context(settings_for(tmp_path / "lost-state", azure, misp))
    assert fresh.state.is_empty(fresh.targets[0].key)

    result = cleanup.revoke_toids_changes(fresh)

    stored = azure.sentinel.stored(azure.workspace_id)
    ours = [
        s for s in azure.sentinel.store.latest(azure.workspace_id) if s.stix_id == f"indicator--{flipped}"
    ]
    by_source = {s.source: s.stix for s in ours}
    assert result.revoked == {azure.workspace_name: 1}
    assert by_source["MISP"]["revoked"] is True
    assert "revoked" not in by_source["OtherFeed"]
    # Two small queries learn what `ids` matches; then one batched query for both attributes' ids.
    assert len(mgmt_requests(azure)) == 3
    assert stored  # the store still holds everything: nothing was deleted


def test_toids_dry_run_changes_nothing(tmp_path: Path, azure: AzureSandbox, misp: MispSandbox) -> None:
    event = misp_event(2)
    misp.app.seed_event(event)
    settings = settings_for(tmp_path, azure, misp)
    upload_event(context(settings), event)
    flip_to_ids(misp, event["Attribute"][0]["uuid"])
    before = azure.sentinel.objects(azure.workspace_id)
    sent = upload_requests(azure)

    result = cleanup.revoke_toids_changes(context(settings, dry_run=True))

    assert result.would_revoke == (f"indicator--{event['Attribute'][0]['uuid']}",)
    assert result.revoked == {azure.workspace_name: 0}
    assert azure.sentinel.objects(azure.workspace_id) == before
    assert upload_requests(azure) == sent


def test_toids_with_uuid_limits_to_that_event(tmp_path: Path, azure: AzureSandbox, misp: MispSandbox) -> None:
    first, second = misp_event(1), misp_event(1)
    misp.app.seed_event(first)
    misp.app.seed_event(second)
    ctx = context(settings_for(tmp_path, azure, misp))
    upload_event(ctx, first)
    upload_event(ctx, second)
    flip_to_ids(misp, first["Attribute"][0]["uuid"])
    flip_to_ids(misp, second["Attribute"][0]["uuid"])

    result = cleanup.revoke_toids_changes(ctx, event_uuid=second["uuid"])

    after = azure.sentinel.objects(azure.workspace_id)
    assert result.revoked == {azure.workspace_name: 1}
    assert after[f"indicator--{second['Attribute'][0]['uuid']}"]["revoked"] is True
    assert "revoked" not in after[f"indicator--{first['Attribute'][0]['uuid']}"]


@pytest.mark.parametrize("reading", ["stix_id", "name", "both", "ignored"])
def test_toids_with_empty_state_revokes_only_what_was_asked_under_every_ids_reading(
    tmp_path: Path, azure_factory: Callable[..., AzureSandbox], misp: MispSandbox, reading: str
) -> None:
    """Finding 4: what queryIndicators' `ids` matches is undocumented. Ignored, the old code revoked
    every indicator of our source; matching ARM names only, it revoked nothing."""
    azure = azure_factory(ids_match=reading)
    event = misp_event(3)
    misp.app.seed_event(event)
    upload_event(context(settings_for(tmp_path / "first", azure, misp)), event)
    bystanders = [indicator(f"192.0.2.{i}") for i in range(5)]
    seed_sentinel(azure, bystanders)
    flipped = event["Attribute"][1]["uuid"]
    flip_to_ids(misp, flipped)
    fresh = context(settings_for(tmp_path / "lost-state", azure, misp))

    result = cleanup.revoke_toids_changes(fresh)

    assert result.errors == ()
    assert result.revoked == {azure.workspace_name: 1}
    assert revoked_ids(azure) == {f"indicator--{flipped}"}


@pytest.mark.parametrize("reading", ["stix_id", "name", "ignored"])
def test_existing_ids_are_right_under_every_ids_reading(
    tmp_path: Path, azure_factory: Callable[..., AzureSandbox], reading: str
) -> None:
    azure = azure_factory(ids_match=reading)
    held = [indicator(f"192.0.2.{i}") for i in range(250)]
    seed_sentinel(azure, held)
    ctx = context(settings_for(tmp_path, azure))
    asked = [b["id"] for b in held[:120]] + [
        f"indicator--00000000-0000-4000-8000-{i:012d}" for i in range(80)
    ]

    first = existing_ids(ctx, ctx.targets[0], asked[:100])
    second = existing_ids(ctx, ctx.targets[0], asked[100:])

    assert first | second == {b["id"] for b in held[:120]}
    # The cost: by ids, one request per 100 ids asked; otherwise one read of the whole source (three
    # pages of 100) for the run, kept as a set of ids. Plus two small queries that learn the reading.
    assert len(mgmt_requests(azure)) == 2 + (2 if reading == "stix_id" else 3)


# --- --delete-outdated-indicators ----------------------------------------------------------------

PAST = datetime(2020, 1, 1, tzinfo=timezone.utc)


def expired_and_fresh(azure: AzureSandbox, n_expired: int) -> tuple[list[str], list[str]]:
    expired = [
        indicator(f"192.0.2.{i % 250}", created=PAST, valid_until=PAST + timedelta(days=10))
        for i in range(n_expired)
    ]
    fresh = [indicator("198.51.100.7"), indicator("198.51.100.8")]
    foreign = indicator("198.51.100.9", created=PAST, valid_until=PAST + timedelta(days=1))
    seed_sentinel(azure, expired + fresh)
    seed_sentinel(azure, [foreign], source="OtherFeed")
    return [b["id"] for b in expired], [b["id"] for b in fresh] + [foreign["id"]]


def test_expired_revoked_over_several_pages(tmp_path: Path, azure: AzureSandbox) -> None:
    expired, untouched = expired_and_fresh(azure, 230)
    ctx = context(settings_for(tmp_path, azure))
    before = azure.sentinel.objects(azure.workspace_id)

    result = cleanup.revoke_expired(ctx)

    after = azure.sentinel.objects(azure.workspace_id)
    assert result.revoked == {azure.workspace_name: 230}
    assert all(after[i]["revoked"] is True and after[i]["modified"] > before[i]["modified"] for i in expired)
    assert all("revoked" not in after[i] for i in untouched)
    queries = [r for r in azure.sentinel.requests if r.path.endswith("queryIndicators")]
    assert len(queries) == 3  # 230 items, 100 a page
    assert all(r.method == "POST" for r in queries)
    assert upload_requests(azure) == 3  # batches of 100


def test_revocation_built_from_a_spec_shaped_item_is_accepted(tmp_path: Path, azure: AzureSandbox) -> None:
    """Finding 1: queryIndicators items are ARM-shaped (camelCase references, observable patternType,
    7-digit times); copied into the revocation as they were, Sentinel refused every one."""
    event_uuid = "5f0e1d2c-3b4a-4958-8776-a5b4c3d2e1f0"
    expired = indicator(
        "192.0.2.1", created=PAST, valid_until=PAST + timedelta(days=1), event_uuid=event_uuid
    )
    seed_sentinel(azure, [expired])
    ctx = context(settings_for(tmp_path, azure))
    [item] = ctx.targets[0].management("test").query({"sources": ["MISP"]})
    assert item["properties"]["patternType"] == "ipv4-addr"
    assert "sourceName" in item["properties"]["externalReferences"][0]

    result = cleanup.revoke_expired(ctx)

    assert result.errors == ()
    assert result.revoked == {azure.workspace_name: 1}
    stored = azure.sentinel.objects(azure.workspace_id)[expired["id"]]
    assert stored["revoked"] is True
    assert stored["pattern_type"] == "stix"
    assert stored["pattern"] == expired["pattern"]
    assert stored["external_references"] == expired["external_references"]
    assert stored["created"] == expired["created"] and stored["valid_until"] == expired["valid_until"]


def test_body_from_item_converts_every_arm_spelling() -> None:
    item = {
        "name": "27d963e6-e6e4-e0f9-e9d7-c53985b3bbe8",
        "properties": {
            "externalId": "indicator--8516d567-0c4c-4f5a-9b8a-1d2e3f4a5b6c",
            "source": "MISP",
            "pattern": "[url:value = 'https://www.contoso.com']",
            "patternType": "url",
            "validFrom": "2020-04-15T20:11:57.9666134Z",
            "validUntil": "2020-05-15T20:11:57Z",
            "created": "2020-04-15T20:11:57.07Z",
            "lastUpdatedTimeUtc": "2020-04-15T20:15:11.0746926Z",
            "indicatorTypes": ["malicious-activity"],
            "externalReferences": [
                {"sourceName": "MISP", "externalId": "e-1", "url": "https://misp/e-1", "description": "d"},
                {"url": "https://no-source.example"},
            ],
            "killChainPhases": [
                {"killChainName": "lockheed-martin-cyber-kill-chain", "phaseName": "Delivery"}
            ],
        },
    }

    body = cleanup.body_from_item(item)

    assert body is not None
    assert body["pattern_type"] == "stix"
    assert body["external_references"] == [
        {"source_name": "MISP", "external_id": "e-1", "url": "https://misp/e-1", "description": "d"}
    ]
    assert body["valid_from"] == "2020-04-15T20:11:57.966613Z"
    assert body["created"] == "2020-04-15T20:11:57.070Z"
    assert body["modified"] == "2020-04-15T20:15:11.074692Z"
    assert body["indicator_types"] == ["malicious-activity"]
    assert body["kill_chain_phases"] == [
        {"kill_chain_name": "lockheed-martin-cyber-kill-chain", "phase_name": "Delivery"}
    ]
    stix2.parse(revoked(Indicator.from_body(body), datetime.now(timezone.utc)).body, allow_custom=True)
    assert cleanup.body_from_item({**item, "properties": {**item["properties"], "patternType": "yara"}}) == {
        **body,
        "pattern_type": "yara",
    }


def test_expired_query_lag_does_not_revoke_twice(
    tmp_path: Path, azure_factory: Callable[..., AzureSandbox]
) -> None:
    clock = FakeClock(time.time())
    azure = azure_factory(clock=clock, query_lag=600.0)
    expired, _ = expired_and_fresh(azure, 3)
    clock.advance(3600)  # the seeded objects are visible; what is revoked from now on is not, for 600 s
    ctx = context(settings_for(tmp_path, azure))

    first = cleanup.revoke_expired(ctx)
    sent = upload_requests(azure)
    second = cleanup.revoke_expired(ctx)

    assert first.revoked == {azure.workspace_name: 3}
    assert second.revoked == {azure.workspace_name: 0}
    assert upload_requests(azure) == sent
    # The lagging query still shows them as active: the run's memory is what kept them from going twice.
    listed = ctx.targets[0].management("test")
    assert {i["properties"]["externalId"] for i in listed.query({"sources": ["MISP"]})} >= set(expired)


def test_expired_item_already_revoked_is_skipped(tmp_path: Path, azure: AzureSandbox) -> None:
    gone = {**indicator("192.0.2.1", created=PAST, valid_until=PAST + timedelta(days=1)), "revoked": True}
    seed_sentinel(azure, [gone])
    ctx = context(settings_for(tmp_path, azure))
    # includeDisabled would list it; the client-side check is what skips it.
    items = [{"properties": {"externalId": gone["id"], "source": "MISP", "revoked": True, "pattern": "x"}}]
    assert list(cleanup._from_items(items, "MISP")) == []
    assert cleanup.revoke_expired(ctx).revoked == {azure.workspace_name: 0}


@pytest.mark.parametrize("reading", ["revoked", "expired", "either"])
def test_expired_are_revoked_whatever_include_disabled_means(
    tmp_path: Path, azure_factory: Callable[..., AzureSandbox], reading: str
) -> None:
    """Finding 4: with `includeDisabled: false` and "disabled" meaning expired, nothing was ever found."""
    azure = azure_factory(include_disabled=reading)
    expired, untouched = expired_and_fresh(azure, 3)
    already = {
        **indicator("192.0.2.200", created=PAST, valid_until=PAST + timedelta(days=2)),
        "revoked": True,
    }
    seed_sentinel(azure, [already])
    ctx = context(settings_for(tmp_path, azure))

    result = cleanup.revoke_expired(ctx)

    assert result.revoked == {azure.workspace_name: 3}
    assert revoked_ids(azure) == set(expired) | {already["id"]}
    assert all(i not in revoked_ids(azure) for i in untouched)


def test_expired_items_are_checked_before_revoking(tmp_path: Path, azure: AzureSandbox) -> None:
    """An item the query returns is revoked only if its validUntil has really passed."""
    live = indicator("198.51.100.7")
    seed_sentinel(azure, [live])
    ctx = context(settings_for(tmp_path, azure))
    client = ctx.targets[0].management("test")
    original = client.query

    def ignores_max_valid_until(filters: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        return original({k: v for k, v in filters.items() if k != "maxValidUntil"})

    client.query = ignores_max_valid_until  # type: ignore[method-assign]
    assert cleanup.revoke_expired(ctx).revoked == {azure.workspace_name: 0}
    assert revoked_ids(azure) == set()


def test_a_later_expiry_pass_asks_only_for_what_expired_since(tmp_path: Path, azure: AzureSandbox) -> None:
    """Revoked items stay listed for good; each pass asks from the last complete one (less a day)."""
    expired_and_fresh(azure, 2)
    moments = iter([datetime(2026, 3, 1, tzinfo=timezone.utc), datetime(2026, 3, 2, tzinfo=timezone.utc)])
    ctx = context(settings_for(tmp_path, azure), now=lambda: current[0])
    current = [next(moments)]
    assert cleanup.revoke_expired(ctx).revoked == {azure.workspace_name: 2}
    current[0] = next(moments)
    late = indicator("192.0.2.250", created=PAST, valid_until=datetime(2026, 3, 1, 12, tzinfo=timezone.utc))
    seed_sentinel(azure, [late])

    assert cleanup.revoke_expired(ctx).revoked == {azure.workspace_name: 1}

    bodies = [r.json() for r in azure.sentinel.requests if r.path.endswith("queryIndicators")]
    assert "minValidUntil" not in bodies[0]
    assert bodies[-1]["minValidUntil"] == "2026-02-28T00:00:00.000Z"
    assert bodies[-1]["maxValidUntil"] == "2026-03-02T00:00:00.000Z"
    assert revoked_ids(azure) >= {late["id"]}


def test_expired_dry_run_lists_and_changes_nothing(tmp_path: Path, azure: AzureSandbox) -> None:
    expired, _ = expired_and_fresh(azure, 4)
    before = azure.sentinel.objects(azure.workspace_id)

    result = cleanup.revoke_expired(context(settings_for(tmp_path, azure), dry_run=True))

    assert sorted(result.would_revoke) == sorted(expired)
    assert azure.sentinel.objects(azure.workspace_id) == before
    assert upload_requests(azure) == 0


def test_expired_with_uuid_keeps_that_event(tmp_path: Path, azure: AzureSandbox) -> None:
    event_uuid = "5f0e1d2c-3b4a-4958-8776-a5b4c3d2e1f0"
    mine = indicator("192.0.2.1", created=PAST, valid_until=PAST + timedelta(days=1), event_uuid=event_uuid)
    other = indicator("192.0.2.2", created=PAST, valid_until=PAST + timedelta(days=1))
    seed_sentinel(azure, [mine, other])

    result = cleanup.revoke_expired(context(settings_for(tmp_path, azure)), event_uuid=event_uuid)

    after = azure.sentinel.objects(azure.workspace_id)
    assert result.revoked == {azure.workspace_name: 1}
    assert after[mine["id"]]["revoked"] is True
    assert "revoked" not in after[other["id"]]


@pytest.mark.parametrize("style", ["skipToken in the body", "GET of nextLink"], ids=["repost", "get"])
def test_both_nextlink_styles_page_through_the_same_items(
    azure: AzureSandbox, tmp_path: Path, style: str
) -> None:
    seed_sentinel(azure, [indicator(f"192.0.2.{i}") for i in range(5)])
    ctx = context(settings_for(tmp_path, azure))
    client = ctx.targets[0].management("test")
    page, token = client.query_page({"pageSize": 2, "sources": ["MISP"]})
    assert token is not None and len(page) == 2
    link = f"https://host/x/queryIndicators?api-version=2025-09-01&$skipToken={token}"
    assert skip_token(link) == token
    assert skip_token(link.replace("$skipToken", "$skiptoken")) == token
    rest = list(client.query({"pageSize": 2, "sources": ["MISP"]}))
    assert len(rest) == 5
    assert len({i["properties"]["externalId"] for i in rest}) == 5


# --- existing_ids --------------------------------------------------------------------------------


def test_existing_ids_uses_state_then_batched_queries(
    tmp_path: Path, azure: AzureSandbox, misp: MispSandbox
) -> None:
    event = misp_event(2)
    ctx = context(settings_for(tmp_path, azure, misp))
    in_state = upload_event(ctx, event)
    only_in_sentinel = [indicator(f"192.0.2.{i}") for i in range(150)]
    seed_sentinel(azure, only_in_sentinel)
    foreign = indicator("198.51.100.1")
    seed_sentinel(azure, [foreign], source="OtherFeed")
    unknown = [f"indicator--00000000-0000-4000-8000-{i:012d}" for i in range(60)]
    asked = in_state + [b["id"] for b in only_in_sentinel] + unknown + [foreign["id"]]

    found = existing_ids(ctx, ctx.targets[0], asked)

    assert found == set(in_state) | {b["id"] for b in only_in_sentinel}
    # 211 ids not in the state -> 3 requests of at most 100 ids, not one per indicator (after the two
    # small queries that learn what `ids` matches).
    assert len(mgmt_requests(azure)) == 2 + 3


# --- errors --------------------------------------------------------------------------------------


def test_missing_management_settings_is_a_clear_error(tmp_path: Path, azure: AzureSandbox) -> None:
    ctx = context(settings_for(tmp_path, azure, management=False))
    with pytest.raises(ConfigError) as caught:
        cleanup.revoke_expired(ctx)
    assert str(caught.value) == (
        "config.py: ms_auth needs subscription_id, resourceGroupName and workspaceName for workspace "
        f"{azure.workspace_id} to find expired indicators (missing: subscription_id, resourceGroupName, "
        "workspaceName)"
    )


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (403, "needs the Microsoft Sentinel Reader role"),
        (404, "check subscription_id (9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d), resourceGroupName (rg-soc)"),
        (400, "Request failed with status 400"),
    ],
    ids=["403-role", "404-names-settings", "400-message"],
)
def test_arm_refusals_are_one_sentence(
    tmp_path: Path, azure: AzureSandbox, status: int, expected: str
) -> None:
    ctx = context(settings_for(tmp_path, azure))
    azure.sentinel.faults.statuses.append(status)
    client = ctx.targets[0].management("test")
    with pytest.raises(ManagementError) as caught:
        client.query_page({})
    assert expected in str(caught.value)
    assert azure.client_secret not in str(caught.value)


def test_real_403_names_the_role(tmp_path: Path, azure: AzureSandbox) -> None:
    azure.sentinel.store.workspaces[azure.workspace_id] = azure.sentinel.store.workspaces[
        azure.workspace_id
    ].__class__(
        azure.workspace_id, azure.workspace_name, azure.subscription_id, azure.resource_group, frozenset()
    )
    ctx = context(settings_for(tmp_path, azure))
    with pytest.raises(ManagementError, match="Microsoft Sentinel Contributor role to revoke"):
        cleanup.revoke_expired(ctx)


def test_429_waits_retry_after_and_5xx_retries_bounded(tmp_path: Path, azure: AzureSandbox) -> None:
    sleep = FakeSleep(FakeClock())
    ctx = context(settings_for(tmp_path, azure), sleep=sleep)
    client = ctx.targets[0].management("test")
    azure.sentinel.throttle_next = 1
    azure.sentinel.faults.statuses.append(503)
    items, _ = client.query_page({})
    assert items == []
    # The forced 503 comes first (a jittered back-off under 1 s), then the 429's Retry-After of 1 s,
    # waited through the management API's own limiter (not a bare sleep).
    assert len(sleep.calls) == 2 and sleep.calls[0] < 1.0 and sleep.calls[1] == pytest.approx(1.0)
    assert ctx.targets[0].uploader.sender.limiter.waited == 0  # the upload budget was not touched
    assert client.sent == 3
    azure.sentinel.faults.statuses.extend([500] * 10)
    with pytest.raises(ManagementUnavailable, match="kept failing with HTTP 500 after 8 attempts"):
        client.query_page({})


def test_expired_token_is_renewed_once(tmp_path: Path, azure: AzureSandbox) -> None:
    ctx = context(settings_for(tmp_path, azure))
    client = ctx.targets[0].management("test")
    client.query_page({})
    azure.entra.expire_all()
    items, _ = client.query_page({})
    assert items == []
    assert client.sent == 3


# --- through script.py ---------------------------------------------------------------------------


def test_script_flags_end_to_end(tmp_path: Path, azure: AzureSandbox, misp: MispSandbox) -> None:
    from misp_bridge.sync.cli import main as sync_main

    event = misp_event(3)
    misp.app.seed_event(event)
    config = settings_for(
        tmp_path, azure, misp, extra='misp_event_filters = {"published": True}\n'
    ).config_path
    expired = indicator("192.0.2.99", created=PAST, valid_until=PAST + timedelta(days=1))
    seed_sentinel(azure, [expired])
    assert sync_main(["--config", str(config), "--no-progress"]) == 0
    uploaded = set(azure.sentinel.objects(azure.workspace_id)) - {expired["id"]}
    assert uploaded == {f"indicator--{a['uuid']}" for a in event["Attribute"]}
    flipped = event["Attribute"][2]["uuid"]
    flip_to_ids(misp, flipped)

    code = sync_main(
        [
            "--config",
            str(config),
            "--no-progress",
            "--verify-recent-toids-change",
            "--delete-outdated-indicators",
        ]
    )

    assert code == 0
    assert revoked_ids(azure) == {f"indicator--{flipped}", expired["id"]}


def revoked_ids(azure: AzureSandbox) -> set[str]:
    return {k for k, v in azure.sentinel.objects(azure.workspace_id).items() if v.get("revoked")}
