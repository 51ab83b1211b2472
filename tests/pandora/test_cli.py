"""The CLI in-process: every bad value is one line on stderr and exit 2, never a traceback."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest

from misp_bridge.pandora.cli import build_parser, main

BASE = [
    "-u",
    "https://misp.invalid",
    "-k",
    "secret-key-for-cli-tests-0000",
    "-a",
    "web1",
    "-n",
    "SSH",
    "-d",
    "x",
]


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        pytest.param([*BASE, "-t", "tlp:purple"], "argument -t/--tlp", id="bad-tlp"),
        pytest.param([*BASE, "-t", "green"], "argument -t/--tlp", id="tlp-without-prefix"),
        pytest.param([*BASE, "-s", "7"], "sharing must be 0-3", id="sharing-7"),
        pytest.param([*BASE, "-s", "x"], "sharing must be 0-3", id="sharing-not-a-number"),
        pytest.param([*BASE, "-l", "0"], "threat level must be 1-3", id="threat-level-0"),
        pytest.param([*BASE, "-l", "4"], "threat level must be 1-3", id="threat-level-4"),
        pytest.param([*BASE, "-c", "Other"], "argument -c/--category", id="bad-category"),
        pytest.param(BASE[2:], "-u/--url", id="missing-url"),
        pytest.param(BASE[:6] + BASE[8:], "-n/--alert-name", id="missing-alert-name"),
        pytest.param([*BASE, "--never-report", "10.0.0.0/33"], "--never-report", id="bad-cidr"),
        pytest.param([*BASE, "--timeout", "15"], "--timeout", id="timeout-at-pandora-kill"),
        pytest.param([*BASE, "--dedup-hours", "-1"], "--dedup-hours", id="negative-window"),
        pytest.param(["-u", "ftp://x", *BASE[2:]], "must start with https://", id="url-scheme"),
        pytest.param([*BASE, "--insecure", "--ca-bundle", "/x"], "not allowed with", id="tls-both"),
    ],
)
def test_bad_values_are_one_line_and_exit_2(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main([*argv, "--spool-dir", str(tmp_path / "spool")]) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("pandora_to_misp.py: error: ")
    assert needle in lines[0]
    assert "Traceback" not in captured.err
    assert captured.out == ""


def test_empty_key_without_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("MISP_KEY", raising=False)
    argv = list(BASE)
    argv[3] = ""
    assert main([*argv, "--spool-dir", str(tmp_path / "spool")]) == 2
    assert "MISP_KEY is not set" in capsys.readouterr().err
    # The alert got as far as the spool: it is sent once the key is there.
    assert len(list((tmp_path / "spool").glob("*.json"))) == 1


def test_stray_words_join_the_data() -> None:
    args = build_parser().parse_args(
        [*BASE[:-1], "Login", "failed", "for", "bob smith", "-t", "tlp:red", "x"]
    )
    assert args.alert_data == "Login failed for bob smith x"
    assert args.tlp == "tlp:red"


def test_field6_word_split_parses() -> None:
    # -t "tlp:red" -s 1 -l 1 -c "Network activity" -g SOC-Team, Critical-Alert (the last one unquoted)
    field6 = [
        "-t",
        "tlp:red",
        "-s",
        "1",
        "-l",
        "1",
        "-c",
        "Network activity",
        "-g",
        "SOC-Team,",
        "Critical-Alert",
    ]
    args = build_parser().parse_args([*BASE, *field6])
    assert (args.tlp, args.sharing, args.threat_level, args.category) == ("tlp:red", 1, 1, "Network activity")
    # "SOC-Team," and "Critical-Alert" arrive as two words when unquoted: both are kept.
    assert args.tags == ["SOC-Team,", "Critical-Alert"]
    assert args.alert_data == "x"


def test_field6_unquoted_tags_become_two_tags(tmp_path: Path) -> None:
    from misp_bridge.pandora.cli import alert_fields

    args = build_parser().parse_args([*BASE, "-g", "SOC-Team,", "Critical-Alert", "-l", "1"])
    assert alert_fields(args).tags == ("SOC-Team", "Critical-Alert")
    assert alert_fields(args).threat_level == 1


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param("SOC-Team, Critical-Alert", ["SOC-Team", "Critical-Alert"], id="comma-space"),
        pytest.param(" a ,, b ,", ["a", "b"], id="empties-dropped"),
        pytest.param("", [], id="empty"),
    ],
)
def test_tags_are_trimmed(given: str, expected: list[str]) -> None:
    from misp_bridge.pandora.cli import alert_fields

    assert list(alert_fields(build_parser().parse_args([*BASE, "-g", given])).tags) == expected


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param("TLP:AMBER", "tlp:amber", id="upper-case"),
        pytest.param("tlp:amber+strict", "tlp:amber+strict", id="amber-strict"),
        pytest.param("tlp:clear", "tlp:clear", id="clear"),
    ],
)
def test_tlp_is_normalised(given: str, expected: str) -> None:
    assert build_parser().parse_args([*BASE, "-t", given]).tlp == expected


def test_defaults() -> None:
    args = build_parser().parse_args(BASE)
    assert (args.tlp, args.sharing, args.threat_level, args.category) == ("tlp:green", 0, None, None)
    assert (args.timeout, args.dedup_hours, args.insecure, args.ca_bundle) == (10.0, 24.0, False, None)


def test_never_report_and_agent_addresses_repeat() -> None:
    args = build_parser().parse_args(
        [
            *BASE,
            "--never-report",
            "10.0.0.0/8",
            "--never-report",
            "2001:db8::/32",
            "--agent-address",
            "192.0.2.5",
        ]
    )
    assert args.never_report == [
        str(ipaddress.ip_network("10.0.0.0/8")),
        str(ipaddress.ip_network("2001:db8::/32")),
    ]
    assert args.agent_address == ["192.0.2.5"]


def test_flush_spool_needs_only_url_and_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Nothing spooled: nothing to send, no connection made, exit 0.
    code = main(
        ["-u", "https://misp.invalid", "-k", "k-0123456789", "--flush-spool", "--spool-dir", str(tmp_path)]
    )
    assert code == 0
    assert capsys.readouterr().err == ""


def test_a_recovery_run_needs_agent_and_alert_name_prefixed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A recovery prefixes field6 too ("[RECOVER]-t" would not even parse) and the key.
    argv = ["-u", "https://misp.invalid", "-k", "[RECOVER]k", "-a", "[RECOVER]web1", "-n", "[RECOVER]SSH",
            "-d", "[RECOVER]x", "[RECOVER]-t", "[RECOVER]tlp:red",
            "--spool-dir", str(tmp_path / "spool")]  # fmt: skip
    assert main(argv) == 0
    assert capsys.readouterr().err == ""
    assert "Recovery run" in (tmp_path / "pandora_to_misp.log").read_text()
    assert not (tmp_path / "spool").exists()


@pytest.mark.parametrize(
    ("agent", "name", "data"),
    [
        pytest.param("web1", "SSH", "[RECOVER] Failed password from 8.8.4.4", id="data-only"),
        pytest.param("[RECOVER]web1", "SSH", "x", id="agent-only"),
        pytest.param("web1", "[RECOVER]SSH", "x", id="name-only"),
    ],
)
def test_finding_8_recover_in_one_field_is_no_recovery_run(agent: str, name: str, data: str) -> None:
    """Issue 8, finding 8: [RECOVER] at the start of any argument, the attacker's data included, made the
    run a recovery run that sent nothing. Only agent AND alert name (fields Pandora controls) count."""
    args = build_parser().parse_args(["-u", "https://m", "-k", "k", "-a", agent, "-n", name, "-d", data])
    assert args.recovery is False
    assert args.alert_data == data


def test_bad_rules_file_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text("this is = not [valid toml", encoding="utf-8")
    assert main([*BASE, "--rules", str(rules), "--spool-dir", str(tmp_path / "spool")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and str(rules) in err[0]


def test_dry_run_prints_the_event_and_sends_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--dry-run needs no MISP: it prints the event the alert would become (rule writing, field mapping)."""
    line = "sshd[811]: Failed password for root from 198.51.100.23 port 52114 ssh2"
    code = main(
        ["--dry-run", "-a", "web01", "-n", "SSH brute force", "-d", line, "--spool-dir", str(tmp_path)]
    )
    assert code == 0
    event = json.loads(capsys.readouterr().out)["Event"]
    ips = [a for a in event["Attribute"] if a["type"] == "ip-src"]
    assert [a["value"] for a in ips] == ["198.51.100.23"]
    assert any("Password Guessing - T1110.001" in t["name"] for t in event["Tag"])
    assert not list(tmp_path.iterdir())  # nothing spooled, no log written there


def test_dry_run_refuses_flush_spool(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--dry-run", "--flush-spool"]) == 2
    assert capsys.readouterr().err.strip() == (
        "pandora_to_misp.py: error: argument --dry-run: not allowed with --flush-spool"
    )
