"""What only the Table state has: its lease (overlap, expiry, renewal, races), its row layout (bodies
over 64 KiB, transactions of 100 entities, odd keys), and how a storage account that cannot be used is
reported. Against Azurite (tests/fixtures/azurite.py); the shared behaviour is in test_state.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.data.tables import TableClient

from misp_bridge.azure.storage import StorageTarget, table_client, target_from
from misp_bridge.errors import RunLeaseHeld, StateError
from misp_bridge.output.redact import redact
from misp_bridge.sync.indicator import Indicator
from misp_bridge.sync.state import rows
from misp_bridge.sync.state.lease import TableLease
from misp_bridge.sync.state.tables import TableState
from tests.fakes import FakeClock
from tests.fixtures.azurite import ACCOUNT_KEY, Azurite

WS = "11111111-1111-1111-1111-111111111111"


def sid(n: int) -> str:
    return f"indicator--00000000-0000-4000-8000-{n:012d}"


def item(n: int, **body: Any) -> Indicator:
    return Indicator(sid(n), {"id": sid(n), "type": "indicator", **body}, f"hash-{n}", f"attr-{n}", "event-1")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def table(table_target: StorageTarget) -> Iterator[TableClient]:
    client = table_client(table_target)
    yield client
    client.close()


@pytest.fixture
def state(table_target: StorageTarget, clock: FakeClock) -> Iterator[TableState]:
    with TableState.open(table_target, clock=clock) as opened:
        yield opened


def lease(table: TableClient, clock: FakeClock, **kwargs: Any) -> TableLease:
    return TableLease(table, "the state table t", duration=60, clock=clock, **kwargs)


def lease_row(table: TableClient) -> dict[str, Any] | None:
    found = list(table.query_entities("PartitionKey eq 'lease'"))
    return dict(found[0]) if found else None


# -- the lease -------------------------------------------------------------------------------------


def test_an_overlapping_run_waits_then_gets_lease_held(table: TableClient, clock: FakeClock) -> None:
    first, second = lease(table, clock), lease(table, clock)
    slept: list[float] = []
    with first.hold(wait=0):
        with pytest.raises(RunLeaseHeld) as err, second.hold(wait=1.2, sleep=slept.append):
            pytest.fail("two runs must never hold the lease at once")
        assert sum(slept) == pytest.approx(1.2)
        message = str(err.value)
        assert message.startswith("Another sync run (")
        assert (
            "process" in message
            and "holds the lease on the state table t until 2023-11-14 22:14:20 UTC" in message
        )
        assert message.endswith("waited 1.2 s, try again when it has finished.")
    assert lease_row(table) is None  # released
    with second.hold(wait=0):
        assert lease_row(table) is not None


def test_a_run_that_died_blocks_the_next_only_until_its_lease_ends(
    table: TableClient, clock: FakeClock
) -> None:
    lost: list[str] = []
    dead = lease(table, clock, on_lost=lost.append)
    dead._acquire(0, time.sleep)  # taken, then never renewed nor released: the host killed it
    clock.advance(59)
    with pytest.raises(RunLeaseHeld):
        lease(table, clock)._acquire(0, time.sleep)
    clock.advance(2)
    taker = lease(table, clock)
    taker._acquire(0, time.sleep)
    # The dead run, were it alive after all, learns at its next renewal that it lost the lease...
    assert dead.renew() is False
    assert lost == ["the run lease on the state table t was taken by another run after it ended"]
    # ... and its release leaves the new holder's lease alone.
    dead._release()
    row = lease_row(table)
    assert row is not None and row["Owner"] == taker._owner


def test_a_living_run_renews_its_lease(table: TableClient, clock: FakeClock) -> None:
    holder = lease(table, clock, renew_every=0.05)
    with holder.hold(wait=0):
        first_end = lease_row(table)["ExpiresAt"].timestamp()  # type: ignore[index]
        clock.advance(50)
        deadline = time.monotonic() + 10
        while lease_row(table)["ExpiresAt"].timestamp() < first_end + 50:  # type: ignore[index]
            assert time.monotonic() < deadline, "the lease was not renewed"
            time.sleep(0.02)
        clock.advance(20)  # past the end of the lease as first taken
        with pytest.raises(RunLeaseHeld):
            lease(table, clock)._acquire(0, time.sleep)
    assert holder.lost is None and lease_row(table) is None


@pytest.mark.parametrize("before", ["absent", "ended"])
def test_of_racing_runs_exactly_one_gets_the_lease(table: TableClient, clock: FakeClock, before: str) -> None:
    if before == "ended":
        stale = lease(table, clock)
        stale._acquire(0, time.sleep)
        clock.advance(3600)
    contenders = [lease(table, clock) for _ in range(8)]
    barrier = threading.Barrier(len(contenders))
    winners: list[TableLease] = []

    def contend(contender: TableLease) -> None:
        barrier.wait()
        try:
            contender._acquire(0, time.sleep)
        except RunLeaseHeld:
            return
        winners.append(contender)

    threads = [threading.Thread(target=contend, args=(c,)) for c in contenders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1
    assert lease_row(table)["Owner"] == winners[0]._owner  # type: ignore[index]


def test_the_lease_is_released_when_the_run_raises(state: TableState, table: TableClient) -> None:
    with pytest.raises(RuntimeError), state.lock(wait=0):
        assert lease_row(table) is not None
        raise RuntimeError("boom")
    assert lease_row(table) is None
    with state.lock(wait=0):
        pass


def test_a_lost_lease_stops_the_run(table: TableClient, clock: FakeClock) -> None:
    """The holder is told when another run took its ended lease (the Function stops taking work)."""
    lost: list[str] = []
    holder = lease(table, clock, renew_every=0.05, on_lost=lost.append)
    with holder.hold(wait=0):
        table.delete_entity("lease", "run")  # as if it had ended and another run took it and left
        deadline = time.monotonic() + 10
        while not lost:
            assert time.monotonic() < deadline
            time.sleep(0.02)
    assert lost == ["the run lease on the state table t was taken by another run after it ended"]


# -- rows -------------------------------------------------------------------------------------------


def test_a_body_over_64_kib_is_split_and_comes_back(state: TableState, table: TableClient) -> None:
    import random

    noise = random.Random(7).randbytes(150_000).hex()  # compresses to about half: three parts
    big = item(1, description=noise)
    state.add_pending(WS, [big])
    [pending] = list(state.pending(WS))
    assert pending.indicator == big
    [row] = table.query_entities("RowKey ge 'q-' and RowKey lt 'q.'")
    assert row["BodyParts"] >= 3


def test_a_body_too_large_for_an_entity_is_refused_in_one_line(state: TableState) -> None:
    import random

    huge = item(2, description=random.Random(8).randbytes(1_500_000).hex())
    with pytest.raises(StateError) as err:
        state.add_pending(WS, [huge])
    assert str(err.value).startswith(f"The pending indicator {sid(2)} is too large for the state table (")
    assert state.pending_count(WS) == 0


def test_writes_go_in_transactions_of_at_most_100_entities(state: TableState) -> None:
    requests: list[str] = []
    state.set_trace(requests.append)
    state.record_delivered(WS, [item(n) for n in range(250)])  # 2 entities each: 500
    state.set_trace(None)
    batches = [r for r in requests if r.startswith("POST") and "$batch" in r]
    assert len(batches) == 5
    assert len(state.known_ids(WS, [sid(n) for n in range(250)])) == 250


def test_a_refused_transaction_writes_none_of_it(state: TableState) -> None:
    """The service refuses a property over 64 KiB; the whole transaction goes, the state stays usable."""
    state.add_pending(WS, [item(1)])
    poison = Indicator("indicator--" + "x" * 40_000, {"id": "x"}, "h", "attr-p", "event-1")
    with pytest.raises(StateError) as err:
        state.record_delivered(WS, [item(1), poison])
    assert "(HTTP 400 PropertyValueTooLarge)" in str(err.value)
    assert "\n" not in str(err.value)
    assert state.known_ids(WS, [sid(1)]) == set()
    assert state.pending_count(WS) == 1
    state.record_delivered(WS, [item(1)])
    assert state.known_ids(WS, [sid(1)]) == {sid(1)} and state.pending_count(WS) == 0


def test_classify_is_one_point_read_per_id(state: TableState) -> None:
    state.record_delivered(WS, [item(n) for n in range(0, 40, 2)])
    requests: list[str] = []
    state.set_trace(requests.append)
    got = state.classify(WS, [(sid(n), f"hash-{n}") for n in range(40)] + [(sid(0), "hash-0")])
    state.set_trace(None)
    assert len(requests) == 40 and all(r.startswith("GET") for r in requests)
    assert sum(1 for status in got.values() if status == "unchanged") == 20


def test_keys_the_service_refuses_are_hashed(state: TableState, table: TableClient) -> None:
    odd = ["indicator--a/b", "indicator--a#b?c", "indicator--tab\there", "indicator--é\\ü", "x" * 2000]
    for n, stix_id in enumerate(odd):
        state.record_delivered(WS, [Indicator(stix_id, {"id": stix_id}, "h", f"attr/{n}", "e")])
    assert state.known_ids(WS, odd) == set(odd)
    assert state.uploaded_for_attributes(WS, ["attr/1"]) == {"attr/1": [odd[1]]}
    keys = [row["RowKey"] for row in table.query_entities("RowKey ge 'i-' and RowKey lt 'i.'")]
    assert all(k.startswith("i-~") and len(k) == 3 + 64 for k in keys)


def test_two_runs_starting_at_once_get_two_ids(table_target: StorageTarget) -> None:
    ids: list[int] = []
    barrier = threading.Barrier(4)

    def start() -> None:
        with TableState.open(table_target) as own:
            barrier.wait()
            ids.append(own.start_run("sync"))

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(ids) == [1, 2, 3, 4]


def test_queue_order_follows_the_clock_then_the_calls() -> None:
    keys = [rows.queue_order(5.0), rows.queue_order(5.0), rows.queue_order(4.0)]
    assert keys[0] < keys[1] and keys[2] < keys[0]


# -- the storage account ----------------------------------------------------------------------------


def test_where_the_table_is_comes_from_the_functions_settings() -> None:
    by_name = target_from({"AzureWebJobsStorage__accountName": "socstate"})
    assert by_name.endpoint == "https://socstate.table.core.windows.net"
    assert by_name.table == "misp2sentinel" and by_name.connection_string is None
    managed = target_from(
        {
            "Other__tableServiceUri": "https://socstate.table.core.usgovcloudapi.net/",
            "Other__credential": "managedidentity",
            "Other__clientId": "0c1e5a7b-2d3f-4a6b-8c9d-1e2f3a4b5c6d",
        },
        prefix="Other",
        table="state",
    )
    assert managed.endpoint == "https://socstate.table.core.usgovcloudapi.net"
    assert managed.managed_identity and managed.client_id == "0c1e5a7b-2d3f-4a6b-8c9d-1e2f3a4b5c6d"
    with pytest.raises(StateError) as err:
        target_from({})
    assert str(err.value) == (
        "No storage account for the state table: set AzureWebJobsStorage (a connection string) or "
        "AzureWebJobsStorage__accountName (with a managed identity)."
    )
    with pytest.raises(StateError, match=r"must be an https:// URL, got http://$"):
        target_from({"AzureWebJobsStorage__tableServiceUri": "http://example.net"})


def test_a_connection_string_never_reaches_a_message(azurite: Azurite) -> None:
    wrong = azurite.connection_string.replace(ACCOUNT_KEY, "A" * 86 + "==")
    target = target_from({"AzureWebJobsStorage": wrong}, table="tkeys")
    assert "A" * 86 not in repr(target) and redact(wrong).count("***") >= 1
    with pytest.raises(StateError) as err:
        TableState.open(target)
    text = str(err.value)
    assert text.startswith(f"the state table tkeys at {azurite.endpoint} could not be opened (HTTP 403 ")
    assert "A" * 20 not in text and ACCOUNT_KEY not in text and "\n" not in text


def test_an_unreachable_account_is_one_line(azurite: Azurite, tmp_path: Path) -> None:
    closed = azurite.connection_string.replace(f":{azurite.port}/", ":9/")
    with pytest.raises(StateError) as err:
        TableState.open(target_from({"AzureWebJobsStorage": closed}, table="tgone"))
    assert str(err.value) == (
        "the state table tgone at http://127.0.0.1:9/devstoreaccount1 could not be opened: "
        "the storage account could not be reached."
    )
