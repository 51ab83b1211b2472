"""MispSource against the MISP sandbox, with PyMISP as the real client over HTTPS."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import certifi
import pytest

from misp_bridge.errors import MispError, MispTimeout, MispUnavailable
from misp_bridge.sync.misp_source import MispSource, smaller_page
from tests.fakes import FakeClock, FakeSleep
from tests.fixtures.misp import MispSandbox

NOW = 1_700_000_000
DAY = 86_400


def source(misp: MispSandbox, **over: Any) -> MispSource:
    settings: dict[str, Any] = {
        "url": misp.url,
        "key": misp.key,
        "verify": str(misp.ca_path),
        "timeout": 5.0,
        "page_size": 500,
    }
    settings.update(over)
    return MispSource(**settings)


def event(n: int, *, published: bool = True, age: int = 100, tags: tuple[str, ...] = ()) -> dict[str, Any]:
    """A small seedable event with one to_ids and one non-to_ids attribute."""
    stamp = str(NOW - age)
    return {
        "id": str(n),
        "uuid": f"00000000-0000-4000-8000-{n:012d}",
        "info": f"event {n}",
        "published": published,
        "timestamp": stamp,
        "publish_timestamp": stamp if published else "0",
        "Tag": [{"name": t} for t in tags],
        "Attribute": [
            {
                "uuid": f"10000000-0000-4000-8000-{n:012d}",
                "type": "ip-dst",
                "category": "Network activity",
                "value": f"203.0.113.{n}",
                "to_ids": True,
                "timestamp": stamp,
            },
            {
                "uuid": f"20000000-0000-4000-8000-{n:012d}",
                "type": "comment",
                "category": "Other",
                "value": f"note {n}",
                "to_ids": False,
                "timestamp": stamp,
            },
        ],
    }


@pytest.fixture
def frozen(misp_factory: Callable[..., MispSandbox]) -> MispSandbox:
    """A MISP whose clock stands at NOW, so relative time filters are exact."""
    return misp_factory(clock=lambda: float(NOW))


def searches(misp: MispSandbox, controller: str) -> list[dict[str, Any]]:
    bodies = [r.json() for r in misp.app.requests if r.path == f"/{controller}/restSearch"]
    return [b.get("request", b) for b in bodies]


# -- connecting -----------------------------------------------------------------------------------------


def test_connect_reads_the_version(misp: MispSandbox) -> None:
    misp_source = source(misp)
    client = misp_source.connect()
    assert misp_source.connect() is client  # one client, built once
    assert misp_source.version == misp.app.version


def test_a_bad_key_is_a_misp_error_naming_misp_key(misp: MispSandbox) -> None:
    secret = "wrong-key-0123456789abcdef0123456789abcdef"
    with pytest.raises(MispError) as caught:
        source(misp, key=secret).connect()
    assert not isinstance(caught.value, MispUnavailable)
    assert "misp_key" in str(caught.value)
    assert secret not in str(caught.value)
    assert misp.key not in str(caught.value)


def test_misp_down_is_misp_unavailable(misp: MispSandbox) -> None:
    misp.app.faults.down = True
    with pytest.raises(MispUnavailable) as caught:
        source(misp).connect()
    assert misp.url in str(caught.value)


def test_nothing_listening_is_misp_unavailable(misp: MispSandbox) -> None:
    with pytest.raises(MispUnavailable):
        source(misp, url="https://127.0.0.1:9").connect()


def test_an_html_reply_is_a_misp_error_pointing_at_misp_domain(misp: MispSandbox) -> None:
    misp.app.faults.html = 5
    with pytest.raises(MispError) as caught:
        source(misp).connect()
    assert not isinstance(caught.value, MispUnavailable)
    assert "misp_domain" in str(caught.value)


def test_an_untrusted_certificate_names_misp_verifycert(misp: MispSandbox) -> None:
    # Public CAs only: the sandbox's own CA is not in this bundle.
    with pytest.raises(MispError) as caught:
        source(misp, verify=certifi.where()).connect()
    assert not isinstance(caught.value, MispUnavailable)
    assert "misp_verifycert" in str(caught.value)


# -- events ---------------------------------------------------------------------------------------------


def test_events_page_in_id_order_and_stop_on_the_empty_page(misp: MispSandbox) -> None:
    for n in (5, 2, 7, 1, 3, 6, 4):  # stored out of order on purpose
        misp.app.seed_event(event(n))
    got = list(source(misp, page_size=3).events({}))
    assert [e["id"] for e in got] == [str(n) for n in range(1, 8)]
    assert all("Attribute" in e and "Event" not in e for e in got)
    pages = searches(misp, "events")
    assert [(p["page"], p["limit"]) for p in pages] == [(1, 3), (2, 3), (3, 3), (4, 3)]
    assert {p["order"] for p in pages} == {"Event.id"}


def test_events_are_a_generator_one_page_at_a_time(misp: MispSandbox) -> None:
    for n in range(1, 6):
        misp.app.seed_event(event(n))
    pager = source(misp, page_size=2).events({})
    assert next(pager)["id"] == "1"
    assert len(searches(misp, "events")) == 1  # nothing fetched ahead of need


def test_an_exact_multiple_of_the_page_size_still_ends(misp: MispSandbox) -> None:
    for n in range(1, 5):
        misp.app.seed_event(event(n))
    assert len(list(source(misp, page_size=2).events({}))) == 4
    assert len(searches(misp, "events")) == 3


def test_filters_reach_misp_and_select_events(frozen: MispSandbox) -> None:
    frozen.app.seed_event(event(1, tags=("tlp:green",)))
    frozen.app.seed_event(event(2, tags=("tlp:green",), published=False))
    frozen.app.seed_event(event(3, tags=("tlp:red",)))
    frozen.app.seed_event(event(4, tags=("tlp:green",), age=30 * DAY))
    filters = {"published": True, "tags": ["tlp:green"], "publish_timestamp": "14d"}
    got = list(source(frozen, page_size=10).events(filters))
    assert [e["id"] for e in got] == ["1"]
    sent = searches(frozen, "events")[0]
    assert sent["published"] in (True, 1, "1", "true")
    assert sent["tags"] == ["tlp:green"]
    assert sent["publish_timestamp"] == "14d"


def test_the_uuid_path_ignores_time_windows_but_keeps_other_filters(frozen: MispSandbox) -> None:
    frozen.app.seed_event(event(1, age=400 * DAY))
    frozen.app.seed_event(event(2))
    wanted = "00000000-0000-4000-8000-000000000001"
    filters = {"published": True, "publish_timestamp": "14d", "timestamp": "14d", "last": "14d"}
    got = list(source(frozen).events(filters, uuid=wanted))
    assert [e["uuid"] for e in got] == [wanted]
    sent = searches(frozen, "events")[0]
    assert sent["uuid"] == wanted
    assert sent["published"] in (True, 1, "1", "true")
    assert not {"publish_timestamp", "timestamp", "last"} & set(sent)


def test_count_events_counts_every_page(misp: MispSandbox) -> None:
    misp.app.bulk_seed(7, 1)
    assert source(misp, page_size=3).count_events({"published": True}) == 7
    assert all(s.get("metadata") for s in searches(misp, "events"))


# -- attributes -----------------------------------------------------------------------------------------


def test_attributes_page_with_to_ids_and_timestamp(frozen: MispSandbox) -> None:
    for n in range(1, 6):
        frozen.app.seed_event(event(n, age=100 if n != 3 else 30 * DAY))
    rows = list(source(frozen, page_size=2).attributes(to_ids=0, timestamp="14d"))
    assert [r["value"] for r in rows] == ["note 1", "note 2", "note 4", "note 5"]
    assert all(r["to_ids"] is False for r in rows)
    pages = searches(frozen, "attributes")
    assert [p["page"] for p in pages] == [1, 2, 3]
    assert {(p["to_ids"], p["timestamp"], p["order"]) for p in pages} == {(0, "14d", "Attribute.id")}


def test_attributes_in_bulk_come_back_once_each(misp: MispSandbox) -> None:
    misp.app.bulk_seed(10, 25, to_ids_ratio=0.5)
    rows = list(source(misp, page_size=40).attributes(to_ids=0))
    assert len(rows) == 125
    assert len({r["uuid"] for r in rows}) == 125
    assert [int(r["id"]) for r in rows] == sorted(int(r["id"]) for r in rows)


# -- error replies after connecting ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error", "words"),
    [
        pytest.param(400, MispError, "HTTP 400", id="400-dict"),
        pytest.param(403, MispError, "misp_key", id="403-dict"),
        pytest.param(404, MispError, "HTTP 404", id="404-dict"),
        pytest.param(500, MispUnavailable, "server error", id="500"),
        pytest.param(503, MispUnavailable, "server error", id="503"),
    ],
)
def test_error_replies_to_a_search_raise_instead_of_returning_a_dict(
    misp: MispSandbox, status: int, error: type[MispError], words: str
) -> None:
    misp.app.seed_event(event(1))
    misp_source = source(misp)
    misp_source.connect()
    misp.app.faults.statuses = [status]
    with pytest.raises(error) as caught:
        list(misp_source.events({}))
    assert words in str(caught.value)
    assert misp.key not in str(caught.value)
    if error is MispError:
        assert not isinstance(caught.value, MispUnavailable)


def test_an_attribute_search_error_raises(misp: MispSandbox) -> None:
    misp_source = source(misp)
    misp_source.connect()
    misp.app.faults.statuses = [403]
    with pytest.raises(MispError, match="misp_key"):
        list(misp_source.attributes(to_ids=0))


def test_misp_going_down_mid_paging_is_misp_unavailable(misp: MispSandbox) -> None:
    for n in range(1, 5):
        misp.app.seed_event(event(n))
    pager = source(misp, page_size=2).events({})
    assert [next(pager)["id"], next(pager)["id"]] == ["1", "2"]
    misp.app.faults.down = True
    with pytest.raises(MispUnavailable):
        next(pager)


# -- finding 10: rate limit, page-building time ---------------------------------------------------------


def test_a_rate_limited_search_waits_the_reset_and_asks_again(
    misp_factory: Callable[..., MispSandbox], caplog: pytest.LogCaptureFixture
) -> None:
    """MISP's per-role limit answers 429 with X-Rate-Limit-Reset (seconds); that used to be a fatal
    MispRejected (exit 3) at once."""
    clock = FakeClock(NOW)
    misp = misp_factory(clock=clock)
    for n in range(1, 6):
        misp.app.seed_event(event(n))
    misp.app.restsearch.rate_limit = 2
    sleep = FakeSleep(clock)

    got = [e["uuid"] for e in source(misp, page_size=2, sleep=sleep).events({})]

    assert got == [event(n)["uuid"] for n in range(1, 6)]
    assert sleep.calls == [900.0]  # the whole window: the first two pages used it up at once
    assert misp.app.restsearch.throttled == 1
    assert "rate limit reached" in caplog.text and "waiting 900 s" in caplog.text


def test_a_rate_limit_that_persists_is_misp_unavailable(misp_factory: Callable[..., MispSandbox]) -> None:
    clock = FakeClock(NOW)
    misp = misp_factory(clock=clock)
    misp.app.seed_event(event(1))
    misp.app.restsearch.rate_limit = 0  # a role with searches over its limit for good
    sleep = FakeSleep(clock)
    with pytest.raises(
        MispUnavailable, match=r"kept refusing the events search \(page 1\) with 429"
    ) as caught:
        list(source(misp, sleep=sleep).events({}))
    assert "\n" not in str(caught.value)
    assert len(sleep.calls) == 2  # three attempts in all


def test_a_page_too_slow_to_build_is_asked_again_at_half_the_size(
    misp: MispSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    """MISP builds a whole page before its first byte: 500 events a page timed out on a big instance."""
    for n in range(1, 13):
        misp.app.seed_event(event(n))
    misp.app.restsearch.seconds_per_item = 0.12  # 8 events take ~1 s: more than the timeout below
    feed = source(misp, page_size=8, timeout=0.7)

    got = [e["uuid"] for e in feed.events({})]

    assert got == [event(n)["uuid"] for n in range(1, 13)]
    assert feed.page_size <= 4
    sizes = [(b["limit"], b["page"]) for b in searches(misp, "events")]
    assert sizes[0] == (8, 1) and sizes[1][0] <= 4
    assert "asking for pages of 4 from now on" in caplog.text


@pytest.mark.parametrize(
    ("size", "offset", "expected"), [(8, 0, 4), (8, 16, 4), (5, 10, 2), (3, 6, 1), (6, 18, 3), (1, 7, 1)]
)
def test_a_smaller_page_still_starts_where_the_last_one_ended(size: int, offset: int, expected: int) -> None:
    assert smaller_page(size, offset) == expected
    assert offset % expected == 0


def test_a_timeout_at_one_event_a_page_stops_the_run(misp: MispSandbox) -> None:
    misp.app.seed_event(event(1))
    misp.app.restsearch.seconds_per_item = 1.0
    with pytest.raises(MispTimeout):
        list(source(misp, page_size=2, timeout=0.3).events({}))
