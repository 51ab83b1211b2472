"""Benchmark: the wall time of one pandora_to_misp.py run against a MISP that is slow in two ways.

1. every request answered 5 s late (issue 8, finding 4: three constructor requests at 5 s each ran
   past Pandora's 15 s kill with nothing kept);
2. every reply dripped a byte a second (no socket read timeout ever fires).

The plugin runs as a real subprocess with the default --timeout (10 s); Pandora kills it at 15 s. For
each case the benchmark prints the wall time (process start included), the exit code and whether the
alert was kept in the spool, then flushes it to a healthy MISP to show it arrives.
Run from any directory:  .venv/bin/python bench/plugin_slow_misp.py
"""

from __future__ import annotations

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

PANDORA_KILL = 15.0
DATA = "sshd[1]: Failed password for root from 203.0.113.9 port 40000 ssh2"


def _run(server: Server, app: MispApp, ca: SandboxCA, spool: Path, *extra: str) -> tuple[float, int]:
    argv = [sys.executable, str(ROOT / "pandora_to_misp.py"), "-u", server.url, "-k", app.api_key,
            "--ca-bundle", str(ca.ca_path), "--spool-dir", str(spool), *extra]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
    return time.perf_counter() - started, done.returncode


def main() -> int:
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        ca = SandboxCA(Path(tmp) / "ca")
        for name, setting, value in (("answers 5 s late per request", "latency", 5.0),
                                     ("drips a byte a second", "drip", 1.0)):  # fmt: skip
            app = MispApp()
            spool = Path(tmp) / setting
            with Server(app, ca) as server:
                setattr(app.faults, setting, value)
                wall, code = _run(server, app, ca, spool, "-a", "web1", "-n", "SSH brute force", "-d", DATA)
                kept = len(list(spool.glob("*.json")))
                app.faults.reset()
                _, flushed = _run(server, app, ca, spool, "--flush-spool")
                worst = max(worst, wall)
                print(
                    f"MISP that {name}: run ended after {wall:.2f} s (Pandora kills at {PANDORA_KILL:g} s), "
                    f"exit {code}, {kept} alert kept; flush to a healthy MISP: exit {flushed}, "
                    f"{len(app.events())} event created"
                )
    print(f"worst-case wall time of a run against a slow MISP: {worst:.2f} s (default --timeout 10)")
    return 0 if worst < PANDORA_KILL else 1


if __name__ == "__main__":
    raise SystemExit(main())
