"""SQLite storage for the MISP sandbox.

Events, objects and attributes are rows with their JSON kept beside the columns the filters need, so a
search pages in SQL and only one page of JSON is decoded per request. The JSON bodies are the truth
for output; `tag_links` mirrors their tags for filtering and is updated in the same locked transaction.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid as uuidlib
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sandbox.misp.bulk import bulk_rows
from sandbox.misp.data import (
    ATTRIBUTE_DEFAULTS,
    DESCRIBE_TYPES,
    EVENT_DEFAULTS,
    ORGC,
    stringify,
)
from sandbox.misp.reads import StoreReads

_SCHEMA = """
CREATE TABLE events (id INTEGER PRIMARY KEY, uuid TEXT UNIQUE NOT NULL, published INTEGER, timestamp INTEGER,
  publish_timestamp INTEGER, date TEXT, info TEXT, body TEXT NOT NULL);
CREATE TABLE objects (id INTEGER PRIMARY KEY, uuid TEXT, event_id INTEGER, body TEXT NOT NULL);
CREATE TABLE attributes (id INTEGER PRIMARY KEY, uuid TEXT, event_id INTEGER, object_id INTEGER, type TEXT,
  category TEXT, value TEXT, to_ids INTEGER, timestamp INTEGER, deleted INTEGER, body TEXT NOT NULL);
CREATE INDEX attributes_event ON attributes(event_id);
CREATE INDEX attributes_uuid ON attributes(uuid);
CREATE TABLE tags (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL COLLATE NOCASE, body TEXT NOT NULL);
CREATE TABLE tag_links (tag_id INTEGER, event_id INTEGER, attribute_id INTEGER, local INTEGER);
CREATE INDEX tag_links_event ON tag_links(event_id);
CREATE INDEX tag_links_attribute ON tag_links(attribute_id);
CREATE TABLE sightings (id INTEGER PRIMARY KEY, attribute_id INTEGER, body TEXT NOT NULL);
"""

_TAG_DEFAULTS: dict[str, Any] = {
    "colour": "#0088cc",
    "exportable": True,
    "user_id": "0",
    "hide_tag": False,
    "numerical_value": None,
    "is_galaxy": False,
    "is_custom_galaxy": False,
    "local_only": False,
}


def _stamp(value: Any) -> int:
    return int(value) if value not in (None, "") else 0


class MispStore(StoreReads):
    """Thread-safe event storage; every method takes the lock for its whole transaction."""

    def __init__(self, path: str | Path = ":memory:", clock: Callable[[], float] | None = None) -> None:
        self._clock = clock or time.time
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.RLock()
        if not self._db.execute("SELECT name FROM sqlite_master WHERE name = 'events'").fetchone():
            self._db.executescript(_SCHEMA)

    def now(self) -> int:
        return int(self._clock())

    def _next_id(self, table: str, wanted: Any = None) -> int:
        # Keep an id the caller brought (a seeded export) when it is free; else the next one.
        if wanted not in (None, "") and str(wanted).isdigit():
            taken = self._db.execute(f"SELECT 1 FROM {table} WHERE id = ?", (int(wanted),)).fetchone()
            if not taken:
                return int(wanted)
        row = self._db.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}").fetchone()
        return int(row[0])

    # --- tags ---------------------------------------------------------------------------------------

    def tags(self) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(row[0]) for row in self._db.execute("SELECT body FROM tags ORDER BY id")]

    def resolve_tag(self, tag: dict[str, Any] | str, create: bool) -> dict[str, Any] | None:
        """The server's tag for a name (creating it when allowed), or None when unknown."""
        given = {"name": tag} if isinstance(tag, str) else dict(tag)
        name = str(given.get("name", "")).strip()
        if not name:
            return None
        with self._lock:
            row = self._db.execute("SELECT body FROM tags WHERE name = ?", (name,)).fetchone()
            if row:
                return dict(json.loads(row[0]))
            if not create:
                return None
            tag_id = self._next_id("tags", given.get("id"))
            known = {**_TAG_DEFAULTS, "colour": given.get("colour") or _TAG_DEFAULTS["colour"]}
            known.update(id=str(tag_id), name=name, is_galaxy=name.startswith("misp-galaxy:"))
            self._db.execute("INSERT INTO tags VALUES (?, ?, ?)", (tag_id, name, json.dumps(known)))
            return known

    def _tag_list(
        self, tags: Iterable[Any], create: bool, keep_given: bool, event_id: int, attribute_id: int
    ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for tag in tags or ():
            known = self.resolve_tag(tag, create)
            if known is None or any(t["name"] == known["name"] for t in out):
                continue
            given = tag if isinstance(tag, dict) else {}
            local = bool(given.get("local", False)) and given.get("local") not in ("0", 0)
            entry = {**known, **given} if keep_given else {**known, "local": local}
            entry.setdefault("id", known["id"])
            entry.setdefault("local", local)
            out.append(entry)
            self._db.execute(
                "INSERT INTO tag_links VALUES (?, ?, ?, ?)", (int(known["id"]), event_id, attribute_id, local)
            )
        return out

    # --- writing ------------------------------------------------------------------------------------

    def insert_event(self, event: dict[str, Any], *, seeded: bool, create_tags: bool) -> int:
        """Store one event (inner dict). `seeded` keeps the export's ids and tag dicts as they are."""
        now = self.now()
        with self._lock:
            self._db.execute("BEGIN")
            try:
                event_id = self._insert_event(event, seeded, create_tags, now)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            return event_id

    def _insert_event(self, event: dict[str, Any], seeded: bool, create_tags: bool, now: int) -> int:
        body = {k: v for k, v in event.items() if k not in ("Attribute", "Object", "Tag")}
        event_id = self._next_id("events", body.get("id") if seeded else None)
        for key, value in EVENT_DEFAULTS.items():
            body.setdefault(key, value)
        body.update(id=str(event_id), uuid=str(body.get("uuid") or uuidlib.uuid4()))
        body.setdefault("info", "")
        body.setdefault("date", datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%d"))
        body.setdefault("timestamp", str(now))
        body.setdefault("Orgc", dict(ORGC))
        body.setdefault("Org", dict(ORGC))
        for key in ("Galaxy", "EventReport", "RelatedEvent", "ShadowAttribute"):
            body.setdefault(key, [])
        stringify(body)
        body["Tag"] = self._tag_list(event.get("Tag") or [], create_tags, seeded, event_id, 0)
        count = 0
        for attribute in event.get("Attribute") or []:
            count += self._insert_attribute(attribute, body, 0, seeded, create_tags)
        for obj in event.get("Object") or []:
            shell = {k: v for k, v in obj.items() if k != "Attribute"}
            object_id = self._next_id("objects", shell.get("id") if seeded else None)
            shell.update(id=str(object_id), event_id=str(event_id))
            shell.setdefault("uuid", str(uuidlib.uuid4()))
            shell.setdefault("distribution", "5")
            shell.setdefault("timestamp", body["timestamp"])
            shell.setdefault("deleted", False)
            shell.setdefault("comment", "")
            stringify(shell)
            self._db.execute(
                "INSERT INTO objects VALUES (?, ?, ?, ?)",
                (object_id, shell["uuid"], event_id, json.dumps(shell)),
            )
            for attribute in obj.get("Attribute") or []:
                count += self._insert_attribute(attribute, body, object_id, seeded, create_tags)
        body.setdefault("attribute_count", str(count))
        self._db.execute(
            "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                event_id,
                body["uuid"],
                int(body["published"]),
                _stamp(body["timestamp"]),
                _stamp(body["publish_timestamp"]),
                body["date"],
                body["info"],
                json.dumps(body),
            ),
        )
        return event_id

    def _insert_attribute(
        self, attribute: dict[str, Any], event: dict[str, Any], object_id: int, seeded: bool, create: bool
    ) -> int:
        body = {k: v for k, v in attribute.items() if k != "Tag"}
        attribute_id = self._next_id("attributes", body.get("id") if seeded else None)
        defaults = DESCRIBE_TYPES["sane_defaults"].get(body.get("type"), {})
        for key, value in ATTRIBUTE_DEFAULTS.items():
            body.setdefault(key, value)
        body.setdefault("category", defaults.get("default_category", "Other"))
        body.setdefault("to_ids", bool(defaults.get("to_ids", 0)))
        body.setdefault("timestamp", event["timestamp"])
        body.setdefault("uuid", str(uuidlib.uuid4()))
        body.setdefault("Galaxy", [])
        body.setdefault("ShadowAttribute", [])
        body.update(id=str(attribute_id), event_id=event["id"], object_id=str(object_id))
        stringify(body)
        tags = self._tag_list(attribute.get("Tag") or [], create, seeded, int(event["id"]), attribute_id)
        if tags or "Tag" in attribute:
            body["Tag"] = tags
        self._write_attribute(body, insert=True)
        return 0 if body["deleted"] else 1

    def _write_attribute(self, body: dict[str, Any], insert: bool) -> None:
        row = (
            body["uuid"],
            int(body["event_id"]),
            int(body["object_id"]),
            body["type"],
            body["category"],
            str(body.get("value", "")),
            int(body["to_ids"]),
            _stamp(body["timestamp"]),
            int(body["deleted"]),
            json.dumps(body),
            int(body["id"]),
        )
        if insert:
            self._db.execute(
                "INSERT INTO attributes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row[-1:] + row[:-1]
            )
        else:
            self._db.execute(
                "UPDATE attributes SET uuid=?, event_id=?, object_id=?, type=?, category=?, value=?,"
                " to_ids=?, timestamp=?, deleted=?, body=? WHERE id=?",
                row,
            )

    def _write_event(self, body: dict[str, Any]) -> None:
        self._db.execute(
            "UPDATE events SET published=?, timestamp=?, publish_timestamp=?, body=? WHERE id=?",
            (
                int(body["published"]),
                _stamp(body["timestamp"]),
                _stamp(body["publish_timestamp"]),
                json.dumps(body),
                int(body["id"]),
            ),
        )

    def bulk_seed(
        self, n_events: int, attrs_per_event: int, to_ids_ratio: float, published: bool
    ) -> list[str]:
        """Synthetic events in one transaction (see `sandbox.misp.bulk`); returns the event uuids."""
        with self._lock:
            serial = int(self._db.execute("SELECT COUNT(*) FROM attributes").fetchone()[0])
            events, attributes, uuids = bulk_rows(
                self._next_id("events"), self._next_id("attributes"), serial, n_events, attrs_per_event,
                to_ids_ratio=to_ids_ratio, published=published, now=self.now(),
            )  # fmt: skip
            self._db.execute("BEGIN")
            self._db.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)", events)
            self._db.executemany(
                "INSERT INTO attributes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", attributes
            )
            self._db.execute("COMMIT")
            return uuids

    # --- changes ------------------------------------------------------------------------------------

    def attach_tag(self, target: str, tag: dict[str, Any], local: bool) -> bool | None:
        """Attach a known tag to an event or attribute (by uuid or id): None if no such object,
        False if it was attached already, True when attached."""
        with self._lock:
            event_id = self.event_id(target)
            attribute = None if event_id is not None else self.attribute(target)
            if event_id is None and attribute is None:
                return None
            owner_event = event_id if event_id is not None else int(attribute["event_id"])  # type: ignore[index]
            body = attribute if attribute is not None else self.event_body(owner_event)
            if any(t["name"] == tag["name"] for t in body.get("Tag", [])):
                return False
            body["Tag"] = [*body.get("Tag", []), {**tag, "local": local}]
            attribute_id = int(attribute["id"]) if attribute is not None else 0
            self._db.execute(
                "INSERT INTO tag_links VALUES (?, ?, ?, ?)",
                (int(tag["id"]), owner_event, attribute_id, local),
            )
            if attribute is not None:
                self._write_attribute(attribute, insert=False)
            event = self.event_body(owner_event) if attribute is not None else body
            if not local:  # a shared tag changes the event (MISP bumps its timestamp)
                event["timestamp"] = str(max(self.now(), _stamp(event["timestamp"]) + 1))
            self._write_event(event)
            return True

    def edit_attribute(self, key: str, changes: dict[str, Any]) -> dict[str, Any] | None:
        """Apply an attribute edit like MISP: new attribute timestamp, event touched and unpublished."""
        editable = (
            "to_ids",
            "comment",
            "category",
            "value",
            "type",
            "distribution",
            "deleted",
            "disable_correlation",
            "first_seen",
            "last_seen",
        )
        with self._lock:
            attribute = self.attribute(key)
            if attribute is None:
                return None
            attribute.update({k: changes[k] for k in editable if k in changes})
            stamp = str(max(self.now(), _stamp(attribute["timestamp"]) + 1))
            attribute["timestamp"] = stamp
            stringify(attribute)
            self._write_attribute(attribute, insert=False)
            event = self.event_body(int(attribute["event_id"]))
            event.update(timestamp=str(max(int(stamp), _stamp(event["timestamp"]))), published=False)
            self._write_event(event)
            return attribute

    def add_sighting(self, attribute: dict[str, Any], sighting: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            sighting_id = self._next_id("sightings")
            full = {
                "id": str(sighting_id),
                # sightings/add never stores a client's sighting uuid (a body "uuid" names the attribute).
                "uuid": str(uuidlib.uuid4()),
                "attribute_id": attribute["id"],
                "event_id": attribute["event_id"],
                "org_id": ORGC["id"],
                "date_sighting": str(sighting.get("timestamp") or self.now()),
                "source": str(sighting.get("source") or ""),
                "type": str(sighting.get("type") or "0"),
                "attribute_uuid": attribute["uuid"],
                "Organisation": {k: ORGC[k] for k in ("id", "name", "uuid")},
            }
            self._db.execute(
                "INSERT INTO sightings VALUES (?, ?, ?)",
                (sighting_id, int(attribute["id"]), json.dumps(full)),
            )
            attribute["Sighting"] = [*attribute.get("Sighting", []), full]
            self._write_attribute(attribute, insert=False)
            return full

    def delete_event(self, event_id: int) -> None:
        """Remove an event with its objects, attributes, tag links and sightings."""
        with self._lock:
            self._db.execute("BEGIN")
            attribute_ids = "SELECT id FROM attributes WHERE event_id = ?"
            self._db.execute(f"DELETE FROM sightings WHERE attribute_id IN ({attribute_ids})", (event_id,))
            for table in ("attributes", "objects", "tag_links"):
                self._db.execute(f"DELETE FROM {table} WHERE event_id = ?", (event_id,))
            self._db.execute("DELETE FROM events WHERE id = ?", (event_id,))
            self._db.execute("COMMIT")

    def attributes_with_value(self, value: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT body FROM attributes WHERE deleted = 0"
                " AND (value = ? OR value LIKE ? OR value LIKE ?)",
                (value, f"%|{value}", f"{value}|%"),
            ).fetchall()
        return [json.loads(row[0]) for row in rows]
