"""Where settings come from (items 2 and 11): the config.py / constants.py lookup, systemd's state and log
directories as defaults, and which file modes count as too open for a config.py holding secrets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from misp_bridge.config import inspect_config
from misp_bridge.config import load as load_module
from misp_bridge.config.locate import Lookup
from misp_bridge.errors import ConfigFileError

MINIMAL = """
ms_auth = {"tenant": "contoso.onmicrosoft.com", "client_id": "0c1e5a7b-2d3f-4a6b-8c9d-1e2f3a4b5c6d",
           "client_secret": "lookup-secret", "workspace_id": "2a4b6c8d-1e3f-4a5b-9c7d-0e1f2a3b4c5d"}
misp_key = "lookup-misp-key"
misp_domain = "https://misp.example.com"
"""


def place(directory: Path, name: str = "config.py", body: str = MINIMAL) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(body, encoding="utf-8")
    path.chmod(0o600)
    return path


def test_config_order_flag_then_cwd_then_beside_the_command(tmp_path: Path) -> None:
    cwd, command, other = tmp_path / "cwd", tmp_path / "opt" / "m2s", tmp_path / "etc"
    beside = place(command)
    lookup = Lookup(cwd=cwd, command_dir=command)
    cwd.mkdir()
    assert lookup.config(None).path == beside
    assert lookup.config(None).how == "beside the command"
    here = place(cwd)
    assert (lookup.config(None).path, lookup.config(None).how) == (here, "the current directory")
    given = place(other)
    assert (lookup.config(given).path, lookup.config(given).how) == (given, "--config")
    assert lookup.config(Path("../etc/config.py")).path == given  # relative to the working directory


def test_a_missing_config_names_every_place_looked_at(tmp_path: Path) -> None:
    lookup = Lookup(cwd=tmp_path / "cwd", command_dir=tmp_path / "opt")
    with pytest.raises(ConfigFileError) as err:
        lookup.config(None)
    cwd, opt = tmp_path / "cwd" / "config.py", tmp_path / "opt" / "config.py"
    assert str(err.value) == (
        f"config.py not found: looked for {cwd} and {opt}; copy config.py.default or pass --config PATH"
    )
    with pytest.raises(ConfigFileError, match=r"config.py not found at .*/nowhere.py \(--config\)"):
        lookup.config(tmp_path / "nowhere.py")


def test_constants_order_beside_config_then_cwd_then_command_then_built_in(tmp_path: Path) -> None:
    cwd, command, etc = tmp_path / "cwd", tmp_path / "opt", tmp_path / "etc"
    config = place(etc)
    lookup = Lookup(cwd=cwd, command_dir=command)
    cwd.mkdir()
    assert lookup.constants(etc) is None
    in_command = place(command, "constants.py", "SENTINEL_DEFAULT_THREATTYPE = 'Botnet'\n")
    assert lookup.constants(etc) is not None and lookup.constants(etc).path == in_command  # type: ignore[union-attr]
    place(cwd, "constants.py", "SENTINEL_DEFAULT_THREATTYPE = 'Phishing'\n")
    settings, _ = inspect_config(config, env={}, lookup=lookup)
    assert settings is not None and settings.sentinel_default_threattype == "Phishing"
    place(etc, "constants.py", "SENTINEL_DEFAULT_THREATTYPE = 'Malware'\n")
    settings, _ = inspect_config(config, env={}, lookup=lookup)
    assert settings is not None and settings.sentinel_default_threattype == "Malware"
    assert settings.constants_path == etc / "constants.py"


def test_systemd_directories_hold_the_state_and_the_log_by_default(tmp_path: Path) -> None:
    config = place(tmp_path / "etc")
    env = {"STATE_DIRECTORY": "/var/lib/misp-bridge", "LOGS_DIRECTORY": "/var/log/misp-bridge:/other"}
    settings, _ = inspect_config(config, env=env, check_files=False)
    assert settings is not None
    assert settings.state_file == Path("/var/lib/misp-bridge/misp2sentinel.db")
    assert settings.log_file == Path("/var/log/misp-bridge/misp2sentinel.log")
    assert settings.work_dir == Path("/var/lib/misp-bridge")
    # Without them, the defaults sit beside config.py; a setting in config.py always wins.
    plain, _ = inspect_config(config, env={}, check_files=False)
    assert plain is not None and plain.state_file == tmp_path / "etc" / "misp2sentinel.db"
    explicit = place(tmp_path / "etc2", body=MINIMAL + "state_file = 'here.db'\n")
    chosen, _ = inspect_config(explicit, env=env, check_files=False)
    assert chosen is not None and chosen.state_file == tmp_path / "etc2" / "here.db"


MODES = [
    # mode, accounts of the file's group besides its owner, warned?
    (0o600, set(), False),
    (0o640, {"misp-bridge"}, False),  # root:misp-bridge, read by the service account alone
    (0o640, set(), False),
    (0o640, {"misp-bridge", "alice"}, True),
    (0o644, {"misp-bridge"}, True),  # others
    (0o604, set(), True),
]


@pytest.mark.parametrize(("mode", "members", "warned"), MODES)
def test_group_readable_config_is_fine_for_one_service_account(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: int, members: set[str], warned: bool
) -> None:
    owner = load_module._owner_name(os.geteuid())
    monkeypatch.setattr(load_module, "group_accounts", lambda gid: members | {owner})
    config = place(tmp_path)
    config.chmod(mode)
    _, issues = inspect_config(config, env={})
    found = [str(issue) for issue in issues if "holds secrets" in str(issue)]
    assert bool(found) == warned, found
    if warned and mode & 0o007:
        assert found == [
            f"config.py is readable by others (mode {mode:o}) and holds secrets; run chmod 600 {config}"
        ]
    elif warned:
        assert found[0].startswith(
            "config.py is readable by its group (2 accounts besides its owner: alice, "
        )
