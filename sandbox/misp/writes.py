"""The MISP emulator's writes: events/add with everything a real MISP 2.5.1 refuses or drops on the way,
deletes and the blocklist, tags, sightings and attribute edits (docs/contracts.md section 2).

A mixin of `MispApp` (sandbox/misp/app.py), which holds the store, the permissions and the blocklist.
"""

from __future__ import annotations

from typing import Any

from sandbox.http import Request, Response, json_response
from sandbox.misp.data import DESCRIBE_TYPES, as_bool, attribute_problem, normalise_value
from sandbox.misp.limits import (
    BLOCKED,
    INTERNAL_ERROR,
    first_bad_comment,
    has_4byte,
    mb3_value,
    value_problem,
)
from sandbox.misp.store import MispStore

EVENT_EXISTS = "Event already exists, if you would like to edit it, use the url in the location header."
NO_PERMISSION = "You do not have permission to use this functionality."


def misp_error(status: int, name: str, url: str, **extra: Any) -> Response:
    """MISP's error shape: {"name", "message", "url"} (plus extras such as `saved` and `errors`)."""
    return json_response(status, {**extra, "name": name, "message": name, "url": url})


class MispWrites:
    """Handlers of the write routes; `MispApp` provides the attributes below."""

    store: MispStore
    perm_tag_editor: bool
    perm_sighting: bool
    blocklist: dict[str, dict[str, Any]]
    dropped: list[dict[str, Any]]

    def delete_event(self, key: str) -> bool:
        raise NotImplementedError

    @staticmethod
    def _body(request: Request) -> dict[str, Any]:
        raise NotImplementedError

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
