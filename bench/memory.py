"""Benchmark: the sync's peak memory for 10,000 vs 200,000 MISP attributes (goal: within 30 MB).

The MISP sandbox runs in a SUBPROCESS server, so only the client is measured. For each size a fresh
client subprocess runs the real sync (`script.py --dry-run`, misp_bridge.sync.cli.main) against it with
the product's page size (misp_event_limit_per_page = 500 events) and a fresh state file: MISP paging,
conversion, classification against the state and batching, everything but the HTTP upload itself. It
then reports its peak RSS (ru_maxrss).
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
from pathlib import Path

from _common import ROOT

PER_EVENT = 10
SIZES = (10_000, 200_000)
BENCH = Path(__file__).resolve()


def serve(ca_dir: Path) -> None:
    """Server mode: print the URL, then seed on `seed <events>` lines from stdin until EOF."""
    from sandbox.http import Server
    from sandbox.misp.app import MispApp
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
    """Client mode: one real `script.py --dry-run` pass through the sync pipeline (MISP paging,
    conversion, classification against a fresh state file, batching); print its counts and peak RSS."""
    import contextlib
    import io

    from misp_bridge.sync.cli import main as sync_main

    with tempfile.TemporaryDirectory(prefix="bench-memory-client-") as tmp:
        config = Path(tmp) / "config.py"
        workspace = {
            "tenant": "6f1d2c3b-4a59-4e8d-9c71-0a1b2c3d4e5f",
            "client_id": "0c1e5a7b-2d3f-4a6b-8c9d-1e2f3a4b5c6d",
            "client_secret": "bench-not-a-secret",
            "workspace_id": "2a4b6c8d-1e3f-4a5b-9c7d-0e1f2a3b4c5d",
        }
        values = {
            "ms_auth": workspace,
            "misp_key": key,
            "misp_domain": url,
            "misp_verifycert": ca,
            "misp_event_filters": {"published": True},
            "misp_event_limit_per_page": 500,
            "days_to_expire": 36500,
            "log_file": str(Path(tmp) / "sync.log"),
            "state_file": str(Path(tmp) / "state.db"),
        }
        config.write_text("".join(f"{k} = {v!r}\n" for k, v in values.items()), encoding="utf-8")
        config.chmod(0o600)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = sync_main(["--config", str(config), "--dry-run", "--json", "--no-progress"])
        summary = json.loads(out.getvalue())
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    would = sum(ws.get("would_upload", 0) for ws in summary.get("workspaces", {}).values())
    counts = {key: summary.get(key, 0) for key in ("events", "attributes", "indicators")}
    print(json.dumps({"exit": code, **counts, "would_upload": would, "peak_mb": peak_kb / 1024}))


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
                    f"{r['indicators']:,} indicators ({r['would_upload']:,} to upload; exit {r['exit']}), "
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
