"""One Pandora alert -> one MISP event, as the JSON MISP's events/add accepts. Pure code.

The event is a plain dict (the JSON edge) rather than a PyMISP `MISPEvent`: it goes into the spool as
is, and the plugin does not pay for importing PyMISP when it only spools or recovers. The gateway turns
it into a `MISPEvent` right before sending.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from misp_bridge.pandora.iocs import Extraction, Ioc
from misp_bridge.pandora.iocs.ip import IPNetwork
from misp_bridge.pandora.storable import escape_4byte, fit, shorten
from misp_bridge.pandora.triage import CATEGORIES, TriageResult

TLP_TAGS = ("tlp:clear", "tlp:white", "tlp:green", "tlp:amber", "tlp:amber+strict", "tlp:red")
IP_CATEGORIES = CATEGORIES
DEFAULT_TLP = "tlp:green"
# Fixed forever: changing it would give every alert of a running window a new event.
NAMESPACE = uuid.UUID("6f1d43a2-52c4-5d0e-9a8b-3c7f0e4b2a91")
TEXT_COMMENT = "raw alert data from Pandora FMS"
ESCAPED_NOTE = "; characters MISP cannot store are written \\U0001f525-style, backslashes doubled"
INHERIT_DISTRIBUTION = "5"  # an attribute inherits the event's distribution
INFO_PART = 200  # characters of the alert name and of the agent in the event info
# Hashes of the empty input: in alert text they mean "an empty file", never a detection rule.
EMPTY_HASHES = frozenset(
    {
        "d41d8cd98f00b204e9800998ecf8427e",
        "da39a3ee5e6b4b0d3255bfef95601890afd80709",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    }
)

# Attribute category for each extra indicator type (all valid in MISP's category/type table).
_EXTRA_CATEGORIES = {
    "ip-src": "Network activity",
    "ip-dst": "Network activity",
    "url": "Network activity",
    "domain": "Network activity",
    "email": "Payload delivery",
    "md5": "Payload delivery",
    "sha1": "Payload delivery",
    "sha256": "Payload delivery",
    "vulnerability": "External analysis",
}
# Which word links the agent and the attacker in the event info.
_INFO_LINK = {"ip-src": "from", "ip-dst": "to"}


@dataclass(frozen=True)
class Alert:
    """One alert as Pandora passed it, validated by the CLI."""

    url: str
    agent: str
    name: str
    data: str
    tlp: str = DEFAULT_TLP
    sharing: int = 0
    threat_level: int | None = None  # -l override; None = from triage
    category: str | None = None  # -c override; None = from triage
    tags: tuple[str, ...] = ()  # -g extra tags, trimmed
    agent_addresses: tuple[str, ...] = ()  # the agent's own addresses: never reported
    never_report: tuple[IPNetwork, ...] = ()  # the organisation's networks: never reported


@dataclass(frozen=True)
class BuiltEvent:
    """The event to send plus what publishing needs to find an earlier twin."""

    event: Mapping[str, Any]  # MISP event JSON (the inner object, without the "Event" wrapper)
    uuid: str
    attacker_ip: str | None
    ip_attribute_uuid: str | None
    # Uuids an earlier event for the same agent, alert and attacker would carry (current window
    # first); empty when duplicates are not looked for.
    twin_uuids: tuple[str, ...] = field(default=())
    window_seconds: float = 0.0


def dedup_uuid(agent: str, alert_name: str, attacker_ip: str, bucket: int) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{agent}|{alert_name}|{attacker_ip}|{bucket}"))


def ip_attribute_uuid(event_uuid: str) -> str:
    return str(uuid.uuid5(uuid.UUID(event_uuid), "attacker-ip"))


def _attribute(event_uuid: str, ioc: Ioc, category: str, comment: str, to_ids: bool) -> dict[str, Any]:
    value = escape_4byte(ioc.value)
    return {
        "uuid": str(uuid.uuid5(uuid.UUID(event_uuid), f"{ioc.type}|{ioc.value}")),
        "type": ioc.type,
        "category": category,
        "value": value.text,
        # A value MISP could not store as it is no longer spells the indicator: no detection rule.
        "to_ids": to_ids and not value.escaped,
        "comment": escape_4byte(comment).text,
        "distribution": INHERIT_DISTRIBUTION,
    }


def _extra_to_ids(ioc: Ioc, vouched: frozenset[str]) -> bool:
    """Indicators in the text were written by the attacker: a detection rule only when a matching rule
    vouches for their type (rules.toml `to_ids`), and never the hash of an empty file."""
    return ioc.to_ids and ioc.type in vouched and ioc.value.lower() not in EMPTY_HASHES


def _ip_comment(ioc: Ioc) -> str:
    where = ioc.comment or "alert text"
    # The attacker IP is always a detection rule, even an internal one (lateral movement); the
    # comment tells the analyst to look twice.
    return f"attacker address found at {where}" + ("; internal address" if ioc.internal else "")


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(item for item in items if item))


def build_event(
    alert: Alert,
    extraction: Extraction,
    triage: TriageResult,
    *,
    now: float,
    dedup_hours: float = 24.0,
    new_uuid: Callable[[], str] = lambda: str(uuid.uuid4()),
    alert_id: str | None = None,
) -> BuiltEvent:
    """The MISP event for one alert. `now` is the epoch; it picks the date and the duplicate window."""
    attacker = extraction.ioc_for(triage.ioc_side)
    window = dedup_hours * 3600.0
    twins: tuple[str, ...] = ()
    if attacker is not None and window > 0:
        bucket = math.floor(now / window)
        twins = tuple(dedup_uuid(alert.agent, alert.name, attacker.value, b) for b in (bucket, bucket - 1))
        event_uuid = twins[0]
    else:
        # Without an attacker there is nothing to call a repeat: every alert is an event of its own.
        event_uuid = new_uuid()

    attributes: list[dict[str, Any]] = []
    ip_uuid: str | None = None
    info = f"Pandora FMS: {shorten(alert.name, INFO_PART)} on {shorten(alert.agent, INFO_PART)}"
    if attacker is not None:
        category = alert.category or triage.category
        ip_attr = _attribute(event_uuid, attacker, category, _ip_comment(attacker), to_ids=True)
        ip_uuid = ip_attribute_uuid(event_uuid)
        ip_attr["uuid"] = ip_uuid
        attributes.append(ip_attr)
        info += f" {_INFO_LINK[attacker.type]} {attacker.value}"
    vouched = frozenset(triage.to_ids)
    for extra in extraction.extras:
        to_ids = _extra_to_ids(extra, vouched)
        attributes.append(_attribute(event_uuid, extra, _EXTRA_CATEGORIES[extra.type], extra.comment, to_ids))
    stored = fit(alert.data)
    text_attr = {
        "uuid": str(uuid.uuid5(uuid.UUID(event_uuid), "raw-alert-text")),
        "type": "text",
        "category": "Other",
        "value": stored.text,
        "to_ids": False,
        # The kept alert's id: a replay recognises an event an earlier, interrupted try created.
        "comment": TEXT_COMMENT
        + (f" (alert {alert_id})" if alert_id else "")
        + (ESCAPED_NOTE if stored.escaped else ""),
        "distribution": INHERIT_DISTRIBUTION,
    }
    attributes.append(text_attr)

    tags = _unique([alert.tlp, *triage.galaxy_tags, *(escape_4byte(tag).text for tag in alert.tags)])
    event = {
        "uuid": event_uuid,
        "info": escape_4byte(info).text,
        "date": datetime.fromtimestamp(now, tz=timezone.utc).date().isoformat(),
        "distribution": str(alert.sharing),
        "threat_level_id": str(alert.threat_level or triage.threat_level),
        "analysis": "0",
        "published": False,
        "Tag": [{"name": tag} for tag in tags],
        "Attribute": attributes,
    }
    return BuiltEvent(
        event=event,
        uuid=event_uuid,
        attacker_ip=None if attacker is None else attacker.value,
        ip_attribute_uuid=ip_uuid,
        twin_uuids=twins,
        window_seconds=window if twins else 0.0,
    )
