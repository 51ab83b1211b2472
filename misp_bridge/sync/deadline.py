"""When a run stops taking new work: its time budget, or a reason from outside (the state lease lost).

A Function is killed at the host's functionTimeout; a cron job may have a slot to keep to. With a budget,
the run stops STARTING work once it is spent: no further MISP event is read, no pending item or batch is
sent, and what was converted but not sent is kept pending in the state, where the next run finds it
first. Requests already on the wire finish and their answers are recorded, so a run cut this way sends
nothing twice; only a run killed outright (the host's timeout) leaves its batches in flight unrecorded,
and the next run sends those again (Sentinel keeps one object per id: nothing is duplicated there).

`passed()` is cheap and thread-safe: the pipeline, the upload feeds and the Sentinel sender all ask it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Deadline:
    """A run's budget in seconds (None: no limit), counted from when the Deadline is made."""

    def __init__(self, budget: float | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.budget = budget
        self._clock = clock
        self._start = clock()
        self._reason: str | None = None
        self._lock = threading.Lock()

    def passed(self) -> bool:
        """True once the budget is spent or `stop` was called; it never turns False again."""
        return self.reason is not None

    @property
    def reason(self) -> str | None:
        """Why the run stops taking work (one sentence), or None while it goes on."""
        with self._lock:
            if self._reason is None and self.budget is not None and self.elapsed() >= self.budget:
                self._reason = f"the run's time budget of {self.budget:g} s is spent"
            return self._reason

    def stop(self, reason: str) -> None:
        """Stop taking work now (the first reason given is the one kept)."""
        with self._lock:
            if self._reason is None:
                self._reason = reason

    def elapsed(self) -> float:
        return max(0.0, self._clock() - self._start)

    def remaining(self) -> float | None:
        """Seconds left (0 once passed), or None without a budget."""
        if self.budget is None:
            return 0.0 if self.passed() else None
        return 0.0 if self.passed() else max(0.0, self.budget - self.elapsed())
