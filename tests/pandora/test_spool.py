"""The spool: atomic 0600 files, oldest first, failed/ for refused events, a lock that never waits long."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from misp_bridge.pandora.spool import Spool, SpoolRecord


def record(first_seen: float, info: str = "x") -> SpoolRecord:
    return SpoolRecord(
        event={"uuid": f"u-{first_seen}", "info": info}, misp_url="https://m", first_seen=first_seen
    )


def test_add_writes_one_private_file_and_no_temp(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    path = spool.add(record(5.0))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in spool.directory.iterdir()] == [path.name]
    assert spool.load(path) == record(5.0)


def test_pending_is_oldest_first(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    for seen in (30.0, 10.0, 20.0):
        spool.add(record(seen))
    assert [spool.load(p).first_seen for p in spool.pending()] == [10.0, 20.0, 30.0]


def test_fail_moves_with_the_reason(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    path = spool.add(record(1.0))
    target = spool.fail(path, "MISP refused the event (403): Could not add Event.", spool.load(path))
    assert spool.pending() == []
    assert json.loads(target.read_text())["failed_reason"].startswith("MISP refused")


def test_unreadable_file_moves_as_is(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    bad = tmp_path / "000000000000001-bad.json"
    bad.write_text("{not json")
    target = spool.fail(bad, "cannot be read")
    assert target.read_text() == "{not json"
    assert (target.parent / (target.name + ".reason")).read_text().strip() == "cannot be read"


def test_lock_busy_gives_up_after_the_wait_without_real_sleep(tmp_path: Path) -> None:
    clock = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    holder = Spool(tmp_path)
    waiter = Spool(tmp_path, sleep=sleep, monotonic=lambda: clock[0])
    with holder.lock() as held:
        assert held
        with waiter.lock(wait=0.2) as second:
            assert second is False
    assert 0.2 <= sum(slept) < 0.3
    with waiter.lock() as again:
        assert again
