"""Every setting range-checked, every command's error one line (finding 12).

Each hostile value below used to get through config loading and fail later: an OverflowError, a
misleading network error, a silently wider MISP search, an "unexpected" error, a secret printed in
repr form. Now each is refused up front with one line naming the setting and never its value.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from misp_bridge.cli import Environment
from misp_bridge.sync.delete_cli import main as delete_main
from tests.e2e.test_sync import XORIST, run, seed
from tests.fixtures.azure import AzureSandbox
from tests.fixtures.misp import MispSandbox
from tests.fixtures.sync_config import write_config

SECRET_TAIL = "s3cr3t-tail-after-the-newline"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("days_to_expire = 10**9", "days_to_expire must be 1..36500, got 1000000000"),
        ("days_to_expire_mapping = {'url': 10**9}", "days_to_expire_mapping['url'] must be 1..36500"),
        ("ms_timeout = float('nan')", "ms_timeout must be more than 0 and at most 3600 seconds, got nan"),
        ("misp_timeout = float('inf')", "misp_timeout must be more than 0 and at most 3600 seconds, got inf"),
        ("misp_event_filters = {'published': object()}", "misp_event_filters['published'] must be text"),
        ("ms_useragent = 'MISP-1.0\\r\\nX-Evil: 1'", "ms_useragent contains a line break"),
        (f"misp_key = 'first-line\\n{SECRET_TAIL}'", "misp_key contains a line break"),
        ("misp_event_limit_per_page = 10**9", "misp_event_limit_per_page must be 1..10000"),
        ("timeframe_toids_change = '99999999999999d'", "timeframe_toids_change must be at most ten years"),
        ("state_file = 'state\\x00.db'", "state_file contains a line break, tab or other control character"),
        ("misp_domain = 'https://misp.example\\n'", "misp_domain must be a URL without spaces"),
        ("key_vault_name = 'my vault!'", "key_vault_name must be a Key Vault name"),
    ],
    ids=[
        "days-overflow",
        "mapping-overflow",
        "timeout-nan",
        "timeout-inf",
        "filter-object",
        "user-agent-newline",
        "key-newline",
        "page-size",
        "timeframe",
        "path-nul",
        "url-newline",
        "vault-name",
    ],
)
def test_a_hostile_setting_is_one_line_naming_it(
    tmp_path: Path,
    misp: MispSandbox,
    azure: AzureSandbox,
    capsys: pytest.CaptureFixture[str],
    line: str,
    expected: str,
) -> None:
    seed(misp, [XORIST])
    config = write_config(tmp_path, misp, azure)
    config.write_text(config.read_text(encoding="utf-8") + line + "\n", encoding="utf-8")

    code = run(config)

    err = capsys.readouterr().err
    assert code == 2, err
    assert f"config.py: {expected}" in err
    assert all(text.startswith(("ERROR: ", "WARNING: ")) for text in err.strip().splitlines()), err
    assert "Traceback" not in err and "unexpected" not in err
    assert SECRET_TAIL not in err and "first-line" not in err
    assert azure.sentinel.upload_requests == []


@pytest.mark.parametrize("days", ["1000000000000", "36501", "-1"])
def test_delete_older_than_out_of_range_is_one_line(
    tmp_path: Path, azure: AzureSandbox, misp: MispSandbox, days: str
) -> None:
    """`--older-than 1000000000000` ended in a 14-line traceback."""
    out, err = io.StringIO(), io.StringIO()
    config = write_config(tmp_path, misp, azure)

    code = delete_main(
        ["--config", str(config), "--older-than", days, "--yes"], env=Environment(stdout=out, stderr=err)
    )

    assert code == 2
    assert (
        err.getvalue()
        == "delete-from-azure.py: error: --older-than needs a number of days from 0 to 36500.\n"
    )


def test_pymisp_server_error_dump_stays_out_of_stderr(
    tmp_path: Path, misp: MispSandbox, azure: AzureSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    """PyMISP logs a multi-line dump (request headers and body) on every 5xx; it reaches the log file
    only, cut short and masked, while stderr gets the sync's one line."""
    seed(misp, [XORIST])
    config = write_config(tmp_path, misp, azure)
    misp.app.faults.only = "restSearch"
    misp.app.faults.statuses.append(500)

    assert run(config) == 3

    err = capsys.readouterr().err
    error = f"ERROR: MISP at {misp.url} failed with a server error while the events search (page 1)"
    assert error in err.splitlines()
    assert "Something is broken server-side" not in err and "Request headers" not in err
    log = (tmp_path / "sync.log").read_text(encoding="utf-8")
    assert "Something is broken server-side" in log
    assert misp.key not in log
