"""The sample MISP events the sandbox seeds (the demo), the tests convert and the benchmarks repeat.

Seven real events from PyMISP's test fixtures (BSD-2-Clause; `data/misp-events/LICENSE.pymisp` and
`README.md` beside them say where they come from). They live inside the repository so that a clone
needs nothing from outside it.
"""

from __future__ import annotations

from pathlib import Path

SAMPLE_EVENTS = Path(__file__).resolve().parent / "data" / "misp-events"


def sample_event_files() -> list[Path]:
    """The sample event files, sorted by name; raises if the folder is missing or empty (a broken
    checkout must fail loudly, not run parametrized tests over nothing)."""
    files = sorted(SAMPLE_EVENTS.glob("*.json"))
    if not files:
        raise FileNotFoundError(f"no sample MISP events in {SAMPLE_EVENTS}")
    return files
