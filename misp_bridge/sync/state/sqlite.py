"""The SQLite side of the state file: opening it (WAL), the run lock, transactions, workspace keys.

Every call of a subclass is one transaction under an internal lock, so worker threads may share one
object. `_select_in` runs a query once per chunk of an IN list, below SQLite's bound-parameter limit.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from misp_bridge.errors import StateError
from misp_bridge.output.files import UnsafePath, open_private
from misp_bridge.sync.state.lock import run_lock
from misp_bridge.sync.state.schema import migrate

# Ids per IN (...) list: below SQLite's oldest default limit of 999 bound parameters, with room to spare.
IN_CHUNK = 900
# Busy wait inside SQLite for a reader in another process (check-config, a report) to finish its read.
_BUSY_TIMEOUT_MS = 5000


def _chunks(values: Sequence[str | bytes]) -> Iterator[Sequence[str | bytes]]:
    for start in range(0, len(values), IN_CHUNK):
        yield values[start : start + IN_CHUNK]


def marks(count: int) -> str:
    return ",".join("?" * count)


_S = TypeVar("_S", bound="SqliteFile")


class SqliteFile:
    """The state file's connection: opening, the run lock, one-transaction reads and writes, the
    workspace keys."""

    def __init__(self, path: Path, conn: sqlite3.Connection, clock: Callable[[], float]) -> None:
        self.path = path
        self._conn = conn
        self._clock = clock
        self._mutex = threading.Lock()
        self._workspaces: dict[str, int] = {}

    # -- lifecycle ---------------------------------------------------------------------------------

    @classmethod
    def open(cls: type[_S], path: Path, *, clock: Callable[[], float] = time.time) -> _S:
        """Open (or create) the state file; an unusable file raises StateError with one sentence."""
        path = Path(path)
        if path.is_dir():
            raise StateError(f"The state file {path} is a directory; set state_file to a file path.")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Owner-only (an existing file too): pending bodies are threat intelligence the organisation
            # may not share; SQLite gives its -wal and -shm files the same mode. Never through a link.
            os.close(open_private(path, os.O_RDONLY | os.O_CREAT))
        except UnsafePath as exc:
            raise StateError(f"The state file {path} {exc.strerror}.") from exc
        except (FileExistsError, NotADirectoryError) as exc:
            raise StateError(
                f"The state file {path} cannot be created (a file is in the way of its folder)."
            ) from exc
        except OSError as exc:
            raise StateError(f"The state file {path} cannot be created ({exc.strerror}).") from exc
        conn: sqlite3.Connection | None = None
        try:
            conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            # WAL + NORMAL survives a process kill; only an OS crash may lose the very last transaction.
            conn.execute("PRAGMA synchronous = NORMAL")
            migrate(conn, str(path))
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            raise StateError(
                f"The state file {path} cannot be used ({exc}); move it aside to start with an empty state."
            ) from exc
        except StateError:
            if conn is not None:
                conn.close()
            raise
        return cls(path, conn, clock)

    @property
    def where(self) -> str:
        return f"the state file {self.path}"

    def close(self) -> None:
        with self._mutex:
            self._conn.close()

    def __enter__(self: _S) -> _S:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @contextlib.contextmanager
    def lock(self, *, wait: float = 10.0, sleep: Callable[[float], None] = time.sleep) -> Iterator[None]:
        """Exclusive run lock across processes; raises RunLockHeld (a LockHeld) after `wait` seconds."""
        with run_lock(self.path, wait=wait, sleep=sleep):
            yield

    def set_trace(self, callback: Callable[[str], None] | None) -> None:
        """Pass every SQL statement run to `callback` (tests count statements; None turns it off)."""
        with self._mutex:
            self._conn.set_trace_callback(callback)

    # -- plumbing ----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._mutex:
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise StateError(f"The state file {self.path} could not be read ({exc}).") from exc

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._mutex:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException as exc:
                # Also after a failed COMMIT (disk full): an open transaction would block every later call.
                if self._conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        self._conn.execute("ROLLBACK")
                # A workspace row inserted in this transaction is gone again.
                self._workspaces.clear()
                if isinstance(exc, sqlite3.Error):
                    raise StateError(f"The state file {self.path} could not be written ({exc}).") from exc
                raise

    def _ws(self, conn: sqlite3.Connection, workspace: str, *, create: bool) -> int | None:
        """Workspace name -> small integer key (keeps every indicator row ~40 bytes shorter)."""
        known = self._workspaces.get(workspace)
        if known is not None:
            return known
        if create:
            conn.execute("INSERT OR IGNORE INTO workspaces(name) VALUES (?)", (workspace,))
        row = conn.execute("SELECT id FROM workspaces WHERE name = ?", (workspace,)).fetchone()
        if row is None:
            return None
        self._workspaces[workspace] = int(row[0])
        return int(row[0])

    def _select_in(
        self, workspace: str, sql: str, values: Iterable[str | bytes]
    ) -> Iterator[tuple[Any, ...]]:
        """Run `sql` (with `{marks}` for the IN list, ws as first parameter) once per chunk of values."""
        unique: list[str | bytes] = list(dict.fromkeys(values))
        for chunk in _chunks(unique):
            with self._read() as conn:
                ws = self._ws(conn, workspace, create=False)
                if ws is None:
                    return
                rows = conn.execute(sql.format(marks=marks(len(chunk))), (ws, *chunk)).fetchall()
            yield from rows

    def _pages(
        self, workspace: str, sql: str, start: Any, extra: Sequence[Any], page_size: int
    ) -> Iterator[tuple[Any, ...]]:
        """Rows of a keyset-paged query (parameters: ws, the last key seen, `extra`, the page size; the
        first column is the key), one short read per page, so the caller may write between pages."""
        after = start
        while True:
            with self._read() as conn:
                ws = self._ws(conn, workspace, create=False)
                if ws is None:
                    return
                rows = conn.execute(sql, (ws, after, *extra, page_size)).fetchall()
            yield from rows
            if len(rows) < page_size:
                return
            after = rows[-1][0]
