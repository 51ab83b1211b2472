"""The Sentinel upload and legacy upload APIs of the sandbox (docs/contracts.md 4), with msal + requests."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests

from tests.fakes import FakeClock
from tests.fixtures.azure import AzureFactory, AzureSandbox, bearer


def indicator(value: str = "192.0.2.1", **over: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid5(uuid.NAMESPACE_URL, value)}",
        "created": "2024-01-01T00:00:00.000Z",
        "modified": "2024-01-01T00:00:00.000Z",
        "name": f"ip {value}",
        "pattern": f"[ipv4-addr:value = '{value}']",
        "pattern_type": "stix",
        "valid_from": "2024-01-01T00:00:00Z",
        "valid_until": "2030-01-01T00:00:00Z",
        "confidence": 80,
        "labels": ["tlp:green"],
        "indicator_types": ["malicious-activity"],
    }
    obj.update(over)
    return {k: v for k, v in obj.items() if v is not None}


def post(
    sandbox: AzureSandbox, body: Any, headers: dict[str, str] | None = None, url: str = ""
) -> requests.Response:
    return requests.post(
        url or sandbox.upload_url,
        json=body,
        headers=bearer(sandbox) if headers is None else headers,
        verify=str(sandbox.ca_path),
        timeout=5,
    )


def upload(sandbox: AzureSandbox, objects: list[Any], source: str = "MISP") -> requests.Response:
    return post(sandbox, {"sourcesystem": source, "stixobjects": objects})


@pytest.fixture
def limited(azure_factory: AzureFactory) -> tuple[AzureSandbox, FakeClock]:
    clock = FakeClock()
    return azure_factory(clock=clock, max_requests=3, window_seconds=60), clock


def test_all_valid_gives_an_empty_200_and_stores(azure: AzureSandbox) -> None:
    reply = upload(azure, [indicator("192.0.2.1"), indicator("192.0.2.2")])
    assert reply.status_code == 200
    assert reply.content == b""
    stored = azure.sentinel.objects(azure.workspace_id)
    assert {o["pattern"] for o in stored.values()} == {
        "[ipv4-addr:value = '192.0.2.1']",
        "[ipv4-addr:value = '192.0.2.2']",
    }
    assert all(o["sourcesystem"] == "MISP" for o in stored.values())
    assert azure.sentinel.upload_requests[-1][1:] == (azure.workspace_id, 2, 200)


@pytest.mark.parametrize(
    ("broken", "prop"),
    [
        (indicator(id=None), "id"),
        (indicator(created=None), "created"),
        (indicator(modified=None), "modified"),
        (indicator(pattern=None), "pattern"),
        (indicator(pattern_type=None), "pattern_type"),
        (indicator(valid_from=None), "valid_from"),
        (indicator(valid_until="2023-01-01T00:00:00Z"), "valid_until"),
        (indicator(confidence=101), "confidence"),
        (indicator(confidence=-1), "confidence"),
        (indicator(pattern="[ipv4-addr:value = '1.2.3.4'"), "pattern"),
        (indicator(created="yesterday"), "created"),
        (indicator(type="malware"), "type"),
        (indicator(id="indicator--not-a-uuid"), "id"),
        (indicator(modified="2023-01-01T00:00:00Z"), "modified"),
        (indicator(pattern_type="ipv4-addr"), "pattern_type"),
        (indicator(external_references=[{"sourceName": "MISP", "externalId": "x"}]), "stixobject"),
    ],
    ids=[
        "no-id",
        "no-created",
        "no-modified",
        "no-pattern",
        "no-pattern-type",
        "no-valid-from",
        "valid-until-before-from",
        "confidence-101",
        "confidence-negative",
        "unbalanced-pattern",
        "bad-timestamp",
        "unsupported-type",
        "bad-id",
        "modified-before-created",
        "observable-type-as-pattern-type",
        "camel-case-reference",
    ],
)
def test_invalid_objects_are_listed_by_record_index(
    azure: AzureSandbox, broken: dict[str, Any], prop: str
) -> None:
    good = indicator("198.51.100.7")
    reply = upload(azure, [good, broken])
    assert reply.status_code == 200
    errors = reply.json()["errors"]
    assert [e["recordIndex"] for e in errors] == [1]
    assert any(m.startswith(f"Error for Property={prop}: ") for m in errors[0]["errorMessages"])
    assert list(azure.sentinel.objects(azure.workspace_id)) == [good["id"]]


def test_missing_id_message_matches_the_service(azure: AzureSandbox) -> None:
    reply = upload(azure, [indicator(id=None)])
    assert reply.json() == {
        "errors": [
            {
                "recordIndex": 0,
                "errorMessages": ["Error for Property=id: Required property is missing. Actual value: NULL."],
            }
        ]
    }


def test_other_object_types_and_unknown_properties_are_accepted(azure: AzureSandbox) -> None:
    pattern = {
        "type": "attack-pattern",
        "id": "attack-pattern--7e33a43e-e34b-40ec-89da-36c9bb2cacd5",
        "created": "2024-01-01T00:00:00Z",
        "modified": "2024-01-01T00:00:00Z",
        "name": "Phishing",
    }
    reply = upload(azure, [pattern, indicator(x_misp_category="Network activity")])
    assert (reply.status_code, reply.content) == (200, b"")
    assert len(azure.sentinel.objects(azure.workspace_id)) == 2


@pytest.mark.parametrize(
    "body",
    [
        {"stixobjects": [indicator()]},
        {"sourcesystem": "Microsoft Sentinel", "stixobjects": [indicator()]},
        {"sourcesystem": "MISP", "stixobjects": [indicator(str(n)) for n in range(101)]},
        {"sourcesystem": "MISP"},
        ["not", "an", "object"],
    ],
    ids=["no-sourcesystem", "reserved-sourcesystem", "101-objects", "no-stixobjects", "not-an-object"],
)
def test_bad_requests(azure: AzureSandbox, body: Any) -> None:
    assert post(azure, body).status_code == 400
    assert azure.sentinel.objects(azure.workspace_id) == {}


def test_exactly_100_objects_pass(azure: AzureSandbox) -> None:
    assert upload(azure, [indicator(f"10.0.0.{n}") for n in range(100)]).status_code == 200
    assert len(azure.sentinel.objects(azure.workspace_id)) == 100


def test_missing_or_garbage_token_is_401_json(azure: AzureSandbox) -> None:
    for headers in ({}, {"Authorization": "Bearer garbage"}, {"Authorization": "Basic abc"}):
        reply = post(azure, {"sourcesystem": "MISP", "stixobjects": [indicator()]}, headers)
        assert reply.status_code == 401
        assert reply.json() == {
            "statusCode": 401,
            "message": "Unauthorized. Access token is missing or invalid.",
        }


def test_expired_token_is_401(azure: AzureSandbox) -> None:
    headers = bearer(azure)
    azure.entra.expire_all()
    reply = post(azure, {"sourcesystem": "MISP", "stixobjects": [indicator()]}, headers)
    assert reply.status_code == 401
    assert reply.json()["statusCode"] == 401
    assert post(azure, {"sourcesystem": "MISP", "stixobjects": [indicator()]}).status_code == 200


def test_wrong_audience_is_401_with_no_body(azure: AzureSandbox) -> None:
    reply = post(
        azure,
        {"sourcesystem": "MISP", "stixobjects": [indicator()]},
        bearer(azure, "https://vault.azure.net/.default"),
    )
    assert (reply.status_code, reply.content) == (401, b"")


def test_core_windows_audience_is_accepted(azure: AzureSandbox) -> None:
    headers = bearer(azure, "https://management.core.windows.net//.default")
    assert post(azure, {"sourcesystem": "MISP", "stixobjects": [indicator()]}, headers).status_code == 200


def test_missing_role_is_403(azure: AzureSandbox) -> None:
    azure.add_workspace("3c3c3c3c-1111-4222-8333-444444444444", "other-ws", contributor=False)
    url = azure.upload_url.replace(azure.workspace_id, "3c3c3c3c-1111-4222-8333-444444444444")
    reply = post(azure, {"sourcesystem": "MISP", "stixobjects": [indicator()]}, url=url)
    assert reply.status_code == 403
    error = reply.json()["error"]
    assert error["code"] == "UnauthorizedAccess"
    assert "does not have required permission" in error["message"]
    assert "3c3c3c3c-1111-4222-8333-444444444444" in error["message"]


def test_unknown_workspace_is_404(azure: AzureSandbox) -> None:
    url = azure.upload_url.replace(azure.workspace_id, "00000000-0000-4000-8000-000000000000")
    assert post(azure, {"sourcesystem": "MISP", "stixobjects": [indicator()]}, url=url).status_code == 404


def test_upsert_keeps_the_latest_version(azure: AzureSandbox) -> None:
    first = indicator(name="first")
    assert upload(azure, [first]).status_code == 200
    newer = indicator(name="second", modified="2024-02-01T00:00:00Z")
    assert upload(azure, [newer]).status_code == 200
    stored = azure.sentinel.objects(azure.workspace_id)
    assert list(stored) == [first["id"]]
    assert stored[first["id"]]["name"] == "second"
    assert upload(azure, [indicator(name="stale")]).status_code == 200  # older modified: ignored
    assert azure.sentinel.objects(azure.workspace_id)[first["id"]]["name"] == "second"


def test_same_id_from_another_source_is_a_separate_object(azure: AzureSandbox) -> None:
    upload(azure, [indicator()], source="MISP")
    upload(azure, [indicator()], source="Other")
    assert len(azure.sentinel.stored(azure.workspace_id)) == 1  # keyed by STIX id for inspection
    assert len(azure.sentinel.store.latest(azure.workspace_id)) == 2


@pytest.mark.parametrize(
    ("pattern", "matchable"),
    [
        ("[ipv4-addr:value = '192.0.2.1']", True),
        ("[domain-name:value = 'evil.example' OR domain-name:value = 'bad.example']", True),
        ("[file:hashes.'SHA-256' = '" + "a" * 64 + "']", True),
        ("[ipv4-addr:value = '192.0.2.1'] OR [url:value = 'http://evil.example/']", True),
        (
            "[network-traffic:src_ref.type = 'ipv4-addr' AND network-traffic:src_ref.value = '192.0.2.1']",
            False,
        ),
        ("[file:name = 'evil.exe' AND file:hashes.MD5 = '" + "b" * 32 + "']", False),
        ("[ipv4-addr:value != '192.0.2.1']", False),
        ("[ipv4-addr:value = '192.0.2.1'] WITHIN 60 SECONDS", False),
    ],
    ids=["single", "or", "hash", "or-observations", "and-network", "and-file", "not-equal", "qualified"],
)
def test_matchable_only_for_equalities(azure: AzureSandbox, pattern: str, matchable: bool) -> None:
    obj = indicator(pattern=pattern)
    assert (upload(azure, [obj]).status_code, azure.sentinel.matchable(azure.workspace_id, obj["id"])) == (
        200,
        matchable,
    )


def test_observables_recorded(azure: AzureSandbox) -> None:
    obj = indicator(pattern="[url:value = 'http://a.example/' OR url:value = 'http://b.example/']")
    upload(azure, [obj])
    found = azure.sentinel.stored(azure.workspace_id)[obj["id"]].observables
    assert [(o.key, o.value) for o in found] == [
        ("url:value", "http://a.example/"),
        ("url:value", "http://b.example/"),
    ]


def test_legacy_api_takes_indicators_under_value(azure: AzureSandbox) -> None:
    reply = post(azure, {"sourcesystem": "MISP", "value": [indicator()]}, url=azure.legacy_url)
    assert (reply.status_code, reply.content) == (200, b"")
    record = azure.sentinel.stored(azure.workspace_id)[indicator()["id"]]
    assert record.via == "legacy"
    other = {
        "type": "identity",
        "id": f"identity--{uuid.uuid4()}",
        "created": "2024-01-01T00:00:00Z",
        "modified": "2024-01-01T00:00:00Z",
        "name": "x",
    }
    reply = post(azure, {"sourcesystem": "MISP", "value": [other]}, url=azure.legacy_url)
    assert reply.json()["errors"][0]["recordIndex"] == 0
    assert (
        post(
            azure,
            {"sourcesystem": "MISP", "value": [indicator(str(n)) for n in range(101)]},
            url=azure.legacy_url,
        ).status_code
        == 400
    )
    assert (
        post(azure, {"sourcesystem": "MISP", "value": [indicator()]}, {}, url=azure.legacy_url).status_code
        == 401
    )


def test_rate_window_429_with_retry_after(limited: tuple[AzureSandbox, FakeClock]) -> None:
    sandbox, clock = limited
    headers = bearer(sandbox)
    body = {"sourcesystem": "MISP", "stixobjects": [indicator()]}
    for _ in range(3):
        assert post(sandbox, body, headers).status_code == 200
        clock.advance(10)
    reply = post(sandbox, body, headers)
    assert reply.status_code == 429
    assert reply.headers["Retry-After"] == "30"  # first request leaves the window at t=60
    assert reply.json() == {"statusCode": 429, "message": "Rate limit is exceeded. Try again in 30 seconds."}
    assert len(sandbox.sentinel.rate_violations) == 1
    clock.advance(30)
    assert post(sandbox, body, headers).status_code == 200
    assert sandbox.sentinel.max_in_window() == 3


def test_rate_window_without_retry_after_header(limited: tuple[AzureSandbox, FakeClock]) -> None:
    sandbox, _ = limited
    sandbox.sentinel.retry_after_header = False
    headers = bearer(sandbox)
    body = {"sourcesystem": "MISP", "stixobjects": [indicator()]}
    statuses = [post(sandbox, body, headers) for _ in range(4)]
    assert [r.status_code for r in statuses] == [200, 200, 200, 429]
    assert "Retry-After" not in statuses[-1].headers
    assert "Try again in 60 seconds" in statuses[-1].json()["message"]


def test_rate_window_is_per_user_across_workspaces(limited: tuple[AzureSandbox, FakeClock]) -> None:
    sandbox, _ = limited
    second = "4d4d4d4d-1111-4222-8333-444444444444"
    sandbox.add_workspace(second, "second-ws")
    headers = bearer(sandbox)
    body = {"sourcesystem": "MISP", "stixobjects": [indicator()]}
    for _ in range(3):
        assert post(sandbox, body, headers).status_code == 200
    other = post(sandbox, body, headers, url=sandbox.upload_url.replace(sandbox.workspace_id, second))
    assert other.status_code == 429
    sandbox.sentinel.per_user_limit = False
    assert (
        post(sandbox, body, headers, url=sandbox.upload_url.replace(sandbox.workspace_id, second)).status_code
        == 200
    )


def test_scaled_window_gives_fractional_retry_after(azure_factory: AzureFactory) -> None:
    clock = FakeClock()
    sandbox = azure_factory(clock=clock, max_requests=1, window_seconds=0.6, retry_after_precision=2)
    headers = bearer(sandbox)
    body = {"sourcesystem": "MISP", "stixobjects": [indicator()]}
    assert post(sandbox, body, headers).status_code == 200
    clock.advance(0.25)
    reply = post(sandbox, body, headers)
    assert (reply.status_code, reply.headers["Retry-After"]) == (429, "0.35")


def test_throttle_next_and_forced_errors(azure: AzureSandbox) -> None:
    body = {"sourcesystem": "MISP", "stixobjects": [indicator()]}
    headers = bearer(azure)
    azure.sentinel.throttle_next = 2
    assert [post(azure, body, headers).status_code for _ in range(3)] == [429, 429, 200]
    azure.sentinel.faults.statuses.append(500)
    reply = post(azure, body, headers)
    assert reply.status_code == 500
    assert reply.json()["message"] == "Internal server error" and uuid.UUID(reply.json()["activityId"])
    azure.sentinel.error_body_empty = True
    azure.sentinel.faults.statuses.append(500)
    empty = post(azure, body, headers)
    assert (empty.status_code, empty.content) == (500, b"")
    assert post(azure, body, headers).status_code == 200  # the fault was used up
    azure.sentinel.faults.drops = 1
    with pytest.raises(requests.exceptions.ConnectionError):
        post(azure, body, headers)


def test_revocation_is_permanent(azure: AzureSandbox) -> None:
    """Revoking is final: no later version of a revoked id may be created, revoked or not."""
    live = indicator("192.0.2.77")
    assert upload(azure, [live]).status_code == 200
    gone = {**live, "revoked": True, "modified": "2024-02-01T00:00:00.000Z"}
    assert upload(azure, [gone]).status_code == 200
    for attempt in (
        {**live, "modified": "2024-03-01T00:00:00.000Z"},
        {**gone, "modified": "2024-04-01T00:00:00.000Z"},
    ):
        reply = upload(azure, [indicator("192.0.2.78"), attempt])
        assert reply.status_code == 200
        [error] = reply.json()["errors"]
        assert error["recordIndex"] == 1
        assert "revoked" in error["errorMessages"][0]
    assert azure.sentinel.objects(azure.workspace_id)[live["id"]]["revoked"] is True
    # Another source's object with the same id is a different object.
    assert upload(azure, [live], source="OtherFeed").status_code == 200


def test_all_invalid_is_a_400_with_the_same_per_object_errors(azure_factory: AzureFactory) -> None:
    sandbox = azure_factory()
    reply = upload(sandbox, [indicator("192.0.2.1", pattern=None), indicator("192.0.2.2", confidence=101)])
    assert reply.status_code == 400
    assert [e["recordIndex"] for e in reply.json()["errors"]] == [0, 1]
    assert sandbox.sentinel.objects(sandbox.workspace_id) == {}
    # The contract says "may": the other reading answers 200 with the list.
    lenient = azure_factory(all_invalid_status=200)
    assert upload(lenient, [indicator("192.0.2.1", pattern=None)]).status_code == 200


def test_html_and_truncated_200_faults(azure: AzureSandbox) -> None:
    azure.sentinel.faults.html = 1
    reply = upload(azure, [indicator("192.0.2.1")])
    assert (reply.status_code, reply.headers["Content-Type"]) == (200, "text/html")
    assert azure.sentinel.objects(azure.workspace_id) == {}  # a proxy's page: nothing reached Sentinel
    azure.sentinel.faults.truncated = 1
    reply = upload(azure, [indicator("192.0.2.1")])
    assert reply.status_code == 200 and reply.text and not reply.text.endswith("}")
    with pytest.raises(ValueError):
        reply.json()
    assert list(azure.sentinel.objects(azure.workspace_id)) == [indicator("192.0.2.1")["id"]]


def test_missing_role_may_come_back_as_a_401(azure_factory: AzureFactory) -> None:
    """The upload API documents no 403; a missing role has been reported as 401 UnauthorizedAccess."""
    sandbox = azure_factory(role_missing_status=401)
    sandbox.add_workspace("3c3c3c3c-1111-4222-8333-444444444444", "other-ws", contributor=False)
    url = sandbox.upload_url.replace(sandbox.workspace_id, "3c3c3c3c-1111-4222-8333-444444444444")
    reply = post(sandbox, {"sourcesystem": "MISP", "stixobjects": [indicator()]}, url=url)
    assert reply.status_code == 401
    assert reply.json()["error"]["code"] == "UnauthorizedAccess"
