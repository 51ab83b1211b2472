"""A sliding-window request limiter shared by the upload workers of one workspace.

Sentinel allows `max_requests` upload requests per `window` seconds. Every worker calls `acquire()` before
sending; the call returns once sending now keeps the last `window` seconds within the limit. A 429 from the
service calls `pause_until()`, which holds every worker until the given time. Clock and sleep are injected
so tests run the 100-per-minute rule without waiting a minute.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class SlidingWindow:
    def __init__(
        self,
        max_requests: int,
        window: float = 60.0,
        *,
        margin: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_requests < 1 or window <= 0:
            raise ValueError("max_requests must be >= 1 and window > 0")
        self.max_requests = max_requests
        # The margin widens the window a little: the service counts arrivals, we count departures.
        self.window = window + margin
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()
        self._paused_until = 0.0
        self._lock = threading.Lock()
        self.waited = 0.0  # total seconds callers spent waiting, for the run summary

    def _delay(self, now: float) -> float:
        """Seconds to wait before one more request may go; 0 means go now. Caller holds the lock."""
        while self._sent and self._sent[0] <= now - self.window:
            self._sent.popleft()
        delay = max(0.0, self._paused_until - now)
        if len(self._sent) >= self.max_requests:
            delay = max(delay, self._sent[0] + self.window - now)
        return delay

    def acquire(self) -> float:
        """Block until a request may be sent; record it; return the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                delay = self._delay(now)
                if delay <= 0:
                    self._sent.append(now)
                    self.waited += waited
                    return waited
            # Sleep outside the lock; wake a little early is harmless, the loop re-checks.
            self._sleep(delay)
            waited += delay

    def pause_until(self, when: float) -> None:
        """Hold every caller until `when` (clock time), e.g. after a 429 with Retry-After."""
        with self._lock:
            self._paused_until = max(self._paused_until, when)

    def in_window(self) -> int:
        with self._lock:
            self._delay(self._clock())
            return len(self._sent)
