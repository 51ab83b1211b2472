"""The sync's state: classification, pending queue, revocation, runs; the run lock and bad files.

Every test taking `state` (or `open_state`) runs against both backends of the StateStore interface: the
SQLite file and the Azure table (TableState, against Azurite: tests/fixtures/azurite.py). Tests of what
only one backend has (SQL statements, the file lock, schema migrations, the lease) say so in their name
or live in test_state_tables.py.
"""

from __future__ import annotations

import math
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest

from misp_bridge.errors import LockHeld, StateError
from misp_bridge.sync.indicator import Indicator
from misp_bridge.sync.state import StateStore, table_file, table_records, tables
from misp_bridge.sync.state import store as state_module
from misp_bridge.sync.state.store import IN_CHUNK, SCHEMA_VERSION, Pending, State
from misp_bridge.sync.state.tables import TableState
from tests.fakes import FakeClock

REPO = Path(__file__).resolve().parents[2]
WS = "11111111-1111-1111-1111-111111111111"
OTHER_WS = "22222222-2222-2222-2222-222222222222"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


OpenState = Callable[[], StateStore]


@pytest.fixture(params=["sqlite", "table"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def open_state(backend: str, tmp_path: Path, clock: FakeClock, request: pytest.FixtureRequest) -> OpenState:
    """Opens the state of this test (the same file or table each time) with the test's clock."""
    if backend == "sqlite":
        return lambda: State.open(tmp_path / "sub" / "state.db", clock=clock)
    target = request.getfixturevalue("table_target")
    return lambda: TableState.open(target, clock=clock)


@pytest.fixture
def state(open_state: OpenState) -> Iterator[StateStore]:
    with open_state() as opened:
        yield opened


@pytest.fixture
def sqlite_state(tmp_path: Path, clock: FakeClock) -> Iterator[State]:
    with State.open(tmp_path / "sub" / "state.db", clock=clock) as opened:
        yield opened


def page_size(monkeypatch: pytest.MonkeyPatch, n: int) -> None:
    """Both backends' page size for the streaming iterators."""
    monkeypatch.setattr(state_module, "PAGE_SIZE", n)
    monkeypatch.setattr(table_file, "PAGE_SIZE", n)


def queries(statements: list[str], backend: str, what: str) -> int:
    """How many page reads of `what` ("pending" or "indicators") a trace shows, per backend."""
    if backend == "sqlite":
        head = {"pending": "SELECT seq", "indicators": "SELECT stix_id, attribute_uuid"}[what]
        return sum(1 for s in statements if s.startswith(head))
    prefix = {"pending": "'q-'", "indicators": "'i-'"}[what]
    return sum(1 for s in statements if s.startswith("GET") and prefix in unquote(s))


def sid(n: int) -> str:
    return f"indicator--00000000-0000-4000-8000-{n:012d}"


def ind(
    stix_id: str,
    content_hash: str,
    attribute_uuid: str = "",
    event_uuid: str = "",
    valid_until: str | None = None,
) -> Indicator:
    """An Indicator as the state sees it (only these fields are recorded; the body matters for pending)."""
    body = {"id": stix_id, "type": "indicator", **({"valid_until": valid_until} if valid_until else {})}
    return Indicator(stix_id, body, content_hash, attribute_uuid, event_uuid)


def pend(n: int, body_tag: str = "v1") -> Indicator:
    return Indicator(
        stix_id=sid(n),
        body={"id": sid(n), "type": "indicator", "tag": body_tag, "labels": ["a", "b"]},
        content_hash=f"hash-{n}-{body_tag}",
        attribute_uuid=f"attr-{n}",
        event_uuid="event-1",
    )


# -- classify ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setup", "asked_hash", "expected"),
    [
        pytest.param([], "h1", "new", id="never-seen-is-new"),
        pytest.param([("delivered", "h1")], "h1", "unchanged", id="same-hash-delivered-is-unchanged"),
        pytest.param([("delivered", "h1")], "h2", "changed", id="other-hash-delivered-is-changed"),
        pytest.param([("rejected", "h1")], "h1", "rejected", id="same-hash-rejected-is-rejected"),
        pytest.param([("rejected", "h1")], "h2", "changed", id="rejected-then-changed-is-changed"),
        pytest.param(
            [("delivered", "h1"), ("rejected", "h2")], "h1", "unchanged", id="rejected-update-keeps-delivered"
        ),
        pytest.param(
            [("delivered", "h1"), ("rejected", "h2")], "h2", "rejected", id="rejected-update-not-retried"
        ),
        pytest.param(
            [("rejected", "h1"), ("delivered", "h1")], "h1", "unchanged", id="delivered-clears-reject"
        ),
        pytest.param(
            [("delivered", "h1"), ("revoked", "")], "h1", "revoked", id="revoked-comes-back-under-a-new-id"
        ),
    ],
)
def test_classify(state: StateStore, setup: list[tuple[str, str]], asked_hash: str, expected: str) -> None:
    actions = {
        "delivered": lambda h: state.record_delivered(WS, [ind(sid(1), h, "attr-1", "event-1", None)]),
        "rejected": lambda h: state.record_rejected(WS, [(ind(sid(1), h, "attr-1"), "bad pattern")]),
        "revoked": lambda _h: state.record_revoked(WS, [sid(1)]),
    }
    for action, content_hash in setup:
        actions[action](content_hash)
    assert state.classify(WS, [(sid(1), asked_hash)]) == {sid(1): expected}


def test_classify_mixed_batch(state: StateStore) -> None:
    state.record_delivered(WS, [ind(sid(1), "a", "attr-1", "e", None), ind(sid(2), "b", "attr-2", "e", None)])
    state.record_rejected(WS, [(ind(sid(3), "c", "attr-3"), "pattern is not valid")])
    got = state.classify(WS, [(sid(1), "a"), (sid(2), "B"), (sid(3), "c"), (sid(4), "d")])
    assert got == {sid(1): "unchanged", sid(2): "changed", sid(3): "rejected", sid(4): "new"}


def test_sqlite_classify_50000_in_chunked_queries(sqlite_state: State) -> None:
    state = sqlite_state
    delivered = [ind(sid(n), f"h{n}", f"attr-{n}", "e", None) for n in range(0, 50_000, 2)]
    state.record_delivered(WS, delivered)
    statements: list[str] = []
    state.set_trace(statements.append)
    got = state.classify(WS, [(sid(n), f"h{n}") for n in range(50_000)])
    state.set_trace(None)
    selects = [s for s in statements if "FROM indicators" in s]
    assert len(selects) == math.ceil(50_000 / IN_CHUNK)
    assert len(statements) == len(selects)  # the workspace id was cached by record_delivered
    assert sum(1 for v in got.values() if v == "unchanged") == 25_000
    assert sum(1 for v in got.values() if v == "new") == 25_000


# -- pending ----------------------------------------------------------------------------------------


def test_pending_round_trip_oldest_first_and_attempts(state: StateStore, clock: FakeClock) -> None:
    state.add_pending(WS, [pend(3), pend(1)])
    clock.now += 60
    state.add_pending(WS, [pend(2), pend(3, "v2")])  # 3 fails again with a newer body
    got = list(state.pending(WS))
    assert [p.indicator.stix_id for p in got] == [sid(3), sid(1), sid(2)]
    assert [p.attempts for p in got] == [2, 1, 1]
    assert got[0] == Pending(pend(3, "v2"), 2)
    assert state.pending_count(WS) == 3


def test_delivery_and_rejection_clear_pending(state: StateStore) -> None:
    state.add_pending(WS, [pend(1), pend(2), pend(3), pend(4)])
    state.record_delivered(WS, [ind(sid(1), "hash-1-v1", "attr-1", "event-1", None)])
    state.record_rejected(WS, [(ind(sid(2), "hash-2-v1", "attr-2"), "unknown pattern type")])
    state.drop_pending(WS, [sid(3)])
    assert [p.indicator.stix_id for p in state.pending(WS)] == [sid(4)]
    assert state.pending_count(WS) == 1


def test_pending_streams_in_pages_while_the_loop_writes(
    state: StateStore, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    page_size(monkeypatch, 3)
    state.add_pending(WS, [pend(n) for n in range(10)])
    statements: list[str] = []
    state.set_trace(statements.append)  # type: ignore[attr-defined]
    seen = []
    for pending in state.pending(WS):
        seen.append(pending.indicator.stix_id)
        state.record_delivered(WS, [pending.indicator])
    state.set_trace(None)  # type: ignore[attr-defined]
    assert seen == [sid(n) for n in range(10)]
    assert queries(statements, backend, "pending") == 4  # pages of 3, 3, 3, 1
    assert state.pending_count(WS) == 0


# -- workspaces -------------------------------------------------------------------------------------


def test_workspaces_are_isolated(state: StateStore) -> None:
    state.record_delivered(WS, [ind(sid(1), "h", "attr-1", "e", None)])
    state.add_pending(WS, [pend(2)])
    assert state.classify(OTHER_WS, [(sid(1), "h")]) == {sid(1): "new"}
    assert list(state.pending(OTHER_WS)) == []
    assert state.pending_count(OTHER_WS) == 0
    assert state.known_ids(OTHER_WS, [sid(1)]) == set()
    assert state.uploaded_for_attributes(OTHER_WS, ["attr-1"]) == {}
    assert state.is_empty(OTHER_WS)
    assert not state.is_empty(WS)
    state.record_revoked(OTHER_WS, [sid(1)])
    assert state.classify(WS, [(sid(1), "h")]) == {sid(1): "unchanged"}


def test_is_empty_counts_pending_too(state: StateStore) -> None:
    assert state.is_empty(WS)
    state.add_pending(WS, [pend(1)])
    assert not state.is_empty(WS)


# -- uploaded ids, revocation, expiry ---------------------------------------------------------------


def test_uploaded_for_attributes_and_revoked(state: StateStore) -> None:
    state.record_delivered(
        WS,
        [
            ind(sid(1), "h1", "attr-A", "e1", None),
            ind(sid(2), "h2", "attr-A", "e1", None),
            ind(sid(3), "h3", "attr-B", "e1", None),
        ],
    )
    state.record_rejected(WS, [(ind(sid(4), "h4", "attr-C"), "rejected")])
    assert state.uploaded_for_attributes(WS, ["attr-A", "attr-B", "attr-C", "attr-X"]) == {
        "attr-A": [sid(1), sid(2)],
        "attr-B": [sid(3)],
    }
    state.record_revoked(WS, [sid(1), sid(3)])
    assert state.uploaded_for_attributes(WS, ["attr-A", "attr-B"]) == {"attr-A": [sid(2)]}
    # Revoked ones still exist in Sentinel; a rejected-only one never reached it.
    assert state.known_ids(WS, [sid(1), sid(2), sid(3), sid(4), sid(5)]) == {sid(1), sid(2), sid(3)}
    assert [row[0] for row in state.uploaded_body_ids(WS)] == [sid(2)]


def test_uploaded_for_attributes_batches_many(state: StateStore, backend: str) -> None:
    # Past the SQLite IN-list chunk; past the Table transaction size (two entities per indicator).
    n = IN_CHUNK * 2 + 5 if backend == "sqlite" else tables.r.BATCH + 5
    state.record_delivered(WS, [ind(sid(i), "h", f"attr-{i}", "e", None) for i in range(n)])
    got = state.uploaded_for_attributes(WS, [f"attr-{i}" for i in range(n)])
    assert len(got) == n
    assert got["attr-7"] == [sid(7)]


def test_revoke_drops_a_pending_upload(state: StateStore) -> None:
    state.record_delivered(WS, [ind(sid(1), "h1", "attr-1", "e", None)])
    state.add_pending(WS, [pend(1, "v2")])
    state.record_revoked(WS, [sid(1)])
    assert state.pending_count(WS) == 0


@pytest.mark.parametrize(
    ("cutoff", "expected"),
    [
        pytest.param("2024-06-01T00:00:00Z", {1}, id="z-suffix"),
        pytest.param("2024-06-01T00:00:00.000Z", {1}, id="millis-z"),
        pytest.param("2024-06-01T02:00:00+02:00", {1}, id="offset-same-instant"),
        pytest.param("2024-06-01T00:00:00.000001500Z", {1, 2}, id="nanos-after-boundary"),
        pytest.param("2024-06-01T00:00:00.000000001Z", {1}, id="nanos-truncated-to-micros"),
        pytest.param("2030-01-01T00:00:00", {1, 2, 3}, id="naive-means-utc"),
        pytest.param("2000-01-01T00:00:00Z", set(), id="nothing-expired"),
    ],
)
def test_expired_query(state: StateStore, cutoff: str, expected: set[int]) -> None:
    state.record_delivered(
        WS,
        [
            ind(sid(1), "h", "a1", "e", "2024-05-31T23:59:59.999Z"),
            ind(sid(2), "h", "a2", "e", "2024-06-01T00:00:00Z"),
            ind(sid(3), "h", "a3", "e", "2025-01-01T00:00:00.000Z"),
            ind(sid(4), "h", "a4", "e", None),  # no valid_until: never expires
        ],
    )
    assert {int(row[0][-12:]) for row in state.uploaded_body_ids(WS, expired_before=cutoff)} == expected


def test_uploaded_body_ids_by_event_and_paged(state: StateStore, monkeypatch: pytest.MonkeyPatch) -> None:
    page_size(monkeypatch, 4)
    state.record_delivered(WS, [ind(sid(n), "h", f"a{n}", f"e{n % 2}", None) for n in range(11)])
    rows = list(state.uploaded_body_ids(WS, event_uuid="e1"))
    assert rows == [(sid(n), f"a{n}", "e1") for n in range(1, 11, 2)]
    # Revoking while iterating (what the expiry clean-up does) neither skips nor repeats rows.
    seen = []
    for stix_id, _attr, _event in state.uploaded_body_ids(WS):
        seen.append(stix_id)
        state.record_revoked(WS, [stix_id])
    assert seen == [sid(n) for n in range(11)]
    assert list(state.uploaded_body_ids(WS)) == []


def test_bad_valid_until_is_a_state_error(state: StateStore) -> None:
    with pytest.raises(StateError, match=r"^The time 'next tuesday' is not an ISO 8601 date and time\.$"):
        state.record_delivered(WS, [ind(sid(1), "h", "a", "e", "next tuesday")])
    assert state.is_empty(WS)  # the whole call was rolled back


# -- runs -------------------------------------------------------------------------------------------


def test_runs_log(state: StateStore, clock: FakeClock) -> None:
    first = state.start_run("sync")
    clock.now += 90
    state.finish_run(first, {"uploaded": 5, "per_workspace": {WS: 5}}, 0)
    second = state.start_run("delete-outdated")
    runs = state.last_runs()
    assert [r["id"] for r in runs] == [second, first]
    assert runs[1] == {
        "id": first,
        "kind": "sync",
        "pid": os.getpid(),
        "started_at": "2023-11-14T22:13:20+00:00",
        "finished_at": "2023-11-14T22:14:50+00:00",
        "exit_code": 0,
        "summary": {"uploaded": 5, "per_workspace": {WS: 5}},
    }
    assert runs[0]["finished_at"] is None and runs[0]["summary"] is None
    assert len(state.last_runs(1)) == 1


def test_runs_log_is_pruned(state: StateStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(state_module, "RUNS_KEPT", 3)
    monkeypatch.setattr(table_records, "RUNS_KEPT", 3)
    ids = [state.start_run("sync") for _ in range(6)]
    assert [r["id"] for r in state.last_runs(100)] == ids[:-4:-1]


def test_finish_unknown_run(state: StateStore) -> None:
    with pytest.raises(StateError, match=rf"^Run 99 is not in {re.escape(state.where)}\.$"):
        state.finish_run(99, {}, 0)
    assert re.fullmatch(
        r"the state (file .*state\.db|table t[0-9a-f]{20} at http://127\.0\.0\.1:\d+/\w+)", state.where
    )


# -- persistence, threads, size ---------------------------------------------------------------------


def test_reopen_keeps_data(open_state: OpenState) -> None:
    with open_state() as first:
        first.record_delivered(WS, [ind(sid(1), "h", "a", "e", None)])
        first.add_pending(WS, [pend(2)])
    with open_state() as second:
        assert second.classify(WS, [(sid(1), "h")]) == {sid(1): "unchanged"}
        assert [p.indicator.body for p in second.pending(WS)] == [pend(2).body]


def test_sqlite_reopen_keeps_schema_version_and_mode(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    State.open(path).close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    assert path.stat().st_mode & 0o777 == 0o600


def test_worker_threads_share_one_state(state: StateStore, backend: str) -> None:
    each = 50 if backend == "sqlite" else 8  # every call is a few requests to Azurite

    def work(worker: int) -> None:
        for n in range(each):
            i = worker * 1000 + n
            state.add_pending(WS, [pend(i)])
            state.record_delivered(WS, [ind(sid(i), f"h{i}", f"a{i}", "e", None)])

    threads = [threading.Thread(target=work, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [sid(w * 1000 + n) for w in range(6) for n in range(each)]
    assert state.known_ids(WS, ids) == set(ids)
    assert state.pending_count(WS) == 0


def test_delivered_rows_stay_small(tmp_path: Path) -> None:
    path = tmp_path / "size.db"
    with State.open(path) as st:
        st.record_delivered(
            WS,
            [
                ind(
                    f"indicator--{n:08x}-1111-4111-8111-111111111111",
                    f"{n:064x}",
                    f"{n:08x}-aaaa-4aaa-8aaa-aaaaaaaaaaaa",
                    "eeeeeeee-eeee-4eee-8eee-eeeeeeeeeeee",
                    "2025-01-01T00:00:00Z",
                )
                for n in range(20_000)
            ],
        )
    # Closing the last connection checkpoints the WAL into the file and removes it.
    assert not path.with_name("size.db-wal").exists()
    # 200,000 indicators must stay a few tens of MB: under 200 bytes a row, indexes included.
    assert path.stat().st_size / 20_000 < 200


@pytest.mark.parametrize(
    ("stix_id", "attribute_uuid", "event_uuid"),
    [
        pytest.param(
            sid(1),
            "5f1e2d3c-aaaa-4bbb-8ccc-0123456789ab",
            "e0e0e0e0-aaaa-4bbb-8ccc-0123456789ab",
            id="canonical",
        ),
        pytest.param(
            sid(1).upper(), "5F1E2D3C-AAAA-4BBB-8CCC-0123456789AB", "E", id="upper-case-kept-as-text"
        ),
        pytest.param("relationship--5f1e2d3c-aaaa-4bbb-8ccc-0123456789ab", "attr 7", "", id="other-type"),
        pytest.param("indicator--not-a-uuid", "5f1e2d3c-aaaa-4bbb-8ccc-0123456789ab\n", "x", id="not-uuids"),
    ],
)
def test_ids_come_back_exactly(state: StateStore, stix_id: str, attribute_uuid: str, event_uuid: str) -> None:
    state.record_delivered(WS, [ind(stix_id, "h", attribute_uuid, event_uuid, None)])
    assert state.classify(WS, [(stix_id, "h")]) == {stix_id: "unchanged"}
    assert state.known_ids(WS, [stix_id]) == {stix_id}
    assert state.uploaded_for_attributes(WS, [attribute_uuid]) == {attribute_uuid: [stix_id]}
    assert list(state.uploaded_body_ids(WS, event_uuid=event_uuid)) == [(stix_id, attribute_uuid, event_uuid)]


# -- bad files --------------------------------------------------------------------------------------


def test_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not a database at all, just some text " * 100)
    with pytest.raises(StateError) as err:
        State.open(path)
    assert str(err.value) == (
        f"The state file {path} cannot be used (file is not a database); "
        "move it aside to start with an empty state."
    )


def test_state_file_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(StateError) as err:
        State.open(tmp_path)
    assert str(err.value) == f"The state file {tmp_path} is a directory; set state_file to a file path."


def test_state_dir_cannot_be_created(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StateError) as err:
        State.open(blocker / "state.db")
    assert str(err.value) == (
        f"The state file {blocker / 'state.db'} cannot be created (a file is in the way of its folder)."
    )


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_state_file(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    State.open(path).close()
    path.chmod(0o400)
    with pytest.raises(StateError, match=r"^The state file .* (cannot be used|could not be written)"):
        st = State.open(path)
        st.record_delivered(WS, [ind(sid(1), "h", "a", "e", None)])


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StateError) as err:
        State.open(path)
    assert str(err.value) == (
        f"The state file {path} has schema version {SCHEMA_VERSION + 1}, newer than this program's "
        f"{SCHEMA_VERSION}; upgrade misp-bridge or use another state_file."
    )


def test_closed_state_is_a_state_error(open_state: OpenState) -> None:
    st = open_state()
    st.close()
    with pytest.raises(StateError, match=r"could not be read"):
        st.pending_count(WS)


# -- the run lock -----------------------------------------------------------------------------------

HOLDER = """
import sys, time
from pathlib import Path
from misp_bridge.sync.state.store import State
state = State.open(Path(sys.argv[1]))
with state.lock(wait=0):
    print("locked", flush=True)
    time.sleep(60)
"""


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path / "state.db")],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)
    proc.stdout.close()


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")
def test_second_process_gets_lock_held(tmp_path: Path, holder: subprocess.Popen[str]) -> None:
    slept: list[float] = []
    with State.open(tmp_path / "state.db") as st:
        with pytest.raises(LockHeld) as err, st.lock(wait=0.35, sleep=slept.append):
            pytest.fail("the lock must not be granted while another process holds it")
        assert str(err.value) == (
            f"Another sync run (process {holder.pid}) holds the lock on the state file "
            f"{tmp_path / 'state.db'}; waited 0.35 s, try again when it has finished."
        )
        assert sum(slept) == pytest.approx(0.35)
        # The data stays readable while another run holds the lock.
        assert st.is_empty(WS)

        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        entered = False
        with st.lock(wait=5, sleep=slept.append):
            entered = True
            assert (tmp_path / "state.db.lock").read_text().strip() == str(os.getpid())
        assert entered


def test_lock_is_exclusive_within_a_process_and_released(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with State.open(path) as a, State.open(path) as b:
        with (
            a.lock(wait=0),
            pytest.raises(LockHeld, match=rf"process {os.getpid()}"),
            b.lock(wait=0.1, sleep=lambda _s: None),
        ):
            pass
        with b.lock(wait=0):
            assert (tmp_path / "state.db.lock").read_text().strip() == str(os.getpid())
        assert (tmp_path / "state.db.lock").read_text() == ""


def test_lock_released_when_the_body_raises(tmp_path: Path) -> None:
    with State.open(tmp_path / "state.db") as st:
        with pytest.raises(RuntimeError), st.lock(wait=0):
            raise RuntimeError("boom")
        with st.lock(wait=0):
            pass


def test_sqlite_failed_write_rolls_back_and_state_stays_usable(sqlite_state: State) -> None:
    state = sqlite_state
    state.add_pending(WS, [pend(1)])
    # A database-level failure on the second row of a batch (a trigger stands in for a full disk).
    raw = sqlite3.connect(state.path)
    raw.execute(
        "CREATE TRIGGER fail_row BEFORE INSERT ON indicators WHEN NEW.updated_at > 0 AND"
        " NEW.attribute_uuid = 'poison' BEGIN SELECT RAISE(ABORT, 'simulated write failure'); END"
    )
    raw.commit()
    raw.close()
    with pytest.raises(StateError) as err:
        state.record_delivered(WS, [ind(sid(1), "h", "a", "e", None), ind(sid(3), "h", "poison", "e", None)])
    assert str(err.value) == f"The state file {state.path} could not be written (simulated write failure)."
    assert state.known_ids(WS, [sid(1), sid(3)]) == set()
    assert state.pending_count(WS) == 1  # the delete of pending rows was rolled back too
    state.record_delivered(OTHER_WS, [ind(sid(4), "h", "a", "e", None)])
    assert state.known_ids(OTHER_WS, [sid(4)]) == {sid(4)}


# -- generations (revocation is final in Sentinel) -------------------------------------------------


def test_generation_ids_are_deterministic_and_generation_0_keeps_the_old_id() -> None:
    from misp_bridge.sync.convert import generation_id

    base = "indicator--5a0f1c2e-3b4d-4e5f-8a6b-7c8d9e0f1a2b"
    assert generation_id(base, 0) == base
    ones = {generation_id(base, 1) for _ in range(3)}
    assert len(ones) == 1
    later = [generation_id(base, g) for g in range(1, 6)]
    assert len(set(later)) == 5 and base not in later
    assert all(g.startswith("indicator--") for g in later)
    assert generation_id(sid(1), 1) != generation_id(sid(2), 1)


def test_next_generation_is_recorded_and_current_follows_it(state: StateStore) -> None:
    first = ind(sid(1), "h1", "attr-1", "event-1")
    other = ind(sid(2), "h2", "attr-2", "event-1")
    assert state.current(WS, [first, other]) == [first, other]

    dry, _ = state.next_generation(WS, [first], persist=False)
    assert state.generations(WS, [sid(1)]) == {}
    (moved,), stuck = state.next_generation(WS, [first])

    assert stuck == []
    assert moved.stix_id == dry[0].stix_id != sid(1)
    assert moved.base == sid(1) and moved.body["id"] == moved.stix_id
    assert moved.content_hash == "h1"
    assert state.generations(WS, [sid(1), sid(2)]) == {sid(1): 1}
    assert [i.stix_id for i in state.current(WS, [first, other])] == [moved.stix_id, sid(2)]
    assert state.generations(OTHER_WS, [sid(1)]) == {}  # per workspace
    (again,), _ = state.next_generation(WS, [moved])
    assert state.generations(WS, [sid(1)]) == {sid(1): 2} and again.base == sid(1)


def test_generations_stop_at_the_maximum(state: StateStore, monkeypatch: pytest.MonkeyPatch) -> None:
    from misp_bridge.sync.state import revocation

    monkeypatch.setattr(revocation, "MAX_GENERATION", 2)
    item = ind(sid(1), "h1")
    state.next_generation(WS, [item])
    state.next_generation(WS, [item])
    moved, stuck = state.next_generation(WS, [item])
    assert moved == [] and stuck == [item]


def test_pending_keeps_the_generation_0_id(state: StateStore) -> None:
    (moved,), _ = state.next_generation(WS, [ind(sid(1), "h1", "attr-1")])
    state.add_pending(WS, [moved])
    [pending] = list(state.pending(WS))
    assert pending.indicator.stix_id == moved.stix_id and pending.indicator.base == sid(1)


def test_record_revoked_remembers_ids_the_state_never_saw(state: StateStore) -> None:
    state.record_revoked(WS, [ind(sid(7), "h7", "attr-7", "event-7")])
    assert state.classify(WS, [(sid(7), "h7")]) == {sid(7): "revoked"}
    assert state.uploaded_for_attributes(WS, ["attr-7"]) == {}


def test_marks(state: StateStore) -> None:
    assert state.mark(WS, "expiry_pass") is None
    state.set_mark(WS, "expiry_pass", 12.5)
    state.set_mark(WS, "expiry_pass", 13.5)
    assert state.mark(WS, "expiry_pass") == 13.5
    assert state.mark(OTHER_WS, "expiry_pass") is None


def test_a_version_1_file_is_migrated_with_its_data(tmp_path: Path) -> None:
    from misp_bridge.sync.state.schema import MIGRATIONS

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in MIGRATIONS[1]:
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO workspaces(id, name) VALUES (1, ?)", (WS,))
    conn.execute(
        "INSERT INTO pending(ws, stix_id, body, content_hash, attribute_uuid, event_uuid, attempts, first_at,"
        " last_at) VALUES (1, ?, '{\"id\": \"x\"}', 'h', 'a', 'e', 2, 1, 1)",
        (sid(3),),
    )
    conn.close()

    with State.open(path) as state:
        [pending] = list(state.pending(WS))
        assert pending.indicator.stix_id == sid(3) and pending.indicator.base == sid(3)
        assert pending.attempts == 2
        assert state.generations(WS, [sid(3)]) == {}
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
    conn.close()
