"""What a user moving from misp2sentinel and an operator at 3 a.m. meet (issue 12), end to end against the
sandboxes: the original's constants.py and layout (items 1, 2), one TLS warning per run (3), the delete
tool without flags (4), the plugin's line on stdout and the files a run leaves (6), a summary and a log
that say how the run ended (8)."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from misp_bridge.cli import Environment
from misp_bridge.pandora.cli import main as plugin_main
from misp_bridge.sync.delete_cli import main as delete_main
from tests.e2e.test_sync import XORIST, expected, run, seed, stored, summary_json, ws_counts
from tests.fixtures.azure import AzureSandbox
from tests.fixtures.misp import MispSandbox
from tests.fixtures.sync_config import settings_for, write_config

ROOT = Path(__file__).resolve().parents[2]
ORIGINAL_CONSTANTS = ROOT / "tests/data/misp2sentinel/683f8172549a13e89ddeb71266f0aeb38abc7632-constants.py"
EVALUATED = 'misp:confidence-level="confidence-cannot-be-evaluated"'
LOG_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) \S+: ")
SSHD = "sshd[4242]: Failed password for invalid user admin from 203.0.113.77 port 52144 ssh2"


def tool_env() -> dict[str, str]:
    """The environment of a tool run as a separate process: ours, without a PYTHONPATH to our tree."""
    return {**os.environ, "PYTHONPATH": ""}


def log_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


# -- item 1: the original's constants.py beside the config ------------------------------------------


def original_event() -> dict[str, Any]:
    def attribute(uuid: str, kind: str, value: str, tags: list[str]) -> dict[str, Any]:
        return {
            "uuid": uuid,
            "type": kind,
            "category": "Network activity",
            "value": value,
            "to_ids": True,
            "Tag": [{"name": t} for t in tags],
        }

    return {
        "uuid": "6a0c9e11-2f3b-4d5e-8a9b-0c1d2e3f4a5b",
        "info": "moved from misp2sentinel",
        "published": True,
        "Attribute": [
            attribute("7b1d0f22-3a4c-4e6f-9b0c-1d2e3f4a5b6c", "ip-dst", "198.51.100.7", [EVALUATED]),
            attribute("8c2e1a33-4b5d-4f70-8c1d-2e3f4a5b6c7d", "port", "4444", []),
        ],
    }


def test_the_original_constants_file_runs_as_it_is(
    tmp_path: Path, misp: MispSandbox, azure: AzureSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    """misp2sentinel's current constants.py beside config.py: exit 2 ("must be 0..100") before."""
    misp.app.seed_event(original_event())
    config = write_config(tmp_path, misp, azure, default_confidence=80)
    shutil.copy(ORIGINAL_CONSTANTS, tmp_path / "constants.py")

    code = run(config, "--json")

    out, err = capsys.readouterr()
    assert code == 0, err
    data = summary_json(out)
    assert data["skipped"] == {"not an indicator type": 1}  # the port: no pattern, a reason, no error
    [body] = stored(azure).values()
    assert body["pattern"] == "[ipv4-addr:value = '198.51.100.7']"
    assert body["confidence"] == 50  # the original's misspelt key, matched by the taxonomy's spelling
    assert ws_counts(data, azure)["uploaded"] == 1


# -- item 2: run from anywhere, config.py beside the script -----------------------------------------


def copy_tree(target: Path) -> Path:
    """The layout of an existing misp2sentinel install: /opt/m2s/script.py with its files beside it."""
    target.mkdir(parents=True)
    for name in ("script.py", "check-config.py", "delete-from-azure.py"):
        shutil.copy(ROOT / name, target / name)
    shutil.copytree(
        ROOT / "misp_bridge", target / "misp_bridge", ignore=shutil.ignore_patterns("__pycache__")
    )
    return target


def test_the_tools_find_config_beside_themselves_from_another_directory(
    tmp_path: Path, misp: MispSandbox, azure: AzureSandbox
) -> None:
    """`/opt/m2s/venv/bin/python /opt/m2s/script.py` from cron's working directory: exit 2 before."""
    seed(misp, [XORIST])
    opt = copy_tree(tmp_path / "opt" / "m2s")
    write_config(opt, misp, azure)  # state and log beside it, as the original's relative names
    elsewhere = tmp_path / "home"
    elsewhere.mkdir()

    def tool(name: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(opt / name), *args],
            cwd=elsewhere,
            env=tool_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    checked = tool("check-config.py", "--offline")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"settings from {opt / 'config.py'} (beside the command)" in checked.stdout

    synced = tool("script.py", "--no-progress")
    assert synced.returncode == 0, synced.stderr
    assert "Sync finished" in synced.stderr
    assert set(stored(azure)) == set(expected(opt / "config.py"))
    assert (opt / "state.db").is_file()
    assert list(elsewhere.iterdir()) == []  # nothing written where it was started

    deleted = tool("delete-from-azure.py", "--all", "--dry-run")
    assert deleted.returncode == 0, deleted.stderr
    assert "would revoke" in deleted.stdout


# -- item 3: one line about misp_verifycert = False per run -----------------------------------------


def test_verifycert_false_is_one_warning_line_per_run(
    tmp_path: Path, misp: MispSandbox, azure: AzureSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two warning lines on stderr and an InsecureRequestWarning per MISP request in the log before."""
    seed(misp, [XORIST])
    config = write_config(tmp_path, misp, azure, misp_verifycert=False)

    assert run(config) == 0

    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if "misp_verifycert" in line] == [
        "WARNING: config.py: misp_verifycert is False: TLS certificates are not checked"
    ]
    log = (tmp_path / "sync.log").read_text(encoding="utf-8")
    assert len([line for line in log.splitlines() if "misp_verifycert" in line]) == 1
    for noise in ("InsecureRequestWarning", "Unverified HTTPS request"):
        assert noise not in err + log


def test_a_cron_run_prints_only_that_line(tmp_path: Path, misp: MispSandbox, azure: AzureSandbox) -> None:
    """What cron would mail: with --quiet, a good run says only the one warning (a real process, stdin
    and stderr no terminal, Python's own warning machinery untouched)."""
    seed(misp, [XORIST])
    config = write_config(tmp_path, misp, azure, misp_verifycert=False)
    done = subprocess.run(
        [sys.executable, str(ROOT / "script.py"), "--config", str(config), "--quiet"],
        cwd=tmp_path,
        env=tool_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "WARNING: config.py: misp_verifycert is False: TLS certificates are not checked"
    ]


# -- item 4: delete-from-azure.py the way the original was run --------------------------------------


def test_delete_without_flags_says_what_to_run_instead() -> None:
    out, err = io.StringIO(), io.StringIO()
    code = delete_main([], env=Environment(stdout=out, stderr=err))
    assert code == 2
    [line] = err.getvalue().splitlines()
    assert line.startswith("delete-from-azure.py: error: say which indicators to revoke: --all, ")
    assert "--older-than DAYS or --uuid EVENT (add --dry-run to list them first)" in line
    assert "misp2sentinel's delete-from-azure.py, run without flags, revoked the 10 most recently" in line


# -- item 8: the summary and the log say how the run ended ------------------------------------------


def test_a_failed_run_says_so_in_the_summary_and_the_log(
    tmp_path: Path, misp: MispSandbox, azure: AzureSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    """ "Sync finished ..." at INFO, no exit code and a summary over several log lines on exit 4 before."""
    seed(misp, [XORIST])
    azure.sentinel.faults.statuses.extend([403] * 3)  # the app lost its role on the workspace
    config = write_config(tmp_path, misp, azure)

    assert run(config, "--json") == 4

    out, err = capsys.readouterr()
    meaning = "Sentinel, Entra ID or Key Vault unreachable or refused"
    [head] = [line for line in err.splitlines() if line.startswith("Sync ")]
    assert head.startswith("Sync FAILED in ")
    assert f"(exit 4: {meaning}): 1 events" in head
    data = summary_json(out)
    assert (data["exit_code"], data["result"]) == (4, "failed")

    lines = log_lines(tmp_path / "sync.log")
    assert all(LOG_RECORD.match(line) for line in lines), [x for x in lines if not LOG_RECORD.match(x)]
    summary = [line for line in lines if "Sync summary:" in line]
    assert len(summary) == 2  # the run, then the workspace: one line each
    assert all(" ERROR misp_bridge.sync: Sync summary: " in line for line in summary)
    assert "result=failed exit=4" in summary[0]
    assert f"workspace={azure.workspace_name} " in summary[1] and "error=" in summary[1]
    assert not [line for line in lines if " INFO " in line and ("finished" in line or "summary" in line)]
    assert lines[-1].endswith(f"ERROR misp_bridge.cli: script.py exit 4 ({meaning})")


def test_a_good_run_logs_its_exit_code_and_one_line_records(
    tmp_path: Path, misp: MispSandbox, azure: AzureSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(misp, [XORIST])
    config = write_config(tmp_path, misp, azure)
    assert run(config) == 0
    assert capsys.readouterr().err.startswith("Sync finished in ")
    lines = log_lines(tmp_path / "sync.log")
    assert all(LOG_RECORD.match(line) for line in lines)
    run_line = next(line.split(" INFO ")[1] for line in lines if "Sync summary:" in line)
    assert run_line.startswith(
        'misp_bridge.sync: Sync summary: result=ok exit=0 meaning="all done" dry_run=false'
    )
    assert lines[-1].endswith("INFO misp_bridge.cli: script.py exit 0 (all done)")


def test_a_run_stopped_before_the_summary_still_logs_its_exit_code(
    tmp_path: Path, misp: MispSandbox, azure: AzureSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, misp, azure)
    misp.app.faults.down = True  # MISP unreachable: exit 3
    assert run(config) == 3
    err = capsys.readouterr().err
    assert "Sync FAILED" in err and "(exit 3: MISP unreachable or refused)" in err
    assert log_lines(tmp_path / "sync.log")[-1].endswith("script.py exit 3 (MISP unreachable or refused)")


# -- item 6: the plugin's one line on stdout, and the files a run leaves ------------------------------


def plugin(misp: MispSandbox, spool: Path, *extra: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    argv = ["-u", misp.url, "-k", misp.key, "--ca-bundle", str(misp.ca_path), "--spool-dir", str(spool)]
    code = plugin_main([*argv, *extra], env=Environment(stdout=out, stderr=err))
    return code, out.getvalue(), err.getvalue()


def test_the_plugin_says_what_it_did_on_stdout_and_nothing_on_stderr(
    tmp_path: Path, misp: MispSandbox
) -> None:
    """Nothing at all on success before: what it did was only in its log."""
    spool = tmp_path / "spool"
    log = tmp_path / "pandora_to_misp.log"
    alert = ("-a", "web1", "-n", "SSH brute force", "-d", SSHD)

    code, out, err = plugin(misp, spool, *alert)
    assert (code, err) == (0, "")
    assert out.splitlines() == [f"pandora_to_misp.py: event created in MISP {misp.url} (log: {log})"]

    code, out, err = plugin(misp, spool, *alert)
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        f"pandora_to_misp.py: sighting added to the event of the same earlier alert in MISP {misp.url} "
        f"(log: {log})"
    ]

    misp.app.faults.down = True
    code, out, _ = plugin(misp, spool, *alert)
    assert code == 1
    assert out.splitlines() == [
        f"pandora_to_misp.py: MISP {misp.url} could not take the alert now; it is kept in the spool for the "
        f"next run (log: {log})"
    ]
    assert misp.key not in out


def test_gitignore_names_every_file_a_run_leaves(
    tmp_path: Path, misp: MispSandbox, azure: AzureSandbox
) -> None:
    """A run in a checkout leaves the state, its -wal/-shm/.lock, logs and debug files: none may show up
    as untracked (`/state.db*` was listed instead of misp2sentinel.db* before)."""
    seed(misp, [XORIST])
    values = settings_for(tmp_path, misp, azure, write_parsed_indicators=True, sentinel_write_response=True)
    del values["log_file"], values["state_file"]  # the defaults: beside config.py
    config = tmp_path / "config.py"
    config.write_text("".join(f"{k} = {v!r}\n" for k, v in values.items()), encoding="utf-8")
    config.chmod(0o600)
    assert run(config) == 0
    assert plugin(misp, tmp_path / "spool", "-a", "web1", "-n", "SSH brute force", "-d", SSHD)[0] == 0
    misp.app.faults.down = True  # and one alert left in the spool
    assert plugin(misp, tmp_path / "spool", "-a", "web2", "-n", "SSH brute force", "-d", SSHD)[0] == 1

    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert {"misp2sentinel.db", "misp2sentinel.log", "parsed_indicators.txt", "pandora_to_misp.log"} <= set(
        left
    )
    for name in left:
        ignored = subprocess.run(
            ["git", "check-ignore", "--no-index", "-q", name], cwd=ROOT, check=False, capture_output=True
        )
        assert ignored.returncode == 0, f"{name} would show up as untracked"
