"""The plugin-only install of docs/pandora.md, done for real (item 7): the files the doc says to copy, a
fresh virtual environment of this Python with requirements-plugin.txt and nothing else, then `--dry-run`
and one real alert against the MISP sandbox from that copy. pip's cache makes the install take seconds;
it needs the package index (or a cache that has the pinned versions)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.misp import MispSandbox

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "pandora.md"


def install_commands() -> list[list[str]]:
    """The indented command lines of the guide's "Install on the Pandora server" section."""
    section = GUIDE.read_text(encoding="utf-8").split("## Install on the Pandora server", 1)[1]
    section = section.split("\n## ", 1)[0]
    return [shlex.split(line) for line in section.splitlines() if line.startswith("    ")]


def test_the_guide_copies_the_plugin_and_its_requirements_file() -> None:
    commands = install_commands()
    copy = next(c for c in commands if c[:2] == ["cp", "-r"])
    assert copy[2:-1] == ["pandora_to_misp.py", "misp_bridge", "requirements-plugin.txt"]
    pip = next(c for c in commands if c[0].endswith("/bin/pip"))
    assert pip[1:] == ["install", "-r", copy[-1].rstrip("/") + "/requirements-plugin.txt"]
    assert any(c[:2] == ["python3", "-m"] and c[2] == "venv" for c in commands)
    dry_run = next(c for c in commands if "--dry-run" in c)
    assert dry_run[:3] == ["sudo", "-u", "pandora"] and dry_run[3] == pip[0].replace("/pip", "/python")
    assert dry_run[4] == copy[-1].rstrip("/") + "/pandora_to_misp.py"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the venv's python, the plugin directory), made as the guide says with this test run's Python."""
    base = tmp_path_factory.mktemp("plugin-install")
    commands = install_commands()
    copy = next(c for c in commands if c[:2] == ["cp", "-r"])
    plugin_dir = base / "plugin"
    plugin_dir.mkdir()
    for name in copy[2:-1]:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, plugin_dir / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, plugin_dir / name)
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    done = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "-r", str(plugin_dir / "requirements-plugin.txt")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=pip_env(),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return venv / "bin" / "python", plugin_dir


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    return {**env, **extra}


def test_the_sync_stack_is_not_installed(installed: tuple[Path, Path]) -> None:
    python, _ = installed
    for module in ("msal", "azure.identity", "stix2", "tqdm"):
        probe = subprocess.run([str(python), "-c", f"import {module}"], capture_output=True, check=False)
        assert probe.returncode != 0, f"{module} came with requirements-plugin.txt"


def test_dry_run_from_the_copy(installed: tuple[Path, Path], tmp_path: Path) -> None:
    python, plugin_dir = installed
    done = subprocess.run(
        [str(python), str(plugin_dir / "pandora_to_misp.py"), "--dry-run", "-a", "web01", "-n",
         "SSH brute force", "-d", "Failed password for root from 198.51.100.23 port 52114 ssh2"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False, env=clean_env(),
    )  # fmt: skip
    assert (done.returncode, done.stderr) == (0, "")
    assert '"value": "198.51.100.23"' in done.stdout
    assert re.search(r'"info": "Pandora FMS: SSH brute force on web01 from 198.51.100.23"', done.stdout)


def test_an_alert_reaches_misp_from_the_copy(
    installed: tuple[Path, Path], tmp_path: Path, misp: MispSandbox
) -> None:
    python, plugin_dir = installed
    key_file = tmp_path / "misp.key"
    key_file.write_text(misp.key + "\n", encoding="utf-8")
    key_file.chmod(0o600)
    done = subprocess.run(
        [str(python), str(plugin_dir / "pandora_to_misp.py"), "-u", misp.url, "--key-file", str(key_file),
         "--ca-bundle", str(misp.ca_path), "--spool-dir", str(tmp_path / "spool"), "-a", "web01", "-n",
         "SSH brute force", "-d", "Failed password for root from 198.51.100.23 port 52114 ssh2"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False, env=clean_env(),
    )  # fmt: skip
    assert (done.returncode, done.stderr) == (0, ""), done.stdout
    assert done.stdout.startswith(f"pandora_to_misp.py: event created in MISP {misp.url}")
    assert [event["info"] for event in misp.app.events()] == [
        "Pandora FMS: SSH brute force on web01 from 198.51.100.23"
    ]


def pip_env() -> dict[str, str]:
    """pip's environment: without the sandbox CA the test session points requests at (PyPI's
    certificate is not the sandbox's)."""
    dropped = ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE", "PYTHONPATH", "VIRTUAL_ENV")
    return {k: v for k, v in os.environ.items() if k not in dropped}
