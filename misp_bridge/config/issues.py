"""Findings about a configuration: what the readers, the settings loader and check-config report."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

# One vocabulary for every finding: config checks use "error" and "warning", check-config adds "ok".
Severity = Literal["ok", "warning", "error"]


@dataclass(frozen=True)
class Issue:
    """One finding about the configuration; `setting` is empty when the finding is about a whole file."""

    severity: Severity
    setting: str
    message: str
    source: str = "config.py"

    def __str__(self) -> str:
        if self.setting:
            return f"{self.source}: {self.setting} {self.message}"
        return f"{self.source} {self.message}"


@dataclass
class Collector:
    """Issues of one file; `base_dir` anchors relative paths, `secrets_later` defers secret checks."""

    source: str
    base_dir: Path
    secrets_later: bool = False
    issues: list[Issue] = field(default_factory=list)

    def error(self, setting: str, message: str) -> None:
        self.issues.append(Issue("error", setting, message, self.source))

    def warning(self, setting: str, message: str) -> None:
        self.issues.append(Issue("warning", setting, message, self.source))
