"""`python -m sandbox`: every emulator on loopback for a person, or `--demo` to watch both tools run.

Default: start MISP, Entra ID, Sentinel and Key Vault, write DIR/config.py for script.py, print how to
run each tool against them and a line starting with "ready:", and serve until Ctrl-C or SIGTERM.
`--demo`: the same, seeded, in a directory of its own (sandbox-demo/ unless --dir says otherwise), then
runs check-config, the sync twice, and the Pandora plugin three times in this process, prints what MISP
and Sentinel hold and how to start sandboxes that stay up, and exits 0. A tool that fails is reported and
the demo goes on with the next one. A directory a running sandbox holds is refused (exit 2): its CA,
config.py and keyvault.env stay as they are.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TextIO

from misp_bridge.checkconfig.cli import main as check_config
from misp_bridge.pandora.cli import main as plugin_main
from misp_bridge.sync.cli import main as sync_main
from sandbox.launcher import (
    MISP_KEY_FILE,
    PORT_OFFSETS,
    VAULT_ENV_FILE,
    DirectoryInUse,
    Sandboxes,
    seed,
    start_all,
    write_config,
)

SERVE_DIR = Path("sandbox-run")
DEMO_DIR = Path("sandbox-demo")


@dataclass(frozen=True)
class Options:
    directory: Path
    seed: bool
    port_base: int | None
    demo: bool
    window_seconds: float


def parse_args(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox",
        description="Local HTTPS stand-ins for MISP, Entra ID, Sentinel and Key Vault (loopback only).",
    )
    add = parser.add_argument
    add("--dir", type=Path, help=f"CA, config.py, state, logs (./{SERVE_DIR}; with --demo ./{DEMO_DIR})")
    add("--seed", action="store_true", help="seed MISP with the sample events (sandbox/data/misp-events)")
    add("--port-base", type=int, metavar="N", help="MISP N, Entra N+1, Sentinel N+2, Key Vault N+3")
    add("--demo", action="store_true", help="seed, run both tools against the sandboxes, then exit")
    add("--rate-window", type=float, default=60.0, metavar="SECONDS", help="Sentinel's rate window (60)")
    args = parser.parse_args(argv)
    if args.port_base is not None and not 1024 <= args.port_base <= 65535 - len(PORT_OFFSETS):
        parser.error(f"--port-base must be 1024..{65535 - len(PORT_OFFSETS)}, got {args.port_base}")
    if args.rate_window <= 0:
        parser.error(f"--rate-window must be more than 0 seconds, got {args.rate_window:g}")
    directory = args.dir or (DEMO_DIR if args.demo else SERVE_DIR)
    return Options(directory, args.seed or args.demo, args.port_base, args.demo, args.rate_window)


def python() -> str:
    """How to call this interpreter from here (.venv/bin/python after make), for lines to copy."""
    relative = os.path.relpath(sys.executable)
    return relative if not relative.startswith("..") else sys.executable


def describe(sandboxes: Sandboxes, config: Path, out: TextIO) -> None:
    """How to reach each emulator and use the written config (secrets stay in the config file)."""
    rows = [
        ("MISP", sandboxes.misp_url),
        ("Entra ID", sandboxes.entra_url),
        ("Sentinel", f"{sandboxes.sentinel_url} (upload, legacy and management APIs)"),
        ("Key Vault", f"{sandboxes.vault_url} (MISP-Key, ClientSecret; reader: {VAULT_ENV_FILE})"),
        ("CA", str(sandboxes.ca_path)),
        ("config", str(config)),
    ]
    for name, value in rows:
        print(f"  {name:<10} {value}", file=out)


def try_lines(sandboxes: Sandboxes, config: Path) -> str:
    """Commands to run each tool against these sandboxes (while they are up)."""
    py, directory = python(), sandboxes.directory
    return (
        f"Try (in another terminal, from {Path.cwd()}):\n"
        f"  {py} check-config.py --config {config}\n"
        f"  {py} script.py --config {config}\n"
        f"  {py} delete-from-azure.py --config {config} --all --dry-run\n"
        f"  {py} pandora_to_misp.py -u {sandboxes.misp_url} --key-file {directory / MISP_KEY_FILE} "
        f"--ca-bundle {sandboxes.ca_path} --spool-dir {directory / 'spool'} "
        '-a web01 -n "SSH brute force" -d "Failed password for root from 203.0.113.9 port 4242"'
    )


# --- the demo ----------------------------------------------------------------------------------------

SSH_ALERT = (
    "Oct 11 10:04:05 web01 sshd[2211]: Failed password for root from 185.220.101.4 port 51234 ssh2\n"
    "Oct 11 10:04:07 web01 sshd[2211]: Failed password for root from 185.220.101.4 port 51240 ssh2\n"
    "Oct 11 10:04:09 web01 sshd[2211]: Failed password for root from 185.220.101.4 port 51252 ssh2"
)
SURICATA_ALERT = json.dumps(
    {
        "timestamp": "2024-10-11T10:12:44.123456+0000",
        "event_type": "alert",
        "src_ip": "45.155.205.233",
        "src_port": 40512,
        "dest_ip": "10.0.0.5",
        "dest_port": 445,
        "proto": "TCP",
        "alert": {
            "signature": "ET SCAN Suspicious inbound to Microsoft SMB port 445",
            "category": "Attempted Information Leak",
            "severity": 2,
            "metadata": {"mitre_technique_id": ["T1046"]},
        },
    }
)


CA_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")


@dataclass(frozen=True)
class Step:
    """One tool run of the demo: a title, the tool's `main(argv) -> int`, and its argv."""

    title: str
    main: Callable[[list[str]], int]
    argv: tuple[str, ...]


def demo_steps(sandboxes: Sandboxes, config: Path) -> list[Step]:
    sync = ("--config", str(config), "--no-progress")
    plugin = (
        "-u", sandboxes.misp_url, "-k", sandboxes.misp_key, "-a", "web01",
        "--ca-bundle", str(sandboxes.ca_path),
        "--spool-dir", str(sandboxes.directory / "spool"),
        "--log-file", str(sandboxes.directory / "pandora_to_misp.log"),
    )  # fmt: skip
    ssh = (*plugin, "-n", "SSH brute force", "-d", SSH_ALERT)
    return [
        Step("check-config", check_config, ("--config", str(config))),
        Step("sync (first run)", sync_main, sync),
        Step("sync (second run: nothing new to upload)", sync_main, sync),
        Step("pandora plugin: sshd brute force", plugin_main, ssh),
        Step(
            "pandora plugin: Suricata alert",
            plugin_main,
            (*plugin, "-n", "Suricata SMB scan", "-d", SURICATA_ALERT, "-t", "tlp:amber"),
        ),
        Step("pandora plugin: the sshd alert again (a sighting)", plugin_main, ssh),
    ]


def run_step(step: Step, out: TextIO) -> None:
    print(f"\n=== {step.title} ===", file=out, flush=True)
    try:
        code = step.main(list(step.argv))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 2
    except Exception as exc:  # the demo goes on: one broken tool must not hide the others
        print(f"{step.title}: failed: {type(exc).__name__}: {exc}", file=out)
        return
    print(f"--> {step.title}: exit {code}", file=out, flush=True)


# What an earlier demo left in its directory: with the sandboxes' data gone (it lives in memory), an old
# state file would make the first sync believe everything is in Sentinel already.
DEMO_LEFTOVERS = ("misp2sentinel.db", "misp2sentinel.db-wal", "misp2sentinel.db-shm", "misp2sentinel.log",
                  "pandora_to_misp.log")  # fmt: skip


def clear_leftovers(directory: Path) -> None:
    for name in DEMO_LEFTOVERS:
        (directory / name).unlink(missing_ok=True)
    shutil.rmtree(directory / "spool", ignore_errors=True)


def run_demo(sandboxes: Sandboxes, config: Path, out: TextIO) -> None:
    clear_leftovers(sandboxes.directory)  # the directory is ours: start_all holds its lock
    # requests (inside msal and the Azure SDK) lets these override the verify= a tool passes
    # (docs/contracts.md 3), so a machine-wide bundle in the environment would make every sandbox
    # certificate fail. Every demo request goes to the sandboxes, so trusting only their CA is safe.
    for name in CA_VARIABLES:
        os.environ[name] = str(sandboxes.ca_path)
    before = sandboxes.counts()
    for step in demo_steps(sandboxes, config):
        run_step(step, out)
        sys.stderr.flush()
    after = sandboxes.counts()
    print("\n=== what the sandboxes hold ===", file=out)
    for key, value in after.items():
        print(f"  {key:<26} {value:>6}  (was {before[key]})", file=out)
    print(f"  logs, state and spool are in {sandboxes.directory}", file=out)
    print(
        "\nThe demo's sandboxes stop now. To try the tools by hand, start sandboxes that stay up\n"
        "(Ctrl-C stops them), then follow the lines they print:\n"
        f"  {python()} -m sandbox --seed --dir {SERVE_DIR}",
        file=out,
        flush=True,
    )


# --- entry point -------------------------------------------------------------------------------------


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Ctrl-C and SIGTERM set `stop`; the previous handlers come back afterwards (main may run in-process)."""

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {number: signal.signal(number, handler) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, earlier in previous.items():
            signal.signal(number, earlier)


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    options = parse_args(argv)
    stop = threading.Event()
    try:
        with (
            _stop_on_signals(stop),
            start_all(
                options.directory, port_base=options.port_base, window_seconds=options.window_seconds
            ) as sandboxes,
        ):
            if options.seed:
                count, source = seed(sandboxes.misp)
                print(f"MISP seeded with {count} events from {source}", file=out)
            config = write_config(sandboxes)
            describe(sandboxes, config, out)
            if options.demo:
                run_demo(sandboxes, config, out)
                return 0
            print(try_lines(sandboxes, config), file=out)
            print(f"ready: {config} (Ctrl-C to stop)", file=out, flush=True)
            while not stop.wait(0.5):
                pass
    except DirectoryInUse as exc:
        print(f"python -m sandbox: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a taken --port-base, an unwritable --dir
        print(f"python -m sandbox: error: cannot start: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print("sandbox stopped", file=out, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
