"""The sandbox's Sentinel management (ARM) API: queryIndicators, paging, DELETE, lag (docs/contracts.md 5)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.fakes import FakeClock
from tests.fixtures.azure import AzureFactory, AzureSandbox, bearer
from tests.sandbox.test_sentinel import indicator, upload


def query(
    sandbox: AzureSandbox, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> requests.Response:
    return requests.post(
        sandbox.management_url(),
        json=body or {},
        headers=bearer(sandbox) if headers is None else headers,
        verify=str(sandbox.ca_path),
        timeout=5,
    )


def ext_ids(reply: requests.Response) -> list[str]:
    assert reply.status_code == 200, reply.text
    return [item["properties"]["externalId"] for item in reply.json()["value"]]


@pytest.fixture
def seeded(azure: AzureSandbox) -> AzureSandbox:
    objects = [
        indicator(
            "192.0.2.1",
            confidence=10,
            valid_until="2026-01-01T00:00:00Z",
            indicator_types=["anomalous-activity"],
        ),
        indicator("192.0.2.2", confidence=50, valid_until="2027-01-01T00:00:00Z", labels=["campaign-x"]),
        indicator("192.0.2.3", confidence=90, valid_until="2028-01-01T00:00:00Z", revoked=True),
        indicator(
            "evil.example",
            pattern="[domain-name:value = 'evil.example']",
            confidence=70,
            valid_until="2029-01-01T00:00:00Z",
        ),
    ]
    assert upload(azure, objects).status_code == 200
    assert upload(azure, [indicator("203.0.113.9", confidence=30)], source="OtherFeed").status_code == 200
    return azure


def test_item_has_the_arm_shape(seeded: AzureSandbox) -> None:
    reply = query(seeded, {"ids": [indicator("192.0.2.1")["id"]]})
    [item] = reply.json()["value"]
    assert item["type"] == "Microsoft.SecurityInsights/ThreatIntelligence"
    assert item["kind"] == "indicator"
    assert item["id"].endswith(
        f"/workspaces/{seeded.workspace_name}/providers/Microsoft.SecurityInsights/threatIntelligence/{item['name']}"
    )
    props = item["properties"]
    assert props["externalId"] == indicator("192.0.2.1")["id"]
    assert props["source"] == "MISP"
    assert props["pattern"] == "[ipv4-addr:value = '192.0.2.1']"
    # ARM's patternType is the observable type, not STIX's pattern_type ("stix").
    assert props["patternType"] == "ipv4-addr"
    assert props["revoked"] is False
    assert props["confidence"] == 10
    assert props["parsedPattern"] == [
        {"patternTypeKey": "ipv4-addr", "patternTypeValues": [{"valueType": "value", "value": "192.0.2.1"}]}
    ]
    # Times are .NET-style: 7 digits at most, trailing zeros (and a zero fraction) trimmed.
    assert props["validFrom"] == "2024-01-01T00:00:00Z"
    assert props["created"] == props["modified"] == "2024-01-01T00:00:00Z"
    assert props["validUntil"] == "2026-01-01T00:00:00Z"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,7})?Z", props["lastUpdatedTimeUtc"])
    assert not re.search(r"\.\d*0Z\Z", props["lastUpdatedTimeUtc"])
    assert "additionalData" not in props and "friendlyName" not in props
    assert "nextLink" not in reply.json()
    # the ARM name is stable across versions of the object
    upload(seeded, [indicator("192.0.2.1", modified="2024-05-01T00:00:00Z", confidence=11)])
    again = query(seeded, {"ids": [D1]}).json()["value"]
    assert [(i["name"], i["properties"]["confidence"]) for i in again] == [(item["name"], 11)]


D1, D2, D3, DOM = (indicator(v)["id"] for v in ("192.0.2.1", "192.0.2.2", "192.0.2.3", "evil.example"))
OTHER = indicator("203.0.113.9")["id"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, {D1, D2, DOM, OTHER}),
        ({"includeDisabled": True}, {D1, D2, D3, DOM, OTHER}),
        ({"minConfidence": 50}, {D2, DOM}),
        ({"maxConfidence": 30}, {D1, OTHER}),
        ({"minValidUntil": "2027-01-01T00:00:00Z", "maxValidUntil": "2028-06-01T00:00:00Z"}, {D2}),
        ({"sources": ["OtherFeed"]}, {OTHER}),
        ({"patternTypes": ["domain-name"]}, {DOM}),
        ({"threatTypes": ["anomalous-activity"]}, {D1}),
        ({"ids": [D2, DOM]}, {D2, DOM}),
        ({"keywords": ["campaign-x"]}, {D2}),
        ({"keywords": ["EVIL.example"]}, {DOM}),
    ],
    ids=[
        "none",
        "include-disabled",
        "min-confidence",
        "max-confidence",
        "valid-until-range",
        "sources",
        "pattern-types",
        "threat-types",
        "ids",
        "keywords-label",
        "keywords-case",
    ],
)
def test_filters(seeded: AzureSandbox, body: dict[str, Any], expected: set[str]) -> None:
    assert set(ext_ids(query(seeded, body))) == expected


def test_sort_by(seeded: AzureSandbox) -> None:
    body = {"sortBy": [{"itemKey": "confidence", "sortOrder": "descending"}]}
    assert ext_ids(query(seeded, body)) == [DOM, D2, OTHER, D1]
    body = {"sortBy": [{"itemKey": "confidence", "sortOrder": "ascending"}]}
    assert ext_ids(query(seeded, body)) == [D1, OTHER, D2, DOM]
    assert query(seeded, {"sortBy": [{"itemKey": "confidence", "sortOrder": "sideways"}]}).status_code == 400


def test_bad_filters_are_arm_400(seeded: AzureSandbox) -> None:
    for body in ({"pageSize": "ten"}, {"minValidUntil": "soon"}, {"sources": "MISP"}, {"skipToken": "%%%"}):
        reply = query(seeded, body)
        assert reply.status_code == 400
        assert reply.json()["error"]["code"] == "BadRequest"


@pytest.fixture
def many(azure: AzureSandbox) -> AzureSandbox:
    assert upload(azure, [indicator(f"10.0.0.{n}", confidence=n) for n in range(25)]).status_code == 200
    return azure


def test_paging_by_reposting_the_skip_token(many: AzureSandbox) -> None:
    headers = bearer(many)
    body: dict[str, Any] = {"pageSize": 10, "minConfidence": 3}
    seen: list[str] = []
    pages = 0
    while True:
        reply = query(many, body, headers)
        seen += ext_ids(reply)
        pages += 1
        link = reply.json().get("nextLink")
        if not link:
            break
        body = {
            "pageSize": 10,
            "minConfidence": 3,
            "skipToken": parse_qs(urlsplit(link).query)["$skipToken"][0],
        }
    assert pages == 3
    assert len(seen) == len(set(seen)) == 22


def test_paging_by_getting_the_next_link(many: AzureSandbox) -> None:
    headers = bearer(many)
    reply = query(many, {"pageSize": 10, "minConfidence": 3}, headers)
    seen = ext_ids(reply)
    link = reply.json()["nextLink"]
    assert link.startswith(many.management_base_url) and "api-version=2025-09-01" in link
    while link:
        page = requests.get(link, headers=headers, verify=str(many.ca_path), timeout=5)
        seen += ext_ids(page)
        link = page.json().get("nextLink")
    assert len(seen) == len(set(seen)) == 22


def test_default_page_size_is_100(azure: AzureSandbox) -> None:
    for start in range(0, 120, 60):
        batch = [indicator(f"10.1.{n // 250}.{n % 250}") for n in range(start, start + 60)]
        assert upload(azure, batch[:50]).status_code == 200
        assert upload(azure, batch[50:]).status_code == 200
    reply = query(azure)
    assert len(reply.json()["value"]) == 100 and reply.json()["nextLink"]


def test_delete_does_not_remove_uploaded_indicators(seeded: AzureSandbox) -> None:
    [item] = query(seeded, {"ids": [D1]}).json()["value"]
    url = seeded.management_url(f"indicators/{item['name']}")
    reply = requests.delete(url, headers=bearer(seeded), verify=str(seeded.ca_path), timeout=5)
    assert (reply.status_code, reply.content) == (200, b"")
    assert ext_ids(query(seeded, {"ids": [D1]})) == [D1]
    assert seeded.sentinel.deletes == [item["name"]]
    gone = seeded.management_url("indicators/00000000-0000-4000-8000-000000000000")
    assert (
        requests.delete(gone, headers=bearer(seeded), verify=str(seeded.ca_path), timeout=5).status_code
        == 204
    )


def test_get_one_indicator(seeded: AzureSandbox) -> None:
    [item] = query(seeded, {"ids": [DOM]}).json()["value"]
    url = seeded.management_url(f"indicators/{item['name']}")
    assert requests.get(url, headers=bearer(seeded), verify=str(seeded.ca_path), timeout=5).json() == item


def test_query_lag(azure_factory: AzureFactory) -> None:
    clock = FakeClock()
    sandbox = azure_factory(clock=clock, query_lag=120)
    headers = bearer(sandbox)
    assert upload(sandbox, [indicator(confidence=10)]).status_code == 200
    assert ext_ids(query(sandbox, {}, headers)) == []
    clock.advance(120)
    [item] = query(sandbox, {}, headers).json()["value"]
    assert item["properties"]["confidence"] == 10
    upload(sandbox, [indicator(confidence=99, modified="2024-06-01T00:00:00Z")])
    assert query(sandbox, {}, headers).json()["value"][0]["properties"]["confidence"] == 10
    assert sandbox.sentinel.objects(sandbox.workspace_id)[indicator()["id"]]["confidence"] == 99
    clock.advance(121)
    assert query(sandbox, {}, headers).json()["value"][0]["properties"]["confidence"] == 99


def test_arm_auth_errors(azure: AzureSandbox) -> None:
    cases = [
        ({}, 401, "AuthenticationFailed"),
        ({"Authorization": "Bearer nonsense"}, 401, "InvalidAuthenticationToken"),
        (bearer(azure, "https://vault.azure.net/.default"), 401, "InvalidAuthenticationTokenAudience"),
    ]
    for headers, status, code in cases:
        reply = query(azure, {}, headers)
        assert (reply.status_code, reply.json()["error"]["code"]) == (status, code)


def test_arm_role_and_workspace_errors(azure: AzureSandbox) -> None:
    azure.add_workspace("5e5e5e5e-1111-4222-8333-444444444444", "no-role-ws", contributor=False)
    headers = bearer(azure)
    reply = requests.post(
        azure.management_url(workspace_name="no-role-ws"),
        json={},
        headers=headers,
        verify=str(azure.ca_path),
        timeout=5,
    )
    assert (reply.status_code, reply.json()["error"]["code"]) == (403, "AuthorizationFailed")
    reply = requests.post(
        azure.management_url(workspace_name="missing-ws"),
        json={},
        headers=headers,
        verify=str(azure.ca_path),
        timeout=5,
    )
    assert (reply.status_code, reply.json()["error"]["code"]) == (404, "ResourceNotFound")


def test_arm_throttling_has_retry_after(azure: AzureSandbox) -> None:
    headers = bearer(azure)
    azure.sentinel.throttle_next = 1
    reply = query(azure, {}, headers)
    assert reply.status_code == 429
    assert reply.headers["Retry-After"] == "1"
    assert reply.json()["error"]["code"] == "TooManyRequests"
    assert query(azure, {}, headers).status_code == 200


def test_external_references_are_camel_case(azure: AzureSandbox) -> None:
    reference = {
        "source_name": "MISP",
        "external_id": "5f0e1d2c-3b4a-4958-8776-a5b4c3d2e1f0",
        "url": "https://misp.example/events/view/5f0e1d2c-3b4a-4958-8776-a5b4c3d2e1f0",
        "description": "MISP Event: test",
    }
    assert upload(azure, [indicator("192.0.2.5", external_references=[reference])]).status_code == 200
    [item] = query(azure, {}).json()["value"]
    assert item["properties"]["externalReferences"] == [
        {
            "sourceName": "MISP",
            "externalId": reference["external_id"],
            "url": reference["url"],
            "description": reference["description"],
        }
    ]


@pytest.mark.parametrize(
    ("pattern", "pattern_type"),
    [
        ("[url:value = 'https://www.contoso.com']", "url"),
        ("[file:hashes.'SHA-256' = '" + "a" * 64 + "']", "file"),
        ("[domain-name:value = 'evil.example']", "domain-name"),
    ],
)
def test_pattern_type_is_the_observable_type(azure: AzureSandbox, pattern: str, pattern_type: str) -> None:
    assert upload(azure, [indicator("x", pattern=pattern)]).status_code == 200
    [item] = query(azure, {}).json()["value"]
    assert item["properties"]["patternType"] == pattern_type


def test_times_keep_up_to_seven_digits(azure_factory: AzureFactory) -> None:
    clock = FakeClock(1586981517.0703125)  # 2020-04-15T20:11:57.0703125Z: seven digits, exact in a float
    sandbox = azure_factory(clock=clock)
    assert upload(sandbox, [indicator(valid_from="2024-01-01T00:00:00.07Z")]).status_code == 200
    [item] = query(sandbox, {}).json()["value"]
    assert item["properties"]["lastUpdatedTimeUtc"] == "2020-04-15T20:11:57.0703125Z"
    assert item["properties"]["validFrom"] == "2024-01-01T00:00:00.07Z"


@pytest.mark.parametrize(
    ("reading", "by_stix_id", "by_name"),
    [
        ("stix_id", {D2}, set()),
        ("name", set(), {D2}),
        ("both", {D2}, {D2}),
        ("ignored", {D1, D2, DOM, OTHER}, {D1, D2, DOM, OTHER}),
    ],
)
def test_ids_readings(
    azure_factory: AzureFactory, reading: str, by_stix_id: set[str], by_name: set[str]
) -> None:
    """`ids` is undocumented: the sandbox serves each reading so the product is tested under all."""
    sandbox = azure_factory(ids_match=reading)
    assert (
        upload(sandbox, [indicator(v) for v in ("192.0.2.1", "192.0.2.2", "evil.example")]).status_code == 200
    )
    assert upload(sandbox, [indicator("203.0.113.9")], source="OtherFeed").status_code == 200
    name = sandbox.sentinel.stored(sandbox.workspace_id)[D2].name
    assert set(ext_ids(query(sandbox, {"ids": [D2]}))) == by_stix_id
    assert set(ext_ids(query(sandbox, {"ids": [name]}))) == by_name


@pytest.mark.parametrize(
    ("reading", "hidden"),
    [("revoked", {"revoked"}), ("expired", {"expired"}), ("either", {"revoked", "expired"})],
)
def test_include_disabled_readings(azure_factory: AzureFactory, reading: str, hidden: set[str]) -> None:
    """What `includeDisabled: false` hides is undocumented: revoked, expired, or either."""
    sandbox = azure_factory(include_disabled=reading)
    kinds = {
        "active": indicator("192.0.2.1", valid_until="2999-01-01T00:00:00Z"),
        "revoked": indicator("192.0.2.2", valid_until="2999-01-01T00:00:00Z", revoked=True),
        "expired": indicator(
            "192.0.2.3", valid_from="2020-01-01T00:00:00Z", valid_until="2021-01-01T00:00:00Z"
        ),
    }
    assert upload(sandbox, list(kinds.values())).status_code == 200
    shown = set(ext_ids(query(sandbox, {"includeDisabled": False})))
    assert shown == {body["id"] for kind, body in kinds.items() if kind not in hidden}
    assert set(ext_ids(query(sandbox, {"includeDisabled": True}))) == {b["id"] for b in kinds.values()}
