"""Indicators in a raw SIEM alert: the attacker's address first, then URLs, domains, emails, hashes, CVEs.

extract.py  the order of evidence: JSON fields, anchored log-format patterns, a guarded scan
ip.py       strict address validation and the report / drop / internal policy
text.py     refanging, JSON detection and the non-IP extras
model.py    Ioc and Extraction
"""

from misp_bridge.pandora.iocs.extract import extract
from misp_bridge.pandora.iocs.ip import IPNetwork, validate_ip
from misp_bridge.pandora.iocs.model import Extraction, Ioc, Side
from misp_bridge.pandora.iocs.text import parse_json_alert, refang

__all__ = ["Extraction", "IPNetwork", "Ioc", "Side", "extract", "parse_json_alert", "refang", "validate_ip"]
