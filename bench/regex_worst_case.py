"""Benchmark: the worst case of the plugin's regexes (RE2) on adversarial alert text up to 128 KiB.

For every adversarial unit (tests/pandora/adversarial.py: runs of spaces, digits, dots, slashes, the IOC
shapes, every rule's keywords and fragments) it times triage (every rule) plus IOC extraction (anchors,
scans, refanging) on the unit repeated to 32, 64 and 128 KiB, and prints the slowest units at 128 KiB
and how their time grows when the text doubles (linear: about 2x). For contrast it times the pattern of
issue 8's finding 3 under Python's re, which grows with the square of the text.
tests/pandora/test_rx.py takes ten times the worst figure as its ceiling.
Run from any directory:  .venv/bin/python bench/regex_worst_case.py
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from misp_bridge.pandora.iocs import extract  # noqa: E402
from misp_bridge.pandora.triage import classify, load_rules  # noqa: E402
from tests.pandora.adversarial import MAX_ALERT, cases, repeated  # noqa: E402

SIZES = (MAX_ALERT // 4, MAX_ALERT // 2, MAX_ALERT)
# The two cron-persistence patterns of finding 3, as they were under Python's re, with their worst text.
OLD_CRON = (
    (
        re.compile(r"(?:>>?|\btee\s+(?:-a\s+)?)\s*/etc/cron", re.IGNORECASE | re.MULTILINE),
        lambda size: ("tee" + " " * size)[:size],
    ),
    (
        re.compile(
            r"""/etc/cron[\w./-]*['"]?\s+(?:was\s+)?(?:added|modified|created|changed)\b""",
            re.IGNORECASE | re.MULTILINE,
        ),
        lambda size: repeated("/etc/cron", size),
    ),
)


def _time(data: str, rules: object) -> float:
    best = float("inf")
    for _ in range(2):  # the better of two runs: the machine is shared
        started = time.perf_counter()
        classify("adversarial", data, rules)  # type: ignore[arg-type]
        extract(data)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> int:
    rules = load_rules()
    by_size = [dict(cases(rules, size)) for size in SIZES]
    rows = sorted(
        ((_time(by_size[2][label], rules), label) for label in by_size[2]),
        reverse=True,
    )
    print(f"{len(rows)} adversarial texts; slowest at {MAX_ALERT // 1024} KiB (triage + IOC extraction):")
    for worst, label in rows[:8]:
        quarter, half = (_time(by_size[i][label], rules) for i in (0, 1))
        print(
            f"  {worst * 1000:7.1f} ms  (32 KiB {quarter * 1000:6.1f} ms, 64 KiB {half * 1000:6.1f} ms)"
            f"  {label}"
        )
    print(f"worst case at 128 KiB: {rows[0][0]:.3f} s (tests/pandora/test_rx.py's ceiling is 10x)")
    print("for contrast, finding 3's two patterns under Python's re, on their worst text:")
    for pattern, make in OLD_CRON:
        figures = []
        for size in (8 * 1024, 16 * 1024, 32 * 1024):
            data = make(size)
            started = time.perf_counter()
            pattern.search(data)
            figures.append(f"{size // 1024} KiB {time.perf_counter() - started:.2f} s")
        print("  " + ", ".join(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
