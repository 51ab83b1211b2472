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

import json
import os
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from types import TracebackType
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, TableTransactionError, UpdateMode

from misp_bridge.azure.storage import StorageTarget, table_client, translate
from misp_bridge.errors import StateError
from misp_bridge.sync.indicator import Indicator
from misp_bridge.sync.state import rows as r
from misp_bridge.sync.state.codec import digest, pack_id, pack_uuid, to_epoch, to_iso
from misp_bridge.sync.state.lease import DEFAULT_DURATION, TableLease
from misp_bridge.sync.state.protocol import Pending, Status, status_of
from misp_bridge.sync.state.revocation import in_current, plan_next

PAGE_SIZE = 500  # rows per page of the streaming iterators (the service sends at most 1,000)
LOOKUP_PAGE = 1000  # up to this many pending items (or generations) one query finds them all
RUNS_KEPT = 1000
WORKERS = 16  # parallel point reads
_MESSAGE_MAX = 500
_QUERY = "PartitionKey eq @pk and RowKey gt @lo and RowKey lt @hi"
Op = tuple[
    Any, ...
]  # one operation of a transaction: ("upsert", entity, {"mode": ...}) or ("delete", entity)


class _Trace:
    """Passes each request (method and URL) to a callback: tests count what a call costs."""

    def __init__(self) -> None:
        self.callback: Callable[[str], None] | None = None

    def __call__(self, request: Any) -> None:
        if self.callback is not None:
            self.callback(f"{request.http_request.method} {request.http_request.url}")


def _sort_key(stix_id: str) -> tuple[bool, str | bytes]:
    packed = pack_id(stix_id)  # the SQLite state's order: text first, then packed uuids
    return isinstance(packed, bytes), packed


class TableState:
    """See the module docstring."""

    def __init__(
        self,
        table: TableClient,
        where: str,
        *,
        clock: Callable[[], float] = time.time,
        lease_seconds: float = DEFAULT_DURATION,
        on_lease_lost: Callable[[str], None] | None = None,
        trace: _Trace | None = None,
    ) -> None:
        self._table = table
        self._where = where
        self._clock = clock
        self._lease_seconds = lease_seconds
        self._on_lease_lost = on_lease_lost
        self._trace = trace or _Trace()
        self._pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="state")
        self._pending_lock = threading.Lock()  # pending rows are read, then written
        self._closed = False

    @classmethod
    def open(
        cls,
        target: StorageTarget,
        *,
        clock: Callable[[], float] = time.time,
        lease_seconds: float = DEFAULT_DURATION,
        on_lease_lost: Callable[[str], None] | None = None,
    ) -> TableState:
        """Connect (and create the table when missing); StateError in one sentence when it cannot."""
        trace = _Trace()
        client = table_client(target, raw_request_hook=trace)
        return cls(
            client,
            target.where,
            clock=clock,
            lease_seconds=lease_seconds,
            on_lease_lost=on_lease_lost,
            trace=trace,
        )

    @property
    def where(self) -> str:
        return self._where

    def lock(
        self, *, wait: float = 10.0, sleep: Callable[[float], None] = time.sleep
    ) -> AbstractContextManager[None]:
        """The run lease (lease.py); RunLeaseHeld after `wait` seconds."""
        lease = TableLease(
            self._table,
            self._where,
            duration=self._lease_seconds,
            clock=self._clock,
            on_lost=self._on_lease_lost,
        )
        return lease.hold(wait=wait, sleep=sleep)

    def set_trace(self, callback: Callable[[str], None] | None) -> None:
        self._trace.callback = callback

    def close(self) -> None:
        self._closed = True
        self._pool.shutdown(wait=True)
        self._table.close()

    def __enter__(self) -> TableState:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- plumbing ----------------------------------------------------------------------------------

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        if self._closed:
            raise StateError(f"{self._where} could not be {doing}: the state is closed.")
        try:
            yield
        except StateError:
            raise
        except RuntimeError as exc:  # the pool after close()
            raise StateError(f"{self._where} could not be {doing} ({exc}).") from exc
        except Exception as exc:
            raise translate(exc, self._where, doing) from exc

    def _get_many(self, pk: str, keys: Iterable[str], select: list[str] | None) -> dict[str, Any]:
        """Row key -> entity (None when absent), read in parallel."""
        unique = list(dict.fromkeys(keys))

        def one(row_key: str) -> tuple[str, Any]:
            try:
                return row_key, self._table.get_entity(pk, row_key, select=select)
            except ResourceNotFoundError:
                return row_key, None

        with self._errors("read"):
            if len(unique) <= 1:
                return dict(one(k) for k in unique)
            return dict(self._pool.map(one, unique))

    def _range(
        self, pk: str, prefix: str, *, select: list[str] | None = None, extra: str = "", **params: Any
    ) -> Iterator[list[Any]]:
        """Pages of the rows whose key starts with `prefix`; each page is its own request (the
        continuation token is all that is kept between pages)."""
        query = _QUERY + extra
        parameters = {"pk": pk, "lo": prefix, "hi": r.upper(prefix), **params}
        token: Any = None
        while True:
            with self._errors("read"):
                pager = self._table.query_entities(
                    query, parameters=parameters, select=select, results_per_page=PAGE_SIZE
                ).by_page(continuation_token=token)
                page = list(next(pager, []))
                token = getattr(pager, "continuation_token", None)
            yield page
            if not token:
                return

    def _lookup(self, pk: str, prefix: str, ids: Iterable[str], select: list[str]) -> dict[str, Any]:
        """id -> the row `prefix` + key(id), for those that exist. Pending items and generations are few
        as a rule: while the prefix holds at most one page of rows, that page (one request) answers for
        every id; beyond that, point reads in parallel."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return {}
        with self._errors("read"):
            pager = self._table.query_entities(
                _QUERY,
                parameters={"pk": pk, "lo": prefix, "hi": r.upper(prefix)},
                select=["RowKey", *select],
                results_per_page=LOOKUP_PAGE,
            ).by_page()
            first = list(next(pager, []))
            complete = not getattr(pager, "continuation_token", None)
        if complete:
            by_key = {row["RowKey"]: row for row in first}
        else:
            by_key = self._get_many(pk, (prefix + r.key(sid) for sid in wanted), select)
        return {sid: row for sid in wanted if (row := by_key.get(prefix + r.key(sid))) is not None}

    def _any(self, pk: str, prefix: str) -> bool:
        return any(page for page in self._range(pk, prefix, select=["RowKey"]))

    def _submit(self, pk: str, units: Iterable[list[Op]], doing: str = "written") -> None:
        """Write units of operations (a unit never spans two transactions) in transactions of at most
        r.BATCH entities and r.BATCH_BYTES; a later operation on the same row replaces an earlier one."""
        batch: dict[str, Op] = {}
        size = 0
        for unit in units:
            weight = sum(r.body_size(op[1]) for op in unit)
            fresh = {op[1]["RowKey"] for op in unit} - set(batch)
            if batch and (len(batch) + len(fresh) > r.BATCH or size + weight > r.BATCH_BYTES):
                self._transaction(pk, list(batch.values()), doing)
                batch, size = {}, 0
            for op in unit:
                batch.pop(op[1]["RowKey"], None)
                batch[op[1]["RowKey"]] = op
            size += weight
        if batch:
            self._transaction(pk, list(batch.values()), doing)

    def _transaction(self, pk: str, ops: list[Op], doing: str) -> None:
        with self._errors(doing):
            try:
                self._table.submit_transaction(ops)
            except TableTransactionError as exc:
                raise translate(exc, self._where, doing) from exc

    def _upsert(self, entity: dict[str, Any], *, merge: bool = False) -> Op:
        return ("upsert", entity, {"mode": UpdateMode.MERGE if merge else UpdateMode.REPLACE})

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

    # -- generations and marks ---------------------------------------------------------------------

    def generations(self, workspace: str, base_ids: Sequence[str]) -> dict[str, int]:
        """Generation-0 id -> current generation, for those past generation 0."""
        rows = self._lookup(r.partition(workspace), r.GENERATION, base_ids, ["Id", "Generation"])
        return {sid: int(row["Generation"]) for sid, row in rows.items()}

    def current(self, workspace: str, items: Sequence[Indicator]) -> list[Indicator]:
        return in_current(items, self.generations(workspace, [item.base for item in items]))

    def next_generation(
        self, workspace: str, items: Sequence[Indicator], *, persist: bool = True
    ) -> tuple[list[Indicator], list[Indicator]]:
        found = self.generations(workspace, [item.base for item in items])
        moved, stuck, raised = plan_next(items, found)
        if persist and raised:
            pk, now = r.partition(workspace), self._clock()
            units = []
            for item, generation in raised:
                row = {
                    "PartitionKey": pk,
                    "RowKey": r.GENERATION + r.key(item.base),
                    "Id": item.base,
                    "Generation": generation,
                    "UpdatedAt": now,
                }
                if item.base not in found:  # the first record keeps the attribute, as in SQLite
                    row["Attribute"] = item.attribute_uuid
                units.append([self._upsert(row, merge=True)])
            self._submit(pk, units)
        return moved, stuck

    def mark(self, workspace: str, name: str) -> float | None:
        row = self._get_many(r.partition(workspace), [r.MARK + r.key(name)], ["Value"]).get(
            r.MARK + r.key(name)
        )
        return float(row["Value"]) if row is not None else None

    def set_mark(self, workspace: str, name: str, value: float) -> None:
        pk = r.partition(workspace)
        self._submit(
            pk,
            [
                [
                    self._upsert(
                        {
                            "PartitionKey": pk,
                            "RowKey": r.MARK + r.key(name),
                            "Name": name,
                            "Value": float(value),
                        }
                    )
                ]
            ],
        )

    # -- runs --------------------------------------------------------------------------------------

    def start_run(self, kind: str) -> int:
        """Log the start of a run; returns its id (the counter row is updated in the same transaction,
        conditioned on its etag, so two runs never get one id). Only the last RUNS_KEPT are kept."""
        for _attempt in range(20):
            counter = self._get_many(r.RUNS_PARTITION, [r.RUN_COUNTER], None)[r.RUN_COUNTER]
            run_id = int(counter["Next"]) if counter is not None else 1
            row = {
                "PartitionKey": r.RUNS_PARTITION,
                "RowKey": r.run_row(run_id),
                "Kind": kind,
                "Pid": os.getpid(),
                "StartedAt": self._clock(),
            }
            nxt = {"PartitionKey": r.RUNS_PARTITION, "RowKey": r.RUN_COUNTER, "Next": float(run_id + 1)}
            bump: Op = (
                (
                    "update",
                    nxt,
                    {
                        "mode": UpdateMode.REPLACE,
                        "etag": counter.metadata["etag"],
                        "match_condition": MatchConditions.IfNotModified,
                    },
                )
                if counter is not None
                else ("create", nxt)
            )
            try:
                self._table.submit_transaction([("upsert", row, {"mode": UpdateMode.REPLACE}), bump])
            except (TableTransactionError, ResourceModifiedError) as exc:
                if getattr(exc, "status_code", None) in (409, 412):
                    continue  # another run took this id first
                raise translate(exc, self._where, "written") from exc
            except Exception as exc:
                raise translate(exc, self._where, "written") from exc
            self._prune_runs(run_id)
            return run_id
        raise StateError(f"{self._where} could not be written: the run counter kept changing.")

    def _prune_runs(self, run_id: int) -> None:
        old = [
            row["RowKey"]
            for page in self._range(
                r.RUNS_PARTITION,
                r.RUN,
                select=["RowKey"],
                extra=" and RowKey ge @old",
                old=r.run_row(run_id - RUNS_KEPT),
            )
            for row in page
        ]
        self._submit(
            r.RUNS_PARTITION, [[("delete", {"PartitionKey": r.RUNS_PARTITION, "RowKey": k})] for k in old]
        )

    def finish_run(self, run_id: int, summary: Mapping[str, Any], exit_code: int) -> None:
        """Store the run's summary (JSON, compressed; the caller keeps secrets out of it) and exit code."""
        row = {
            "PartitionKey": r.RUNS_PARTITION,
            "RowKey": r.run_row(run_id),
            "FinishedAt": self._clock(),
            "ExitCode": int(exit_code),
            "Summary": _packed_summary(summary),
        }
        with self._errors("written"):
            try:
                self._table.update_entity(row, mode=UpdateMode.MERGE)
            except ResourceNotFoundError:
                raise StateError(f"Run {run_id} is not in {self._where}.") from None

    def last_runs(self, n: int = 10) -> list[dict[str, Any]]:
        """Newest first: id, kind, pid, started_at, finished_at (ISO UTC or None), exit_code, summary."""
        found: list[Any] = []
        for page in self._range(r.RUNS_PARTITION, r.RUN):
            found.extend(page)
            if len(found) >= n:
                break
        return [
            {
                "id": r.run_id_of(row["RowKey"]),
                "kind": row.get("Kind"),
                "pid": row.get("Pid"),
                "started_at": to_iso(row.get("StartedAt")),
                "finished_at": to_iso(row.get("FinishedAt")),
                "exit_code": row.get("ExitCode"),
                "summary": _summary(row.get("Summary")),
            }
            for row in found[:n]
        ]


def _packed_summary(summary: Mapping[str, Any]) -> bytes:
    """The summary as compressed JSON within one property (64 KB); hundreds of workspaces may not fit,
    and then their per-workspace counts are left out (the run's own log has them)."""
    for data in (
        dict(summary),
        {k: v for k, v in summary.items() if k != "workspaces"} | {"workspaces": "too many"},
    ):
        blob = zlib.compress(json.dumps(data, default=str, sort_keys=True).encode("utf-8"), 6)
        if len(blob) <= r.CHUNK:
            return blob
    return zlib.compress(b"null")


def _summary(blob: Any) -> Any:
    if blob is None:
        return None
    try:
        return json.loads(zlib.decompress(bytes(blob)).decode("utf-8"))
    except (zlib.error, ValueError):
        return None
