"""restSearch filters for the MISP sandbox: a request body parsed once, then turned into SQL.

Event-level filters (published, publish_timestamp, tags, eventid, uuid) select rows of `events e`;
attribute-level ones (to_ids, type, category, value, deleted) select rows of `attributes a` and, for an
events search, also decide which attributes are embedded and which events match at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sandbox.misp.data import TagQuery, as_bool, parse_tags, string_list, time_range

Range = tuple[int | None, int | None]

# `order` may name these columns (as `Event.timestamp desc`, `timestamp`, ...).
_EVENT_ORDER = {
    "id": "e.id",
    "timestamp": "e.timestamp",
    "publish_timestamp": "e.publish_timestamp",
    "date": "e.date",
    "info": "e.info",
    "uuid": "e.uuid",
}
_ATTRIBUTE_ORDER = {
    "id": "a.id",
    "timestamp": "a.timestamp",
    "value": "a.value",
    "type": "a.type",
    "uuid": "a.uuid",
    "event_id": "a.event_id",
}


@dataclass(frozen=True)
class Search:
    controller: str  # "events" or "attributes"
    published: bool | None = None
    tags: TagQuery = field(default_factory=TagQuery)
    timestamp: Range | None = None
    publish_timestamp: Range | None = None
    event_timestamp: Range | None = None
    to_ids: bool | None = None
    types: tuple[list[str], list[str]] = ([], [])
    categories: tuple[list[str], list[str]] = ([], [])
    values: tuple[list[str], list[str]] = ([], [])
    uuids: list[str] = field(default_factory=list)
    eventids: list[str] = field(default_factory=list)
    metadata: bool = False
    limit: int | None = None
    page: int = 1
    order: str | None = None
    with_deleted: bool = False
    enforce_warninglist: bool = False
    include_event_tags: bool = False

    @classmethod
    def from_request(cls, controller: str, body: dict[str, Any], now: float) -> Search:
        def flag(name: str) -> bool:
            return as_bool(body.get(name) or False)

        published = body.get("published")
        to_ids = body.get("to_ids")
        limit = body.get("limit")
        return cls(
            controller=controller,
            published=None if published in (None, "", []) else as_bool(published),
            tags=parse_tags(body.get("tags")),
            timestamp=time_range(body.get("timestamp"), now),
            publish_timestamp=time_range(body.get("publish_timestamp") or body.get("last"), now),
            event_timestamp=time_range(body.get("event_timestamp"), now),
            to_ids=None if to_ids in (None, "", []) else as_bool(to_ids),
            types=string_list(body.get("type")),
            categories=string_list(body.get("category")),
            values=string_list(body.get("value")),
            uuids=string_list(body.get("uuid"))[0],
            eventids=string_list(body.get("eventid"))[0],
            metadata=flag("metadata"),
            limit=int(limit) if limit not in (None, "", 0, "0") else None,
            page=max(1, int(body.get("page") or 1)),
            order=body.get("order") or None,
            with_deleted=flag("deleted"),
            enforce_warninglist=flag("enforceWarninglist"),
            include_event_tags=flag("includeEventTags"),
        )

    @property
    def filters_attributes(self) -> bool:
        """True when attribute-level filters decide which events match (events controller)."""
        return (
            self.to_ids is not None
            or any(self.types)
            or any(self.categories)
            or any(self.values)
            or (self.controller == "attributes" and self.timestamp is not None)
        )

    def paging(self) -> tuple[str, list[Any]]:
        if self.limit is None:
            return "", []
        return " LIMIT ? OFFSET ?", [self.limit, (self.page - 1) * self.limit]

    def order_by(self) -> str:
        table, tiebreak = (
            (_EVENT_ORDER, "e.id") if self.controller == "events" else (_ATTRIBUTE_ORDER, "a.id")
        )
        if not self.order:
            return f" ORDER BY {tiebreak}"
        words = str(self.order).replace(",", " ").split()
        column = table.get(words[0].split(".")[-1].lower(), tiebreak)
        direction = "DESC" if len(words) > 1 and words[1].lower() == "desc" else "ASC"
        return f" ORDER BY {column} {direction}, {tiebreak} {direction}"


def _in(column: str, values: list[str], negate: bool = False) -> tuple[str, list[Any]]:
    marks = ",".join("?" * len(values))
    return f"{column} {'NOT IN' if negate else 'IN'} ({marks})", list(values)


def _like_any(column: str, values: list[str], negate: bool = False) -> tuple[str, list[Any]]:
    # MISP treats `%` in a value filter as a wildcard and compares case-insensitively.
    parts = " OR ".join(_match(column, v) for v in values)
    return (f"NOT ({parts})" if negate else f"({parts})"), list(values)


def _match(column: str, value: str) -> str:
    return f"{column} LIKE ?" if "%" in value else f"{column} = ? COLLATE NOCASE"


def _range(column: str, bounds: Range) -> tuple[list[str], list[Any]]:
    clauses, params = [], []
    if bounds[0] is not None:
        clauses.append(f"{column} >= ?")
        params.append(bounds[0])
    if bounds[1] is not None:
        clauses.append(f"{column} <= ?")
        params.append(bounds[1])
    return clauses, params


def _tag_exists(scope: str, names: tuple[str, ...]) -> tuple[str, list[Any]]:
    match = " OR ".join(_match("t.name", n) for n in names)
    sql = f"EXISTS (SELECT 1 FROM tag_links l JOIN tags t ON t.id = l.tag_id WHERE {scope} AND ({match}))"
    return sql, list(names)


def attribute_where(search: Search) -> tuple[list[str], list[Any]]:
    """Clauses on `attributes a` (always including the soft-delete rule)."""
    clauses: list[str] = [] if search.with_deleted else ["a.deleted = 0"]
    params: list[Any] = []
    if search.to_ids is not None:
        clauses.append("a.to_ids = ?")
        params.append(int(search.to_ids))
    for column, (wanted, excluded) in (
        ("a.type", search.types),
        ("a.category", search.categories),
    ):
        for values, negate in ((wanted, False), (excluded, True)):
            if values:
                sql, extra = _in(column, values, negate)
                clauses.append(sql)
                params += extra
    for values, negate in ((search.values[0], False), (search.values[1], True)):
        if values:
            sql, extra = _like_any("a.value", values, negate)
            clauses.append(sql)
            params += extra
    if search.controller == "attributes" and search.timestamp is not None:
        more, extra = _range("a.timestamp", search.timestamp)
        clauses += more
        params += extra
    return clauses, params


def event_where(search: Search, known_tags: set[str]) -> tuple[list[str], list[Any]] | None:
    """Clauses on `events e` (and, for attributes, `a`); None means "nothing can match"."""
    clauses: list[str] = []
    params: list[Any] = []
    if search.published is not None:
        clauses.append("e.published = ?")
        params.append(int(search.published))
    event_stamp = search.timestamp if search.controller == "events" else search.event_timestamp
    for column, bounds in (("e.timestamp", event_stamp), ("e.publish_timestamp", search.publish_timestamp)):
        if bounds is not None:
            more, extra = _range(column, bounds)
            clauses += more
            params += extra
    if search.eventids:
        sql, extra = _in("e.id", [str(int(i)) for i in search.eventids if str(i).isdigit()] or ["-1"])
        clauses.append(sql)
        params += extra
    if search.uuids:
        marks = ",".join("?" * len(search.uuids))
        if search.controller == "events":
            clauses.append(
                f"(e.uuid IN ({marks}) OR EXISTS (SELECT 1 FROM attributes u "
                f"WHERE u.event_id = e.id AND u.uuid IN ({marks})))"
            )
        else:
            clauses.append(f"(e.uuid IN ({marks}) OR a.uuid IN ({marks}))")
        params += search.uuids * 2
    tag_sql = _tag_clauses(search, known_tags)
    if tag_sql is None:
        return None
    clauses += tag_sql[0]
    params += tag_sql[1]
    return clauses, params


def _tag_clauses(search: Search, known_tags: set[str]) -> tuple[list[str], list[Any]] | None:
    tags = search.tags
    known = {name.lower() for name in known_tags}

    def exists(name: str) -> bool:
        if "%" in name:
            return True  # a pattern: let SQL decide
        return name.lower() in known

    # MISP answers an empty result when none of the listed tags exists on the server.
    if tags.any_of and not any(exists(t) for t in tags.any_of):
        return None
    if any(not exists(t) for t in tags.all_of):
        return None
    if search.controller == "events":
        anywhere, event_level = "l.event_id = e.id", "l.event_id = e.id AND l.attribute_id = 0"
    else:
        anywhere = "(l.attribute_id = a.id OR (l.event_id = a.event_id AND l.attribute_id = 0))"
        event_level = anywhere
    clauses: list[str] = []
    params: list[Any] = []
    if tags.any_of:
        sql, extra = _tag_exists(anywhere, tags.any_of)
        clauses.append(sql)
        params += extra
    for name in tags.all_of:
        sql, extra = _tag_exists(anywhere, (name,))
        clauses.append(sql)
        params += extra
    if tags.none_of:
        sql, extra = _tag_exists(event_level, tags.none_of)
        clauses.append(f"NOT {sql}")
        params += extra
    return clauses, params
