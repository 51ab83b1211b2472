"""Benchmark: wall time of one pandora_to_misp.py alert, process start included (target <= 0.6 s).

Starts the MISP sandbox in this process, then runs the plugin N times as a real subprocess with
distinct alerts (so each one creates an event) and prints the median and p90.
Run from any directory:  .venv/bin/python bench/plugin_latency.py [N]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sandbox.http import Server  # noqa: E402
from sandbox.misp.app import MispApp  # noqa: E402
from sandbox.tls import SandboxCA  # noqa: E402

TARGET = 0.6


def main(n: int = 30) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        ca = SandboxCA(Path(tmp) / "ca")
        app = MispApp()
        with Server(app, ca) as server:
            times = []
            for i in range(n):
                data = f"sshd[1]: Failed password for root from 203.0.113.{i % 250 + 1} port {40000 + i} ssh2"
                argv = [sys.executable, str(ROOT / "pandora_to_misp.py"), "-u", server.url, "-k", app.api_key,
                        "-a", f"web{i}", "-n", "SSH brute force", "-d", data, "--ca-bundle", str(ca.ca_path),
                        "--spool-dir", str(Path(tmp) / "spool")]  # fmt: skip
                start = time.perf_counter()
                done = subprocess.run(argv, capture_output=True, text=True, check=False)
                times.append(time.perf_counter() - start)
                if done.returncode != 0:
                    print(f"run {i} exited {done.returncode}: {done.stderr.strip()}")
                    return 1
            assert len(app.events()) == n
    times.sort()
    median = statistics.median(times)
    p90 = times[max(0, round(0.9 * n) - 1)]
    verdict = "OK" if median <= TARGET else "over target"
    print(f"{n} alerts: median {median:.3f} s, p90 {p90:.3f} s per alert (target <= {TARGET} s): {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 30))
