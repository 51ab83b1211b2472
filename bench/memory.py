"""Benchmark: the sync's peak memory for 10,000 vs 200,000 MISP attributes (goal: within 30 MB).

The MISP sandbox runs in a SUBPROCESS server, so only the client is measured. For each size a fresh
client subprocess pages MISP through MispSource (the product's page size, misp_event_limit_per_page =
500 events), converts every event with convert_event (default options), cuts indicators into batches of
100 and hands them to a dry-run "upload" that discards them, then reports its peak RSS (ru_maxrss).
Events carry 10 attributes each, so one page is 5,000 attributes at either size. Filter: published only
(the synthetic events carry no workflow tag). Run from any directory:  .venv/bin/python bench/memory.py
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from _common import ROOT

PER_EVENT = 10
SIZES = (10_000, 200_000)
BENCH = Path(__file__).resolve()


def serve(ca_dir: Path) -> None:
    """Server mode: print the URL, then seed on `seed <events>` lines from stdin until EOF."""
    from sandbox.http import Server
    from sandbox.misp import MispApp
    from sandbox.tls import SandboxCA

    app = MispApp()
    ca = SandboxCA(ca_dir)
    with Server(app, ca) as server:
        print(json.dumps({"url": server.url, "key": app.api_key, "ca": str(ca.ca_path)}), flush=True)
        for line in sys.stdin:
            words = line.split()
            if words[:1] == ["seed"]:
                app.bulk_seed(int(words[1]), PER_EVENT)
                print("seeded", flush=True)


def client(url: str, key: str, ca: str) -> None:
    """Client mode: one sync pass (page, convert, dry-run batches); print counts and peak RSS."""
    from misp_bridge.sync.misp_source import MispSource
    from misp_bridge.sync.stix import ConvertOptions, Indicator, convert_event

    options = ConvertOptions(misp_domain=url)
    now = datetime.now(timezone.utc)
    source = MispSource(url=url, key=key, verify=ca, timeout=60.0, page_size=500)
    events = attributes = indicators = batches = 0
    batch: list[object] = []

    def discard(objects: list[object]) -> None:  # the dry-run "upload"
        nonlocal batches
        batches += 1
        objects.clear()

    for event in source.events({"published": True}):
        events += 1
        attributes += len(event.get("Attribute") or [])
        for result in convert_event(event, options, now):
            if isinstance(result, Indicator):
                indicators += 1
                batch.append(dict(result.body))
                if len(batch) == 100:
                    discard(batch)
    if batch:
        discard(batch)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"events": events, "attributes": attributes, "indicators": indicators,
                      "batches": batches, "peak_mb": peak_kb / 1024}))  # fmt: skip


def main() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        server = subprocess.Popen(
            [sys.executable, str(BENCH), "--serve", tmp],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        assert server.stdin is not None and server.stdout is not None
        try:
            info = json.loads(server.stdout.readline())
            env["REQUESTS_CA_BUNDLE"] = env["SSL_CERT_FILE"] = info["ca"]
            seeded = 0
            results = {}
            for size in SIZES:
                server.stdin.write(f"seed {(size - seeded) // PER_EVENT}\n")
                server.stdin.flush()
                assert server.stdout.readline().strip() == "seeded"
                seeded = size
                started = time.monotonic()
                out = subprocess.run(
                    [sys.executable, str(BENCH), "--client", info["url"], info["key"], info["ca"]],
                    capture_output=True, text=True, env=env, check=True,
                )  # fmt: skip
                results[size] = json.loads(out.stdout.strip().splitlines()[-1])
                r = results[size]
                print(
                    f"{size:>7,} attributes in MISP: {r['events']:,} events, {r['attributes']:,} attributes, "
                    f"{r['indicators']:,} indicators in {r['batches']:,} batches, "
                    f"peak RSS {r['peak_mb']:.1f} MB, {time.monotonic() - started:.1f} s"
                )
        finally:
            server.stdin.close()
            server.wait(timeout=30)
    small, large = (results[s]["peak_mb"] for s in SIZES)
    print(f"RESULT peak RSS difference {large - small:+.1f} MB (target: within 30 MB)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", metavar="CA_DIR", help=argparse.SUPPRESS)
    parser.add_argument("--client", nargs=3, metavar=("URL", "KEY", "CA"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(Path(args.serve))
    elif args.client:
        client(*args.client)
    else:
        main()
