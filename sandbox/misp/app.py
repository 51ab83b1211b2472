"""An HTTPS stand-in for MISP that speaks the REST API PyMISP uses (docs/contracts.md section 2).

`MispApp` is an `App` for `sandbox.http.Server`. Data lives in SQLite (`sandbox.misp.store`); tests seed
it (`seed_event`, `seed_file`, `bulk_seed`), disturb it through the inherited `faults`, and read it back
(`events()`, `event(uuid)`, `sightings()`, `tags()`, `requests`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pymisp

from sandbox.http import App, Request, Response, json_response
from sandbox.misp.data import (
    DEFAULT_WARNINGLIST,
    DESCRIBE_TYPES,
    ORGC,
    as_bool,
)
from sandbox.misp.restsearch import RestSearchLimits, harvest
from sandbox.misp.search import Search
from sandbox.misp.store import MispStore
from sandbox.misp.writes import MispWrites, misp_error

AUTH_FAILED = (
    "Authentication failed. Please make sure you pass the API key of an API enabled user along in the "
    "Authorization header."
)

_ERROR_NAMES = {
    400: "Bad Request",
    403: AUTH_FAILED,
    404: "Not Found",
    405: "Method Not Allowed",
    500: "An Internal Error Has Occurred.",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

_ID = r"(?P<key>[0-9]+|[0-9a-fA-F-]{36})"


class MispApp(MispWrites, App):
    """The MISP emulator. One API key; the role's tag-editor and sighting permissions are switchable."""

    name = "misp"

    def __init__(
        self,
        api_key: str = "sandbox-misp-api-key-0000000000000000000000",
        *,
        perm_tag_editor: bool = True,
        perm_sighting: bool = True,
        db_path: str | Path = ":memory:",
        clock: Callable[[], float] | None = None,
        known_tags: Iterable[str] = (),
        warninglist: Iterable[str] = DEFAULT_WARNINGLIST,
        version: str = pymisp.__version__,
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.perm_tag_editor = perm_tag_editor
        self.perm_sighting = perm_sighting
        self.version = version
        self.warninglist = frozenset(v.lower() for v in warninglist)
        self.store = MispStore(db_path, clock)
        # events/add refusals MISP keeps to itself: uuid -> blocklist entry; dropped attributes (the
        # rows MISP writes to its `logs` table, "Attribute dropped due to validation ...").
        self.blocklist: dict[str, dict[str, Any]] = {}
        self.dropped: list[dict[str, Any]] = []
        self.restsearch = RestSearchLimits(clock or time.time)  # rate limit, page-building time
        for tag in known_tags:
            self.add_tag(tag)
        routes: list[tuple[str, str, Callable[[Request], Response]]] = [
            ("GET", r"/servers/getVersion(?:\.json)?", self._version),
            ("GET", r"/users/view/me(?:\.json)?", self._me),
            ("GET", r"/attributes/describeTypes(?:\.json)?", self._describe_types),
            ("POST", r"/events/restSearch", self.restsearch.guard(self._search_events)),
            ("POST", r"/attributes/restSearch", self.restsearch.guard(self._search_attributes)),
            ("POST", r"/events/add(?:/metadata:1)?", self._add_event),
            ("GET", rf"/events/view/{_ID}(?:/[A-Za-z]+:[^/]*)*", self._view_event),
            ("POST", rf"/events/view/{_ID}(?:/[A-Za-z]+:[^/]*)*", self._view_event),
            ("POST", r"/events/index", self._index),
            ("POST", r"/tags/attachTagToObject", self._attach_tag),
            ("POST", rf"/sightings/add(?:/{_ID})?", self._add_sighting),
            ("POST", rf"/attributes/edit/{_ID}", self._edit_attribute),
            ("POST", rf"/events/delete/{_ID}", self._delete_event),
            ("POST", rf"/eventBlocklists/delete/{_ID}", self._delete_blocklist_entry),
        ]
        for method, pattern, handler in routes:
            self.add_route(method, pattern, self._authenticated(handler))

    # --- App overrides ------------------------------------------------------------------------------

    def error_body(self, status: int) -> Response:
        return misp_error(status, _ERROR_NAMES.get(status, "Error"), "/")

    def not_found(self, request: Request) -> Response:
        return misp_error(404, "Not Found", request.path)

    def _authenticated(self, handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        def guarded(request: Request) -> Response:
            given = request.header("Authorization") or request.header("X-MISP-AUTH")
            if given.strip() != self.api_key:
                return misp_error(403, AUTH_FAILED, request.path)
            try:
                return handler(request)
            except json.JSONDecodeError:
                return misp_error(400, "Bad Request", request.path)

        return guarded

    # --- helpers for tests --------------------------------------------------------------------------

    def seed_event(self, event: dict[str, Any]) -> str:
        """Store an event as an admin would import it (ids kept when free, tags created); its uuid."""
        inner = event.get("Event", event)
        if inner.get("uuid") and self.store.event_id(str(inner["uuid"])) is not None:
            raise ValueError(f"an event with uuid {inner['uuid']} is already seeded")
        event_id = self.store.insert_event(inner, seeded=True, create_tags=True)
        return str(self.store.event_body(event_id)["uuid"])

    def seed_file(self, path: str | Path) -> str:
        return self.seed_event(json.loads(Path(path).read_text(encoding="utf-8")))

    def bulk_seed(
        self, n_events: int, attrs_per_event: int, *, to_ids_ratio: float = 1.0, published: bool = True
    ) -> list[str]:
        """Synthetic events with unique ip-dst/domain/url/sha256/md5/filename|sha256 values; their uuids."""
        return self.store.bulk_seed(n_events, attrs_per_event, to_ids_ratio, published)

    def add_tag(self, name: str, colour: str | None = None) -> dict[str, Any]:
        """Make a tag known to the server (as enabling a taxonomy would)."""
        tag = self.store.resolve_tag({"name": name, "colour": colour}, create=True)
        assert tag is not None
        return tag

    def delete_event(self, key: str) -> bool:
        """Delete an event as an analyst would in the UI: its uuid goes on the event blocklist."""
        event = self.event(key)
        if event is None:
            return False
        self.store.delete_event(int(event["id"]))
        self.blocklist[event["uuid"]] = {
            "id": str(len(self.blocklist) + 1),
            "event_uuid": event["uuid"],
            "event_info": event["info"],
            "comment": "Automatically blocked by deleting event",
        }
        return True

    def events(self) -> list[dict[str, Any]]:
        return [self.store.assemble(i) for i in self.store.all_event_ids()]

    def event(self, key: str) -> dict[str, Any] | None:
        event_id = self.store.event_id(key)
        return None if event_id is None else self.store.assemble(event_id)

    def attribute(self, key: str) -> dict[str, Any] | None:
        return self.store.attribute(key)

    def sightings(self) -> list[dict[str, Any]]:
        return self.store.sightings()

    def tags(self) -> list[dict[str, Any]]:
        return self.store.tags()

    # --- endpoints ----------------------------------------------------------------------------------

    @staticmethod
    def _body(request: Request) -> dict[str, Any]:
        body = request.json() or {}
        if isinstance(body, dict) and set(body) == {"request"} and isinstance(body["request"], dict):
            return dict(body["request"])
        return body if isinstance(body, dict) else {}

    def _version(self, request: Request) -> Response:
        return json_response(
            200,
            {
                "version": self.version,
                "pymisp_recommended_version": self.version,
                "perm_sync": False,
                "perm_sighting": self.perm_sighting,
                "perm_galaxy_editor": False,
                "request_encoding": ["gzip", "br"],
                "filter_sightings": True,
            },
        )

    def _me(self, request: Request) -> Response:
        user = {
            "id": "1",
            "org_id": ORGC["id"],
            "server_id": "0",
            "email": "api@sandbox.test",
            "autoalert": False,
            "role_id": "3",
            "disabled": False,
            "termsaccepted": True,
            "change_pw": False,
            "contactalert": False,
            "nids_sid": "4000000",
        }
        role = {
            "id": "3",
            "name": "User" if not self.perm_tag_editor else "Org Admin",
            "perm_add": True,
            "perm_modify": True,
            "perm_modify_org": True,
            "perm_publish": True,
            "perm_auth": True,
            "perm_tagger": True,
            "perm_tag_editor": self.perm_tag_editor,
            "perm_sighting": self.perm_sighting,
            "perm_sync": False,
            "perm_admin": False,
            "perm_site_admin": False,
            "perm_galaxy_editor": False,
            "perm_template": False,
        }
        org = {k: ORGC[k] for k in ("id", "name", "uuid")}
        return json_response(200, {"User": user, "Role": role, "UserSetting": [], "Organisation": org})

    def _describe_types(self, request: Request) -> Response:
        return json_response(200, {"result": DESCRIBE_TYPES})

    def _search_events(self, request: Request) -> Response:
        search = Search.from_request("events", harvest("events", self._body(request)), self.store.now())
        total, events = self.store.search_events(search, self.warninglist)
        payload = {"response": [{"Event": event} for event in events]}
        return json_response(200, payload, {"X-Result-Count": str(total)})

    def _search_attributes(self, request: Request) -> Response:
        search = Search.from_request(
            "attributes", harvest("attributes", self._body(request)), self.store.now()
        )
        attributes = self.store.search_attributes(search, self.warninglist)
        return json_response(200, {"response": {"Attribute": attributes}})

    def _view_event(self, request: Request) -> Response:
        event_id = self.store.event_id(request.params["key"])
        if event_id is None:
            return misp_error(404, "Invalid event", request.path)
        return json_response(200, {"Event": self.store.assemble(event_id)})

    def _index(self, request: Request) -> Response:
        body = self._body(request)
        if body.get("sort"):
            body["order"] = f"{body['sort']} {'desc' if as_bool(body.get('desc') or False) else 'asc'}"
        search = Search.from_request("events", {**body, "metadata": True}, self.store.now())
        _, events = self.store.search_events(search, self.warninglist)
        rows = []
        for event in events:
            tags = event.pop("Tag", [])
            event["EventTag"] = [
                {"event_id": event["id"], "tag_id": t["id"], "local": t.get("local", False), "Tag": t}
                for t in tags
            ]
            for key in ("Galaxy", "EventReport", "RelatedEvent", "ShadowAttribute"):
                event.pop(key, None)
            rows.append(event)
        return json_response(200, rows)
