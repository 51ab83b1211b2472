"""Benchmark: what the Table state costs a run, against the SQLite state, on Azurite (local figures).

For N indicators of one workspace, times the calls a run makes: `record_delivered` in Sentinel-sized
batches of 100 (what each batch answer writes), `classify` of a page of 1,000 (what each MISP page reads,
point reads in parallel), the pending queue (keep N, read them back, deliver them), and a run-log entry.
It prints the requests each call made and the rates. Azurite is a single Node process on this machine, so
the Table figures are a floor for the real service only in shape, not in speed: in Azure a point read
takes a few milliseconds and a transaction tens of them, from a worker in the same region.

Needs Azurite (`make azurite`). Run from any directory:  .venv/bin/python bench/state_tables.py [N]
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import ROOT, indicator

from misp_bridge.azure.storage import target_from
from misp_bridge.sync.indicator import Indicator
from misp_bridge.sync.state import State, StateStore
from misp_bridge.sync.state.tables import TableState
from tests.fixtures.azurite import BINARY, Azurite, _start, new_table_name

WS = "2a4b6c8d-1e3f-4a5b-9c7d-0e1f2a3b4c5d"
BATCH = 100
PAGE = 1_000


def items(n: int) -> list[Indicator]:
    return [
        Indicator.from_body(indicator(i), attribute_uuid=f"attr-{i:08d}", event_uuid=f"event-{i // 50}")
        for i in range(n)
    ]


def timed(what: str, call: Callable[[], Any], count: int, requests: list[str]) -> None:
    requests.clear()
    start = time.perf_counter()
    call()
    seconds = time.perf_counter() - start
    made = f", {len(requests)} requests" if requests else ""
    print(f"  {what:<44} {seconds:7.2f} s  {count / seconds:9,.0f} indicators/s{made}")


def run(name: str, state: StateStore, n: int) -> None:
    requests: list[str] = []
    if isinstance(state, TableState):
        state.set_trace(requests.append)
    batch = items(n)
    print(f"{name}: {n:,} indicators")
    timed(
        f"record_delivered, {n // BATCH} batches of {BATCH}",
        lambda: [state.record_delivered(WS, batch[s : s + BATCH]) for s in range(0, n, BATCH)],
        n,
        requests,
    )
    page = [(i.stix_id, i.content_hash) for i in batch[:PAGE]]
    timed(f"classify one page of {len(page):,}", lambda: state.classify(WS, page), len(page), requests)
    timed(
        f"current (generations) of {len(page):,}",
        lambda: state.current(WS, batch[:PAGE]),
        len(page),
        requests,
    )
    kept = batch[: n // 10]
    timed(
        f"add_pending {len(kept):,} (batches of {BATCH})",
        lambda: [state.add_pending(WS, kept[s : s + BATCH]) for s in range(0, len(kept), BATCH)],
        len(kept),
        requests,
    )
    timed(f"pending: read {len(kept):,} back", lambda: list(state.pending(WS)), len(kept), requests)
    timed(
        f"deliver the {len(kept):,} pending",
        lambda: [state.record_delivered(WS, kept[s : s + BATCH]) for s in range(0, len(kept), BATCH)],
        len(kept),
        requests,
    )
    timed(
        "start_run + finish_run", lambda: state.finish_run(state.start_run("bench"), {"n": n}, 0), 1, requests
    )


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5_000
    if not BINARY.exists():
        print("Azurite is not installed: run `make azurite` (needs node and npm)")
        return 1
    with tempfile.TemporaryDirectory() as scratch:
        with State.open(Path(scratch) / "state.db") as sqlite_state:
            run("SQLite", sqlite_state, n)
        proc, port = _start(Path(scratch))
        try:
            azurite = Azurite(port, Path(scratch))
            target = target_from({"AzureWebJobsStorage": azurite.connection_string}, table=new_table_name())
            with TableState.open(target) as table_state:
                run("Table (Azurite)", table_state, n)
        finally:
            proc.terminate()
            proc.wait(10)
    return 0


if __name__ == "__main__":
    assert ROOT
    sys.exit(main())
