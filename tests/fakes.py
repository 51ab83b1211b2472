"""Test doubles for time: one clock tests move by hand, and a sleep that moves it instead of waiting.

Every place that waits or reads the time takes a clock and a sleep (the sandboxes' rate windows and
tokens, the rate limiters, retries, the state's timestamps), so a 60-second Retry-After costs no real time.
"""

from __future__ import annotations

import threading


class FakeClock:
    """`clock()` reads it, `clock.advance(s)` (or `clock.sleep(s)`) moves it; threads may share it."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds

    sleep = advance


class FakeSleep:
    """A sleep that moves a FakeClock instead of waiting, and remembers every wait it was asked for."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.calls: list[float] = []
        self._lock = threading.Lock()

    def __call__(self, seconds: float) -> None:
        with self._lock:
            self.calls.append(seconds)
        self.clock.advance(seconds)
