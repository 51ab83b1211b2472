"""check-config's report: findings with a severity, rendered as text or JSON, and the exit code.

Every message is built from setting names, hosts and status codes only; the rendering passes through the
log redactor on its way out as a second guard.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from misp_bridge.config import Severity
from misp_bridge.exitcodes import SyncExit
from misp_bridge.output.redact import redact

# Severity -> the word a human line starts with.
LABELS: dict[str, str] = {"ok": "OK", "warning": "WARN", "error": "ERROR"}
# Worst severity found -> exit code (docs/architecture.md, "Exit codes": 0 usable, 1 warnings only, 2 errors).
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
