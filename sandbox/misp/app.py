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
    attribute_problem,
    normalise_value,
)
from sandbox.misp.limits import (
    BLOCKED,
    INTERNAL_ERROR,
    first_bad_comment,
    has_4byte,
    mb3_value,
    value_problem,
)
from sandbox.misp.restsearch import RestSearchLimits, harvest
from sandbox.misp.search import Search
from sandbox.misp.store import MispStore

AUTH_FAILED = (
    "Authentication failed. Please make sure you pass the API key of an API enabled user along in the "
    "Authorization header."
)
EVENT_EXISTS = "Event already exists, if you would like to edit it, use the url in the location header."
NO_PERMISSION = "You do not have permission to use this functionality."

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


def misp_error(status: int, name: str, url: str, **extra: Any) -> Response:
    """MISP's error shape: {"name", "message", "url"} (plus extras such as `saved` and `errors`)."""
    return json_response(status, {**extra, "name": name, "message": name, "url": url})


class MispApp(App):
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

    def _add_event(self, request: Request) -> Response:
        body = self._body(request)
        event = dict(body.get("Event", body))
        url = "/events/add"
        existing = self.store.event_id(str(event.get("uuid") or "-"))
        if existing is not None:
            reply = misp_error(404, EVENT_EXISTS, url)
            reply.headers["Location"] = f"/events/view/{existing}"
            return reply
        if str(event.get("uuid") or "").lower() in self.blocklist:
            return misp_error(403, BLOCKED, url)
        errors = self._prepare_new_event(event)
        if errors:
            return misp_error(403, "Could not add Event", url, saved=False, errors=errors)
        if has_4byte(event.get("info")):
            return misp_error(500, INTERNAL_ERROR, url)  # utf8mb3: the event INSERT fails, nothing saved
        attributes = list(event.get("Attribute") or [])
        bad = first_bad_comment(attributes)
        if bad is not None:
            # The event row is committed before the attribute INSERT that fails: a partial event.
            event["Attribute"] = attributes[:bad]
            self.store.insert_event(event, seeded=False, create_tags=self.perm_tag_editor)
            return misp_error(500, INTERNAL_ERROR, url)
        event_id = self.store.insert_event(event, seeded=False, create_tags=self.perm_tag_editor)
        return json_response(200, {"Event": self.store.assemble(event_id)})

    def _delete_event(self, request: Request) -> Response:
        url = f"/events/delete/{request.params['key']}"
        if not self.delete_event(request.params["key"]):
            return misp_error(404, "Invalid event", url)
        return json_response(
            200,
            {
                "saved": True,
                "success": True,
                "name": "Event deleted.",
                "message": "Event deleted.",
                "url": url,
            },
        )

    def _delete_blocklist_entry(self, request: Request) -> Response:
        key = request.params["key"]
        url = f"/event_blocklists/delete/{key}"
        found = next((u for u, e in self.blocklist.items() if key.lower() in (u, e["id"])), None)
        if found is None:
            return misp_error(404, "Invalid blocklist entry", url)
        del self.blocklist[found]
        message = "Blocklist entry removed"
        return json_response(200, {"saved": True, "success": True, "name": message, "message": message,
                                   "url": url, "id": key})  # fmt: skip

    def _prepare_new_event(self, event: dict[str, Any]) -> dict[str, Any]:
        """Server-side fields and MISP's normalisation; the validation errors, if any."""
        now = str(self.store.now())
        for key in ("id", "Orgc", "Org", "orgc_id", "org_id", "attribute_count"):
            event.pop(key, None)
        if not str(event.get("info") or "").strip():
            return {"Event": {"info": ["Info cannot be empty."]}}
        published = as_bool(event.get("published") or False)
        event.update(timestamp=now, published=published, publish_timestamp=now if published else "0")
        event["Attribute"] = self._valid_attributes(event.get("Attribute") or [], now)
        for obj in event.get("Object") or []:
            obj["Attribute"] = self._valid_attributes(obj.get("Attribute") or [], now)
        return {}

    def _valid_attributes(self, attributes: list[dict[str, Any]], now: str) -> list[dict[str, Any]]:
        """The attributes MISP saves; the others are dropped with a 200 (and a row in its logs)."""
        kept = []
        for attribute in attributes:
            for key in ("id", "event_id", "object_id"):
                attribute.pop(key, None)
            defaults = DESCRIBE_TYPES["sane_defaults"].get(attribute.get("type"), {})
            attribute.setdefault("category", defaults.get("default_category"))
            value = mb3_value(str(attribute.get("value", "")))
            attribute["value"] = normalise_value(str(attribute.get("type")), value)
            attribute.setdefault("timestamp", now)
            problem = attribute_problem(attribute) or value_problem(attribute["type"], attribute["value"])
            if problem:
                self.dropped.append({"attribute": attribute, "errors": problem})
            else:
                kept.append(attribute)
        return kept

    def _attach_tag(self, request: Request) -> Response:
        body = self._body(request)
        url = "/tags/attachTagToObject"
        name = str(body.get("tag") or "")
        if name.isdigit():
            name = next((t["name"] for t in self.store.tags() if t["id"] == name), name)
        tag = self.store.resolve_tag(name, create=self.perm_tag_editor)
        if tag is None:
            return misp_error(
                403, "Invalid Tag. This tag does not exist and you cannot create tags.", url, saved=False
            )
        attached = self.store.attach_tag(
            str(body.get("uuid") or ""), tag, as_bool(body.get("local") or False)
        )
        if attached is None:
            return misp_error(404, "Invalid object.", url, saved=False)
        message = "Tag attached." if attached else "Tag is already attached to this object."
        return json_response(
            200,
            {
                "saved": True,
                "success": True,
                "check_publish": True,
                "name": message,
                "message": message,
                "url": url,
            },
        )

    def _add_sighting(self, request: Request) -> Response:
        url = "/sightings/add"
        if not self.perm_sighting:
            return misp_error(403, NO_PERMISSION, url)
        body = self._body(request)
        key = request.params.get("key") or str(body.get("uuid") or body.get("id") or "")
        if str(body.get("type", "0")) not in {"0", "1", "2"}:
            return json_response(200, {"message": "Could not add the Sighting. Reason: Invalid type."})
        if key:
            found = self.store.attribute(key)
            targets = [found] if found is not None else []
        else:
            targets = self.store.attributes_with_value(str(body.get("value") or ""))
        if not targets:
            reason = "Invalid attribute." if key else "No valid attributes found that match the criteria."
            return json_response(200, {"message": f"Could not add the Sighting. Reason: {reason}"})
        added = [self.store.add_sighting(attribute, body) for attribute in targets]
        return json_response(200, {"Sighting": added[0]})

    def _edit_attribute(self, request: Request) -> Response:
        body = self._body(request)
        changes = dict(body.get("Attribute", body))
        if "value" in changes:
            current = self.store.attribute(request.params["key"]) or {}
            changes["value"] = normalise_value(
                str(changes.get("type") or current.get("type")), str(changes["value"])
            )
        attribute = self.store.edit_attribute(request.params["key"], changes)
        if attribute is None:
            return misp_error(404, "Invalid attribute", request.path)
        return json_response(200, {"Attribute": attribute})
