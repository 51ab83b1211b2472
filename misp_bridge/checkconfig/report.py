"""check-config.py: everything wrong with a configuration, in one run, before anything is deployed.

Lifecycle: the offline checks come first (`inspect_config` plus the few checks it does not make), all
listed at once; then, unless `--offline` or an offline error leaves nothing usable to test, the network
probes of `checkconfig_probes` in the order the sync itself needs them: Key Vault (it may supply the
secrets), MISP, then Entra ID and Sentinel per workspace. Nothing is ever uploaded, and no line of output
holds a secret or a token: every message is built from setting names, hosts and status codes only, and
goes through the log redactor on its way out as a second guard.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal, TextIO

from misp_bridge.config.load import Issue, Settings, inspect_config
from misp_bridge.exitcodes import SyncExit
from misp_bridge.output import logs as logsetup
from misp_bridge.output.redact import redact

Severity = Literal["ok", "warning", "error"]

# Severity -> the word a human line starts with.
LABELS: dict[str, str] = {"ok": "OK", "warning": "WARN", "error": "ERROR"}
# Worst severity found -> exit code (DESIGN.md "Exit codes": 0 usable, 1 warnings only, 2 errors).
EXIT_FOR: dict[str, SyncExit] = {"ok": SyncExit.OK, "warning": SyncExit.FAILURES, "error": SyncExit.USAGE}
_RANK: dict[str, int] = {"ok": 0, "warning": 1, "error": 2}


@dataclass(frozen=True)
class Finding:
    """One line of the report: what was checked (area, setting) and how it went, in one sentence."""

    severity: Severity
    area: str
    setting: str
    message: str

    def line(self) -> str:
        return f"{LABELS[self.severity]:<5} {self.message}"


@dataclass(frozen=True)
class Report:
    """Every finding of one run, in the order they were made, plus notes on what was skipped."""

    findings: tuple[Finding, ...]
    skipped: tuple[str, ...] = ()

    @property
    def exit_code(self) -> SyncExit:
        worst = max((f.severity for f in self.findings), key=_RANK.__getitem__, default="ok")
        return EXIT_FOR[worst]

    def areas(self) -> list[str]:
        return list(dict.fromkeys(f.area for f in self.findings))

    def as_text(self) -> str:
        lines: list[str] = []
        for area in self.areas():
            lines.append(f"[{area}]")
            lines.extend(f"  {f.line()}" for f in self.findings if f.area == area)
        lines.extend(f"note: {note}" for note in self.skipped)
        counts = {s: sum(f.severity == s for f in self.findings) for s in ("error", "warning", "ok")}
        verdict = {
            SyncExit.OK: "the configuration is usable",
            SyncExit.FAILURES: "usable, but read the warnings",
            SyncExit.USAGE: "not usable: fix the errors",
        }[self.exit_code]
        lines.append(
            f"{counts['error']} error(s), {counts['warning']} warning(s), {counts['ok']} OK: {verdict} "
            f"(exit {int(self.exit_code)})"
        )
        return redact("\n".join(lines)) + "\n"

    def as_json(self) -> str:
        payload = {
            "issues": [asdict(f) for f in self.findings],
            "exit": int(self.exit_code),
        }
        return redact(json.dumps(payload, indent=2)) + "\n"


def _from_issue(issue: Issue) -> Finding:
    return Finding(issue.severity, "config", issue.setting or issue.source, str(issue))


def _output_targets(settings: Settings) -> Iterable[Finding]:
    """What inspect_config does not look at: an output path that names an existing directory."""
    for name in ("log_file", "state_file"):
        target = getattr(settings, name)
        if isinstance(target, Path) and target.is_dir():
            yield Finding(
                "error",
                "config",
                name,
                f"{settings.config_path.name}: {name} cannot be written: {target} is a directory, not a file",
            )


def offline_checks(path: Path, env: Mapping[str, str] | None = None) -> tuple[Settings | None, list[Finding]]:
    """Settings (None when an error leaves them unusable) and every offline finding, all at once."""
    settings, issues = inspect_config(path, env=env)
    findings = [_from_issue(issue) for issue in issues]
    if settings is not None:
        findings.extend(_output_targets(settings))
        if any(f.severity == "error" for f in findings):
            settings = None
    if not findings:
        findings.append(Finding("ok", "config", "", f"{path.name}: every setting is valid"))
    return settings, findings


Probe = Callable[[Settings], tuple[list[Finding], list[str]]]


def run_checks(
    path: Path,
    *,
    offline: bool = False,
    env: Mapping[str, str] | None = None,
    probe: Probe | None = None,
) -> Report:
    """The whole check: offline findings, then (unless offline or pointless) the network probes."""
    settings, findings = offline_checks(path, env)
    skipped: list[str] = []
    if offline:
        skipped.append("network checks skipped (--offline)")
    elif settings is None:
        skipped.append("network checks skipped: fix the configuration errors above first")
    else:
        if probe is None:
            from misp_bridge.checkconfig.probes import probe_all

            probe = probe_all
        more, notes = probe(settings)
        findings.extend(more)
        skipped.extend(notes)
    return Report(tuple(findings), tuple(skipped))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="check-config.py",
        description="Check config.py offline, then whether MISP, Key Vault, Entra ID and Sentinel answer. "
        "Never uploads anything. Exit 0: usable; 1: warnings only; 2: errors.",
    )
    parser.add_argument("--config", type=Path, default=Path("config.py"), help="default: ./config.py")
    parser.add_argument("--offline", action="store_true", help="only the offline checks; no network")
    parser.add_argument("--json", action="store_true", help="print the findings as JSON on stdout")
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    stdout: TextIO | None = None,
    probe: Probe | None = None,
) -> int:
    """Entry point of check-config.py; returns the exit code."""
    out = sys.stdout if stdout is None else stdout
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse has printed the usage line already
        return int(SyncExit.OK if exc.code == 0 else SyncExit.USAGE)
    # No log file for a check; library warnings reach stderr through the redacting handler only.
    logsetup.configure(None, stderr_level=logging.ERROR)
    report = run_checks(args.config, offline=args.offline, probe=probe)
    out.write(report.as_json() if args.json else report.as_text())
    return int(report.exit_code)
