"""SentinelUploader against the Sentinel sandbox: requests over HTTPS, tokens from msal via TokenProvider.

Most tests share one FakeClock between the sandbox (its rate window, its tokens) and the uploader (its
limiter, its back-off sleeps), so a 60-second Retry-After costs no real time.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from misp_bridge.azure.http import AzureSender, RetryPolicy, retry_after_seconds
from misp_bridge.azure.ratelimit import SlidingWindow
from misp_bridge.azure.token import TokenProvider
from misp_bridge.azure.upload import BatchResult, SentinelUploader, upload_url
from misp_bridge.errors import WorkspaceRefused
from tests.fakes import FakeClock, FakeSleep
from tests.fixtures.azure import AzureFactory, AzureSandbox

OTHER_WORKSPACE = "7c8d9e0f-1a2b-4c3d-8e4f-5a6b7c8d9e0f"


def indicator(n: int, **over: Any) -> dict[str, Any]:
    value = f"198.51.{n // 256 % 256}.{n % 256}"
    obj: dict[str, Any] = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid5(uuid.NAMESPACE_URL, f'bench/{n}')}",
        "created": "2024-01-01T00:00:00.000Z",
        "modified": "2024-01-01T00:00:00.000Z",
        "name": f"ip {value}",
        "pattern": f"[ipv4-addr:value = '{value}']",
        "pattern_type": "stix",
        "valid_from": "2024-01-01T00:00:00Z",
        "valid_until": "2030-01-01T00:00:00Z",
    }
    obj.update(over)
    return {k: v for k, v in obj.items() if v is not None}


def batch(start: int, size: int) -> list[dict[str, Any]]:
    return [indicator(n) for n in range(start, start + size)]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake_sleep(clock: FakeClock) -> FakeSleep:
    return FakeSleep(clock)


@pytest.fixture
def sandbox(azure_factory: AzureFactory, clock: FakeClock) -> AzureSandbox:
    return azure_factory(clock=clock)


UploaderFactory = Callable[..., SentinelUploader]


@pytest.fixture
def make_uploader(clock: FakeClock, fake_sleep: FakeSleep) -> UploaderFactory:
    def make(
        azure: AzureSandbox,
        *,
        workspace_id: str | None = None,
        scope: str = "https://management.azure.com/.default",
        max_requests: int = 100,
        max_attempts: int = 5,
        verify: str | None = None,
        legacy: bool = False,
        response_log: Path | None = None,
    ) -> SentinelUploader:
        tokens = TokenProvider(
            tenant=azure.tenant,
            client_id=azure.client_id,
            client_secret=azure.client_secret,
            authority_host=azure.authority_host,
            scope=scope,
            verify=str(azure.ca_path),
            timeout=5.0,
        )
        sender = AzureSender(
            tokens=tokens,
            limiter=SlidingWindow(max_requests, 60.0, clock=clock, sleep=fake_sleep),
            user_agent="MISP-1.0",
            verify=verify or str(azure.ca_path),
            timeout=5.0,
            policy=RetryPolicy(max_attempts=max_attempts),
            sleep=fake_sleep,
            clock=clock,
        )
        base = azure.legacy_base_url if legacy else azure.upload_base_url
        return SentinelUploader(
            sender=sender,
            url=upload_url(base, workspace_id or azure.workspace_id, "2024-02-01-preview", legacy=legacy),
            label="ws-test",
            sourcesystem="MISP",
            legacy=legacy,
            response_log=response_log,
        )

    return make


def stored_ids(azure: AzureSandbox, workspace_id: str | None = None) -> set[str]:
    return set(azure.sentinel.objects(workspace_id or azure.workspace_id))


def upload_bodies(azure: AzureSandbox) -> list[dict[str, Any]]:
    return [r.json() for r in azure.sentinel.requests if r.path.endswith(":upload")]


def ids(objects: list[dict[str, Any]]) -> tuple[str, ...]:
    return tuple(o["id"] for o in objects)


# -- single batches ----------------------------------------------------------------------------------


def test_all_valid_objects_are_delivered(sandbox: AzureSandbox, make_uploader: UploaderFactory) -> None:
    objects = batch(0, 100)
    result = make_uploader(sandbox).send(objects)
    assert result.delivered == ids(objects)
    assert (result.rejected, result.failed, result.error, result.attempts) == ((), (), None, 1)
    assert stored_ids(sandbox) == set(ids(objects))
    assert upload_bodies(sandbox)[0] == {"sourcesystem": "MISP", "stixobjects": objects}


def test_per_object_errors_come_back_with_index_and_stix_id(
    sandbox: AzureSandbox, make_uploader: UploaderFactory
) -> None:
    objects = batch(0, 5)
    objects[1] = indicator(1, pattern=None)
    objects[3] = indicator(3, valid_until="2023-01-01T00:00:00Z")
    result = make_uploader(sandbox).send(objects)
    assert [(r.index, r.stix_id) for r in result.rejected] == [(1, objects[1]["id"]), (3, objects[3]["id"])]
    assert all(r.messages for r in result.rejected)
    assert "pattern" in " ".join(result.rejected[0].messages)
    assert result.delivered == (objects[0]["id"], objects[2]["id"], objects[4]["id"])
    assert result.failed == ()
    assert stored_ids(sandbox) == set(result.delivered)


def test_a_429_with_retry_after_resends_the_same_batch_after_pausing_the_limiter(
    azure_factory: AzureFactory, clock: FakeClock, fake_sleep: FakeSleep, make_uploader: UploaderFactory
) -> None:
    # The sandbox allows 2 requests a minute; the client believes 100: the third request meets a 429.
    azure = azure_factory(clock=clock, max_requests=2, window_seconds=60)
    uploader = make_uploader(azure)
    start = clock()
    results = [uploader.send(batch(n * 10, 10)) for n in range(3)]
    assert [len(r.delivered) for r in results] == [10, 10, 10]
    assert results[2].throttled == 1 and results[2].attempts == 2
    statuses = [r.status for r in azure.sentinel.upload_requests]
    assert statuses == [200, 200, 429, 200]
    bodies = upload_bodies(azure)
    assert bodies[2] == bodies[3]  # the SAME batch, not a new one
    assert uploader.sender.limiter.waited == pytest.approx(60, abs=0.01)
    assert clock() - start == pytest.approx(60, abs=0.01)
    assert len(azure.sentinel.rate_violations) == 1  # the one 429, none after the pause
    assert stored_ids(azure) == {i for r in results for i in r.delivered}


def test_a_429_without_retry_after_waits_the_seconds_in_the_message(
    azure_factory: AzureFactory, clock: FakeClock, make_uploader: UploaderFactory
) -> None:
    azure = azure_factory(clock=clock, max_requests=1, window_seconds=45, retry_after_header=False)
    uploader = make_uploader(azure)
    uploader.send(batch(0, 3))
    clock.advance(5)
    result = uploader.send(batch(3, 3))
    assert len(result.delivered) == 3 and result.throttled == 1
    assert uploader.sender.limiter.waited == pytest.approx(40, abs=0.01)  # "Try again in 40 seconds."


def test_throttle_knob_429s_are_absorbed(
    sandbox: AzureSandbox, make_uploader: UploaderFactory, fake_sleep: FakeSleep
) -> None:
    sandbox.sentinel.throttle_next = 3
    objects = batch(0, 20)
    uploader = make_uploader(sandbox)
    result = uploader.send(objects)
    assert result.delivered == ids(objects)
    assert (result.attempts, result.throttled, uploader.stats.throttled) == (4, 3, 3)
    assert uploader.sender.limiter.waited == pytest.approx(3, abs=0.01)  # three Retry-After: 1


@pytest.mark.parametrize(
    "faults",
    [
        pytest.param({"statuses": [500, 503, 502]}, id="5xx-burst"),
        pytest.param({"drops": 2}, id="dropped-connections"),
        pytest.param({"statuses": [500], "drops": 1}, id="mixed"),
    ],
)
def test_transient_failures_are_retried_and_nothing_is_lost(
    sandbox: AzureSandbox, make_uploader: UploaderFactory, fake_sleep: FakeSleep, faults: dict[str, Any]
) -> None:
    for key, value in faults.items():
        setattr(sandbox.sentinel.faults, key, value)
    expected_failures = len(faults.get("statuses", [])) + faults.get("drops", 0)
    objects = batch(0, 50)
    uploader = make_uploader(sandbox)
    result = uploader.send(objects)
    assert result.delivered == ids(objects)
    assert result.attempts == expected_failures + 1
    assert uploader.stats.retried == expected_failures
    assert stored_ids(sandbox) == set(ids(objects))
    backoffs = [s for s in fake_sleep.calls if s > 0]
    assert len(backoffs) == expected_failures  # backed off between tries, without really sleeping


def test_empty_500_bodies_are_retried_too(sandbox: AzureSandbox, make_uploader: UploaderFactory) -> None:
    sandbox.sentinel.error_body_empty = True
    sandbox.sentinel.faults.statuses = [500]
    result = make_uploader(sandbox).send(batch(0, 2))
    assert len(result.delivered) == 2 and result.attempts == 2


def test_persistent_5xx_fails_the_batch_after_max_attempts(
    sandbox: AzureSandbox, make_uploader: UploaderFactory
) -> None:
    sandbox.sentinel.faults.statuses = [500] * 10
    objects = batch(0, 7)
    result = make_uploader(sandbox, max_attempts=3).send(objects)
    assert result.failed == ids(objects)
    assert result.delivered == () and result.rejected == ()
    assert result.attempts == 3
    assert result.error is not None and "3 attempts" in result.error and "500" in result.error
    assert len(upload_bodies(sandbox)) == 3
    assert stored_ids(sandbox) == set()


def test_one_401_renews_the_token_and_delivers(sandbox: AzureSandbox, make_uploader: UploaderFactory) -> None:
    uploader = make_uploader(sandbox)
    uploader.send(batch(0, 1))
    sandbox.entra.expire_all()
    result = uploader.send(batch(1, 4))
    assert len(result.delivered) == 4 and result.attempts == 2
    assert uploader.stats.token_refreshes == 1
    assert [r.status for r in sandbox.sentinel.upload_requests] == [200, 401, 200]
    assert len(sandbox.entra.issued) == 2


def test_a_token_refused_twice_stops_the_workspace(
    sandbox: AzureSandbox, make_uploader: UploaderFactory
) -> None:
    # A token for another API: the upload API answers 401 whatever the client does.
    uploader = make_uploader(sandbox, scope="https://vault.azure.net/.default")
    with pytest.raises(WorkspaceRefused) as caught:
        uploader.send(batch(0, 2))
    assert caught.value.status == 401
    assert "management.azure.com/.default" in str(caught.value)
    assert len(upload_bodies(sandbox)) == 2


def test_403_names_the_missing_role_and_stops_the_workspace(
    sandbox: AzureSandbox, make_uploader: UploaderFactory
) -> None:
    sandbox.add_workspace(OTHER_WORKSPACE, "no-role-ws", contributor=False)
    uploader = make_uploader(sandbox, workspace_id=OTHER_WORKSPACE)
    with pytest.raises(WorkspaceRefused) as caught:
        uploader.send(batch(0, 2))
    assert caught.value.status == 403
    assert "Microsoft Sentinel Contributor" in str(caught.value)
    assert sandbox.client_secret not in str(caught.value)
    sent = len(upload_bodies(sandbox))
    with pytest.raises(WorkspaceRefused):
        uploader.send(batch(2, 2))
    assert len(upload_bodies(sandbox)) == sent  # a stopped workspace sends nothing more


def test_a_401_carrying_unauthorized_access_names_the_role_not_the_token(
    azure_factory: AzureFactory, clock: FakeClock, make_uploader: UploaderFactory
) -> None:
    """Finding 9: a missing role that comes back as 401 UnauthorizedAccess got the token advice."""
    azure = azure_factory(clock=clock, role_missing_status=401)
    azure.add_workspace(OTHER_WORKSPACE, "no-role-ws", contributor=False)
    with pytest.raises(WorkspaceRefused) as caught:
        make_uploader(azure, workspace_id=OTHER_WORKSPACE).send(batch(0, 2))
    assert caught.value.status == 401
    assert "lacks the Microsoft Sentinel Contributor role" in str(caught.value)
    assert "access token" not in str(caught.value)


def test_404_names_workspace_id(sandbox: AzureSandbox, make_uploader: UploaderFactory) -> None:
    with pytest.raises(WorkspaceRefused) as caught:
        make_uploader(sandbox, workspace_id=OTHER_WORKSPACE).send(batch(0, 2))
    assert caught.value.status == 404
    assert "workspace_id" in str(caught.value)


def test_an_untrusted_upload_certificate_stops_the_workspace_at_once(
    sandbox: AzureSandbox, make_uploader: UploaderFactory, fake_sleep: FakeSleep
) -> None:
    """A CA problem does not fix itself: one attempt, no back-off, and a sentence naming ms_ca_bundle."""
    import certifi

    uploader = make_uploader(sandbox, verify=certifi.where())  # the token still comes from the right CA
    with pytest.raises(WorkspaceRefused) as caught:
        uploader.send(batch(0, 2))
    host = sandbox.upload_base_url.removeprefix("https://")
    text = str(caught.value)
    assert text.startswith(
        f"Uploads to workspace ws-test stopped: the TLS certificate of {host} is not trusted ("
    )
    assert text.endswith("); set ms_ca_bundle to the CA bundle that signs it")  # (OpenSSL's reason)
    assert uploader.stats.requests == 1
    assert upload_bodies(sandbox) == []


def test_entra_refusing_the_secret_stops_the_workspace(
    sandbox: AzureSandbox, make_uploader: UploaderFactory
) -> None:
    sandbox.entra.add_client(sandbox.tenant, sandbox.client_id, "a-different-secret")
    with pytest.raises(WorkspaceRefused) as caught:
        make_uploader(sandbox).send(batch(0, 2))
    assert "AADSTS7000215" in str(caught.value)
    assert sandbox.client_secret not in str(caught.value)
    assert upload_bodies(sandbox) == []


def test_the_legacy_api_gets_the_objects_under_value(
    sandbox: AzureSandbox, make_uploader: UploaderFactory
) -> None:
    objects = batch(0, 3)
    result = make_uploader(sandbox, legacy=True).send(objects)
    assert result.delivered == ids(objects)
    legacy = [r for r in sandbox.sentinel.requests if r.path.endswith("threatintelligence:upload-indicators")]
    assert len(legacy) == 1
    assert legacy[0].arg("api-version") == "2022-07-01"
    assert legacy[0].json() == {"sourcesystem": "MISP", "value": objects}
    assert {s.via for s in sandbox.sentinel.stored(sandbox.workspace_id).values()} == {"legacy"}


def test_sentinel_write_response_logs_replies_without_the_token(
    sandbox: AzureSandbox, make_uploader: UploaderFactory, tmp_path: Path
) -> None:
    path = tmp_path / "responses.jsonl"
    uploader = make_uploader(sandbox, response_log=path)
    objects = batch(0, 3)
    objects[2] = indicator(2, id=None)
    sandbox.sentinel.faults.statuses = [500]
    uploader.send(objects)
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [line["status"] for line in lines] == [500, 200]
    assert all(line["workspace"] == "ws-test" for line in lines)
    assert json.loads(lines[1]["body"])["errors"][0]["recordIndex"] == 2
    text = path.read_text(encoding="utf-8")
    token = uploader.sender.tokens.token()  # the token the uploader used (msal caches it)
    assert token not in text and "Bearer" not in text
    assert sandbox.client_secret not in text


# -- many batches in parallel -----------------------------------------------------------------------


def test_upload_all_with_workers_delivers_each_object_once_within_the_rate_window(
    azure_factory: AzureFactory,
) -> None:
    # Real time, scaled down: 8 requests per 0.6 s, 40 ms of latency, 4 workers, 32 batches (4 windows).
    # The margin (0.2 s) absorbs arrival jitter on a loaded 2-core CI machine, as the product's does.
    azure = azure_factory(max_requests=8, window_seconds=0.6)
    azure.sentinel.faults.latency = 0.04
    azure.sentinel.faults.only = r":upload\Z"
    tokens = TokenProvider(
        tenant=azure.tenant,
        client_id=azure.client_id,
        client_secret=azure.client_secret,
        authority_host=azure.authority_host,
        verify=str(azure.ca_path),
    )
    sender = AzureSender(
        tokens=tokens,
        limiter=SlidingWindow(8, 0.6, margin=0.2),
        user_agent="MISP-1.0",
        verify=str(azure.ca_path),
        timeout=5.0,
    )
    uploader = SentinelUploader(
        sender=sender,
        url=upload_url(azure.upload_base_url, azure.workspace_id, "2024-02-01-preview", legacy=False),
        label="ws-parallel",
        sourcesystem="MISP",
    )
    batches = [batch(n * 25, 25) for n in range(32)]
    started = time.monotonic()
    results = list(uploader.upload_all(batches, workers=4))
    elapsed = time.monotonic() - started
    delivered = [i for r in results for i in r.delivered]
    assert sorted(delivered) == sorted(i for b in batches for i in ids(b))
    assert len(delivered) == len(set(delivered)) == 800
    assert all(not r.failed and not r.rejected for r in results)
    ok = [r for r in azure.sentinel.upload_requests if r.status == 200]
    assert sum(r.n_objects for r in ok) == 800  # each object sent exactly once
    assert len(stored_ids(azure)) == 800
    # The sandbox checks its window on arrival: no violation means no request over the limit. (Its
    # max_in_window() counts completion times, which jitter with validation work, so it is not used.)
    assert azure.sentinel.rate_violations == []
    assert all(r.status == 200 for r in azure.sentinel.upload_requests)
    # Unpaced, 32 requests on 4 workers take ~0.3 s; paced, 32 = 4 windows need at least 3 full ones.
    assert elapsed >= 3 * 0.6


def test_upload_all_returns_unsent_batches_as_failed_when_the_workspace_is_refused(
    sandbox: AzureSandbox, make_uploader: UploaderFactory
) -> None:
    sandbox.add_workspace(OTHER_WORKSPACE, "no-role-ws", contributor=False)
    uploader = make_uploader(sandbox, workspace_id=OTHER_WORKSPACE)
    batches = [batch(n * 10, 10) for n in range(6)]
    results: list[BatchResult] = []
    with pytest.raises(WorkspaceRefused) as caught:
        for result in uploader.upload_all(batches, workers=2):
            results.append(result)
    assert caught.value.status == 403
    failed = [i for r in results for i in r.failed]
    assert sorted(failed) == sorted(i for b in batches for i in ids(b))
    assert all(r.delivered == () and r.error for r in results)
    assert len(upload_bodies(sandbox)) < len(batches)  # the rest were never sent


# -- Retry-After parsing ----------------------------------------------------------------------------


def reply(status: int, headers: dict[str, str], body: str) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.headers.update(headers)
    response._content = body.encode()
    return response


@pytest.mark.parametrize(
    ("headers", "body", "now", "expected"),
    [
        pytest.param({"Retry-After": "12"}, "", None, 12.0, id="header-seconds"),
        pytest.param({"Retry-After": "0.4"}, "", None, 0.4, id="header-fraction"),
        pytest.param(
            {"Retry-After": "Wed, 21 Oct 2015 07:28:30 GMT"}, "", 1445412480.0, 30.0, id="header-http-date"
        ),
        pytest.param(
            {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, "", 1445412500.0, 0.0, id="date-in-the-past"
        ),
        pytest.param(
            {},
            '{"statusCode": 429, "message": "Rate limit is exceeded. Try again in 7 seconds."}',
            None,
            7.0,
            id="message",
        ),
        pytest.param({"Retry-After": "3"}, "Try again in 9 seconds.", None, 3.0, id="header-wins"),
        pytest.param({}, '{"statusCode": 429}', None, None, id="nothing"),
    ],
)
def test_retry_after_seconds(
    headers: dict[str, str], body: str, now: float | None, expected: float | None
) -> None:
    assert retry_after_seconds(reply(429, headers, body), now=now) == expected


# -- what counts as delivered (finding 6) --------------------------------------------------------------


@pytest.mark.parametrize("fault", ["html", "truncated"])
def test_a_200_that_is_not_sentinels_answer_is_retried_and_never_delivered(
    sandbox: AzureSandbox, make_uploader: UploaderFactory, fake_sleep: FakeSleep, fault: str
) -> None:
    """Finding 6: a proxy's HTML page or a reply cut short is no evidence anything was stored."""
    objects = batch(0, 3)
    setattr(sandbox.sentinel.faults, fault, 10)

    result = make_uploader(sandbox, max_attempts=3).send(objects)

    assert result.delivered == () and result.rejected == ()
    assert result.failed == ids(objects)
    assert result.error is not None and "a 200 reply" in result.error
    assert result.attempts == 3 and len(fake_sleep.calls) == 2  # back-off between attempts

    setattr(sandbox.sentinel.faults, fault, 1)  # once, then Sentinel's own answer
    again = make_uploader(sandbox, max_attempts=3).send(objects)
    assert again.delivered == ids(objects) and again.attempts == 2
    assert stored_ids(sandbox) == set(ids(objects))


@pytest.mark.parametrize(
    "body",
    [
        "{}",
        '{"errors": "none"}',
        '{"errors": [{"recordIndex": "1"}]}',
        '[{"recordIndex": 0}]',
        "<html>ok</html>",
    ],
)
def test_only_an_empty_body_or_an_errors_list_is_sentinels_200(body: str) -> None:
    from misp_bridge.azure.upload import reply_problem

    response = requests.Response()
    response.status_code = 200
    response._content = body.encode()
    assert reply_problem(response) is not None
    response._content = b""
    assert reply_problem(response) is None
    response._content = b'{"errors": [{"recordIndex": 3, "errorMessages": ["bad"]}]}'
    assert reply_problem(response) is None


def test_a_400_with_per_object_errors_keeps_each_objects_messages(
    sandbox: AzureSandbox, make_uploader: UploaderFactory
) -> None:
    """Finding 6: when every object is invalid Sentinel may answer 400 with the per-object list."""
    objects = [indicator(0, pattern=None), indicator(1, confidence=101)]

    result = make_uploader(sandbox).send(objects)

    assert [(r.index, r.stix_id) for r in result.rejected] == [(0, objects[0]["id"]), (1, objects[1]["id"])]
    # Each object gets its own messages, not the whole reply body.
    first, second = (" ".join(r.messages) for r in result.rejected)
    assert first.startswith("Error for Property=pattern") and "confidence" not in first
    assert second.startswith("Error for Property=confidence") and "pattern" not in second
    assert result.delivered == () and result.failed == ()
