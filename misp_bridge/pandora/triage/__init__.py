"""The plugin's triage: rules (data) -> threat level, ATT&CK galaxy tags, category, IOC side.

rules.toml      the packaged rules; rules.py reads and checks them (or an operator's file)
classify.py     applies every rule to one alert: where the threat level is decided
attack.py       ATT&CK id -> exact MISP galaxy tag (techniques.json, NOTICE.md beside it)
"""

from misp_bridge.pandora.triage.classify import TriageResult, classify
from misp_bridge.pandora.triage.rules import CATEGORIES, Rule, RuleSet, load_rules

__all__ = ["CATEGORIES", "Rule", "RuleSet", "TriageResult", "classify", "load_rules"]
