"""A kept alert -> the MISP event it becomes: extraction, triage and building, for a run or a replay.

The alert is kept raw in the spool (misp_bridge/pandora/spool.py), so the same code turns it into an
event whether it is sent at once or replayed later; `first_seen` fixes the date and the duplicate
window, and the record's id fixes the uuid of an event without an attacker, so a replay after a lost
reply never makes a second event.
"""

from __future__ import annotations

import ipaddress
import logging
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from misp_bridge.errors import TriageDataError
from misp_bridge.pandora.event import NAMESPACE, Alert, BuiltEvent, build_event
from misp_bridge.pandora.iocs import Extraction, extract
from misp_bridge.pandora.spool import AlertFields
from misp_bridge.pandora.triage import RuleSet, TriageResult, classify, load_rules
from misp_bridge.pandora.triage.rules import NO_MATCH_CATEGORY, NO_MATCH_LEVEL, NO_MATCH_SIDE

log = logging.getLogger("misp_bridge.pandora")


@dataclass
class RulesCache:
    """Rules files read once per run (a replay may meet many records naming the same file)."""

    loaded: dict[str | None, RuleSet] = field(default_factory=dict)

    def require(self, path: str | None) -> RuleSet:
        """The rules the run was given: a wrong file is the operator's error (exit 2), not ignored."""
        self.loaded[path] = load_rules(None if path is None else Path(path))
        return self.loaded[path]

    def get(self, path: str | None) -> RuleSet:
        if path not in self.loaded:
            try:
                self.loaded[path] = load_rules(None if path is None else Path(path))
            except TriageDataError as exc:
                if path is None:
                    raise
                # A kept alert must still reach MISP: with the packaged rules, and a line saying why.
                log.warning("%s The packaged rules are used for the alerts that name it.", exc)
                self.loaded[path] = load_rules()
        return self.loaded[path]


def alert_of(fields: AlertFields, url: str) -> Alert:
    return Alert(
        url=url,
        agent=fields.agent,
        name=fields.name,
        data=fields.data,
        tlp=fields.tlp,
        sharing=fields.sharing,
        threat_level=fields.threat_level,
        category=fields.category,
        tags=fields.tags,
        agent_addresses=fields.agent_addresses,
        never_report=tuple(ipaddress.ip_network(n, strict=False) for n in fields.never_report),
    )


def assemble(
    fields: AlertFields, url: str, *, first_seen: float, record_id: str, rules: RulesCache
) -> BuiltEvent:
    """The event one alert becomes (pure but for reading the rules file). Should extraction or triage
    fail on some text nobody foresaw, the alert still becomes an event: its raw text, without indicators
    or techniques, and the log says why."""
    alert = alert_of(fields, url)
    ruleset = rules.get(fields.rules)
    try:
        extraction = extract(
            alert.data,
            own_addresses=(*alert.agent_addresses, alert.agent),
            never_report=alert.never_report,
        )
        triage = classify(alert.name, alert.data, ruleset, extraction.json_data)
    except Exception as exc:  # noqa: BLE001 - the alert matters more than its triage
        log.error("Triage of %r on %s failed (%s: %s); the event carries the raw text only.",  # noqa: TRY400
                  alert.name, alert.agent, type(exc).__name__, exc)  # fmt: skip
        extraction = Extraction(None, None, (), (), None)
        triage = TriageResult(NO_MATCH_LEVEL, NO_MATCH_CATEGORY, (), (), NO_MATCH_SIDE, ())
    log.info("Triage of %r on %s: matched %s.", alert.name, alert.agent, ", ".join(triage.matched) or "none")
    return build_event(
        alert,
        extraction,
        triage,
        now=first_seen,
        dedup_hours=fields.dedup_hours,
        new_uuid=lambda: str(uuid.uuid5(NAMESPACE, f"record|{record_id}")),
        alert_id=record_id,
    )
