"""Indicators from a raw SIEM alert: the attacker's address first, then URLs, domains, emails, hashes.

Order of evidence (docs/triage.md, "Extracting the attacker IP"): refang; known JSON fields; addresses
after a keyword in a known log format (anchors); a guarded scan of the whole text. Pure code: the
caller passes the agent's own addresses and the networks never to report.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any, Literal

from misp_bridge.pandora.iocs.ip import (
    AddressPolicy,
    IPAddress,
    IPNetwork,
    host_candidates,
    scan_addresses,
    validate_ip,
)
from misp_bridge.pandora.iocs.model import Extraction, Ioc
from misp_bridge.pandora.iocs.text import MAX_PER_KIND, find_extras, parse_json_alert, refang

__all__ = ["extract"]

# Pandora cannot pass more than 128 KiB in one argument; twice that leaves room for any encoding.
MAX_SCAN_CHARS = 256 * 1024

_IP_TYPES = {"source": "ip-src", "destination": "ip-dst"}

# JSON alert fields naming each side, best first: Suricata eve, ECS, Wazuh, generic.
_JSON_FIELDS: dict[str, tuple[str, ...]] = {
    "source": ("src_ip", "source.ip", "srcip", "data.srcip", "data.src_ip"),
    "destination": ("dest_ip", "destination.ip", "dstip", "dst_ip", "data.dstip", "data.dest_ip"),
}


@dataclass(frozen=True)
class _Anchor:
    """An address that follows a keyword in a known log format."""

    label: str  # becomes the IOC's comment
    pattern: re.Pattern[str]
    group: int
    side: Literal["source", "destination"]
    # Which match wins when the anchor matches several times on one line: the one on the side away
    # from attacker-chosen text. sshd prints the user name before "from X port N" (so the rightmost
    # wins); PAM prints user= after rhost=, Apache prints the request after the client (leftmost).
    pick: Literal["first", "last"]
    port_suffix: bool = False  # the format appends :port even to an unbracketed IPv6 address


_ADDR_WORD = r"(\S{1,80})"
_FAST_LOG = re.compile(r"\{[A-Za-z0-9:_-]{1,20}\}\s+" + _ADDR_WORD + r"\s+->\s+" + _ADDR_WORD, re.ASCII)
_SRC = re.compile(r"(?<![\w-])(?:src|SRC)=" + _ADDR_WORD, re.ASCII)
_DST = re.compile(r"(?<![\w-])(?:dst|DST)=" + _ADDR_WORD, re.ASCII)
_ANCHORS: tuple[_Anchor, ...] = (
    _Anchor(
        "sshd 'from X port N'",
        re.compile(r"\b(?:from|by)\s+" + _ADDR_WORD + r"\s+port\s+[0-9]{1,5}\b", re.ASCII),
        1,
        "source",
        "last",
    ),
    _Anchor("PAM rhost=X", re.compile(r"(?<![\w-])rhost=" + _ADDR_WORD, re.ASCII), 1, "source", "first"),
    _Anchor(
        "Apache error log [client X]",
        re.compile(r"\[client\s+([^\]\s]{1,80})\]", re.ASCII),
        1,
        "source",
        "first",
        port_suffix=True,
    ),
    _Anchor(
        "Apache access log client",
        re.compile(
            r"(?<!\S)" + _ADDR_WORD + r" \S{1,64} \S{1,256} "
            r"\[[0-9]{1,2}/[A-Za-z]{3}/[0-9]{4}(?::[0-9]{2}){3} [+-][0-9]{4}\]",
            re.ASCII,
        ),
        1,
        "source",
        "first",
    ),
    # Windows 4625/4624 rendered text and its XML form; the value may be "::ffff:a.b.c.d" or "-".
    _Anchor(
        "Windows event Source Network Address",
        re.compile(r"Source Network Address:\s*" + _ADDR_WORD, re.ASCII),
        1,
        "source",
        "last",
    ),
    _Anchor(
        "Windows event IpAddress",
        re.compile(r"Name=[\"']IpAddress[\"']>([^<\s]{1,80})<", re.ASCII),
        1,
        "source",
        "last",
    ),
    _Anchor("Suricata fast.log source", _FAST_LOG, 1, "source", "last", port_suffix=True),
    _Anchor("Suricata fast.log destination", _FAST_LOG, 2, "destination", "last", port_suffix=True),
    _Anchor("firewall/CEF src=X", _SRC, 1, "source", "last"),
    _Anchor("firewall/CEF dst=X", _DST, 1, "destination", "last"),
)


def _lookup(data: Mapping[str, Any], path: str) -> object:
    """A field by dotted path: a flattened key ("source.ip") or nested objects."""
    if path in data:
        return data[path]
    node: object = data
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _from_json(data: Mapping[str, Any], side: str) -> tuple[IPAddress, str] | None:
    for path in _JSON_FIELDS[side]:
        value = _lookup(data, path)
        if isinstance(value, str) and (address := validate_ip(refang(value))) is not None:
            return address, f"JSON {path}"
    return None


def _anchor_address(line: str, anchor: _Anchor) -> IPAddress | None:
    matches = list(anchor.pattern.finditer(line))
    if not matches:
        return None
    # Only the winning match counts: falling back to another one would hand the choice to the
    # attacker who wrote it.
    token = matches[-1 if anchor.pick == "last" else 0].group(anchor.group)
    for host in host_candidates(token, port_suffix=anchor.port_suffix):
        if (address := validate_ip(host)) is not None:
            return address
    return None


def _from_anchors(lines: Sequence[str], side: str, policy: AddressPolicy) -> tuple[IPAddress, str] | None:
    """The first reportable anchored address for `side`, line by line."""
    for line in lines:
        for anchor in _ANCHORS:
            if anchor.side == side:
                address = _anchor_address(line, anchor)
                if address is not None and policy.reportable(address):
                    return address, anchor.label
    return None


def _ip_ioc(address: IPAddress, ioc_type: str, comment: str, policy: AddressPolicy) -> Ioc:
    internal = policy.internal(address)
    # An internal address means nothing outside the organisation: never a detection rule.
    return Ioc(ioc_type, str(address), to_ids=not internal, internal=internal, comment=comment)


def _side_ioc(
    side: str, data: Mapping[str, Any] | None, lines: Sequence[str], policy: AddressPolicy
) -> Ioc | None:
    if data is not None and (found := _from_json(data, side)) is not None:
        # A JSON field settles the side even when it names an address we may not report: anchors
        # would then read attacker-controlled payload fields.
        address, comment = found
        return _ip_ioc(address, _IP_TYPES[side], comment, policy) if policy.reportable(address) else None
    found = _from_anchors(lines, side, policy)
    return None if found is None else _ip_ioc(found[0], _IP_TYPES[side], found[1], policy)


def _other_ips(
    text: str, taken: Collection[str], url_host_ips: Collection[str], policy: AddressPolicy
) -> Iterator[Ioc]:
    seen = set(taken)
    for _, address in scan_addresses(text):
        value = str(address)
        if value in seen or not policy.reportable(address):
            continue
        seen.add(value)
        if value in url_host_ips:
            yield _ip_ioc(address, "ip-dst", "host of a URL in the alert text", policy)
        else:
            yield _ip_ioc(address, "ip-src", "address in the alert text", policy)


def extract(
    text: str,
    *,
    own_addresses: Collection[str] = (),
    never_report: Sequence[IPNetwork] = (),
) -> Extraction:
    """Every indicator in one alert's data.

    `own_addresses` are the monitored agent's addresses (or host names): never reported.
    `never_report` lists the organisation's networks (an allow-list): never reported either.
    Loopback, link-local, unspecified, multicast and reserved addresses are dropped; private and
    documentation addresses are kept with internal=True and to_ids=False. Only the first
    MAX_SCAN_CHARS characters are scanned, and at most MAX_PER_KIND indicators of a kind are kept.
    """
    policy = AddressPolicy.build(own_addresses, never_report)
    data = parse_json_alert(text)
    clean = refang(text[:MAX_SCAN_CHARS])
    lines = clean.splitlines()
    source = _side_ioc("source", data, lines, policy)
    destination = _side_ioc("destination", data, lines, policy)
    extras = find_extras(clean, policy)
    taken = {ioc.value for ioc in (source, destination) if ioc is not None}
    others = _other_ips(clean, taken, extras.url_host_ips, policy)
    return Extraction(
        source_ip=source,
        destination_ip=destination,
        other_ips=tuple(islice(others, MAX_PER_KIND)),
        extras=extras.iocs,
        json_data=data,
    )
