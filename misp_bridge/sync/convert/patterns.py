"""MISP attribute type -> STIX 2.1 pattern, as tables (docs/mapping.md "Pattern table").

Every pattern Sentinel is meant to match holds ONE equality comparison: Sentinel only fills the
observable it matches on for such patterns. Composite types (``a|b``) therefore split into the useful
half (or two indicators for ``domain|ip``) unless the caller asks for the oracle's AND form.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

from stix2patterns.validator import run_validator

from misp_bridge.errors import InvalidValue

# (pattern, note): the note is the context the pattern leaves out, e.g. the port of an ip|port.
Part = tuple[str, str]

# STIX 2.1 hash-algorithm vocabulary spelling; always quoted in patterns because Microsoft's queries
# look for file:hashes.'SHA-256' and friends (the original tool wrote 'SHA256', which never matched).
HASH_KEYS: dict[str, str] = {
    "md5": "MD5",
    "sha1": "SHA-1",
    "sha224": "SHA-224",
    "sha256": "SHA-256",
    "sha384": "SHA-384",
    "sha512": "SHA-512",
    "sha512/224": "SHA-512/224",
    "sha512/256": "SHA-512/256",
    "sha3-224": "SHA3-224",
    "sha3-256": "SHA3-256",
    "sha3-384": "SHA3-384",
    "sha3-512": "SHA3-512",
    "ssdeep": "SSDEEP",
    "tlsh": "TLSH",
    "imphash": "IMPHASH",
    "authentihash": "AUTHENTIHASH",
    "impfuzzy": "IMPFUZZY",
    "pehash": "PEHASH",
    "vhash": "VHASH",
}

# Hex digests have a fixed length; fuzzy hashes (ssdeep, tlsh, impfuzzy, vhash) do not.
HEX_LENGTHS: dict[str, int] = {
    "md5": 32,
    "sha1": 40,
    "sha224": 56,
    "sha256": 64,
    "sha384": 96,
    "sha512": 128,
    "sha512/224": 56,
    "sha512/256": 64,
    "sha3-224": 56,
    "sha3-256": 64,
    "sha3-384": 96,
    "sha3-512": 128,
    "imphash": 32,
    "authentihash": 64,
    "pehash": 40,
    "x509-fingerprint-md5": 32,
    "x509-fingerprint-sha1": 40,
    "x509-fingerprint-sha256": 64,
}

X509_KEYS: dict[str, str] = {
    "x509-fingerprint-md5": "MD5",
    "x509-fingerprint-sha1": "SHA-1",
    "x509-fingerprint-sha256": "SHA-256",
}

_HEX = re.compile(r"[0-9a-f]+")
_MAC = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}")
_AS_MAX = 2**32 - 1


def escape(value: str) -> str:
    """Escape a value for a quoted STIX pattern string: backslash first, then the quote."""
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _lit(value: str) -> str:
    return f"'{escape(value)}'"


def _ip(misp_type: str, value: str) -> tuple[str, str]:
    """Return (STIX object type, address) for an address or CIDR range, by address family."""
    text = value.strip()
    try:
        parsed = ipaddress.ip_network(text, strict=False) if "/" in text else ipaddress.ip_address(text)
    except ValueError:
        raise InvalidValue(misp_type, "is not an IP address or CIDR range") from None
    return ("ipv4-addr" if parsed.version == 4 else "ipv6-addr"), text


def _hash(misp_type: str, value: str) -> str:
    text = value.strip()
    length = HEX_LENGTHS.get(misp_type)
    if length is None:
        if not text:
            raise InvalidValue(misp_type, "is empty")
        return text
    text = text.lower()
    if len(text) != length or not _HEX.fullmatch(text):
        raise InvalidValue(misp_type, f"is not a {length}-digit hexadecimal hash")
    return text


def _port(misp_type: str, value: str) -> str:
    text = value.strip()
    # Length first: int() of thousands of digits raises Python's int-conversion limit ValueError.
    if not text.isascii() or not text.isdigit() or len(text) > 5 or int(text) > 65535:
        raise InvalidValue(misp_type, "has a port that is not a number from 0 to 65535")
    return str(int(text))


def _halves(misp_type: str, value: str, *, from_right: bool) -> tuple[str, str]:
    # File names and hostnames never end in a hash or a port, so those split at the last pipe.
    parts = value.rsplit("|", 1) if from_right else value.split("|", 1)
    if len(parts) != 2:
        raise InvalidValue(misp_type, "has no '|' between its two parts")
    return parts[0], parts[1]


# --- single-comparison patterns -------------------------------------------------------------------


def _ip_pattern(misp_type: str, value: str) -> str:
    kind, address = _ip(misp_type, value)
    return f"[{kind}:value = {_lit(address)}]"


def _hash_pattern(misp_type: str, value: str) -> str:
    return f"[file:hashes.'{HASH_KEYS[misp_type]}' = {_lit(_hash(misp_type, value))}]"


def _x509_pattern(misp_type: str, value: str) -> str:
    return f"[x509-certificate:hashes.'{X509_KEYS[misp_type]}' = {_lit(_hash(misp_type, value))}]"


def _as_pattern(misp_type: str, value: str) -> str:
    text = value.strip()
    if text[:2].upper() == "AS":
        text = text[2:]
    if not text.isascii() or not text.isdigit() or len(text.lstrip("0")) > 10 or int(text) > _AS_MAX:
        raise InvalidValue(misp_type, "is not an AS number")
    return f"[autonomous-system:number = {int(text)}]"


def _mac_pattern(misp_type: str, value: str) -> str:
    text = value.strip().lower().replace("-", ":")
    if not _MAC.fullmatch(text):
        raise InvalidValue(misp_type, "is not a MAC address")
    return f"[mac-addr:value = {_lit(text)}]"


def _plain(object_path: str) -> Callable[[str, str], str]:
    def build(_misp_type: str, value: str) -> str:
        return f"[{object_path} = {_lit(value)}]"

    return build


SINGLE: dict[str, Callable[[str, str], str]] = {
    "ip-src": _ip_pattern,
    "ip-dst": _ip_pattern,
    "domain": _plain("domain-name:value"),
    "hostname": _plain("domain-name:value"),
    "url": _plain("url:value"),
    "uri": _plain("url:value"),
    "email": _plain("email-addr:value"),
    "email-src": _plain("email-addr:value"),
    "email-dst": _plain("email-addr:value"),
    "email-subject": _plain("email-message:subject"),
    "filename": _plain("file:name"),
    "mutex": _plain("mutex:name"),
    "AS": _as_pattern,
    "mac-address": _mac_pattern,
    "regkey": _plain("windows-registry-key:key"),
    "user-agent": _plain("network-traffic:extensions.'http-request-ext'.request_header.'User-Agent'"),
    **{misp_type: _hash_pattern for misp_type in HASH_KEYS},
    **{misp_type: _x509_pattern for misp_type in X509_KEYS},
}


# --- composite types: (split into matchable parts, the oracle's single AND pattern) ---------------


def _ip_port_split(misp_type: str, value: str) -> list[Part]:
    address, port = _halves(misp_type, value, from_right=True)
    return [(_ip_pattern(misp_type, address), f"port {_port(misp_type, port)}")]


def _ip_port_joined(misp_type: str, value: str) -> list[Part]:
    address, port = _halves(misp_type, value, from_right=True)
    kind, text = _ip(misp_type, address)
    side = "src" if misp_type.startswith("ip-src") else "dst"
    return [
        (
            f"[network-traffic:{side}_ref.type = '{kind}' AND network-traffic:{side}_ref.value = {_lit(text)}"
            f" AND network-traffic:{side}_port = '{_port(misp_type, port)}']",
            "",
        )
    ]


def _domain_ip_split(misp_type: str, value: str) -> list[Part]:
    domain, address = _halves(misp_type, value, from_right=False)
    ip_pattern = _ip_pattern(misp_type, address)
    return [
        (f"[domain-name:value = {_lit(domain)}]", f"resolves to {address.strip()}"),
        (ip_pattern, f"resolved from {domain}"),
    ]


def _domain_ip_joined(misp_type: str, value: str) -> list[Part]:
    domain, address = _halves(misp_type, value, from_right=False)
    _kind, text = _ip(misp_type, address)
    pattern = f"[domain-name:value = {_lit(domain)} AND domain-name:resolves_to_refs[*].value = {_lit(text)}]"
    return [(pattern, "")]


def _hostname_port_split(misp_type: str, value: str) -> list[Part]:
    host, port = _halves(misp_type, value, from_right=True)
    return [(f"[domain-name:value = {_lit(host)}]", f"port {_port(misp_type, port)}")]


def _hostname_port_joined(misp_type: str, value: str) -> list[Part]:
    host, port = _halves(misp_type, value, from_right=True)
    pattern = f"[domain-name:value = {_lit(host)} AND network-traffic:dst_port = '{_port(misp_type, port)}']"
    return [(pattern, "")]


def _file_hash_split(misp_type: str, value: str) -> list[Part]:
    name, digest = _halves(misp_type, value, from_right=True)
    hash_type = misp_type.split("|", 1)[1]
    return [(_hash_pattern(hash_type, digest), f"file name {name}")]


def _file_hash_joined(misp_type: str, value: str) -> list[Part]:
    name, digest = _halves(misp_type, value, from_right=True)
    hash_type = misp_type.split("|", 1)[1]
    checked = _hash(hash_type, digest)
    pattern = f"[file:name = {_lit(name)} AND file:hashes.'{HASH_KEYS[hash_type]}' = {_lit(checked)}]"
    return [(pattern, "")]


def _regkey_value_split(misp_type: str, value: str) -> list[Part]:
    key, data = _halves(misp_type, value, from_right=False)
    return [(f"[windows-registry-key:key = {_lit(key)}]", f"value data {data}")]


def _regkey_value_joined(misp_type: str, value: str) -> list[Part]:
    key, data = _halves(misp_type, value, from_right=False)
    pattern = f"[windows-registry-key:key = {_lit(key)} AND windows-registry-key:values.data = {_lit(data)}]"
    return [(pattern, "")]


CompositeBuilder = Callable[[str, str], list[Part]]

COMPOSITE: dict[str, tuple[CompositeBuilder, CompositeBuilder]] = {
    "ip-src|port": (_ip_port_split, _ip_port_joined),
    "ip-dst|port": (_ip_port_split, _ip_port_joined),
    "domain|ip": (_domain_ip_split, _domain_ip_joined),
    "hostname|port": (_hostname_port_split, _hostname_port_joined),
    "regkey|value": (_regkey_value_split, _regkey_value_joined),
    **{f"filename|{hash_type}": (_file_hash_split, _file_hash_joined) for hash_type in HASH_KEYS},
}

INDICATOR_TYPES: frozenset[str] = frozenset(SINGLE) | frozenset(COMPOSITE)


def without_pattern(accepted: frozenset[str], custom: frozenset[str]) -> list[str]:
    """Accepted types no pattern exists for (the original's list has port, published, uuid...): their
    attributes are skipped as "not an indicator type", never an error."""
    return sorted(accepted - INDICATOR_TYPES - custom)


def reads_as_pattern(value: str) -> bool:
    """True when a value is itself a valid STIX pattern expression (`[ipv4-addr:value NOT = 0]`).

    Free-text custom types are sent as the original tool sends them, the value itself as the pattern
    (Microsoft documents no free-text form, docs/mapping.md); a value that Sentinel would read as a
    working expression is someone else's pattern, not data, and is never sent."""
    if "[" not in value:  # every STIX observation expression is in brackets
        return False
    return not run_validator(value, stix_version="2.1")


def pattern_for(misp_type: str, value: str, *, remove_pipe: bool = True) -> list[Part] | None:
    """Return [(pattern, note)] for a MISP value, None if the type is not an indicator type.

    Raises InvalidValue when the value cannot be what its type says (a bad address, hash, port...).
    """
    single = SINGLE.get(misp_type)
    if single is not None:
        return [(single(misp_type, value), "")]
    composite = COMPOSITE.get(misp_type)
    if composite is None:
        return None
    split, joined = composite
    try:
        return (split if remove_pipe else joined)(misp_type, value)
    except InvalidValue as error:
        # A half is checked under its own type (sha1 in filename|sha1); report the attribute's type.
        if error.misp_type == misp_type:
            raise
        raise InvalidValue(misp_type, error.problem) from None
