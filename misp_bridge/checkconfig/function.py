"""check-config.py --function-settings PATH: a Function App's settings checked as the Function reads them.

PATH is a local.settings.json (`{"IsEncrypted": false, "Values": {...}}`, what Core Tools uses) or the
output of `az functionapp config appsettings list` (`[{"name", "value", "slotSetting"}]`); host.json is
looked for beside it (its functionTimeout bounds the run's budget). The offline checks are
config/appsettings.py's, with the same one-line findings as for a config.py. Key Vault references cannot
be resolved here: each is a warning and the network probes are skipped (Azure resolves them when the app
runs). Otherwise the usual probes follow (Key Vault, MISP, Entra ID and Sentinel per workspace) and a
read of the state table; nothing is written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from misp_bridge.azure import storage
from misp_bridge.checkconfig.probes import Prober
from misp_bridge.checkconfig.report import Finding, Report
from misp_bridge.config.appsettings import FunctionSettings, inspect_app_settings
from misp_bridge.errors import BridgeError
from misp_bridge.function.host import function_timeout

AREA = "settings"


def read_values(path: Path) -> tuple[dict[str, str] | None, list[Finding]]:
    """The settings of either file shape, or None with the findings that say why not."""
    name = path.name

    def fail(message: str) -> tuple[None, list[Finding]]:
        return None, [Finding("error", AREA, "", f"{name} {message}")]

    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return fail(f"not found at {path}")
    except OSError as exc:
        return fail(f"cannot be read ({exc.strerror})")
    except ValueError as exc:
        where = f" (line {exc.lineno} column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        return fail(f"is not valid JSON{where}")
    if isinstance(data, dict) and data.get("IsEncrypted") is True:
        return fail("is encrypted; run `func settings decrypt` first")
    if isinstance(data, dict) and isinstance(data.get("Values"), dict):
        pairs = list(data["Values"].items())
    elif isinstance(data, list) and all(isinstance(e, dict) and "name" in e for e in data):
        pairs = [(e["name"], e.get("value")) for e in data]
    else:
        return fail('must hold {"Values": {...}} (local.settings.json) or a list of {"name", "value"}')
    wrong = [str(key) for key, value in pairs if not isinstance(value, str) and value is not None]
    if wrong:
        return fail(f"has values that are not strings ({', '.join(wrong[:5])}); app settings are text")
    return {str(key): value for key, value in pairs if isinstance(value, str)}, []


def _offline(path: Path, values: Mapping[str, str]) -> tuple[FunctionSettings | None, list[Finding]]:
    try:
        timeout = function_timeout(path.parent, values)
    except BridgeError as exc:
        return None, [Finding("error", AREA, "functionTimeout", str(exc))]
    found, issues = inspect_app_settings(
        values,
        work_dir=path.parent,
        app_dir=path.parent,
        function_timeout=timeout,
        source=path.name,
        local=True,
    )
    findings = [Finding(i.severity, AREA, i.setting or i.source, str(i)) for i in issues]
    if found is not None:
        budget = f"{found.run_budget:g} s" if found.run_budget is not None else "none"
        limit = f"{timeout:g} s" if timeout is not None else "unbounded"
        state = f"table {found.state_table}" if found.state_backend == "table" else "sqlite (worker disk)"
        summary = f"run budget {budget} of functionTimeout {limit}; state: {state}"
        findings.append(Finding("ok", AREA, "", f"{path.name}: every setting is valid ({summary})"))
    return found, findings


def function_report(path: Path, *, offline: bool = False, prober: type[Prober] = Prober) -> Report:
    """The whole check of one settings file (see the module docstring)."""
    values, findings = read_values(path)
    if values is None:
        return Report(tuple(findings))
    found, more = _offline(path, values)
    findings.extend(more)
    notes: list[str] = []
    if offline:
        notes.append("network checks skipped (--offline)")
    elif found is None or any(f.severity == "error" for f in findings):
        notes.append("network checks skipped: fix the errors above first")
    elif found.unresolved:
        notes.append(
            "network checks skipped: "
            + ", ".join(found.unresolved)
            + " are Key Vault references, which only "
            "Azure resolves; put the values in a copy of the file to probe with them"
        )
    else:
        probed, probe_notes = prober(
            found.settings, vault_client_secret=found.vault_client_secret_applies
        ).run()
        findings.extend(probed)
        notes.extend(probe_notes)
        if found.state_backend == "table":
            findings.append(_storage(found, values))
    return Report(tuple(findings), tuple(notes))


def _storage(found: FunctionSettings, values: Mapping[str, str]) -> Finding:
    try:
        target = storage.target_from(values, found.state_storage, found.state_table)
    except BridgeError as exc:
        return Finding("error", "storage", found.state_storage, str(exc))
    usable, sentence = storage.probe(target)
    return Finding("ok" if usable else "error", "storage", found.state_storage, sentence)
