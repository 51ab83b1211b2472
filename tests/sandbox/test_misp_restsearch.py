"""The MISP sandbox's restSearch beyond the filters (docs/contracts.md 2): what MISP 2.5.1 ignores, its
per-role rate limit, and the time it takes to build a page. PyMISP is the client, as for the product."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pymisp
import pytest
import requests

from tests.fakes import FakeClock
from tests.fixtures.misp import MispSandbox, make_pymisp


def _search(sandbox: MispSandbox, controller: str = "events", **body: Any) -> requests.Response:
    return requests.post(
        f"{sandbox.url}/{controller}/restSearch",
        json=body,
        headers={"Authorization": sandbox.key, "Accept": "application/json"},
        verify=str(sandbox.ca_path),
        timeout=10,
    )


@pytest.fixture
def three(misp: MispSandbox) -> MispSandbox:
    misp.app.bulk_seed(3, 2)
    return misp


@pytest.mark.parametrize(
    "ignored",
    [
        {"excludeDecayed": 1},
        {"first_seen": "2099-01-01"},
        {"last_seen": "2099-01-01"},
        {"attribute_timestamp": "2099-01-01"},
        {"includeSightings": 1},
        {"includeEventTags": 1},
        {"quickFilter": "nomatch"},
        {"object_name": "nomatch"},
        {"foo": "bar"},
    ],
)
def test_events_restsearch_drops_filters_it_does_not_know(
    three: MispSandbox, ignored: dict[str, Any]
) -> None:
    """RestSearchComponent::$paramArray is a whitelist: anything else is dropped without a word."""
    plain = _search(three, limit=10)
    filtered = _search(three, limit=10, **ignored)
    assert filtered.status_code == plain.status_code == 200
    assert filtered.json() == plain.json() and len(plain.json()["response"]) == 3


def test_a_known_filter_still_filters(three: MispSandbox) -> None:
    assert _search(three, timestamp=4102444800, limit=10).json()["response"] == []  # 2100
    assert _search(three, "attributes", first_seen="2099-01-01", limit=10).status_code == 200


def test_the_rate_limit_answers_429_with_seconds_to_reset(misp_factory: Callable[..., MispSandbox]) -> None:
    clock = FakeClock()
    sandbox = misp_factory(clock=clock)
    sandbox.app.restsearch.rate_limit = 2
    first = _search(sandbox)
    assert first.headers["X-Rate-Limit-Limit"] == "2"
    assert first.headers["X-Rate-Limit-Remaining"] == "1"
    assert first.headers["X-Rate-Limit-Reset"] == "900"
    clock.advance(100)
    assert _search(sandbox).headers["X-Rate-Limit-Remaining"] == "0"
    clock.advance(50)
    refused = _search(sandbox, "attributes")
    assert refused.status_code == 429
    assert refused.json() == {
        "name": "Rate limit exceeded.",
        "message": "Rate limit exceeded.",
        "url": "/attributes/restSearch",
    }
    assert refused.headers["X-Rate-Limit-Reset"] == "750"  # seconds left in the fixed window
    clock.advance(750)
    assert _search(sandbox).status_code == 200


def test_pymisp_returns_the_429_as_an_error_dict(misp_factory: Callable[..., MispSandbox]) -> None:
    sandbox = misp_factory(clock=FakeClock())
    client = make_pymisp(sandbox)
    sandbox.app.restsearch.rate_limit = 0
    reply = client.search(controller="events", limit=1, page=1)
    assert reply == {
        "errors": (
            429,
            {"name": "Rate limit exceeded.", "message": "Rate limit exceeded.", "url": "/events/restSearch"},
        )
    }
    assert isinstance(client, pymisp.PyMISP)


def test_a_page_takes_longer_the_more_it_holds(misp: MispSandbox) -> None:
    misp.app.bulk_seed(6, 1)
    misp.app.restsearch.seconds_per_item = 0.05
    started = time.monotonic()
    assert len(_search(misp, limit=6, page=1).json()["response"]) == 6
    six = time.monotonic() - started
    started = time.monotonic()
    assert len(_search(misp, limit=1, page=1).json()["response"]) == 1
    one = time.monotonic() - started
    assert six >= 0.3 and one < six
