"""IP addresses in alert text: strict validation, the report/drop/internal policy, the guarded scan.

Pure code. Every regex here is RE2 (misp_bridge/pandora/rx.py), linear in the input size whatever it
holds (alert data can be 128 KiB of attacker-written text). RE2 has no lookarounds: the scans match
the character before an address as part of the match, and the checks after it are made in Python.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_network

from misp_bridge.pandora.rx import Pattern, compile_pattern

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network

_V4_SHAPE = compile_pattern(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}")
_V6_CHARS = compile_pattern(r"[0-9A-Fa-f:.]{2,45}")
_ZONE_ID = compile_pattern(r"[0-9A-Za-z_.\-]{1,32}")
_PORT = compile_pattern(r"[0-9]{1,5}")
WORD_CHARS = frozenset(string.ascii_letters + string.digits + "_")

# Addresses that can never name an attacker: checked through ipaddress' own flags.
_DROP_FLAGS: tuple[Callable[[IPAddress], bool], ...] = (
    lambda a: a.is_loopback,
    lambda a: a.is_link_local,
    lambda a: a.is_unspecified,
    lambda a: a.is_multicast,
    lambda a: a.is_reserved,  # 240/4 (incl. broadcast) and the unallocated IPv6 blocks
)
# "This network" is not covered by the flags above.
_DROP_NETWORKS: tuple[IPNetwork, ...] = (ip_network("0.0.0.0/8"),)
# Kept but flagged: a private address in an alert is often lateral movement. Spelled out rather than
# taken from `is_private`, whose ranges changed between Python releases.
_INTERNAL_NETWORKS: tuple[IPNetwork, ...] = tuple(
    ip_network(n)
    for n in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",  # carrier-grade NAT
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation (TEST-NET-1)
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation (TEST-NET-2)
        "203.0.113.0/24",  # documentation (TEST-NET-3)
        "fc00::/7",  # unique local
        "fec0::/10",  # deprecated site-local
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation (RFC 9637)
    )
)


def _parse_v4(text: str) -> IPv4Address | None:
    if not _V4_SHAPE.fullmatch(text):
        return None
    octets = text.split(".")
    # inet_aton reads 030 as octal 24: a leading zero makes the address ambiguous, so refuse it.
    if any(len(o) > 1 and o[0] == "0" for o in octets) or any(int(o) > 255 for o in octets):
        return None
    return IPv4Address(text)


def _parse_v6(text: str) -> IPAddress | None:
    if not _V6_CHARS.fullmatch(text):
        return None
    tail = text.rpartition(":")[2]
    if "." in tail and _parse_v4(tail) is None:  # an embedded IPv4 part gets the same strict rules
        return None
    try:
        address = IPv6Address(text)
    except ValueError:
        return None
    mapped = address.ipv4_mapped
    return address if mapped is None else mapped


def validate_ip(text: str) -> IPAddress | None:
    """The address `text` spells, or None.

    Accepts dotted-quad IPv4 (no octet over 255, no leading zeros) and IPv6 in any textual form,
    optionally in [brackets] and with a %zone id (both stripped). IPv4-mapped IPv6 (::ffff:1.2.3.4)
    comes back as the IPv4 address. Ports, hostnames and anything else give None.
    """
    candidate = text.strip()
    if candidate.startswith("[") and candidate.endswith("]"):
        candidate = candidate[1:-1]
    if "%" in candidate:
        candidate, _, zone = candidate.partition("%")
        # Zone ids only exist on IPv6 (fe80::1%eth0).
        if ":" not in candidate or not _ZONE_ID.fullmatch(zone):
            return None
    if ":" in candidate:
        return _parse_v6(candidate)
    return _parse_v4(candidate)


def host_candidates(token: str, *, port_suffix: bool) -> Iterator[str]:
    """The host strings a log token may hold, most likely first.

    `[v6]:port`, `v4:port` are unambiguous. With `port_suffix` (formats that always append a port
    after an unbracketed IPv6 address: Suricata fast.log, Apache 2.4 `[client ...]`) the text after
    the last colon is tried as a port first, then the whole token as an address.
    """
    if token.startswith("["):
        host, bracket, rest = token[1:].partition("]")
        if bracket and (not rest or (rest[0] == ":" and _PORT.fullmatch(rest[1:]))):
            yield host
        return
    if token.count(":") == 1:
        host, _, port = token.partition(":")
        if _PORT.fullmatch(port):
            yield host
        return
    head, _, last = token.rpartition(":")
    if port_suffix and head and _PORT.fullmatch(last):
        yield head
    yield token


@dataclass(frozen=True)
class AddressPolicy:
    """Which addresses may be reported, and which are internal."""

    own: frozenset[IPAddress]
    own_names: frozenset[str]  # host names among the agent's own addresses, lower-cased
    never_report: tuple[IPNetwork, ...]

    @classmethod
    def build(cls, own_addresses: Collection[str], never_report: Sequence[IPNetwork]) -> AddressPolicy:
        own: set[IPAddress] = set()
        names: set[str] = set()
        for entry in own_addresses:
            parsed = validate_ip(entry)
            if parsed is None:
                names.add(entry.strip().lower().rstrip("."))
            else:
                own.add(parsed)
        return cls(frozenset(own), frozenset(names), tuple(never_report))

    def reportable(self, address: IPAddress) -> bool:
        return not (
            address in self.own
            or any(flag(address) for flag in _DROP_FLAGS)
            or _inside(address, _DROP_NETWORKS)
            or _inside(address, self.never_report)
        )

    @staticmethod
    def internal(address: IPAddress) -> bool:
        return _inside(address, _INTERNAL_NETWORKS)


def _inside(address: IPAddress, networks: Sequence[IPNetwork]) -> bool:
    return any(address.version == net.version and address in net for net in networks)


def glued(text: str, end: int) -> bool:
    """Whether a word character (ASCII, as RE2's \\w) comes right after `end`."""
    return text[end : end + 1] in WORD_CHARS


def word_follows(text: str, end: int, also: str = "") -> bool:
    """Whether a word character (ASCII, as RE2's \\w), one of `also`, or a dot and a word character
    come right after `end`: the token found there goes on (more version parts, a host name)."""
    following = text[end : end + 1]
    if following and (following in WORD_CHARS or following in also):
        return True
    return following == "." and text[end + 1 : end + 2] in WORD_CHARS


# IPv4: not glued to a word or a dot on the left (1.2.3.4.5 and v1.2.3.4 are versions), not after
# "Product/" (User-Agent versions like Chrome/120.0.0.0), not followed by a word character or by
# ".x" (more version parts, or a host name such as 1.2.3.4.nip.io). A sentence-ending dot is fine.
# The character before is matched (RE2 has no lookbehind); what follows is checked by word_follows.
_SCAN_V4 = compile_pattern(r"(?:^|[^\w./]|(?:^|[^\w-])/)([0-9]{1,3}(?:\.[0-9]{1,3}){3})")
# IPv6: hex groups with at least two colons, an optional dotted IPv4 tail right after a colon, and
# an optional zone id. Timestamps (10:04:05) and MAC addresses match here but fail validation. The
# form with an IPv4 tail comes first: RE2 takes the first alternative that matches.
_H = "[0-9A-Fa-f]{0,4}"
_SCAN_V6 = compile_pattern(
    r"(?:^|[^\w:.])"
    rf"((?:{_H}(?::{_H}){{1,7}}:[0-9]{{1,3}}(?:\.[0-9]{{1,3}}){{3}}|{_H}(?::{_H}){{2,8}})"
    r"(?:%[0-9A-Za-z_.\-]{1,32})?)"
)
_SCANS: tuple[tuple[Pattern, str], ...] = ((_SCAN_V4, ""), (_SCAN_V6, ":"))


def scan_addresses(text: str) -> list[tuple[int, IPAddress]]:
    """Every valid address in free text, with its offset, in order of appearance."""
    found = [
        (match.start(1), address)
        for pattern, glued in _SCANS
        for match in pattern.finditer(text)
        if not word_follows(text, match.end(1), glued)
        and (address := validate_ip(match.group(1))) is not None
    ]
    found.sort(key=lambda item: item[0])
    return found
