"""check-config's offline half: every problem inspect_config finds, plus output paths it does not check."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from misp_bridge.checkconfig.report import Finding
from misp_bridge.config import Issue, Settings, inspect_config
from misp_bridge.config.locate import Lookup
from misp_bridge.sync.convert.patterns import without_pattern


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


def offline_checks(
    path: Path, env: Mapping[str, str] | None = None, lookup: Lookup | None = None
) -> tuple[Settings | None, list[Finding]]:
    """Settings (None when an error leaves them unusable) and every offline finding, all at once."""
    settings, issues = inspect_config(path, env=env, lookup=lookup)
    findings = [_from_issue(issue) for issue in issues]
    if settings is not None:
        findings.extend(_output_targets(settings))
        if any(f.severity == "error" for f in findings):
            settings = None
    if not findings:
        findings.append(Finding("ok", "config", "", f"{path.name}: every setting is valid"))
    if settings is not None:
        findings.extend(_patternless(settings))
    return settings, findings


def _patternless(settings: Settings) -> Iterable[Finding]:
    """A note, not a problem: accepted types without a pattern are skipped with a reason."""
    types = without_pattern(settings.upload_indicator_misp_accepted_types, settings.misp_custom_attribute)
    if types:
        yield Finding(
            "ok",
            "config",
            "UPLOAD_INDICATOR_MISP_ACCEPTED_TYPES",
            f"constants.py accepts {len(types)} type(s) no STIX pattern exists for ({', '.join(types)}): "
            "their attributes are skipped as 'not an indicator type'",
        )
