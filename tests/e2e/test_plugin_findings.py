"""Issue 8's sixteen findings, end to end: the plugin against the MISP sandbox (real PyMISP over HTTPS).

Each test is named after its finding and failed on the code before issue 8 for the reason the finding
names. Runs that need a process of their own (signals, the process list, another user) start
pandora_to_misp.py as a subprocess.
"""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from misp_bridge.cli import Environment
from misp_bridge.pandora.cli import main
from tests.fixtures.misp import MispSandbox

ROOT = Path(__file__).resolve().parents[2]
SSHD = "Oct 11 22:14:15 web1 sshd[4242]: Failed password for invalid user admin from 203.0.113.77 port 52144"
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ [\w.]+: ")


def argv(misp: MispSandbox, spool: Path, *extra: str, key: str | None = None) -> list[str]:
    return ["-u", misp.url, "-k", misp.key if key is None else key, "--spool-dir", str(spool),
            "--ca-bundle", str(misp.ca_path), *extra]  # fmt: skip


def alert(misp: MispSandbox, spool: Path, data: str, *extra: str, name: str = "SSH brute force",
          agent: str = "web1", env: Environment | None = None) -> int:  # fmt: skip
    return main(
        argv(misp, spool, "-a", agent, "-n", name, "-d", data, *extra), env=env or Environment(env={})
    )


def kept(spool: Path) -> list[Path]:
    return sorted(spool.glob("*.json"))


def failed(spool: Path) -> list[Path]:
    return sorted((spool / "failed").glob("*.json"))


def log_of(spool: Path) -> str:
    return (spool.parent / "pandora_to_misp.log").read_text(encoding="utf-8")


def texts(event: dict[str, Any]) -> list[str]:
    return [a["value"] for a in event["Attribute"] if a["type"] == "text"]


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    return tmp_path / "spool"


# --- 1 and 2: whatever Pandora hands the plugin --------------------------------------------------------


def test_finding_1_a_split_log_line_is_one_alert(misp: MispSandbox, spool: Path) -> None:
    """An unquoted _data_ reaches the plugin as many words (exit 2 "unrecognized arguments" before)."""
    words = ["Login", "failed", "for", "user", "bob smith", "from", "203.0.113.41"]
    code = main(argv(misp, spool, "-a", "web1", "-n", "Login failure", "-d", *words, "-t", "tlp:amber"),
                env=Environment(env={}))  # fmt: skip
    assert code == 0
    [event] = misp.app.events()
    assert texts(event) == ["Login failed for user bob smith from 203.0.113.41"]
    assert event["Tag"][0]["name"] == "tlp:amber"


@pytest.mark.parametrize("data", ["-ERR", "--insecure", "-d"], ids=["dash", "looks-like-a-flag", "our-flag"])
def test_finding_1_data_that_starts_with_a_dash(misp: MispSandbox, spool: Path, data: str) -> None:
    assert alert(misp, spool, data) == 0
    [event] = misp.app.events()
    assert texts(event) == [data]


def test_finding_2_undecodable_bytes_are_replaced_not_fatal(misp: MispSandbox, spool: Path) -> None:
    """A Latin-1 byte in -d or -a reached Python as a lone surrogate: UnicodeEncodeError, nothing kept."""
    latin1 = "Contrase\udcf1a incorrecta para root from 203.0.113.77 port 22"  # b"\xf1" as Python passes it
    assert alert(misp, spool, latin1, agent="m\udce1quina") == 0
    [event] = misp.app.events()
    assert texts(event) == ["Contrase\ufffda incorrecta para root from 203.0.113.77 port 22"]
    assert event["info"].startswith("Pandora FMS: SSH brute force on m\ufffdquina")


@pytest.mark.parametrize("opening", ['{"a": ', ""], ids=["in-an-object", "bare"])
def test_finding_2_deeply_nested_json_is_just_text(misp: MispSandbox, spool: Path, opening: str) -> None:
    """2,000 nested lists made json.loads raise RecursionError (triage read the data as JSON)."""
    data = opening + "[" * 2000 + "]" * 2000 + ("}" if opening else "")
    assert alert(misp, spool, data) == 0
    [event] = misp.app.events()
    assert texts(event) == [data]


def test_an_unforeseen_triage_failure_still_delivers_the_raw_alert(
    misp: MispSandbox, spool: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RecursionError("some text nobody foresaw")

    monkeypatch.setattr("misp_bridge.pandora.assemble.extract", broken)
    assert alert(misp, spool, SSHD) == 0
    [event] = misp.app.events()
    assert [a["type"] for a in event["Attribute"]] == ["text"] and texts(event) == [SSHD]
    assert "the event carries the raw text only" in log_of(spool)


def test_finding_3_crafted_cron_text_is_sent_quickly(misp: MispSandbox, spool: Path) -> None:
    """120 KB of crafted data ran past Pandora's 15 s under Python's re; RE2 takes it in linear time."""
    data = ("/etc/cron" * 14_000)[:120_000]
    started = time.monotonic()
    assert alert(misp, spool, data, "--timeout", "10") == 0
    assert time.monotonic() - started < 10
    assert len(misp.app.events()) == 1


# --- 4: a budget that holds ----------------------------------------------------------------------------


def test_finding_4_a_late_misp_cannot_stretch_the_run(misp: MispSandbox, spool: Path) -> None:
    """Each request got the whole remaining budget and the constructor's three the initial one: a MISP
    answering 2 s late kept a 5 s run going for 6 s and more. Now every request, the constructor's
    included, gets what is left, and the alert is kept."""
    misp.app.faults.latency = 2.0
    started = time.monotonic()
    assert alert(misp, spool, SSHD, "--timeout", "5") == 1
    assert time.monotonic() - started < 5.5
    assert len(kept(spool)) == 1


def test_finding_4_a_dripping_misp_is_cut_off_by_the_watchdog(misp: MispSandbox, spool: Path) -> None:
    """A byte every half second never trips a socket read timeout; the watchdog ends the run."""
    misp.app.faults.drip = 0.5
    started = time.monotonic()
    assert alert(misp, spool, SSHD, "--timeout", "3") == 1
    assert time.monotonic() - started < 4.0
    assert len(kept(spool)) == 1
    assert "time budget" in log_of(spool)
    misp.app.faults.reset()
    assert main(argv(misp, spool, "--flush-spool"), env=Environment(env={})) == 0
    assert len(misp.app.events()) == 1


# --- 5: a spool that cannot be used --------------------------------------------------------------------


def test_finding_5_an_unusable_spool_falls_back_to_the_users_own(misp: MispSandbox, tmp_path: Path) -> None:
    """A spool directory that cannot be created dropped the alert even with MISP up."""
    (tmp_path / "file").write_text("")
    configured = tmp_path / "file" / "spool"  # a regular file where a directory should be: fails for anyone
    state = tmp_path / "state"
    env = Environment(env={"XDG_STATE_HOME": str(state)})
    misp.app.faults.down = True
    code = main(argv(misp, configured, "-a", "web1", "-n", "SSH", "-d", SSHD, "--log-file",
                     str(tmp_path / "p.log")), env=env)  # fmt: skip
    assert code == 1
    assert len(kept(state / "pandora_to_misp" / "spool")) == 1
    assert "cannot be created" in (tmp_path / "p.log").read_text()
    misp.app.faults.down = False
    assert main(argv(misp, configured, "--flush-spool", "--log-file", str(tmp_path / "p.log")), env=env) == 0
    assert len(misp.app.events()) == 1
    assert kept(state / "pandora_to_misp" / "spool") == []


def test_flush_spool_drains_the_configured_and_the_per_user_spool(misp: MispSandbox, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir(mode=0o777)
    spool.chmod(0o777)  # untrusted for now: the first alert goes to the per-user spool
    env = Environment(env={"XDG_STATE_HOME": str(tmp_path / "state")})
    misp.app.faults.down = True
    assert main(argv(misp, spool, "-a", "web1", "-n", "SSH", "-d", SSHD), env=env) == 1
    spool.chmod(0o700)  # fixed by the operator: the second goes to the configured spool
    assert main(argv(misp, spool, "-a", "web2", "-n", "SSH", "-d", SSHD), env=env) == 1
    fallback = tmp_path / "state" / "pandora_to_misp" / "spool"
    assert len(kept(spool)) == 1 and len(kept(fallback)) == 1
    misp.app.faults.down = False
    assert main(argv(misp, spool, "--flush-spool"), env=env) == 0
    assert len(misp.app.events()) == 2
    assert kept(spool) == [] and kept(fallback) == []


def test_finding_5_with_no_spool_at_all_the_alert_is_still_sent(misp: MispSandbox, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    env = Environment(env={"XDG_STATE_HOME": str(tmp_path / "file" / "state")})
    code = main(argv(misp, tmp_path / "file" / "spool", "-a", "web1", "-n", "SSH", "-d", SSHD), env=env)
    assert code == 0
    assert len(misp.app.events()) == 1


# --- 6 and 7: what MISP can store ----------------------------------------------------------------------


def test_finding_6_an_emoji_in_the_alert_name_reaches_misp(misp: MispSandbox, spool: Path) -> None:
    """utf8mb3 MISP answers 500 to a 4-byte character in info or a comment; every replay failed alike."""
    assert alert(misp, spool, SSHD, name="\U0001f525 SSH brute force") == 0
    [event] = misp.app.events()
    assert event["info"].startswith("Pandora FMS: \\U0001f525 SSH brute force on web1")
    assert kept(spool) == [] and failed(spool) == []


def test_finding_7_90_kb_of_data_keeps_its_raw_text(misp: MispSandbox, spool: Path) -> None:
    """MISP drops a value over 65,535 bytes with a 200: the event had no raw text and the log said
    "created"."""
    data = SSHD + " " + "x" * 90_000
    assert alert(misp, spool, data) == 0
    [event] = misp.app.events()
    [text] = texts(event)
    assert len(text.encode("utf-8")) <= 65_535 and text.startswith(SSHD)
    assert "more bytes of the alert were not kept" in text
    assert misp.app.dropped == []


def test_finding_7_an_attribute_misp_drops_is_logged(misp: MispSandbox, spool: Path, tmp_path: Path) -> None:
    from misp_bridge.output import logs
    from misp_bridge.pandora.publish import MispGateway
    from misp_bridge.pandora.watchdog import Budget

    logs.configure(tmp_path / "g.log")
    gateway = MispGateway(misp.url, misp.key, Budget(10), verify=str(misp.ca_path))
    event = {"uuid": "5a0e5d1e-1111-4aaa-8bbb-000000000007", "info": "drop test", "Attribute": [
        {"uuid": "5a0e5d1e-1111-4aaa-8bbb-000000000008", "type": "ip-src", "category": "Network activity",
         "value": "999.1.1.1"}]}  # fmt: skip
    assert gateway.add_event(event) == "created"
    log = (tmp_path / "g.log").read_text()
    assert (
        "created event 5a0e5d1e-1111-4aaa-8bbb-000000000007 without its ip-src attribute '999.1.1.1'" in log
    )


# --- 8, 9, 10, 11: runs, repeats and the spool ---------------------------------------------------------


def test_finding_8_recover_in_the_data_does_not_suppress_the_alert(misp: MispSandbox, spool: Path) -> None:
    assert alert(misp, spool, "[RECOVER] Failed password for root from 8.8.4.4 port 22 ssh2") == 0
    [event] = misp.app.events()
    assert [a["value"] for a in event["Attribute"] if a["type"] == "ip-src"] == ["8.8.4.4"]


def test_finding_8_a_prefixed_key_is_used_without_the_prefix(misp: MispSandbox, spool: Path) -> None:
    """A recovery value set for field 3 or 4 makes the run a real alert, with field 2 still prefixed."""
    code = main(argv(misp, spool, "-a", "web1", "-n", "SSH", "-d", SSHD, key=f"[RECOVER]{misp.key}"),
                env=Environment(env={}))  # fmt: skip
    assert code == 0
    assert len(misp.app.events()) == 1


def test_finding_9_repeats_during_an_outage_become_sightings(misp: MispSandbox, spool: Path) -> None:
    misp.app.faults.down = True
    for _ in range(3):
        assert alert(misp, spool, SSHD) == 1
    assert len(kept(spool)) == 3
    misp.app.faults.down = False
    assert main(argv(misp, spool, "--flush-spool"), env=Environment(env={})) == 0
    [event] = misp.app.events()
    ip_uuid = next(a["uuid"] for a in event["Attribute"] if a["type"] == "ip-src")
    assert [s["attribute_uuid"] for s in misp.app.sightings()] == [ip_uuid, ip_uuid]
    assert kept(spool) == []


def _write_record(spool: Path, name: str, body: dict[str, Any]) -> Path:
    spool.mkdir(mode=0o700, exist_ok=True)
    path = spool / name
    path.write_text(json.dumps(body), encoding="utf-8")
    os.chmod(path, 0o600)
    return path


def test_finding_10_an_unusable_entry_does_not_block_the_rest(misp: MispSandbox, spool: Path) -> None:
    """Valid JSON with an attribute that has no value stopped every replay and marked MISP broken."""
    misp.app.faults.down = True
    assert alert(misp, spool, SSHD) == 1
    misp.app.faults.down = False
    _write_record(spool, "000000000000001-bad.json", {
        "misp_url": misp.url, "first_seen": 1.0, "attempts": 0,
        "event": {"uuid": "0bad0bad-0000-4000-8000-000000000001", "info": "x",
                  "Attribute": [{"type": "ip-src"}]},
    })  # fmt: skip
    assert alert(misp, spool, SSHD.replace("203.0.113.77", "198.51.100.5"), name="Another") == 0
    assert len(misp.app.events()) == 2  # the new alert and the one kept before the bad entry
    [bad] = failed(spool)
    assert "cannot be turned into an event" in json.loads(bad.read_text())["failed_reason"]
    assert kept(spool) == []


def test_finding_10_attempts_are_capped(misp: MispSandbox, spool: Path) -> None:
    """An alert MISP keeps failing on (500) waits with back-off, then moves to failed/; never forever."""
    from misp_bridge.pandora.publish import MAX_ATTEMPTS

    clock = [1_700_000_000.0]
    env = Environment(env={}, clock=lambda: clock[0])
    misp.app.faults.only = r"^/events/add"
    misp.app.faults.statuses.extend([500] * (MAX_ATTEMPTS + 2))
    assert alert(misp, spool, SSHD, env=env) == 1
    for _ in range(MAX_ATTEMPTS - 1):
        record = json.loads(kept(spool)[0].read_text())
        assert record["next_try"] > clock[0]  # waits: the next flush does not hammer MISP
        clock[0] = record["next_try"] + 1
        main(argv(misp, spool, "--flush-spool"), env=env)
    assert kept(spool) == []
    [moved] = failed(spool)
    assert f"MISP failed on it {MAX_ATTEMPTS} times" in json.loads(moved.read_text())["failed_reason"]


def test_finding_10_url_forms_are_normalised_and_other_urls_reported(misp: MispSandbox, spool: Path) -> None:
    misp.app.faults.down = True
    words = argv(misp, spool, "-a", "w", "-n", "SSH", "-d", SSHD)
    words[1] = misp.url.upper().replace("HTTPS", "https") + "/"  # another spelling of the same MISP
    assert main(words, env=Environment(env={})) == 1
    other = _write_record(spool, "000000000000002-other.json", {
        "misp_url": "https://misp.elsewhere.example/", "first_seen": 2.0,
        "alert": {"agent": "w", "name": "n", "data": "d"}})  # fmt: skip
    misp.app.faults.down = False
    assert main(argv(misp, spool, "--flush-spool"), env=Environment(env={})) == 1  # one still waits
    assert len(misp.app.events()) == 1  # the https://host/ form was sent by the https://host run
    assert kept(spool) == [other]
    assert "1 kept alert(s) wait for the MISP at https://misp.elsewhere.example" in log_of(spool)


def test_finding_11_a_blocklisted_event_goes_to_failed_and_is_explained_once(
    misp: MispSandbox, spool: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Deleting an event blocklists its uuid; each repeat was spooled as if MISP were down."""
    assert alert(misp, spool, SSHD) == 0
    [event] = misp.app.events()
    misp.app.delete_event(event["uuid"])
    assert alert(misp, spool, SSHD) == 1
    assert alert(misp, spool, SSHD) == 1
    assert kept(spool) == []
    assert len(failed(spool)) == 2
    log = log_of(spool)
    assert log.count("its uuid is on MISP's event blocklist, so an analyst deleted that event") == 1
    assert f"POST /eventBlocklists/delete/{event['uuid']}" in log
    assert misp.app.events() == []


# --- 12: trust --------------------------------------------------------------------------------------


def test_finding_12_a_spool_others_can_write_is_never_replayed(misp: MispSandbox, tmp_path: Path) -> None:
    """A forged entry in a world-writable spool was replayed into MISP under the plugin's key."""
    spool = tmp_path / "spool"
    _write_record(spool, "000000000000001-forged.json", {
        "misp_url": misp.url, "first_seen": 1.0,
        "alert": {"agent": "x", "name": "forged",
                  "data": "from 8.8.8.8 port 1 login.microsoftonline.com"}})  # fmt: skip
    os.chmod(spool, 0o777)
    env = Environment(env={"XDG_STATE_HOME": str(tmp_path / "state")})
    assert main(argv(misp, spool, "-a", "web1", "-n", "SSH", "-d", SSHD), env=env) == 0
    assert [e["info"] for e in misp.app.events()] == ["Pandora FMS: SSH on web1 from 203.0.113.77"]
    assert "can be written by other users (mode 777); refusing to use it" in log_of(spool)


# --- 13, 14: output hygiene -------------------------------------------------------------------------


def test_finding_13_control_characters_cannot_forge_log_lines(
    misp: MispSandbox, spool: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    forged = "\n2026-01-01 00:00:00,000 INFO misp_bridge.pandora: Done: 1 created\x1b[2K"
    assert alert(misp, spool, SSHD + forged, agent="web1" + forged, name="SSH" + forged) == 0
    misp.app.faults.only = r"^/events/add"
    misp.app.faults.statuses.append(403)
    misp.app.error_body = lambda status: _misp_error(status, "Could not add Event" + forged)  # type: ignore[method-assign]
    assert alert(misp, spool, "other " + SSHD, agent="web2") == 1
    lines = log_of(spool).splitlines()
    assert all(LOG_LINE.match(line) for line in lines), lines
    assert "\x1b" not in log_of(spool) and "\\x1b" in log_of(spool)
    assert sum("Done: 1 created" in line and line.endswith("failed.") for line in lines) == 1


def _misp_error(status: int, name: str) -> Any:
    from sandbox.misp.app import misp_error

    return misp_error(status, name, "/events/add")


def test_finding_14_pymisp_dumps_and_credentials_stay_out_of_stderr(
    misp: MispSandbox, spool: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """On a 5xx PyMISP dumps 9-11 lines (request body included) on stderr; a URL password was logged."""
    misp.app.faults.only = r"^/events/add"
    misp.app.faults.statuses.append(500)
    assert alert(misp, spool, SSHD) == 1
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1, err
    assert "Request body" not in err and "Request body" in log_of(spool)  # the dump: log file only
    assert misp.key not in log_of(spool)
    # A URL with user:password@ (requests then sends Basic auth instead of the key: MISP refuses it).
    url = misp.url.replace("https://", "https://analyst:Pa55-w0rd-x@")
    code = main(["-u", url, "-k", misp.key, "--spool-dir", str(spool), "--ca-bundle", str(misp.ca_path),
                 "-a", "web1", "-n", "SSH", "-d", SSHD], env=Environment(env={}))  # fmt: skip
    assert code == 1
    err = capsys.readouterr().err
    everything = err + log_of(spool) + "".join(p.read_text() for p in spool.rglob("*.json"))
    assert "Pa55-w0rd-x" not in everything and "analyst:***@" in err


def test_finding_14_a_key_with_a_newline_is_never_shown(misp: MispSandbox, spool: Path, capsys: Any) -> None:
    key = "bad-key-0123456789\nsecond-line-abcdef"
    code = main(argv(misp, spool, "-a", "web1", "-n", "SSH", "-d", SSHD, key=key), env=Environment(env={}))
    assert code == 1
    everything = capsys.readouterr().err + log_of(spool)
    assert "second-line-abcdef" not in everything and "bad-key-0123456789" not in everything


# --- 16 and the signals: runs in a process of their own ----------------------------------------------


def _spawn(args: list[str], **options: Any) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(ROOT / "pandora_to_misp.py"), *args], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, **options)  # fmt: skip


def _wait_for(predicate: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def test_finding_16_key_file_keeps_the_key_out_of_the_process_list(misp: MispSandbox, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    key_file = tmp_path / "misp.key"
    key_file.write_text(misp.key + "\n")
    key_file.chmod(0o600)
    misp.app.faults.latency = 0.5  # keeps the run alive long enough to read its command line
    process = _spawn(["-u", misp.url, "-k", "", "--key-file", str(key_file), "--spool-dir", str(spool),
                      "--ca-bundle", str(misp.ca_path), "-a", "web1", "-n", "SSH", "-d", SSHD])  # fmt: skip
    seen: list[str] = []

    def read_cmdline() -> bool:
        seen.append(Path(f"/proc/{process.pid}/cmdline").read_bytes().decode("utf-8", "replace"))
        return "pandora_to_misp.py" in seen[-1]

    _wait_for(read_cmdline)
    cmdline = seen[-1]
    _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "--key-file" in cmdline and misp.key not in cmdline
    assert len(misp.app.events()) == 1 and err == ""


def test_finding_16_insecure_leaves_a_warning_in_the_log(
    misp: MispSandbox, spool: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["-u", misp.url, "-k", misp.key, "--spool-dir", str(spool), "--insecure",
                 "-a", "web1", "-n", "SSH", "-d", SSHD], env=Environment(env={}))  # fmt: skip
    assert code == 0
    assert "TLS verification of MISP is off (--insecure)" in log_of(spool)
    assert capsys.readouterr().err == ""


def test_sigterm_logs_one_line_and_keeps_the_alert(misp: MispSandbox, tmp_path: Path) -> None:
    """Pandora's timeout sends SIGTERM: the run says so in the log and the alert stays in the spool."""
    spool = tmp_path / "spool"
    misp.app.faults.latency = 5.0
    process = _spawn(argv(misp, spool, "-a", "web1", "-n", "SSH", "-d", SSHD, "--timeout", "12"))
    _wait_for(lambda: bool(kept(spool)))
    time.sleep(0.3)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=10)
    assert process.returncode == 1
    assert "Stopped by SIGTERM" in log_of(spool)
    assert len(kept(spool)) == 1 and "Traceback" not in err


def test_a_kill_at_any_moment_leaves_the_alert_in_the_spool(misp: MispSandbox, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    misp.app.faults.latency = 5.0
    process = _spawn(argv(misp, spool, "-a", "web1", "-n", "SSH", "-d", SSHD, "--timeout", "12"))
    _wait_for(lambda: bool(kept(spool)))
    process.kill()
    process.wait(timeout=10)
    misp.app.faults.reset()
    assert main(argv(misp, spool, "--flush-spool"), env=Environment(env={})) == 0
    assert len(misp.app.events()) == 1 and misp.app.sightings() == []


# --- 5 as another user (the tests run as root, which every permission lets through) -----------------


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory every user can read (pytest's own tmp is private to root)."""
    import shutil
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="pandora-nobody-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_finding_5_as_nobody_a_root_owned_spool_falls_back(misp: MispSandbox, shared_dir: Path) -> None:
    import shutil

    ca = shared_dir / "ca.pem"
    shutil.copy(misp.ca_path, ca)
    ca.chmod(0o644)
    configured = shared_dir / "root-only" / "spool"  # root's, 0755: nobody cannot create it
    configured.parent.mkdir(mode=0o755)
    state = shared_dir / "nobody-state"
    state.mkdir()
    os.chown(state, 65534, 65534)
    as_nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    command = [*as_nobody, sys.executable, str(ROOT / "pandora_to_misp.py"), "-u", misp.url, "-k", misp.key,
               "--ca-bundle", str(ca), "--spool-dir", str(configured),
               "-a", "web1", "-n", "SSH", "-d", SSHD]  # fmt: skip
    env = {"PATH": os.environ.get("PATH", ""), "XDG_STATE_HOME": str(state), "HOME": "/nonexistent"}
    probe = subprocess.run([*as_nobody, sys.executable, "-c", "import misp_bridge.pandora.cli"], env=env,
                           cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    if probe.returncode != 0:  # e.g. this Python's shared library sits where nobody cannot read it
        pytest.skip(f"nobody cannot run this Python here: {probe.stderr.strip()[:120]}")
    misp.app.faults.down = True
    done = subprocess.run(
        command, env=env, cwd=shared_dir, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 1, done.stderr
    fallback = state / "pandora_to_misp" / "spool"
    assert [p.stat().st_uid for p in kept(fallback)] == [65534]
    assert not configured.exists()
    misp.app.faults.down = False
    flush = [c for c in command if c not in ("-a", "web1", "-n", "SSH", "-d", SSHD)] + ["--flush-spool"]
    done = subprocess.run(
        flush, env=env, cwd=shared_dir, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert len(misp.app.events()) == 1 and kept(fallback) == []
    assert stat.S_IMODE(fallback.stat().st_mode) == 0o700
