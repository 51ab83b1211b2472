"""The run's time budget, and the signals that end it (issue 8, finding 4).

Pandora runs the plugin under `timeout 15` (global_alert_timeout): SIGTERM at 15 s, and the run is gone.
Lifecycle of one run:

1. `Signals.hold()` is entered first: SIGTERM (and the watchdog's SIGALRM) are blocked while the alert
   is being written to the spool, so a kill cannot land between "read" and "kept";
2. once the record is on disk the signals are let through: SIGTERM then raises `Terminated` wherever
   the run is (the record stays spooled; the CLI logs one line and exits 1);
3. every network call runs under `Watchdog.guard()`: an interval timer set to what is left of the
   budget raises `WatchdogFired` inside the call however the server behaves (late, or dripping a
   byte a second, which no socket read timeout catches); the gateway turns it into BudgetSpent;
4. each request also gets its own (connect, read) timeout from what is left (`Budget.timeouts`).

Both exceptions derive from BaseException: PyMISP's constructor wraps every Exception in its own
error, which would hide them. Signals only work in the main thread; elsewhere (never in production)
the watchdog is off and the per-request timeouts remain.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType

from misp_bridge.errors import BudgetSpent

MIN_ATTEMPT = 1.5  # below this many seconds left, a request could not finish: keep the alert instead
CONNECT_TIMEOUT = 3.0
_HELD = {signal.SIGTERM, signal.SIGALRM}


class Terminated(BaseException):
    """SIGTERM arrived (Pandora's timeout, or an operator)."""


class WatchdogFired(BaseException):
    """The run's budget ran out in the middle of a network call."""


class Budget:
    """A monotonic deadline for the whole run."""

    def __init__(self, total: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.deadline = clock() + total

    def remaining(self) -> float:
        return max(0.0, self.deadline - self._clock())

    def timeouts(self) -> tuple[float, float]:
        """(connect, read) timeouts for one request; BudgetSpent when too little is left."""
        left = self.remaining()
        if left < MIN_ATTEMPT:
            raise BudgetSpent(left)
        return min(CONNECT_TIMEOUT, left), left


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


class Watchdog:
    """Ends a network call when the budget runs out (see the module docstring)."""

    def __init__(self, budget: Budget) -> None:
        self._budget = budget

    @contextlib.contextmanager
    def guard(self) -> Iterator[None]:
        if not _main_thread():
            yield
            return
        left = self._budget.remaining()
        if left <= 0:
            raise WatchdogFired
        previous = signal.signal(signal.SIGALRM, _fire)
        signal.setitimer(signal.ITIMER_REAL, left)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)


def _fire(signum: int, frame: FrameType | None) -> None:
    raise WatchdogFired


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Terminated


class Signals:
    """SIGTERM handling for one run; restores the process's own handlers when the run ends."""

    def __init__(self) -> None:
        self._active = _main_thread()
        self._previous: object = None

    def __enter__(self) -> Signals:
        if self._active:
            self._previous = signal.signal(signal.SIGTERM, _terminate)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._active:
            signal.signal(signal.SIGTERM, self._previous)  # type: ignore[arg-type]

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """SIGTERM and SIGALRM wait until the block ends (then a pending SIGTERM is raised)."""
        if not self._active:
            yield
            return
        signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
        try:
            yield
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _HELD)
