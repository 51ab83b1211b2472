"""Benchmark: MISP attribute -> STIX indicator conversion speed on one core (goal >= 5,000 attributes/s).

Runs two sets: the seven sample MISP events (sandbox/data/misp-events) repeated to >= 50,000
attributes, and a synthetic set of 50,000 to_ids attributes of every table type. Every attribute counts,
skipped ones included (the sync sees them all). Run from any directory:  .venv/bin/python bench/convert.py
"""

from __future__ import annotations

import json
import random
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from misp_bridge.sync.convert import events  # noqa: E402
from misp_bridge.sync.convert.indicators import ConvertOptions, Indicator, convert_event  # noqa: E402
from sandbox.samples import sample_event_files  # noqa: E402

TARGET = 50_000
# current_date start keeps old sample events alive, so every convertible attribute is fully built.
OPTIONS = ConvertOptions(misp_domain="https://misp.example", days_to_expire_start="current_date")
SAMPLES = {
    "ip-dst": lambda r: f"198.51.{r.randrange(256)}.{r.randrange(256)}",
    "ip-src|port": lambda r: f"2001:db8::{r.randrange(65536):x}|{r.randrange(1, 65536)}",
    "domain": lambda r: f"host{r.randrange(10**6)}.evil.example",
    "domain|ip": lambda r: f"d{r.randrange(10**6)}.example|192.0.2.{r.randrange(256)}",
    "url": lambda r: f"http://evil.example/{r.randrange(10**9)}?q='x'",
    "md5": lambda r: f"{r.getrandbits(128):032x}",
    "sha256": lambda r: f"{r.getrandbits(256):064x}",
    "filename|sha1": lambda r: f"C:\\temp\\f{r.randrange(1000)}.exe|{r.getrandbits(160):040x}",
    "email-src": lambda r: f"u{r.randrange(10**6)}@evil.example",
    "AS": lambda r: f"AS{r.randrange(1, 400000)}",
    "regkey|value": lambda r: f"HKLM\\Software\\Run{r.randrange(100)}|evil.exe",
    "text": lambda r: "not an indicator",
}


def sample_events() -> list[dict[str, Any]]:
    loaded = [json.loads(path.read_text(encoding="utf-8")) for path in sample_event_files()]
    batch: list[dict[str, Any]] = []
    count = 0
    while count < TARGET:
        for event in loaded:
            batch.append(event)
            count += sum(1 for _ in events.iter_attributes(events.unwrap(event), flatten=True))
    return batch


def synthetic_events(seed: int = 7, per_event: int = 500) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    types = list(SAMPLES)
    tags = [
        {"name": "tlp:green"},
        {"name": 'misp:confidence-level="usually-confident"'},
        {"name": "kill-chain:Delivery"},
    ]
    result = []
    for _ in range(TARGET // per_event):
        attributes = []
        for _ in range(per_event):
            misp_type = rng.choice(types)
            attributes.append(
                {
                    "uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "type": misp_type,
                    "value": SAMPLES[misp_type](rng),
                    "to_ids": True,
                    "timestamp": "1700000000",
                    "comment": "synthetic",
                    "Tag": tags[: rng.randrange(4)],
                }
            )
        event_uuid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        result.append(
            {
                "Event": {
                    "id": "1",
                    "uuid": event_uuid,
                    "info": "synthetic",
                    "date": "2023-11-14",
                    "timestamp": "1700000000",
                    "Orgc": {"name": "ORG", "uuid": event_uuid},
                    "Tag": [{"name": "tlp:amber"}],
                    "Attribute": attributes,
                }
            }
        )
    return result


def run(label: str, batch: list[dict[str, Any]]) -> float:
    now = datetime.now(timezone.utc)
    attributes = sum(sum(1 for _ in events.iter_attributes(events.unwrap(e), flatten=True)) for e in batch)
    indicators = 0
    # CPU time of this process: the figure is per core and does not depend on other load on the host.
    started, cpu_started = time.perf_counter(), time.process_time()
    for event in batch:
        for result in convert_event(event, OPTIONS, now):
            indicators += isinstance(result, Indicator)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    rate = attributes / cpu
    print(
        f"{label}: {attributes} attributes, {indicators} indicators, {cpu:.2f} s CPU ({elapsed:.2f} s wall)"
    )
    return rate


def main() -> int:
    rates = [run("sample events x N", sample_events()), run("synthetic", synthetic_events())]
    rate = min(rates)
    print(f"attributes converted per second: {rate:.0f}")
    print("target >= 5000: " + ("met" if rate >= 5000 else "NOT met"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
