"""Benchmark: the plugin's triage on third-party log lines (tests/data/triage-corpus/), per log format.

For every line of the corpus it builds the MISP event the plugin would send (`--dry-run`'s path:
extraction, triage, event) and compares it with the line's labels:

- IP: right when the address reported with to_ids equals the label's attacker address, or, when the
  label has none, when no address is reported with to_ids;
- techniques: right when every expected technique (or a sub-technique of it) is present and no predicted
  one falls outside the expected ones, their parents and their sub-techniques (revoked ids count as their
  replacement: ATT&CK v19 renumbered several defence-evasion techniques);
- level: right when the event's threat level equals the label.

It prints both splits (the held-out fifth, never used to write rules, and the rest), per format and
overall, the slowest lines, the median in-process triage time, the median `--dry-run` wall time over a
sample (process start included) and, with --misses, the table of misses.

    .venv/bin/python bench/triage_accuracy.py [--misses] [--split holdout|tuning|all] [--format F]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from misp_bridge.pandora.event import Alert, build_event  # noqa: E402
from misp_bridge.pandora.iocs import extract  # noqa: E402
from misp_bridge.pandora.triage import classify, load_rules  # noqa: E402
from misp_bridge.pandora.triage.attack import current_id  # noqa: E402

CORPUS = ROOT / "tests" / "data" / "triage-corpus"
ALERT_NAME = "Log alert"  # neutral on purpose: the data alone must carry the meaning
AGENT = "monitored-host"
TAG_PREFIX = 'misp-galaxy:mitre-attack-pattern="'
DRY_RUN_SAMPLE = 30


@dataclass(frozen=True)
class Outcome:
    ip: str | None
    techniques: frozenset[str]
    level: int
    seconds: float


@dataclass
class Tally:
    lines: int = 0
    ip: int = 0
    techniques: int = 0
    level: int = 0
    misses: list[str] = field(default_factory=list)

    def add(self, ip: bool, techniques: bool, level: bool) -> None:
        self.lines += 1
        self.ip += ip
        self.techniques += techniques
        self.level += level

    def row(self, name: str) -> str:
        def pct(n: int) -> str:
            return f"{100.0 * n / self.lines:5.1f}%" if self.lines else "    -"

        cells = (pct(self.ip), pct(self.techniques), pct(self.level))
        return f"| {name:<22} | {self.lines:>5} | " + " | ".join(cells) + " |"


def load(split: str, wanted_format: str | None) -> list[dict[str, Any]]:
    holdout = {
        line.strip()
        for line in (CORPUS / "holdout.txt").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    text = (CORPUS / "corpus.jsonl").read_text(encoding="utf-8")
    records = [json.loads(line) for line in text.splitlines()]
    for record in records:
        record["held_out"] = record["id"] in holdout
    chosen = [r for r in records if split == "all" or r["held_out"] == (split == "holdout")]
    return [r for r in chosen if wanted_format in (None, r["format"])]


def triage(data: str) -> Outcome:
    started = time.perf_counter()
    rules = load_rules()
    alert = Alert(url="https://misp.invalid", agent=AGENT, name=ALERT_NAME, data=data)
    extraction = extract(data, own_addresses=(AGENT,))
    result = classify(alert.name, alert.data, rules, extraction.json_data)
    built = build_event(alert, extraction, result, now=time.time())
    seconds = time.perf_counter() - started
    event = built.event
    ips = [a["value"] for a in event["Attribute"] if a["type"] in ("ip-src", "ip-dst") and a["to_ids"]]
    tags = [t["name"] for t in event["Tag"] if t["name"].startswith(TAG_PREFIX)]
    techniques = frozenset(current_id(tag.rstrip('"').rsplit(" - ", 1)[-1]) for tag in tags)
    return Outcome(ips[0] if ips else None, techniques, int(event["threat_level_id"]), seconds)


def _related(predicted: str, expected: str) -> bool:
    """Same technique, or one is the other's parent or sub-technique."""
    sub, parent = predicted.startswith(f"{expected}."), expected.startswith(f"{predicted}.")
    return predicted == expected or sub or parent


def techniques_right(expected: Iterable[str], predicted: frozenset[str]) -> bool:
    wanted = {current_id(t) for t in expected}
    covered = all(any(p == e or p.startswith(e + ".") for p in predicted) for e in wanted)
    contained = all(any(_related(p, e) for e in wanted) for p in predicted)
    return covered and contained


def score(records: list[dict[str, Any]]) -> tuple[dict[str, Tally], Tally, list[tuple[float, str]]]:
    per_format: dict[str, Tally] = defaultdict(Tally)
    overall = Tally()
    timings: list[tuple[float, str]] = []
    for record in records:
        got = triage(record["data"])
        timings.append((got.seconds, record["id"]))
        checks = (
            got.ip == record["attacker_ip"],
            techniques_right(record["techniques"], got.techniques),
            got.level == record["level"],
        )
        for tally in (per_format[record["format"]], overall):
            tally.add(*checks)
        if not all(checks):
            per_format[record["format"]].misses.append(_miss(record, got, checks))
    return per_format, overall, timings


def _miss(record: Mapping[str, Any], got: Outcome, checks: tuple[bool, bool, bool]) -> str:
    parts = []
    if not checks[0]:
        parts.append(f"ip {got.ip} != {record['attacker_ip']}")
    if not checks[1]:
        parts.append(f"techniques {sorted(got.techniques)} != {sorted(record['techniques'])}")
    if not checks[2]:
        parts.append(f"level {got.level} != {record['level']}")
    return f"| {record['id']} | {'; '.join(parts)} |"


def report(title: str, records: list[dict[str, Any]], misses: bool) -> list[tuple[float, str]]:
    per_format, overall, timings = score(records)
    print(f"\n### {title}: {overall.lines} lines, {len(per_format)} formats\n")
    print("| format                 | lines |    IP | tech. | level |")
    print("|------------------------|------:|------:|------:|------:|")
    for name in sorted(per_format):
        print(per_format[name].row(name))
    print(overall.row("OVERALL"))
    if misses:
        print(f"\nmisses ({title}):\n\n| id | what |\n|---|---|")
        for name in sorted(per_format):
            for line in per_format[name].misses:
                print(line)
    return timings


def dry_run_median(records: list[dict[str, Any]]) -> float:
    sample = records[:: max(1, len(records) // DRY_RUN_SAMPLE)][:DRY_RUN_SAMPLE]
    walls = []
    for record in sample:
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, str(ROOT / "pandora_to_misp.py"), "--dry-run", "-a", AGENT, "-n", ALERT_NAME,
             "-d", record["data"]],
            capture_output=True, check=False,
        )  # fmt: skip
        walls.append(time.perf_counter() - started)
    return statistics.median(walls)


def main() -> None:
    parser = argparse.ArgumentParser(description="The plugin's triage accuracy on the corpus.")
    parser.add_argument("--split", choices=("holdout", "tuning", "all"), default=None)
    parser.add_argument("--format", help="only this log format")
    parser.add_argument("--misses", action="store_true", help="print the table of misses")
    args = parser.parse_args()
    triage("warm-up: load the rules and the technique table once")
    splits = [args.split] if args.split else ["holdout", "tuning"]
    timings: list[tuple[float, str]] = []
    for split in splits:
        title = {"holdout": "held-out fifth", "tuning": "the other four fifths", "all": "whole corpus"}[split]
        timings += report(title, load(split, args.format), args.misses)
    timings.sort(reverse=True)
    median_ms = statistics.median(t for t, _ in timings) * 1000
    print(f"\ntriage per line, in process: median {median_ms:.2f} ms, slowest:")
    for seconds, record_id in timings[:5]:
        print(f"  {seconds * 1000:7.2f} ms  {record_id}")
    within = "met" if timings[0][0] <= 0.050 else "NOT met"
    print(f"no line over 50 ms: {within}")
    print(f"median --dry-run wall time (process start included, {DRY_RUN_SAMPLE} lines): "
          f"{dry_run_median(load('all', args.format)):.3f} s")  # fmt: skip


if __name__ == "__main__":
    main()
