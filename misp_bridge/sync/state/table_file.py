"""The Azure Table side of the Table state: the client, the lease, requests in parallel, transactions.

`TableFile` is to TableState what `SqliteFile` is to the SQLite State: opening (the table is created when
missing), the run lock (a lease, lease.py), and the plumbing every call uses: point reads made in
parallel on a small thread pool (`_get_many`), key-range pages that hold only the service's continuation
token between them (`_range`), small row sets found with one query (`_lookup`), and entity-group
transactions of at most 100 entities and 3 MB (`_submit`). Every SDK failure becomes one StateError
sentence (azure/storage.py). Safe to share between threads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from types import TracebackType
from typing import Any, TypeVar

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient, TableTransactionError, UpdateMode

from misp_bridge.azure.storage import StorageTarget, table_client, translate
from misp_bridge.errors import StateError
from misp_bridge.sync.state import rows as r
from misp_bridge.sync.state.lease import DEFAULT_DURATION, TableLease

PAGE_SIZE = 500  # rows per page of the streaming iterators (the service sends at most 1,000)
LOOKUP_PAGE = 1000  # up to this many pending items (or generations) one query finds them all
WORKERS = 16  # parallel point reads
QUERY = "PartitionKey eq @pk and RowKey gt @lo and RowKey lt @hi"
# One operation of a transaction: ("upsert", entity, {"mode": ...}), ("delete", entity), ...
Op = tuple[Any, ...]

_T = TypeVar("_T", bound="TableFile")


class _Trace:
    """Passes each request (method and URL) to a callback: tests count what a call costs."""

    def __init__(self) -> None:
        self.callback: Callable[[str], None] | None = None

    def __call__(self, request: Any) -> None:
        if self.callback is not None:
            self.callback(f"{request.http_request.method} {request.http_request.url}")


class TableFile:
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
        self._pending_lock = threading.Lock()  # pending rows are read, then written (tables.py)
        self._closed = False

    @classmethod
    def open(
        cls: type[_T],
        target: StorageTarget,
        *,
        clock: Callable[[], float] = time.time,
        lease_seconds: float = DEFAULT_DURATION,
        on_lease_lost: Callable[[str], None] | None = None,
    ) -> _T:
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

    def __enter__(self: _T) -> _T:
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
        query = QUERY + extra
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
                QUERY,
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
