"""The run summary: thread-safe counters that the pipeline, the upload threads and cleanup add to.

One `Summary` per run. Global counts (events, attributes, indicators, skipped by reason) and per-workspace
counts (uploaded, unchanged, rejected, pending, revoked, requests, throttled, ...) are plain integers
under one lock, so worker threads may count while the main thread streams MISP. At the end the run's exit
code goes in (`conclude`), so every form says whether the run failed: `as_dict()` is the `--json`
output and what the state's run log keeps; `render()` is the text for a person (stderr); `log_lines()`
are the log file's records, ONE line each (key=value, grep-friendly): the run, then each workspace.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from typing import Any

# Per-workspace counters always shown, in this order (others, e.g. "would_upload", follow when non-zero).
WORKSPACE_KEYS = ("uploaded", "unchanged", "rejected", "pending", "revoked", "requests", "throttled")
GLOBAL_KEYS = ("events", "attributes", "indicators")
# Exit code -> the run's result in one word: 0 everything done, 1 finished with something pending or
# rejected, anything else the run failed (configuration, MISP, Sentinel, the lock).
RESULTS = {0: "ok", 1: "problems"}
FAILED = "failed"
_BARE = re.compile(r"^[A-Za-z0-9_.:/@+-]+$")


def result_of(exit_code: int) -> str:
    return RESULTS.get(exit_code, FAILED)


def _kv(key: str, value: Any) -> str:
    """key=value; a value with spaces or quotes is written as a JSON string (still one line)."""
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return f"{key}={text}" if _BARE.match(text) else f"{key}={json.dumps(text)}"


class Summary:
    """Counters of one run; every method may be called from any thread."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._started = clock()
        self._finished: float | None = None
        self._totals: dict[str, int] = dict.fromkeys(GLOBAL_KEYS, 0)
        self._skipped: dict[str, int] = {}
        self._workspaces: dict[str, dict[str, int]] = {}
        self._errors: dict[str, str] = {}
        self._stopped: str | None = None
        self.dry_run = False
        self.exit_code: int | None = None
        self.meaning = ""

    def conclude(self, exit_code: int, meaning: str) -> None:
        """The run's exit code and what it means: every form of the summary says it from now on."""
        with self._lock:
            self.exit_code, self.meaning = int(exit_code), meaning

    def add_workspace(self, label: str) -> None:
        with self._lock:
            self._workspaces.setdefault(label, dict.fromkeys(WORKSPACE_KEYS, 0))

    def total(self, key: str, n: int = 1) -> None:
        """Add to a run-wide counter: events, attributes, indicators."""
        with self._lock:
            self._totals[key] = self._totals.get(key, 0) + n

    def skip(self, reason: str, n: int = 1) -> None:
        with self._lock:
            self._skipped[reason] = self._skipped.get(reason, 0) + n

    def count(self, workspace: str, key: str, n: int = 1) -> None:
        """Add to a workspace counter, e.g. count("sentinel-ws", "revoked", 3)."""
        with self._lock:
            counters = self._workspaces.setdefault(workspace, dict.fromkeys(WORKSPACE_KEYS, 0))
            counters[key] = counters.get(key, 0) + n

    def set(self, workspace: str, key: str, value: int) -> None:
        """Set a workspace counter to a value read elsewhere (the pending count from the state)."""
        with self._lock:
            counters = self._workspaces.setdefault(workspace, dict.fromkeys(WORKSPACE_KEYS, 0))
            counters[key] = value

    def error(self, workspace: str, message: str) -> None:
        """Why a workspace stopped (the first reason is kept)."""
        with self._lock:
            self._errors.setdefault(workspace, message)

    def stop(self, reason: str) -> None:
        """The run stopped taking new work before it was done (its time budget); the first reason stays."""
        with self._lock:
            if self._stopped is None:
                self._stopped = reason

    @property
    def stopped(self) -> str | None:
        with self._lock:
            return self._stopped

    def get(self, workspace: str, key: str) -> int:
        with self._lock:
            return self._workspaces.get(workspace, {}).get(key, 0)

    def get_total(self, key: str) -> int:
        with self._lock:
            return self._totals.get(key, 0)

    def finish(self) -> None:
        with self._lock:
            self._finished = self._clock()  # again after clean-up passes: elapsed covers them too

    @property
    def elapsed(self) -> float:
        with self._lock:
            end = self._finished if self._finished is not None else self._clock()
        return max(0.0, end - self._started)

    @property
    def refused(self) -> dict[str, str]:
        with self._lock:
            return dict(self._errors)

    def as_dict(self) -> dict[str, Any]:
        elapsed = round(self.elapsed, 3)
        with self._lock:
            outcome = (
                {}
                if self.exit_code is None
                else {"exit_code": self.exit_code, "result": result_of(self.exit_code)}
            )
            return {
                "dry_run": self.dry_run,
                **outcome,
                **self._totals,
                "skipped": dict(sorted(self._skipped.items())),
                "workspaces": {
                    label: {**counters, **({"error": self._errors[label]} if label in self._errors else {})}
                    for label, counters in self._workspaces.items()
                },
                "elapsed_seconds": elapsed,
                **({"stopped": self._stopped} if self._stopped is not None else {}),
            }

    def _head(self, data: dict[str, Any]) -> str:
        code = data.get("exit_code", 0)
        run = "Dry run (nothing uploaded, state unchanged)" if data["dry_run"] else "Sync"
        verb = {"ok": "finished", "problems": "finished with problems"}.get(result_of(code), "FAILED")
        why = f": {self.meaning}" if self.meaning and code else ""
        return (
            f"{run} {verb} in {data['elapsed_seconds']:.1f} s (exit {code}{why}): {data['events']} events, "
            f"{data['attributes']} attributes seen, {data['indicators']} indicators built."
        )

    def render(self) -> str:
        """A few human lines: the result and the totals, the skips, one line per workspace."""
        data = self.as_dict()
        lines = [self._head(data)]
        if data["skipped"]:
            parts = ", ".join(f"{reason} {n}" for reason, n in data["skipped"].items())
            lines.append(f"  skipped: {parts}")
        for label, counters in data["workspaces"].items():
            shown = [f"{key} {counters.get(key, 0)}" for key in WORKSPACE_KEYS]
            extra = [
                f"{key} {value}"
                for key, value in counters.items()
                if key not in WORKSPACE_KEYS and key != "error" and value
            ]
            lines.append(f"  workspace {label}: " + ", ".join(shown + extra))
            if "error" in counters:
                lines.append(f"    stopped: {counters['error']}")
        if "stopped" in data:
            lines.append(f"  stopped early: {data['stopped']}; the next run goes on from here")
        return "\n".join(lines)

    def log_lines(self) -> list[str]:
        """The log file's records: the run, then one per workspace; each one line of key=value."""
        data = self.as_dict()
        code = data.get("exit_code", 0)
        run = [
            _kv("result", result_of(code)),
            _kv("exit", code),
            *([_kv("meaning", self.meaning)] if self.meaning else []),
            _kv("dry_run", data["dry_run"]),
            _kv("elapsed_s", data["elapsed_seconds"]),
            *(_kv(key, data[key]) for key in GLOBAL_KEYS),
            *(_kv("skipped_" + reason.replace(" ", "_"), n) for reason, n in data["skipped"].items()),
        ]
        lines = ["Sync summary: " + " ".join(run)]
        for label, counters in data["workspaces"].items():
            fields = [_kv("workspace", label)]
            fields += [_kv(key, value) for key, value in counters.items() if key != "error"]
            if "error" in counters:
                fields.append(_kv("error", counters["error"]))
            lines.append("Sync summary: " + " ".join(fields))
        return lines
