"""Reading the MISP sandbox's SQLite store: lookups, event assembly and the two restSearch queries.

A mixin of `MispStore` (which owns the connection and the lock), kept apart to keep modules small.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from typing import Any

from sandbox.misp.data import on_warninglist
from sandbox.misp.search import Search, attribute_where, event_where

# What MISP embeds as `Event` in each attribute of an attributes restSearch.
_EVENT_SUMMARY = ("org_id", "distribution", "id", "info", "orgc_id", "uuid", "publish_timestamp")


class StoreReads:
    _db: sqlite3.Connection
    _lock: threading.RLock

    def tag_names(self) -> set[str]:
        with self._lock:
            return {row[0] for row in self._db.execute("SELECT name FROM tags")}

    def event_id(self, key: str) -> int | None:
        """An event's id from its id or uuid."""
        column = "id" if key.isdigit() else "uuid"
        with self._lock:
            row = self._db.execute(f"SELECT id FROM events WHERE {column} = ?", (key,)).fetchone()
        return int(row[0]) if row else None

    def attribute(self, key: str) -> dict[str, Any] | None:
        column = "id" if key.isdigit() else "uuid"
        with self._lock:
            row = self._db.execute(f"SELECT body FROM attributes WHERE {column} = ?", (key,)).fetchone()
        return dict(json.loads(row[0])) if row else None

    def event_body(self, event_id: int) -> dict[str, Any]:
        with self._lock:
            row = self._db.execute("SELECT body FROM events WHERE id = ?", (event_id,)).fetchone()
        return dict(json.loads(row[0]))

    def assemble(
        self, event_id: int, search: Search | None = None, warninglist: frozenset[str] = frozenset()
    ) -> dict[str, Any]:
        """The full event JSON; with a search, only the attributes it selects are embedded."""
        event = self.event_body(event_id)
        if search is not None and search.metadata:
            return event
        clauses, params = attribute_where(search or Search("events"))
        where = "".join(f" AND {c}" for c in clauses)
        with self._lock:
            rows = self._db.execute(
                f"SELECT a.object_id, a.body FROM attributes a WHERE a.event_id = ?{where} ORDER BY a.id",
                [event_id, *params],
            ).fetchall()
            shells = self._db.execute(
                "SELECT id, body FROM objects WHERE event_id = ? ORDER BY id", (event_id,)
            ).fetchall()
        objects = {oid: {**json.loads(body), "Attribute": []} for oid, body in shells}
        event["Attribute"] = []
        for object_id, body in rows:
            attribute = json.loads(body)
            if (
                search is not None
                and search.enforce_warninglist
                and on_warninglist(attribute["value"], warninglist)
            ):
                continue
            (objects[object_id]["Attribute"] if object_id in objects else event["Attribute"]).append(
                attribute
            )
        narrowed = search is not None and search.filters_attributes
        event["Object"] = [o for o in objects.values() if o["Attribute"] or not narrowed]
        return event

    def search_events(self, search: Search, warninglist: frozenset[str]) -> tuple[int, list[dict[str, Any]]]:
        where = event_where(search, self.tag_names())
        if where is None:
            return 0, []
        clauses, params = where
        if search.filters_attributes:
            inner, extra = attribute_where(search)
            clauses = [
                *clauses,
                "EXISTS (SELECT 1 FROM attributes a WHERE a.event_id = e.id"
                + "".join(f" AND {c}" for c in inner)
                + ")",
            ]
            params = [*params, *extra]
        sql_where = " WHERE " + " AND ".join(clauses) if clauses else ""
        limit_sql, limit_params = search.paging()
        with self._lock:
            total = int(self._db.execute(f"SELECT COUNT(*) FROM events e{sql_where}", params).fetchone()[0])
            ids = [
                row[0]
                for row in self._db.execute(
                    f"SELECT e.id FROM events e{sql_where}{search.order_by()}{limit_sql}",
                    params + limit_params,
                )
            ]
        return total, [self.assemble(i, search, warninglist) for i in ids]

    def search_attributes(self, search: Search, warninglist: frozenset[str]) -> list[dict[str, Any]]:
        where = event_where(search, self.tag_names())
        if where is None:
            return []
        clauses, params = where
        inner, extra = attribute_where(search)
        clauses, params = [*clauses, *inner], [*params, *extra]
        sql_where = " WHERE " + " AND ".join(clauses) if clauses else ""
        limit_sql, limit_params = search.paging()
        with self._lock:
            rows = self._db.execute(
                "SELECT a.body, a.event_id FROM attributes a JOIN events e ON e.id = a.event_id"
                f"{sql_where}{search.order_by()}{limit_sql}",
                params + limit_params,
            ).fetchall()
        events = {i: self.event_body(i) for i in {row[1] for row in rows}}  # decode each event once
        out: list[dict[str, Any]] = []
        for attribute_json, event_id in rows:
            attribute = json.loads(attribute_json)
            # MISP filters warninglist hits after the page is cut, so a page can come back short.
            if search.enforce_warninglist and on_warninglist(attribute["value"], warninglist):
                continue
            event = events[event_id]
            attribute["Event"] = {k: event.get(k) for k in _EVENT_SUMMARY}
            if search.include_event_tags:
                own = {t["name"] for t in attribute.get("Tag", [])}
                inherited = [{**t, "inherited": True} for t in event.get("Tag", []) if t["name"] not in own]
                attribute["Tag"] = [*attribute.get("Tag", []), *inherited]
            out.append(attribute)
        return out

    def all_event_ids(self) -> list[int]:
        with self._lock:
            return [row[0] for row in self._db.execute("SELECT id FROM events ORDER BY id")]

    def sightings(self) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(row[0]) for row in self._db.execute("SELECT body FROM sightings ORDER BY id")]
