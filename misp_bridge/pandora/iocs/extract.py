"""Indicators from a raw SIEM alert: the attacker's address first, then URLs, domains, emails, hashes.

Order of evidence (docs/triage.md, "Extracting the attacker IP"): refang; known JSON fields; addresses
after a keyword in a known log format (anchors); a guarded scan of the whole text. Pure code: the
caller passes the agent's own addresses and the networks never to report.
"""

from __future__ import annotations

from bisect import bisect_right
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
from misp_bridge.pandora.rx import Pattern, compile_pattern, scrub

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
    pattern: Pattern  # RE2; the character before a keyword is part of the match (no lookbehind)
    group: int
    side: Literal["source", "destination"]
    # Which match wins when the anchor matches several times on one line: the one on the side away
    # from attacker-chosen text. sshd prints the user name before "from X port N" (so the rightmost
    # wins); PAM prints user= after rhost=, Apache prints the request after the client (leftmost).
    pick: Literal["first", "last"]
    port_suffix: bool = False  # the format appends :port even to an unbracketed IPv6 address


# The anchors run once over the whole text and their matches are sorted into lines (a pass per line
# would cost a call per line: 128 KiB of newlines is 131,072 lines). So that no match spans two lines,
# "space" is a blank or a tab and "non-space" excludes every line break str.splitlines() knows.
_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_SP = "[\t ]"
_NS = f"[^\t {_BREAKS}]"
_ADDR_WORD = f"({_NS}{{1,80}})"
_FAST_LOG = compile_pattern(
    r"\{[A-Za-z0-9:_-]{1,20}\}" + _SP + "+" + _ADDR_WORD + _SP + "+->" + _SP + "+" + _ADDR_WORD
)
_SRC = compile_pattern(r"(?:^|[^\w-])(?:src|SRC)=" + _ADDR_WORD)
_DST = compile_pattern(r"(?:^|[^\w-])(?:dst|DST)=" + _ADDR_WORD)
_ANCHORS: tuple[_Anchor, ...] = (
    _Anchor(
        "sshd 'from X port N'",
        compile_pattern(r"\b(?:from|by)" + _SP + "+" + _ADDR_WORD + _SP + "+port" + _SP + r"+[0-9]{1,5}\b"),
        1,
        "source",
        "last",
    ),
    _Anchor("PAM rhost=X", compile_pattern(r"(?:^|[^\w-])rhost=" + _ADDR_WORD), 1, "source", "first"),
    _Anchor(
        "Apache error log [client X]",
        compile_pattern(r"\[client" + _SP + f"+([^\\]\t {_BREAKS}]{{1,80}})" + r"\]"),
        1,
        "source",
        "first",
        port_suffix=True,
    ),
    _Anchor(
        "Apache access log client",
        compile_pattern(
            f"(?:^|{_SP}){_ADDR_WORD} {_NS}{{1,64}} {_NS}{{1,256}} "
            r"\[[0-9]{1,2}/[A-Za-z]{3}/[0-9]{4}(?::[0-9]{2}){3} [+-][0-9]{4}\]",
            multiline=True,
        ),
        1,
        "source",
        "first",
    ),
    # Windows 4625/4624 rendered text and its XML form; the value may be "::ffff:a.b.c.d" or "-".
    _Anchor(
        "Windows event Source Network Address",
        compile_pattern("Source Network Address:" + _SP + "*" + _ADDR_WORD),
        1,
        "source",
        "last",
    ),
    _Anchor(
        "Windows event IpAddress",
        compile_pattern(r"Name=[\"']IpAddress[\"']>" + f"([^<\t {_BREAKS}]{{1,80}})<"),
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
        # JSON escapes can spell lone surrogates (\ud800), which neither RE2 nor UTF-8 can take.
        if isinstance(value, str) and (address := validate_ip(refang(scrub(value)))) is not None:
            return address, f"JSON {path}"
    return None


def _line_starts(text: str) -> list[int]:
    """The offset where each line of `text` starts (str.splitlines' idea of a line), plus the end."""
    starts = [0]
    for line in text.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    return starts


def _winners(text: str, starts: Sequence[int], anchor: _Anchor) -> dict[int, str]:
    """Line number -> the token of the winning match of `anchor` on that line. Only the winning match
    counts: falling back to another one would hand the choice to the attacker who wrote it."""
    won: dict[int, str] = {}
    for match in anchor.pattern.finditer(text):
        line = bisect_right(starts, match.start(anchor.group)) - 1
        if anchor.pick == "last" or line not in won:
            won[line] = match.group(anchor.group)
    return won


def _address_of(token: str, anchor: _Anchor) -> IPAddress | None:
    for host in host_candidates(token, port_suffix=anchor.port_suffix):
        if (address := validate_ip(host)) is not None:
            return address
    return None


def _from_anchors(text: str, side: str, policy: AddressPolicy) -> tuple[IPAddress, str] | None:
    """The first reportable anchored address for `side`: line by line, anchors in table order."""
    starts = _line_starts(text)
    found = sorted(
        (line, order, token)
        for order, anchor in enumerate(_ANCHORS)
        if anchor.side == side
        for line, token in _winners(text, starts, anchor).items()
    )
    for _, order, token in found:
        address = _address_of(token, _ANCHORS[order])
        if address is not None and policy.reportable(address):
            return address, _ANCHORS[order].label
    return None


def _ip_ioc(address: IPAddress, ioc_type: str, comment: str, policy: AddressPolicy) -> Ioc:
    internal = policy.internal(address)
    # An internal address means nothing outside the organisation: never a detection rule.
    return Ioc(ioc_type, str(address), to_ids=not internal, internal=internal, comment=comment)


def _side_ioc(side: str, data: Mapping[str, Any] | None, text: str, policy: AddressPolicy) -> Ioc | None:
    if data is not None and (found := _from_json(data, side)) is not None:
        # A JSON field settles the side even when it names an address we may not report: anchors
        # would then read attacker-controlled payload fields.
        address, comment = found
        return _ip_ioc(address, _IP_TYPES[side], comment, policy) if policy.reportable(address) else None
    found = _from_anchors(text, side, policy)
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
    clean = refang(scrub(text[:MAX_SCAN_CHARS]))
    source = _side_ioc("source", data, clean, policy)
    destination = _side_ioc("destination", data, clean, policy)
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
