"""The MISP sandbox pinned to docs/contracts.md section 2, with PyMISP itself as the client."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pymisp
import pytest
import requests
from pymisp.exceptions import PyMISPUnexpectedResponse

from sandbox.http import Server
from sandbox.misp.app import MispApp
from sandbox.tls import SandboxCA
from tests.conftest import MISP_EVENTS
from tests.fixtures.misp import MISP_KEY, MispSandbox, make_pymisp

NOW = 1_700_000_000
SHARED_EVENTS = sorted(MISP_EVENTS.glob("*.json"))
AUTH_FAILED = (
    "Authentication failed. Please make sure you pass the API key of an API enabled user along in the "
    "Authorization header."
)


def _event(uuid_tail: str, **fields: Any) -> dict[str, Any]:
    """A small seedable event; attributes given as (type, category, value, to_ids) tuples."""
    attributes = fields.pop("attributes", [("ip-dst", "Network activity", f"10.0.0.{int(uuid_tail)}", True)])
    return {
        "uuid": f"00000000-0000-4000-8000-{int(uuid_tail):012d}",
        "info": f"event {uuid_tail}",
        "published": True,
        "timestamp": str(NOW - 100),
        "publish_timestamp": str(NOW - 100),
        "Attribute": [
            {
                "type": t,
                "category": c,
                "value": v,
                "to_ids": ids,
                "uuid": f"10000000-0000-4000-8000-{i:04d}{uuid_tail:0>8}",
            }
            for i, (t, c, v, ids) in enumerate(attributes)
        ],
        **fields,
    }


@pytest.fixture
def frozen(misp_factory: Callable[..., MispSandbox]) -> MispSandbox:
    """A sandbox whose clock stands at NOW, so relative time filters are exact."""
    return misp_factory(clock=lambda: float(NOW))


def _ids(events: Any) -> list[str]:
    assert isinstance(events, list), events
    return [e["Event"]["id"] for e in events]


# --- connection -----------------------------------------------------------------------------------


def test_constructor_makes_the_three_calls_with_the_raw_key(misp: MispSandbox) -> None:
    client = make_pymisp(misp)
    paths = [r.path for r in misp.app.requests]
    assert paths == ["/servers/getVersion", "/users/view/me", "/attributes/describeTypes.json"]
    assert {r.header("Authorization") for r in misp.app.requests} == {misp.key}
    assert misp.app.requests[0].header("User-Agent").startswith("PyMISP ")
    assert client.describe_types["category_type_mappings"]["Network activity"]
    assert "ip-dst" in client.types


def test_role_carries_the_permissions(misp_factory: Callable[..., MispSandbox]) -> None:
    sandbox = misp_factory(perm_tag_editor=False, perm_sighting=False)
    me = make_pymisp(sandbox).get_user("me")
    assert isinstance(me, dict)
    assert me["Role"]["perm_tag_editor"] is False
    assert me["Role"]["perm_sighting"] is False


def test_bad_key_makes_the_constructor_raise(misp: MispSandbox) -> None:
    with pytest.raises(pymisp.PyMISPError, match="Authentication failed"):
        pymisp.PyMISP(misp.url, "wrong-key", ssl=str(misp.ca_path), timeout=5)


def test_bad_key_reply_shape(misp: MispSandbox) -> None:
    reply = requests.get(f"{misp.url}/users/view/me", headers={"Authorization": "nope"}, timeout=5)
    assert reply.status_code == 403
    assert reply.json() == {"name": AUTH_FAILED, "message": AUTH_FAILED, "url": "/users/view/me"}


# --- searching ------------------------------------------------------------------------------------


def test_event_paging_is_stable_and_ends_with_an_empty_page(misp: MispSandbox) -> None:
    for n in range(1, 8):
        misp.app.seed_event(_event(str(n)))
    client = make_pymisp(misp)
    pages = [_ids(client.search(controller="events", limit=3, page=p)) for p in (1, 2, 3, 4)]
    assert [len(p) for p in pages] == [3, 3, 1, 0]
    assert [i for p in pages for i in p] == [str(i) for i in range(1, 8)]
    reversed_page = _ids(client.search(controller="events", limit=2, page=1, order="Event.id desc"))
    assert reversed_page == ["7", "6"]


def test_event_search_reports_the_total(misp: MispSandbox) -> None:
    for n in range(1, 6):
        misp.app.seed_event(_event(str(n)))
    reply = requests.post(
        f"{misp.url}/events/restSearch",
        headers={"Authorization": misp.key, "Accept": "application/json"},
        json={"limit": 2, "page": 1},
        timeout=5,
    )
    assert reply.headers["X-Result-Count"] == "5"
    assert len(reply.json()["response"]) == 2


def test_short_attribute_page_is_not_the_last(misp: MispSandbox) -> None:
    values = ["8.8.8.8", "10.1.1.1", "1.1.1.1", "10.1.1.2", "10.1.1.3"]
    misp.app.seed_event(_event("1", attributes=[("ip-dst", "Network activity", v, True) for v in values]))
    client = make_pymisp(misp)
    pages = []
    for page in range(1, 10):
        got = client.search(controller="attributes", limit=2, page=page, enforceWarninglist=True)
        assert isinstance(got, dict)
        if not got["Attribute"]:
            break
        pages.append([a["value"] for a in got["Attribute"]])
    assert pages == [["10.1.1.1"], ["10.1.1.2"], ["10.1.1.3"]]
    unfiltered = client.search(controller="attributes", limit=2, page=1)
    assert [a["value"] for a in unfiltered["Attribute"]] == ["8.8.8.8", "10.1.1.1"]


@pytest.fixture(scope="module")
def tagged(sandbox_ca: SandboxCA) -> Iterator[MispSandbox]:
    """Four events with distinct publish times, tags and attributes; shared read-only by a module."""
    app = MispApp(MISP_KEY, clock=lambda: float(NOW))
    app.seed_event(_event("1", Tag=[{"name": "tlp:green"}], publish_timestamp=str(NOW - 10 * 86400)))
    app.seed_event(_event("2", Tag=[{"name": "tlp:red"}], publish_timestamp=str(NOW - 13 * 3600)))
    app.seed_event(
        _event(
            "3",
            published=False,
            publish_timestamp="0",
            timestamp=str(NOW - 40 * 60),
            attributes=[
                ("domain", "Network activity", "evil.example", False),
                ("sha256", "Payload delivery", "a" * 64, True),
            ],
        )
    )
    event4 = _event("4", publish_timestamp=str(NOW - 50))
    event4["Attribute"][0]["Tag"] = [{"name": "kill-chain:Delivery"}]
    app.seed_event(event4)
    with Server(app, sandbox_ca) as server:
        yield MispSandbox(server.url, MISP_KEY, app, sandbox_ca.ca_path)


@pytest.fixture(scope="module")
def tagged_client(tagged: MispSandbox) -> pymisp.PyMISP:
    return make_pymisp(tagged)


FILTERS = [
    ("published-true", {"published": True}, ["1", "2", "4"]),
    ("published-false", {"published": False}, ["3"]),
    ("tags-or", {"tags": ["tlp:green", "tlp:red"]}, ["1", "2"]),
    ("tags-attribute-level", {"tags": ["kill-chain:Delivery"]}, ["4"]),
    ("tags-negated", {"tags": ["!tlp:red"]}, ["1", "3", "4"]),
    ("tags-unknown-only", {"tags": ["no:such-tag"]}, []),
    ("tags-one-unknown", {"tags": ["no:such-tag", "tlp:red"]}, ["2"]),
    ("publish-14d", {"publish_timestamp": "14d"}, ["1", "2", "4"]),
    ("publish-12h", {"publish_timestamp": "12h"}, ["4"]),
    ("publish-30m", {"publish_timestamp": "30m"}, ["4"]),
    ("publish-45s", {"publish_timestamp": "45s"}, []),
    ("publish-epoch", {"publish_timestamp": NOW - 14 * 3600}, ["2", "4"]),
    ("publish-range", {"publish_timestamp": (NOW - 11 * 86400, NOW - 3600)}, ["1", "2"]),
    ("timestamp-range", {"timestamp": (NOW - 3600, NOW - 1000)}, ["3"]),
    ("timestamp-5m", {"timestamp": "5m"}, ["1", "2", "4"]),
    ("to_ids-0", {"to_ids": 0}, ["3"]),
    ("type", {"type_attribute": "sha256"}, ["3"]),
    ("uuid", {"uuid": "00000000-0000-4000-8000-000000000002"}, ["2"]),
    ("eventid", {"eventid": [1, 4]}, ["1", "4"]),
]


@pytest.mark.parametrize(("filters", "expected"), [f[1:] for f in FILTERS], ids=[f[0] for f in FILTERS])
def test_event_filters(tagged_client: pymisp.PyMISP, filters: dict[str, Any], expected: list[str]) -> None:
    assert _ids(tagged_client.search(controller="events", **filters)) == expected


def test_attribute_filters_restrict_embedded_attributes(tagged_client: pymisp.PyMISP) -> None:
    client = tagged_client
    (event,) = client.search(controller="events", to_ids=1, eventid=3)
    assert [a["type"] for a in event["Event"]["Attribute"]] == ["sha256"]
    (event,) = client.search(controller="events", eventid=3, metadata=True)
    assert "Attribute" not in event["Event"]
    assert event["Event"]["info"] == "event 3"


def test_attribute_search_carries_event_summary_and_inherited_tags(tagged_client: pymisp.PyMISP) -> None:
    found = tagged_client.search(controller="attributes", eventid=1, includeEventTags=True)
    (attribute,) = found["Attribute"]
    assert attribute["Event"]["uuid"] == "00000000-0000-4000-8000-000000000001"
    assert {"id", "info", "orgc_id", "org_id", "distribution"} <= set(attribute["Event"])
    assert [(t["name"], t["inherited"]) for t in attribute["Tag"]] == [("tlp:green", True)]


def test_search_index_is_a_bare_metadata_list(tagged_client: pymisp.PyMISP) -> None:
    rows = tagged_client.search_index(published=True)
    assert isinstance(rows, list)
    assert [r["id"] for r in rows] == ["1", "2", "4"]
    assert all("Attribute" not in r and "Object" not in r for r in rows)


def test_object_attributes_are_flattened(misp: MispSandbox) -> None:
    misp.app.seed_file(MISP_EVENTS / "mainly_objects_1.json")
    found = make_pymisp(misp).search(controller="attributes")
    attributes = found["Attribute"]
    assert len(attributes) > 10
    assert all(a["object_id"] != "0" for a in attributes)


# --- writing --------------------------------------------------------------------------------------


def _new_event(uuid: str = "7b4d5b8a-1d6f-4c43-9d7c-2e2f4f0a0001") -> pymisp.MISPEvent:
    event = pymisp.MISPEvent()
    event.uuid = uuid
    event.info = "SSH brute force from 203.0.113.9"
    event.add_attribute("ip-src", "203.0.113.9", category="Network activity", to_ids=True)
    event.add_attribute("md5", "D41D8CD98F00B204E9800998ECF8427E")
    event.add_attribute("AS", "AS64500")
    event.add_tag("tlp:amber")
    return event


def test_add_event_keeps_the_uuid_and_normalises(misp: MispSandbox) -> None:
    client = make_pymisp(misp)
    reply = client.add_event(_new_event())
    assert isinstance(reply, dict)
    event = reply["Event"]
    assert event["uuid"] == "7b4d5b8a-1d6f-4c43-9d7c-2e2f4f0a0001"
    assert event["id"] == "1"
    assert event["Orgc"]["name"] == "SANDBOX"
    assert event["timestamp"].isdigit()
    assert [a["value"] for a in event["Attribute"]] == [
        "203.0.113.9",
        "d41d8cd98f00b204e9800998ecf8427e",
        "64500",
    ]
    assert event["Attribute"][0]["to_ids"] is True
    assert [t["name"] for t in event["Tag"]] == ["tlp:amber"]
    assert misp.app.event(event["uuid"]) is not None


def test_same_uuid_twice_is_refused_with_a_location(misp: MispSandbox) -> None:
    client = make_pymisp(misp)
    client.add_event(_new_event())
    again = client.add_event(_new_event())
    assert again["errors"][0] == 404
    assert again["errors"][1]["name"].startswith("Event already exists")
    raw = requests.post(
        f"{misp.url}/events/add",
        headers={"Authorization": misp.key},
        data=_new_event().to_json(),
        timeout=5,
    )
    assert (raw.status_code, raw.headers["Location"]) == (404, "/events/view/1")
    assert len(misp.app.events()) == 1


def test_an_invalid_attribute_is_dropped_silently_with_a_200(misp: MispSandbox) -> None:
    """Real MISP 2.5.1: events/add saves the event and drops attributes that fail validation (a category
    the type does not allow, a bad address), with a 200 and no trace in the reply."""
    event = pymisp.MISPEvent()
    event.info = "bad category"
    attribute = event.add_attribute("ip-dst", "198.51.100.1")
    attribute.category = "Artifacts dropped"  # PyMISP would quietly fix it; a raw client would not
    event.add_attribute("ip-dst", "999.1.1.1")
    event.add_attribute("ip-dst", "198.51.100.2")
    reply = make_pymisp(misp).add_event(event)
    assert "errors" not in reply
    assert [a["value"] for a in reply["Event"]["Attribute"]] == ["198.51.100.2"]
    assert [d["errors"] for d in misp.app.dropped] == [
        {"category": ["Options depend on the selected type."]},
        {"value": ["IP address has an invalid format."]},
    ]


def test_a_value_over_65535_bytes_is_dropped_silently(misp: MispSandbox) -> None:
    event = pymisp.MISPEvent()
    event.info = "long text"
    event.add_attribute("text", "\u00e9" * 32_768)  # 65,536 bytes in UTF-8
    event.add_attribute("text", "x" * 65_535)
    reply = make_pymisp(misp).add_event(event)
    assert [len(a["value"]) for a in reply["Event"]["Attribute"]] == [65_535]
    assert misp.app.dropped[0]["errors"]["value"][0].startswith("The entered string is too long")


def test_utf8mb3_a_4_byte_character_in_a_value_is_stored_as_a_question_mark(misp: MispSandbox) -> None:
    event = pymisp.MISPEvent()
    event.info = "emoji value"
    event.add_attribute("text", "val \U0001f600 end \u20ac\u4e2d")
    reply = make_pymisp(misp).add_event(event)
    assert [a["value"] for a in reply["Event"]["Attribute"]] == ["val ? end \u20ac\u4e2d"]


def test_utf8mb3_a_4_byte_character_in_info_is_a_500_and_nothing_is_saved(misp: MispSandbox) -> None:
    event = _new_event()
    event.info = "emoji info \U0001f600 end"
    with pytest.raises(pymisp.MISPServerError):
        make_pymisp(misp).add_event(event)
    assert misp.app.events() == []


def test_utf8mb3_a_4_byte_comment_is_a_500_that_leaves_the_event_without_it(misp: MispSandbox) -> None:
    event = _new_event()
    event.attributes[1].comment = "cmt \U0001f600 end"
    client = make_pymisp(misp)
    with pytest.raises(pymisp.MISPServerError):
        client.add_event(event)
    [stored] = misp.app.events()
    assert [a["value"] for a in stored["Attribute"]] == ["203.0.113.9"]
    again = client.add_event(event)  # a retry of the same uuid meets the partial event
    assert again["errors"][0] == 404


def test_a_deleted_event_is_blocklisted_until_an_admin_removes_the_entry(misp: MispSandbox) -> None:
    client = make_pymisp(misp)
    client.add_event(_new_event())
    deleted = client.delete_event("7b4d5b8a-1d6f-4c43-9d7c-2e2f4f0a0001")
    assert deleted["message"] == "Event deleted."
    again = client.add_event(_new_event())
    status, body = again["errors"]
    assert (status, body["message"]) == (403, "Event blocked by event blocklist.")
    removed = client.delete_event_blocklist("7b4d5b8a-1d6f-4c43-9d7c-2e2f4f0a0001")
    assert removed["message"] == "Blocklist entry removed"
    assert "Event" in client.add_event(_new_event())


@pytest.mark.parametrize(
    ("tag_editor", "expected"), [(True, ["tlp:amber"]), (False, [])], ids=["editor", "no-editor"]
)
def test_unknown_tags_at_creation(
    misp_factory: Callable[..., MispSandbox], tag_editor: bool, expected: list[str]
) -> None:
    sandbox = misp_factory(perm_tag_editor=tag_editor)
    reply = make_pymisp(sandbox).add_event(_new_event())
    assert [t["name"] for t in reply["Event"]["Tag"]] == expected
    assert [t["name"] for t in sandbox.app.tags()] == expected


def test_known_tag_is_attached_without_editor_rights(misp_factory: Callable[..., MispSandbox]) -> None:
    sandbox = misp_factory(perm_tag_editor=False, known_tags=["tlp:amber"])
    reply = make_pymisp(sandbox).add_event(_new_event())
    assert [t["name"] for t in reply["Event"]["Tag"]] == ["tlp:amber"]


def test_event_exists_and_unknown_event(misp: MispSandbox) -> None:
    client = make_pymisp(misp)
    client.add_event(_new_event())
    assert client.event_exists("7b4d5b8a-1d6f-4c43-9d7c-2e2f4f0a0001") is True
    assert client.event_exists("1") is True
    assert client.event_exists("9d1c2b3a-0000-4000-8000-000000000000") is False
    missing = client.get_event("9d1c2b3a-0000-4000-8000-000000000000")
    status, body = missing["errors"]
    assert status == 404
    assert body["name"] == "Invalid event"
    assert set(body) == {"name", "message", "url"}


@pytest.mark.parametrize(
    ("tag_editor", "tag", "saved"),
    [
        (True, 'workflow:state="complete"', True),
        (False, 'workflow:state="complete"', False),
        (False, "tlp:amber", True),
    ],
    ids=["new-tag-editor", "new-tag-no-editor", "known-tag-no-editor"],
)
def test_attach_tag(
    misp_factory: Callable[..., MispSandbox], tag_editor: bool, tag: str, saved: bool
) -> None:
    sandbox = misp_factory(perm_tag_editor=tag_editor, known_tags=["tlp:amber"])
    client = make_pymisp(sandbox)
    client.add_event(_new_event())
    reply = client.tag("7b4d5b8a-1d6f-4c43-9d7c-2e2f4f0a0001", tag)
    stored = sandbox.app.event("7b4d5b8a-1d6f-4c43-9d7c-2e2f4f0a0001")
    assert stored is not None
    if saved:
        assert reply["saved"] is True and reply["success"] is True
        assert tag in [t["name"] for t in stored["Tag"]]
    else:
        assert reply["errors"][0] == 403
        assert tag not in [t["name"] for t in stored["Tag"]]


def test_attach_tag_to_an_attribute_makes_it_searchable(misp: MispSandbox) -> None:
    client = make_pymisp(misp)
    event = client.add_event(_new_event())["Event"]
    attribute_uuid = event["Attribute"][0]["uuid"]
    client.tag(attribute_uuid, "kill-chain:Delivery")
    found = client.search(controller="attributes", tags=["kill-chain:Delivery"])
    assert [a["uuid"] for a in found["Attribute"]] == [attribute_uuid]


def test_sightings(misp: MispSandbox) -> None:
    client = make_pymisp(misp)
    event = client.add_event(_new_event())["Event"]
    attribute = event["Attribute"][0]
    ok = client.add_sighting({"source": "pandora", "type": "0"}, attribute=attribute["uuid"])
    assert ok["Sighting"]["attribute_id"] == attribute["id"]
    by_value = client.add_sighting({"value": "203.0.113.9"})
    assert by_value["Sighting"]["attribute_uuid"] == attribute["uuid"]
    failed = client.add_sighting({"value": "192.0.2.200"})
    assert failed["message"].startswith("Could not add the Sighting. Reason: ")
    assert [s["source"] for s in misp.app.sightings()] == ["pandora", ""]
    stored = misp.app.attribute(attribute["uuid"])
    assert stored is not None and len(stored["Sighting"]) == 2


def test_sightings_add_ignores_a_client_sighting_uuid(misp: MispSandbox) -> None:
    """Real MISP 2.5.1: sightings/add never stores the sighting uuid a client sends (a body "uuid" names
    the attribute), so the same body twice makes two sightings with server-made uuids."""
    client = make_pymisp(misp)
    attribute = client.add_event(_new_event())["Event"]["Attribute"][0]
    mine = "bfc4f8d5-0000-4000-8000-000000000001"
    for _ in range(2):
        reply = client.add_sighting({"uuid": mine, "source": "x"}, attribute=attribute["uuid"])
        assert reply["Sighting"]["uuid"] != mine
    assert len(misp.app.sightings()) == 2
    as_attribute = client.add_sighting({"uuid": mine, "value": "203.0.113.9"})
    assert as_attribute["message"].startswith("Could not add the Sighting")


def test_sighting_without_permission_is_refused(misp_factory: Callable[..., MispSandbox]) -> None:
    sandbox = misp_factory(perm_sighting=False)
    client = make_pymisp(sandbox)
    client.add_event(_new_event())
    reply = client.add_sighting({"value": "203.0.113.9"})
    assert reply["errors"][0] == 403
    assert sandbox.app.sightings() == []


def test_to_ids_edit_bumps_timestamps_and_unpublishes(frozen: MispSandbox) -> None:
    frozen.app.seed_event(_event("1"))
    client = make_pymisp(frozen)
    found = client.search(controller="attributes", to_ids=1, pythonify=True)
    (attribute,) = found
    attribute.to_ids = False
    updated = client.update_attribute(attribute)
    assert updated["Attribute"]["to_ids"] is False
    assert int(updated["Attribute"]["timestamp"]) > NOW - 100
    assert client.search(controller="attributes", to_ids=1)["Attribute"] == []
    recent = client.search(controller="attributes", to_ids=0, timestamp="1h")
    assert [a["uuid"] for a in recent["Attribute"]] == [attribute.uuid]
    event = frozen.app.event("1")
    assert event is not None and event["published"] is False


# --- faults ---------------------------------------------------------------------------------------


def test_server_error_raises(misp: MispSandbox) -> None:
    client = make_pymisp(misp)
    misp.app.faults.statuses.append(500)
    with pytest.raises(pymisp.MISPServerError):
        client.search(controller="events")
    assert client.search(controller="events") == []


def test_forced_error_has_misp_shape(misp: MispSandbox) -> None:
    misp.app.faults.statuses.append(503)
    reply = requests.get(f"{misp.url}/servers/getVersion", headers={"Authorization": misp.key}, timeout=5)
    assert reply.status_code == 503
    assert set(reply.json()) == {"name", "message", "url"}


def test_html_body_raises(misp: MispSandbox) -> None:
    client = make_pymisp(misp)
    misp.app.faults.html = 1
    with pytest.raises(PyMISPUnexpectedResponse):
        client.search(controller="events")


def test_down_server_cannot_be_reached(misp: MispSandbox) -> None:
    misp.app.faults.down = True
    with pytest.raises(pymisp.PyMISPError, match="Unable to connect"):
        make_pymisp(misp, timeout=2)


# --- data -----------------------------------------------------------------------------------------


def _subset_mismatches(original: Any, served: Any, where: str = "") -> list[str]:
    """Where `served` differs from `original` (extra keys in `served` are MISP defaults and allowed)."""
    if isinstance(original, dict) and isinstance(served, dict):
        return [m for k, v in original.items() for m in _subset_mismatches(v, served.get(k), f"{where}.{k}")]
    if isinstance(original, list) and isinstance(served, list) and len(original) == len(served):
        return [
            m
            for i, (a, b) in enumerate(zip(original, served, strict=True))
            for m in _subset_mismatches(a, b, f"{where}[{i}]")
        ]
    return [] if original == served else [where]


@pytest.mark.parametrize("path", SHARED_EVENTS, ids=[p.stem for p in SHARED_EVENTS])
def test_shared_events_round_trip(misp: MispSandbox, path: Path) -> None:
    original = json.loads(path.read_text(encoding="utf-8"))["Event"]
    uuid = misp.app.seed_file(path)
    served = make_pymisp(misp).get_event(uuid)["Event"]
    assert _subset_mismatches({k: v for k, v in original.items() if k != "id" or v}, served) == []
    attributes = served["Attribute"] + [a for o in served.get("Object", []) for a in o["Attribute"]]
    for attribute in attributes:
        assert attribute["id"].isdigit() and attribute["event_id"] == served["id"]
        assert isinstance(attribute["to_ids"], bool) and "distribution" in attribute
    for tag in served["Tag"]:
        assert "local" in tag and tag["id"].isdigit()
    assert served["distribution"].isdigit()


def test_all_shared_events_load_together(misp: MispSandbox) -> None:
    for path in SHARED_EVENTS:
        misp.app.seed_file(path)
    found = make_pymisp(misp).search(controller="attributes")
    assert len(found["Attribute"]) == 556
    with pytest.raises(ValueError, match="already seeded"):
        misp.app.seed_file(SHARED_EVENTS[0])


def test_bulk_seed_pages_twenty_thousand_attributes(misp: MispSandbox) -> None:
    uuids = misp.app.bulk_seed(200, 100, to_ids_ratio=0.5)
    assert len(set(uuids)) == 200
    client = make_pymisp(misp, timeout=30)
    seen: list[dict[str, Any]] = []
    for page in range(1, 100):
        found = client.search(controller="attributes", limit=5000, page=page)
        if not found["Attribute"]:
            break
        seen += found["Attribute"]
    assert page == 5
    assert len(seen) == 20_000
    assert len({a["uuid"] for a in seen}) == len({a["value"] for a in seen}) == 20_000
    assert sum(a["to_ids"] for a in seen) == 10_000
    assert {a["type"] for a in seen} == {"ip-dst", "domain", "url", "sha256", "md5", "filename|sha256"}
    events = client.search(controller="events", limit=50, page=4, published=True)
    assert len(events) == 50 and all(len(e["Event"]["Attribute"]) == 100 for e in events)
