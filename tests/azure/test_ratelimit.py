"""The upload rate limiter, on an injected clock: the 100-per-minute rule checked without real waiting."""

from __future__ import annotations

import threading

import pytest

from misp_bridge.azure.ratelimit import SlidingWindow
from tests.fakes import FakeClock


def max_in_any_window(times: list[float], window: float) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - window + 1e-9:  # float noise at the exact boundary
            start += 1
        best = max(best, end - start + 1)
    return best


def test_first_requests_go_at_once() -> None:
    clock = FakeClock(1000.0)
    limiter = SlidingWindow(100, 60, clock=clock, sleep=clock.sleep)
    assert all(limiter.acquire() == 0 for _ in range(100))
    assert clock.now == 1000.0
    assert limiter.in_window() == 100


def test_request_101_waits_for_the_window() -> None:
    clock = FakeClock(1000.0)
    limiter = SlidingWindow(100, 60, clock=clock, sleep=clock.sleep)
    for _ in range(100):
        limiter.acquire()
    assert limiter.acquire() == pytest.approx(60.0)
    assert clock.now == pytest.approx(1060.0)


@pytest.mark.parametrize(("limit", "window", "count"), [(100, 60, 1000), (10, 1, 95), (1, 5, 7)])
def test_never_more_than_limit_in_any_window(limit: int, window: float, count: int) -> None:
    clock = FakeClock(1000.0)
    limiter = SlidingWindow(limit, window, clock=clock, sleep=clock.sleep)
    sent = []
    for i in range(count):
        limiter.acquire()
        sent.append(clock())
        clock.sleep(0.013 * (i % 7))  # uneven request spacing
    assert max_in_any_window(sent, window) == limit
    # and the limiter does not waste the ceiling: the last request goes as early as the rule allows
    assert sent[-1] - sent[0] <= (count // limit) * window + 0.013 * 7 * count


def test_pause_until_holds_everyone() -> None:
    clock = FakeClock(1000.0)
    limiter = SlidingWindow(100, 60, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    limiter.pause_until(clock() + 12)
    assert limiter.acquire() == pytest.approx(12.0)
    assert limiter.waited == pytest.approx(12.0)


def test_margin_widens_the_window() -> None:
    clock = FakeClock(1000.0)
    limiter = SlidingWindow(2, 10, margin=0.5, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    limiter.acquire()
    assert limiter.acquire() == pytest.approx(10.5)


def test_shared_by_threads_real_clock() -> None:
    """Several workers on the real clock with a small window: the rule holds under contention."""
    limiter = SlidingWindow(5, 0.2)
    import time

    sent: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(5):
            limiter.acquire()
            with lock:
                sent.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(sent) == 20
    # Times are read just after acquire() returns, so each may lag by a scheduling delay D; counting over
    # a window of 0.2 - D keeps the check exact for any D up to 50 ms (a loaded CI machine).
    assert max_in_any_window(sent, 0.2 - 0.05) <= 5


def test_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="max_requests"):
        SlidingWindow(0, 60)
