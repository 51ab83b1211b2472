"""Files the sync writes are owner-only and never written through a symbolic link (finding 11).

The lock file, the state file (and SQLite's -wal/-shm beside it), parsed_indicators.txt,
sentinel_response.txt and the log all go through misp_bridge/output/files.py.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from misp_bridge.errors import StateError
from misp_bridge.sync.state.store import State
from tests.e2e.test_sync import XORIST, run, seed
from tests.fixtures.azure import AzureSandbox
from tests.fixtures.misp import MispSandbox
from tests.fixtures.sync_config import write_config

WS = "11111111-1111-1111-1111-111111111111"
PRECIOUS = "someone else's data\n"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    target = tmp_path / "elsewhere" / "precious.txt"
    target.parent.mkdir()
    target.write_text(PRECIOUS, encoding="utf-8")
    target.chmod(0o644)
    return target


def test_the_lock_file_is_never_opened_through_a_symlink(tmp_path: Path, victim: Path) -> None:
    """The lock file followed a symlink and truncated its target to write the pid."""
    path = tmp_path / "state.db"
    (tmp_path / "state.db.lock").symlink_to(victim)
    with (
        State.open(path) as state,
        pytest.raises(StateError, match="is a symbolic link; refusing"),
        state.lock(wait=0),
    ):
        pass
    assert victim.read_text(encoding="utf-8") == PRECIOUS
    assert mode(victim) == 0o644


def test_a_dry_run_leaves_a_symlinked_lock_target_alone(
    tmp_path: Path, misp: MispSandbox, azure: AzureSandbox, victim: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(misp, [XORIST])
    config = write_config(tmp_path, misp, azure)
    (tmp_path / "state.db.lock").symlink_to(victim)

    assert run(config, "--dry-run") == 2

    assert victim.read_text(encoding="utf-8") == PRECIOUS
    err = capsys.readouterr().err
    assert "state.db.lock is a symbolic link; refusing to write through it" in err
    assert len(err.strip().splitlines()) == 1


def test_state_lock_and_wal_files_are_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.touch(mode=0o644)
    path.chmod(0o644)  # an existing state file others can read
    with State.open(path) as state, state.lock():
        state.add_pending(WS, [])
        state.start_run("sync")
        assert mode(path) == 0o600
        for companion in ("state.db-wal", "state.db-shm", "state.db.lock"):
            assert mode(tmp_path / companion) == 0o600, companion


def test_a_symlinked_state_file_is_refused(tmp_path: Path, victim: Path) -> None:
    (tmp_path / "state.db").symlink_to(victim)
    with pytest.raises(StateError, match="is a symbolic link"):
        State.open(tmp_path / "state.db")
    assert victim.read_text(encoding="utf-8") == PRECIOUS


def test_parsed_indicators_response_log_and_log_are_owner_only(
    tmp_path: Path, misp: MispSandbox, azure: AzureSandbox
) -> None:
    seed(misp, [XORIST])
    parsed = tmp_path / "parsed_indicators.txt"
    parsed.write_text("old\n", encoding="utf-8")
    parsed.chmod(0o644)
    config = write_config(tmp_path, misp, azure, write_parsed_indicators=True, sentinel_write_response=True)
    old_umask = os.umask(0o022)
    try:
        assert run(config) == 0
    finally:
        os.umask(old_umask)
    for name in ("parsed_indicators.txt", "sentinel_response.txt", "sync.log", "state.db"):
        assert mode(tmp_path / name) == 0o600, name
    assert "old" not in parsed.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["parsed_indicators.txt", "sentinel_response.txt"])
def test_a_symlinked_output_file_is_refused_in_one_line(
    tmp_path: Path,
    misp: MispSandbox,
    azure: AzureSandbox,
    victim: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
) -> None:
    seed(misp, [XORIST])
    config = write_config(tmp_path, misp, azure, write_parsed_indicators=True, sentinel_write_response=True)
    (tmp_path / name).symlink_to(victim)

    assert run(config) == 2

    assert victim.read_text(encoding="utf-8") == PRECIOUS
    err = capsys.readouterr().err
    assert f"{name} cannot be written: is a symbolic link; refusing to write through it" in err
    assert "Traceback" not in err
