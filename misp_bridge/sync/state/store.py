"""The sync's memory between runs: one SQLite file (stdlib sqlite3, WAL) behind the `State` object.

Per workspace it knows the content hash of every indicator Sentinel accepted (so an unchanged one is not
sent again), the ones Sentinel rejected (not retried until their hash changes), the undelivered ones (sent
first next run, with their STIX body) and which were revoked; it also keeps a short log of runs.
Lifecycle: `State.open(path)` -> `with state.lock():` (one run at a time) -> calls -> `close()`.

Every call is one transaction and holds an internal lock, so the uploader's worker threads may share one
State. Iterators (`pending`, `uploaded_body_ids`) read page by page and hold nothing between pages, so
the loop body may call back into State (record a delivery, revoke) while iterating.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from misp_bridge.errors import StateError
from misp_bridge.sync.indicator import Indicator
from misp_bridge.sync.state.codec import digest, pack_id, pack_uuid, to_epoch, to_iso, unpack_id, unpack_uuid
from misp_bridge.sync.state.protocol import Pending, Status, status_of
from misp_bridge.sync.state.revocation import RevocationRecords
from misp_bridge.sync.state.schema import SCHEMA_VERSION
from misp_bridge.sync.state.sqlite import IN_CHUNK

# Rows fetched per page by the streaming iterators: bounded memory, few round trips.
PAGE_SIZE = 500
# Sentinel's per-object messages can be long; a few hundred characters say what went wrong.
_MESSAGE_MAX = 500
# The run log is for "what happened lately", not an archive.
RUNS_KEPT = 1000


class State(RevocationRecords):
    """Narrow object over the state file; see the module docstring for the lifecycle."""

    # -- indicators --------------------------------------------------------------------------------

    def classify(self, workspace: str, items: Sequence[tuple[str, str]]) -> dict[str, Status]:
        """(stix_id, content_hash) -> stix_id: status; one query per IN_CHUNK ids."""
        found = {
            row[0]: row[1:]
            for row in self._select_in(
                workspace,
                "SELECT stix_id, delivered_hash, rejected_hash, revoked FROM indicators"
                " WHERE ws = ? AND stix_id IN ({marks})",
                [pack_id(stix_id) for stix_id, _ in items],
            )
        }
        result: dict[str, Status] = {}
        for stix_id, content_hash in items:
            row = found.get(pack_id(stix_id))
            result[stix_id] = "new" if row is None else status_of(digest(content_hash), *row)
        return result

    def record_delivered(self, workspace: str, items: Sequence[Indicator]) -> None:
        """Indicators Sentinel accepted: their hash, uuids and valid_until are remembered."""
        now = self._clock()
        with self._write() as conn:
            ws = self._ws(conn, workspace, create=True)
            conn.executemany(
                "INSERT INTO indicators(ws, stix_id, delivered_hash, rejected_hash, attribute_uuid,"
                " event_uuid, valid_until, revoked, reject_message, updated_at)"
                " VALUES (?, ?, ?, NULL, ?, ?, ?, 0, NULL, ?)"
                " ON CONFLICT(ws, stix_id) DO UPDATE SET delivered_hash = excluded.delivered_hash,"
                " rejected_hash = NULL, attribute_uuid = excluded.attribute_uuid,"
                " event_uuid = excluded.event_uuid, valid_until = excluded.valid_until, revoked = 0,"
                " reject_message = NULL, updated_at = excluded.updated_at",
                [
                    (
                        ws,
                        pack_id(i.stix_id),
                        digest(i.content_hash),
                        pack_uuid(i.attribute_uuid),
                        pack_uuid(i.event_uuid),
                        to_epoch(i.valid_until),
                        now,
                    )
                    for i in items
                ],
            )
            self._delete_pending(conn, ws, (i.stix_id for i in items))

    def record_rejected(self, workspace: str, items: Sequence[tuple[Indicator, str]]) -> None:
        """(indicator, Sentinel's message) for those Sentinel refused; they also leave the pending list.

        A version delivered earlier stays recorded as delivered (it is still in Sentinel).
        """
        now = self._clock()
        with self._write() as conn:
            ws = self._ws(conn, workspace, create=True)
            conn.executemany(
                "INSERT INTO indicators(ws, stix_id, delivered_hash, rejected_hash, attribute_uuid,"
                " event_uuid, valid_until, revoked, reject_message, updated_at)"
                " VALUES (?, ?, NULL, ?, ?, NULL, NULL, 0, ?, ?)"
                " ON CONFLICT(ws, stix_id) DO UPDATE SET rejected_hash = excluded.rejected_hash,"
                " attribute_uuid = excluded.attribute_uuid, reject_message = excluded.reject_message,"
                " updated_at = excluded.updated_at",
                [
                    (
                        ws,
                        pack_id(i.stix_id),
                        digest(i.content_hash),
                        pack_uuid(i.attribute_uuid),
                        message[:_MESSAGE_MAX],
                        now,
                    )
                    for i, message in items
                ],
            )
            self._delete_pending(conn, ws, (i.stix_id for i, _ in items))

    def record_revoked(self, workspace: str, items: Sequence[Indicator | str]) -> None:
        """Mark indicators revoked in Sentinel (final: their ids never come back); a pending upload of
        them is dropped. An indicator the state did not know (a lost state file) gets a row, so that
        its attribute, back in MISP, is sent under a new id."""
        now = self._clock()
        rows = [
            (i, "", "") if isinstance(i, str) else (i.stix_id, i.attribute_uuid, i.event_uuid) for i in items
        ]
        with self._write() as conn:
            ws = self._ws(conn, workspace, create=True)
            conn.executemany(
                "INSERT INTO indicators(ws, stix_id, delivered_hash, rejected_hash, attribute_uuid,"
                " event_uuid, valid_until, revoked, reject_message, updated_at)"
                " VALUES (?, ?, NULL, NULL, ?, ?, NULL, 1, NULL, ?)"
                " ON CONFLICT(ws, stix_id) DO UPDATE SET revoked = 1, updated_at = excluded.updated_at",
                [(ws, pack_id(sid), pack_uuid(attr), pack_uuid(event), now) for sid, attr, event in rows],
            )
            self._delete_pending(conn, ws, [sid for sid, _attr, _event in rows])

    def uploaded_for_attributes(self, workspace: str, attribute_uuids: Sequence[str]) -> dict[str, list[str]]:
        """Attribute uuid -> stix ids delivered and not revoked; attributes with none are left out."""
        result: dict[str, list[str]] = {}
        for attribute_uuid, stix_id in self._select_in(
            workspace,
            "SELECT attribute_uuid, stix_id FROM indicators WHERE ws = ? AND attribute_uuid IN ({marks})"
            " AND delivered_hash IS NOT NULL AND revoked = 0 ORDER BY attribute_uuid, stix_id",
            map(pack_uuid, attribute_uuids),
        ):
            result.setdefault(unpack_uuid(attribute_uuid), []).append(unpack_id(stix_id))
        return result

    def known_ids(self, workspace: str, stix_ids: Sequence[str]) -> set[str]:
        """Which of these ids were ever delivered to the workspace (revoked ones included: they exist)."""
        return {
            unpack_id(row[0])
            for row in self._select_in(
                workspace,
                "SELECT stix_id FROM indicators WHERE ws = ? AND stix_id IN ({marks})"
                " AND delivered_hash IS NOT NULL",
                map(pack_id, stix_ids),
            )
        }

    def uploaded_body_ids(
        self, workspace: str, *, expired_before: str | None = None, event_uuid: str | None = None
    ) -> Iterator[tuple[str, str, str]]:
        """(stix_id, attribute_uuid, event_uuid) delivered and not revoked, by stix id, page by page.

        `expired_before` (ISO 8601) keeps those whose valid_until is earlier; `event_uuid` keeps one event.
        """
        conditions = ["ws = ?", "stix_id > ?", "delivered_hash IS NOT NULL", "revoked = 0"]
        extra: list[Any] = []
        if expired_before is not None:
            conditions.append("valid_until < ?")
            extra.append(to_epoch(expired_before))
        if event_uuid is not None:
            conditions.append("event_uuid = ?")
            extra.append(pack_uuid(event_uuid))
        sql = (
            "SELECT stix_id, attribute_uuid, event_uuid FROM indicators WHERE "
            + " AND ".join(conditions)
            + " ORDER BY stix_id LIMIT ?"
        )
        # "" sorts before every stored key: text sorts before blobs in SQLite.
        for row in self._pages(workspace, sql, "", extra, PAGE_SIZE):
            yield (unpack_id(row[0]), unpack_uuid(row[1]), unpack_uuid(row[2]))

    def is_empty(self, workspace: str) -> bool:
        """True when nothing was ever recorded for the workspace (first run, or a lost state file)."""
        with self._read() as conn:
            ws = self._ws(conn, workspace, create=False)
            if ws is None:
                return True
            row = conn.execute(
                "SELECT EXISTS(SELECT 1 FROM indicators WHERE ws = ?)"
                " OR EXISTS(SELECT 1 FROM pending WHERE ws = ?)",
                (ws, ws),
            ).fetchone()
        return not row[0]

    # -- pending -----------------------------------------------------------------------------------

    def add_pending(self, workspace: str, items: Sequence[Indicator]) -> None:
        """Keep undelivered indicators; a known one gets the new body and attempts + 1, and keeps its
        place in the queue."""
        now = self._clock()
        with self._write() as conn:
            ws = self._ws(conn, workspace, create=True)
            conn.executemany(
                "INSERT INTO pending(ws, stix_id, body, content_hash, attribute_uuid, event_uuid, attempts,"
                " first_at, last_at, base_id) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?)"
                " ON CONFLICT(ws, stix_id) DO UPDATE SET body = excluded.body,"
                " content_hash = excluded.content_hash, attribute_uuid = excluded.attribute_uuid,"
                " event_uuid = excluded.event_uuid, attempts = pending.attempts + 1,"
                " last_at = excluded.last_at, base_id = excluded.base_id",
                [
                    (
                        ws,
                        i.stix_id,
                        json.dumps(dict(i.body), separators=(",", ":")),
                        i.content_hash,
                        i.attribute_uuid,
                        i.event_uuid,
                        now,
                        now,
                        i.base_id or None,
                    )
                    for i in items
                ],
            )

    def pending(self, workspace: str) -> Iterator[Pending]:
        """Undelivered indicators, oldest first, read PAGE_SIZE at a time."""
        sql = (
            "SELECT seq, stix_id, body, content_hash, attribute_uuid, event_uuid, attempts, base_id"
            " FROM pending WHERE ws = ? AND seq > ? ORDER BY seq LIMIT ?"
        )
        for _seq, stix_id, body, content_hash, attribute_uuid, event_uuid, attempts, base_id in self._pages(
            workspace, sql, 0, (), PAGE_SIZE
        ):
            indicator = Indicator(
                stix_id, json.loads(body), content_hash, attribute_uuid, event_uuid, base_id=base_id or ""
            )
            yield Pending(indicator, attempts)

    def pending_count(self, workspace: str) -> int:
        with self._read() as conn:
            ws = self._ws(conn, workspace, create=False)
            if ws is None:
                return 0
            return int(conn.execute("SELECT count(*) FROM pending WHERE ws = ?", (ws,)).fetchone()[0])

    def drop_pending(self, workspace: str, stix_ids: Sequence[str]) -> None:
        with self._write() as conn:
            ws = self._ws(conn, workspace, create=True)
            self._delete_pending(conn, ws, stix_ids)

    @staticmethod
    def _delete_pending(conn: sqlite3.Connection, ws: int | None, stix_ids: Iterable[str]) -> None:
        conn.executemany("DELETE FROM pending WHERE ws = ? AND stix_id = ?", [(ws, sid) for sid in stix_ids])

    # -- runs --------------------------------------------------------------------------------------

    def start_run(self, kind: str) -> int:
        """Log the start of a run; returns its id. Only the last RUNS_KEPT runs are kept."""
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO runs(kind, pid, started_at) VALUES (?, ?, ?)", (kind, os.getpid(), self._clock())
            )
            run_id = int(cursor.lastrowid or 0)
            conn.execute("DELETE FROM runs WHERE id <= ?", (run_id - RUNS_KEPT,))
        return run_id

    def finish_run(self, run_id: int, summary: Mapping[str, Any], exit_code: int) -> None:
        """Store the run's summary (JSON; the caller keeps secrets out of it) and exit code."""
        text = json.dumps(dict(summary), default=str, sort_keys=True)
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE runs SET finished_at = ?, exit_code = ?, summary = ? WHERE id = ?",
                (self._clock(), int(exit_code), text, run_id),
            )
            if cursor.rowcount == 0:
                raise StateError(f"Run {run_id} is not in the state file {self.path}.")

    def last_runs(self, n: int = 10) -> list[dict[str, Any]]:
        """Newest first: id, kind, pid, started_at, finished_at (ISO UTC or None), exit_code, summary."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT id, kind, pid, started_at, finished_at, exit_code, summary FROM runs"
                " ORDER BY id DESC LIMIT ?",
                (n,),
            ).fetchall()
        return [
            {
                "id": run_id,
                "kind": kind,
                "pid": pid,
                "started_at": to_iso(started),
                "finished_at": to_iso(finished),
                "exit_code": exit_code,
                "summary": json.loads(summary) if summary is not None else None,
            }
            for run_id, kind, pid, started, finished, exit_code, summary in rows
        ]


__all__ = ["IN_CHUNK", "PAGE_SIZE", "SCHEMA_VERSION", "Pending", "State", "Status"]
