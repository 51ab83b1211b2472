"""Domain values of the indicator extractor: one indicator, and everything found in one alert."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

Side = Literal["source", "destination", "none"]


@dataclass(frozen=True)
class Ioc:
    """One indicator, ready to become a MISP attribute."""

    type: str  # MISP attribute type: ip-src, ip-dst, url, domain, email, md5, sha1, sha256, vulnerability
    value: str  # normalised: refanged, lower-cased where MISP would, IPv6 compressed, mapped IPv4 unwrapped
    to_ids: bool
    internal: bool = False  # private or documentation range address: kept, but flagged
    comment: str = ""  # why and where it was found


def _prefer_public(candidates: Iterable[Ioc | None]) -> Ioc | None:
    """The first public address, else the first internal one: an outside address is the likelier IOC."""
    present = [ioc for ioc in candidates if ioc is not None]
    return next((ioc for ioc in present if not ioc.internal), present[0] if present else None)


@dataclass(frozen=True)
class Extraction:
    """The result of `extract` on one alert's data."""

    source_ip: Ioc | None  # the address on the source side (attacker for inbound alerts), type ip-src
    destination_ip: Ioc | None  # the destination side when the alert states one, type ip-dst
    other_ips: tuple[Ioc, ...]  # further addresses from the guarded scan, in order of appearance
    extras: tuple[Ioc, ...]  # urls, domains, emails, hashes, CVE ids
    json_data: Mapping[str, Any] | None  # the parsed JSON alert, if the data was JSON

    def ioc_for(self, side: Side) -> Ioc | None:
        """The one address to report as the alert's IOC, for the side a triage rule names.

        - "source": `source_ip`; if the alert states none, an address from `other_ips` re-typed ip-src.
        - "destination": `destination_ip`; if none is stated, an address from `other_ips` re-typed ip-dst.
        - "none" (an alert about the monitored host itself): no attacker is invented. The candidates
          are `source_ip`, `destination_ip`, then `other_ips`, in that order, each keeping the type
          it got where it was seen (ip-src at a source anchor or in plain text, ip-dst at a
          destination anchor or as a URL host).
        Whenever several candidates qualify, the first public one wins, else the first internal one.
        The opposite side is never used as a fallback: that would turn a victim into an attacker.
        """
        if side == "none":
            return _prefer_public([self.source_ip, self.destination_ip, *self.other_ips])
        stated, ioc_type = _SIDES[side](self)
        if stated is not None:
            return stated
        fallback = _prefer_public(self.other_ips)
        return None if fallback is None else dataclasses.replace(fallback, type=ioc_type)


_SIDES: dict[str, Callable[[Extraction], tuple[Ioc | None, str]]] = {
    "source": lambda e: (e.source_ip, "ip-src"),
    "destination": lambda e: (e.destination_ip, "ip-dst"),
}
