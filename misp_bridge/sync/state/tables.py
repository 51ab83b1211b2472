"""TableState: the sync's state in an Azure Storage table, for a Function whose workers keep no disk.

The same data and the same contract as the SQLite `State` (protocol.py), laid out as rows.py says:
one partition per workspace, so that every write about a Sentinel batch is one or two entity-group
transactions and every read stays in one partition. Lifecycle: `TableState.open(target)` (creates the
table when missing) -> `with state.lock():` (the lease, lease.py) -> calls -> `close()`.

How the calls map to the service:
- look-ups by id (classify, known_ids, generations, pending pointers) are point reads, made in parallel
  on a small thread pool: one request per indicator MISP offers, whatever the table holds;
- writes are entity-group transactions of up to 100 entities; a call writing more is several
  transactions, ordered so that an interruption between them leaves nothing worse than an item still
  pending that was delivered (it is sent again: Sentinel keeps one object per id);
- `pending` and `uploaded_body_ids` page through a key range with the service's continuation token,
  holding nothing between pages, so their loop may write.
Safe to share between threads, as the SQLite State is.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from misp_bridge.sync.indicator import Indicator
from misp_bridge.sync.state import rows as r
from misp_bridge.sync.state.codec import digest, pack_id, pack_uuid, to_epoch
from misp_bridge.sync.state.protocol import Pending, Status, status_of
from misp_bridge.sync.state.table_file import Op
from misp_bridge.sync.state.table_records import TableRecords

_MESSAGE_MAX = 500  # Sentinel's per-object messages can be long; a few hundred characters say enough


def _sort_key(stix_id: str) -> tuple[bool, str | bytes]:
    packed = pack_id(stix_id)  # the SQLite state's order: text first, then packed uuids
    return isinstance(packed, bytes), packed


class TableState(TableRecords):
    """See the module docstring."""

    # -- indicators --------------------------------------------------------------------------------

    def classify(self, workspace: str, items: Sequence[tuple[str, str]]) -> dict[str, Status]:
        pk = r.partition(workspace)
        found = self._get_many(
            pk, (r.INDICATOR + r.key(sid) for sid, _ in items), ["Delivered", "Rejected", "Revoked"]
        )
        result: dict[str, Status] = {}
        for stix_id, content_hash in items:
            row = found.get(r.INDICATOR + r.key(stix_id))
            if row is None:
                result[stix_id] = "new"
            else:
                result[stix_id] = status_of(
                    digest(content_hash), row.get("Delivered"), row.get("Rejected"), row.get("Revoked", False)
                )
        return result

    def _index(self, pk: str, attribute_uuid: str, stix_id: str) -> Op:
        return self._upsert(
            {"PartitionKey": pk, "RowKey": r.attribute_prefix(attribute_uuid) + r.key(stix_id)}
        )

    def record_delivered(self, workspace: str, items: Sequence[Indicator]) -> None:
        pk, now = r.partition(workspace), self._clock()
        units = []
        for item in items:  # every value is converted before anything is written
            row = {
                "PartitionKey": pk,
                "RowKey": r.INDICATOR + r.key(item.stix_id),
                "Id": item.stix_id,
                "Delivered": digest(item.content_hash),
                "Attribute": item.attribute_uuid,
                "Event": item.event_uuid,
                "ValidUntil": to_epoch(item.valid_until),
                "Revoked": False,
                "UpdatedAt": now,
            }
            units.append([self._upsert(row), self._index(pk, item.attribute_uuid, item.stix_id)])
        self._submit(pk, units)
        self._drop_pending(pk, [item.stix_id for item in items])

    def record_rejected(self, workspace: str, items: Sequence[tuple[Indicator, str]]) -> None:
        """A version delivered earlier stays recorded as delivered (MERGE keeps its properties)."""
        pk, now = r.partition(workspace), self._clock()
        units = []
        for item, message in items:
            row = {
                "PartitionKey": pk,
                "RowKey": r.INDICATOR + r.key(item.stix_id),
                "Id": item.stix_id,
                "Rejected": digest(item.content_hash),
                "Attribute": item.attribute_uuid,
                "Message": message[:_MESSAGE_MAX],
                "UpdatedAt": now,
            }
            units.append([self._upsert(row, merge=True), self._index(pk, item.attribute_uuid, item.stix_id)])
        self._submit(pk, units)
        self._drop_pending(pk, [item.stix_id for item, _ in items])

    def record_revoked(self, workspace: str, items: Sequence[Indicator | str]) -> None:
        """Revoked for good; an id the table did not know gets a row (with its uuids, when given)."""
        pk, now = r.partition(workspace), self._clock()
        wanted = {
            (i if isinstance(i, str) else i.stix_id): ("", "")
            if isinstance(i, str)
            else (i.attribute_uuid, i.event_uuid)
            for i in items
        }
        known = self._get_many(pk, (r.INDICATOR + r.key(sid) for sid in wanted), ["Id"])
        units = []
        for stix_id, (attribute, event) in wanted.items():
            row: dict[str, Any] = {
                "PartitionKey": pk,
                "RowKey": r.INDICATOR + r.key(stix_id),
                "Id": stix_id,
                "Revoked": True,
                "UpdatedAt": now,
            }
            if known.get(row["RowKey"]) is not None:
                units.append([self._upsert(row, merge=True)])
            else:
                row.update(Attribute=attribute, Event=event)
                units.append([self._upsert(row), self._index(pk, attribute, stix_id)])
        self._submit(pk, units)
        self._drop_pending(pk, list(wanted))

    def uploaded_for_attributes(self, workspace: str, attribute_uuids: Sequence[str]) -> dict[str, list[str]]:
        pk = r.partition(workspace)
        wanted = sorted(set(attribute_uuids), key=lambda a: (isinstance(pack_uuid(a), bytes), pack_uuid(a)))

        def indexed(attribute: str) -> list[str]:
            prefix = r.attribute_prefix(attribute)
            keys = [
                row["RowKey"][len(prefix) :]
                for page in self._range(pk, prefix, select=["RowKey"])
                for row in page
            ]
            return [r.INDICATOR + k for k in keys]

        with self._errors("read"):
            candidates = dict(zip(wanted, self._pool.map(indexed, wanted), strict=True))
        rows = self._get_many(
            pk, (k for keys in candidates.values() for k in keys), ["Id", "Attribute", "Delivered", "Revoked"]
        )
        result: dict[str, list[str]] = {}
        for attribute, keys in candidates.items():
            ids = [
                row["Id"]
                for k in keys
                if (row := rows.get(k)) is not None
                and row.get("Attribute") == attribute
                and row.get("Delivered") is not None
                and not row.get("Revoked", False)
            ]
            if ids:
                result[attribute] = sorted(set(ids), key=_sort_key)
        return result

    def known_ids(self, workspace: str, stix_ids: Sequence[str]) -> set[str]:
        pk = r.partition(workspace)
        rows = self._get_many(pk, (r.INDICATOR + r.key(sid) for sid in stix_ids), ["Delivered"])
        return {
            sid
            for sid in stix_ids
            if (row := rows.get(r.INDICATOR + r.key(sid))) is not None and row.get("Delivered") is not None
        }

    def uploaded_body_ids(
        self, workspace: str, *, expired_before: str | None = None, event_uuid: str | None = None
    ) -> Iterator[tuple[str, str, str]]:
        """(stix_id, attribute_uuid, event_uuid) delivered and not revoked, in key order, page by page."""
        extra, params = "", dict[str, Any]()
        if expired_before is not None:
            extra += " and ValidUntil lt @until"
            params["until"] = to_epoch(expired_before)
        if event_uuid is not None:
            extra += " and Event eq @event"
            params["event"] = event_uuid
        select = ["Id", "Attribute", "Event", "Delivered", "Revoked"]
        for page in self._range(r.partition(workspace), r.INDICATOR, select=select, extra=extra, **params):
            for row in page:
                if row.get("Delivered") is not None and not row.get("Revoked", False):
                    yield row["Id"], row.get("Attribute", ""), row.get("Event", "")

    def is_empty(self, workspace: str) -> bool:
        pk = r.partition(workspace)
        return not (self._any(pk, r.INDICATOR) or self._any(pk, r.POINTER))

    # -- pending -----------------------------------------------------------------------------------

    def _pointers(self, pk: str, stix_ids: Iterable[str]) -> dict[str, Any]:
        """stix id -> its pending pointer row, for those pending."""
        return self._lookup(pk, r.POINTER, stix_ids, ["Id", "Seq", "Attempts", "FirstAt"])

    def add_pending(self, workspace: str, items: Sequence[Indicator]) -> None:
        """Keep undelivered indicators; a known one gets the new body and attempts + 1, and keeps its
        place in the queue."""
        pk, now = r.partition(workspace), self._clock()
        with self._pending_lock:
            known = self._pointers(pk, (item.stix_id for item in items))
            units = []
            for item in items:
                before = known.get(item.stix_id)
                seq = before["Seq"] if before else r.queue_order(now)
                attempts = int(before["Attempts"]) + 1 if before else 1
                first = float(before["FirstAt"]) if before else now
                known[item.stix_id] = {"Seq": seq, "Attempts": attempts, "FirstAt": first}
                queued = {
                    "PartitionKey": pk,
                    "RowKey": seq,
                    "Id": item.stix_id,
                    "ContentHash": item.content_hash,
                    "Attribute": item.attribute_uuid,
                    "Event": item.event_uuid,
                    "Base": item.base_id or None,
                    "Attempts": attempts,
                    "FirstAt": first,
                    "LastAt": now,
                    **r.pack_body(item.body, item.stix_id),
                }
                pointer = {
                    "PartitionKey": pk,
                    "RowKey": r.POINTER + r.key(item.stix_id),
                    "Id": item.stix_id,
                    "Seq": seq,
                    "Attempts": attempts,
                    "FirstAt": first,
                }
                units.append([self._upsert(queued), self._upsert(pointer)])
            self._submit(pk, units)

    def pending(self, workspace: str) -> Iterator[Pending]:
        """Undelivered indicators, oldest first, read PAGE_SIZE at a time."""
        for page in self._range(r.partition(workspace), r.QUEUE):
            for row in page:
                with self._errors("read"):
                    body = r.unpack_body(row)
                indicator = Indicator(
                    row["Id"],
                    body,
                    row["ContentHash"],
                    row.get("Attribute", ""),
                    row.get("Event", ""),
                    base_id=row.get("Base") or "",
                )
                yield Pending(indicator, int(row["Attempts"]))

    def pending_count(self, workspace: str) -> int:
        return sum(len(page) for page in self._range(r.partition(workspace), r.POINTER, select=["RowKey"]))

    def drop_pending(self, workspace: str, stix_ids: Sequence[str]) -> None:
        self._drop_pending(r.partition(workspace), stix_ids)

    def _drop_pending(self, pk: str, stix_ids: Iterable[str]) -> None:
        with self._pending_lock:
            pointers = self._pointers(pk, stix_ids)
            units = [
                [
                    ("delete", {"PartitionKey": pk, "RowKey": row["Seq"]}),
                    ("delete", {"PartitionKey": pk, "RowKey": r.POINTER + r.key(sid)}),
                ]
                for sid, row in pointers.items()
            ]
            self._submit(pk, units)
