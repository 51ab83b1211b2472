"""Text-level helpers of the indicator extractor: refanging, JSON detection, and the non-IP extras.

Pure code; every regex is RE2 (misp_bridge/pandora/rx.py), so 128 KiB of hostile text is scanned in
linear time whatever it holds. The character before a match is part of the match (RE2 has no
lookbehind); what must not follow a match is checked in Python (`word_follows`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from misp_bridge.pandora.iocs.ip import AddressPolicy, glued, validate_ip, word_follows
from misp_bridge.pandora.iocs.model import Ioc
from misp_bridge.pandora.rx import Match, Pattern, compile_pattern

# Defanging conventions seen in threat reports and SIEM exports, undone in this order (the
# bracketed colon first, so "hxxp[:]//" becomes "hxxp://" before the scheme is fixed).
# Exact forms are plain replacements (C speed however many there are); the others are RE2.
_REFANG: tuple[tuple[str | Pattern, str | Callable[[Match], str]], ...] = (
    ("[.]", "."),
    ("(.)", "."),
    ("{.}", "."),
    (compile_pattern(r"\[dot\]|\(dot\)|\{dot\}", ignore_case=True), lambda m: "."),
    ("[:]", ":"),
    ("[://]", "://"),
    ("[@]", "@"),
    (compile_pattern(r"\[at\]", ignore_case=True), lambda m: "@"),
    (compile_pattern(r"\bhxxp(s?)://", ignore_case=True), lambda m: f"http{m.group(1)}://"),
    (compile_pattern(r"\bfxp://", ignore_case=True), lambda m: "ftp://"),
)


def refang(text: str) -> str:
    """`text` with defanged addresses, URLs and emails turned back into their normal form."""
    for pattern, replacement in _REFANG:
        if isinstance(pattern, str):
            text = text.replace(pattern, str(replacement))
        else:
            text = pattern.sub(replacement, text)
    return text


def parse_json_alert(text: str) -> Mapping[str, Any] | None:
    """The JSON object `text` holds, or None.

    The object may be wrapped in whitespace or follow a prefix without a "{" (a syslog header such
    as `<13>Jan  1 10:04:05 ids suricata[42]: `); nothing but whitespace may follow it.
    """
    start = text.find("{")
    if start < 0:
        return None
    try:
        value, end = json.JSONDecoder().raw_decode(text, start)
    except (ValueError, RecursionError):  # RecursionError: hostile nesting depth
        return None
    if not isinstance(value, dict) or text[end:].strip():
        return None
    return value


MAX_PER_KIND = 100  # a flood of indicators in one alert helps no analyst and bloats the event

# RE2 caps counted repeats at 1000: the URL is matched whole and cut at MAX_URL characters.
_URL = compile_pattern(r"\b(?:https?|ftp)://[^\s<>\"'`{}|\\^]+", ignore_case=True)
MAX_URL = 2048 + len("https://")
_URL_TRAILING = ".,;:!?'\")]>"
_HOST_NAME = compile_pattern(
    # At most 253 characters (checked before), so the label count needs no bound of its own.
    r"(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?\.)+(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})"
)
# Names that resolve only inside a site, or are reserved for examples: never a detection rule.
_LOCAL_SUFFIXES = frozenset(
    {"local", "localhost", "localdomain", "internal", "intranet", "lan", "home", "corp", "private"}
    | {"test", "example", "invalid", "arpa", "example.com", "example.net", "example.org"}
)
# Not glued to more address characters on the left (matched) nor to a word, a "-" or ".x" on the right
# (checked).
_EMAIL = compile_pattern(
    r"(?:^|[^\w.%+-])([\w.%+-]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,8}"
    r"[A-Za-z]{2,24})"
)
# A maximal hex run bounded by non-word characters: a hash is never cut out of a longer run.
_HEX_RUN = compile_pattern(r"(?:^|[^\w])([0-9A-Fa-f]{32,64})")
_HASH_TYPES = {32: "md5", 40: "sha1", 64: "sha256"}
_DIGITS = frozenset("0123456789")
_HEX_LETTERS = frozenset("abcdefABCDEF")
_CVE = compile_pattern(r"(?:^|[^\w-])CVE-([0-9]{4})-([0-9]{4,7})", ignore_case=True)


def _trim_url(url: str) -> str:
    """Drop punctuation that ends the sentence rather than the URL; keep balanced ) and ]."""
    while url and url[-1] in _URL_TRAILING:
        last = url[-1]
        if (last == ")" and url.count("(") >= url.count(")")) or (
            last == "]" and url.count("[") >= url.count("]")
        ):
            break
        url = url[:-1]
    return url


@dataclass(frozen=True)
class _Host:
    name: str  # lower-cased, no brackets or port
    is_ip: bool
    trusted: bool  # may feed detection: a public address or a registrable name, not the agent


def _url_host(url: str, policy: AddressPolicy) -> _Host | None:
    try:
        host = urlsplit(url).hostname
    except ValueError:  # malformed [IPv6] host
        return None
    if not host:
        return None
    host = host.rstrip(".")
    address = validate_ip(host)
    if address is not None:
        usable = policy.reportable(address) and not policy.internal(address)
        return _Host(str(address), is_ip=True, trusted=usable)
    if len(host) > 253 or not _HOST_NAME.fullmatch(host):
        return None
    suffix2 = ".".join(host.rsplit(".", 2)[-2:])
    local = host.rsplit(".", 1)[-1] in _LOCAL_SUFFIXES or suffix2 in _LOCAL_SUFFIXES
    return _Host(host, is_ip=False, trusted=not local and host not in policy.own_names)


@dataclass(frozen=True)
class Extras:
    iocs: tuple[Ioc, ...]
    url_host_ips: frozenset[str]  # addresses seen as a URL's host: the far end of a request


def find_extras(text: str, policy: AddressPolicy) -> Extras:
    """URLs, their host names, emails, hashes and CVE ids in `text` (already refanged)."""
    found: dict[tuple[str, str], Ioc] = {}
    per_kind: dict[str, int] = {}

    def add(ioc: Ioc) -> None:
        key = (ioc.type, ioc.value)
        if key not in found and per_kind.get(ioc.type, 0) < MAX_PER_KIND:
            found[key] = ioc
            per_kind[ioc.type] = per_kind.get(ioc.type, 0) + 1

    url_spans: list[tuple[int, int]] = []
    host_ips: set[str] = set()
    for match in _URL.finditer(text):
        url = _trim_url(match.group(0)[:MAX_URL])
        url_spans.append((match.start(), match.start() + len(url)))
        host = _url_host(url, policy)
        add(Ioc("url", url, to_ids=host is not None and host.trusted, comment="URL in the alert text"))
        if host is not None and host.is_ip:
            host_ips.add(host.name)
        elif host is not None:
            add(Ioc("domain", host.name, to_ids=host.trusted, comment="host of a URL in the alert text"))
    for match in _EMAIL.finditer(text):
        if word_follows(text, match.end(1), "-"):
            continue
        if not any(start <= match.start(1) < end for start, end in url_spans):  # user@host in a URL
            add(Ioc("email", match.group(1).lower(), to_ids=True, comment="email address in the alert text"))
    for match in _HEX_RUN.finditer(text):
        run = match.group(1)
        hash_type = _HASH_TYPES.get(len(run))
        # Require a digit and a letter: all-digit runs are counters, all-letter runs are words.
        letters = set(run)
        if hash_type and not glued(text, match.end(1)) and letters & _DIGITS and letters & _HEX_LETTERS:
            add(Ioc(hash_type, run.lower(), to_ids=True, comment=f"{hash_type} hash in the alert text"))
    for match in _CVE.finditer(text):
        if glued(text, match.end(2)):
            continue
        cve = f"CVE-{match.group(1)}-{match.group(2)}"
        add(Ioc("vulnerability", cve, to_ids=False, comment="CVE id in the alert text"))
    return Extras(tuple(found.values()), frozenset(host_ips))
