"""What the Table state keeps besides indicators and pending items: generations, marks and the run log.

The counterpart of revocation.py (generations, marks) and of the SQLite State's run log. Generation and
mark rows live in the workspace's partition (rows.py); the run log in a partition of its own, newest
first, its ids handed out by a counter row updated in the same transaction as the run's row, conditioned
on the counter's etag, so two runs starting at once never share an id.
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableTransactionError, UpdateMode

from misp_bridge.azure.storage import translate
from misp_bridge.errors import StateError
from misp_bridge.sync.indicator import Indicator
from misp_bridge.sync.state import rows as r
from misp_bridge.sync.state.codec import to_iso
from misp_bridge.sync.state.revocation import in_current, plan_next
from misp_bridge.sync.state.table_file import Op, TableFile

RUNS_KEPT = 1000  # the run log is for "what happened lately", as in the SQLite state


class TableRecords(TableFile):
    """Generations, marks and the run log (a mixin of TableState)."""

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
