"""check-config.py: everything wrong with a configuration, in one run, before anything is deployed.

`--function-settings PATH` checks an Azure Function's settings instead (checkconfig/function.py).

Lifecycle: the offline checks come first (checkconfig/offline.py), all listed at once; then, unless
`--offline` or an offline error leaves nothing usable to test, the network probes (checkconfig/probes.py)
in the order the sync itself needs them: Key Vault (it may supply the secrets), MISP, then Entra ID and
Sentinel per workspace. Nothing is ever uploaded, and no line of output holds a secret or a token.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from misp_bridge.checkconfig.function import function_report
from misp_bridge.checkconfig.offline import offline_checks
from misp_bridge.checkconfig.probes import probe_all
from misp_bridge.checkconfig.report import Finding, Report
from misp_bridge.cli import Command, Environment, run_command
from misp_bridge.config import Settings
from misp_bridge.config.locate import Lookup
from misp_bridge.errors import ConfigFileError
from misp_bridge.exitcodes import CHECK_MEANINGS
from misp_bridge.output import logs
from misp_bridge.sync.command import add_config_argument

Probe = Callable[[Settings], tuple[list[Finding], list[str]]]


def run_checks(
    path: Path | None,
    *,
    offline: bool = False,
    env: Mapping[str, str] | None = None,
    probe: Probe | None = None,
    lookup: Lookup | None = None,
) -> Report:
    """The whole check: which files, the offline findings, then (unless offline or pointless) the
    network probes. `path` is --config (None: looked up as the sync does, config/locate.py)."""
    lookup = lookup or Lookup.here()
    try:
        found = lookup.config(path)
    except ConfigFileError as exc:
        return Report((Finding("error", "config", "", str(exc)),), ("nothing else checked",))
    settings, findings = offline_checks(found.path, env, lookup)
    constants = lookup.constants(found.path.parent)
    read = [f"settings from {found.path} ({found.how})"]
    read.append(f"constants from {constants.path} ({constants.how})" if constants else "built-in constants")
    findings.insert(0, Finding("ok", "config", "", "; ".join(read)))
    skipped: list[str] = []
    if offline:
        skipped.append("network checks skipped (--offline)")
    elif settings is None:
        skipped.append("network checks skipped: fix the configuration errors above first")
    else:
        more, notes = (probe or probe_all)(settings)
        findings.extend(more)
        skipped.extend(notes)
    return Report(tuple(findings), tuple(skipped))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="check-config.py",
        description="Check config.py offline, then whether MISP, Key Vault, Entra ID and Sentinel answer. "
        "Never uploads anything and never prints a secret.",
    )
    add_config_argument(parser)
    parser.add_argument(
        "--function-settings",
        type=Path,
        metavar="PATH",
        help="check an Azure Function's settings instead: its local.settings.json, or the output of "
        "`az functionapp config appsettings list` (host.json is read from beside it)",
    )
    parser.add_argument("--offline", action="store_true", help="only the offline checks; no network")
    parser.add_argument("--json", action="store_true", help="print the findings as JSON on stdout")
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="debug lines on stderr: each check as it runs, how long it took, and the libraries' warnings",
    )
    return parser


class Check:
    """The body of check-config.py; `probe` is what tests hand in instead of the network probes."""

    def __init__(self, probe: Probe | None = None) -> None:
        self._probe = probe

    def __call__(self, args: argparse.Namespace, env: Environment) -> int:
        # No log file for a check: its findings are the output. --verbose shows the debug lines too.
        level = logging.DEBUG if args.verbose else logging.ERROR
        logs.configure(
            None,
            verbose=args.verbose,
            stderr_level=level,
            stream=env.stderr,
            libraries_on_stderr=args.verbose,
        )
        if args.function_settings is not None:
            report = function_report(args.function_settings, offline=args.offline)
        else:
            given = Path(args.config) if args.config is not None else None
            lookup = Lookup.here(env.command_dir)
            report = run_checks(given, offline=args.offline, env=env.env, probe=self._probe, lookup=lookup)
        env.stdout.write(report.as_json() if args.json else report.as_text())
        return int(report.exit_code)


EXAMPLES = ("", "--offline", "--config /etc/misp-bridge/config.py --json", "--verbose")


def command(probe: Probe | None = None) -> Command:
    return Command(
        "check-config.py",
        _parser,
        Check(probe),
        exits=(),
        examples=EXAMPLES,
        exit_codes=CHECK_MEANINGS,
        notes="config.py is looked for as script.py looks for it: --config, ./config.py, beside this "
        "command. Guide: docs/operations.md.",
    )


def main(
    argv: Sequence[str] | None = None,
    *,
    env: Environment | None = None,
    probe: Probe | None = None,
) -> int:
    """Entry point of check-config.py; returns the exit code."""
    return run_command(command(probe), argv, env)
