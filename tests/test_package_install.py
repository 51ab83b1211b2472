"""`pip install .` gives the four commands, and installed they find their settings as the docs say: a
config.py in the working directory or given with --config, the constants built into the package.

The package is built from a copy of the tree (pip builds in place, and the checkout must stay clean)
into a fresh virtual environment of this Python; its dependencies are this test run's own (a .pth file
points at them), so only the project itself is installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from misp_bridge import __version__
from tests.e2e.test_sync import XORIST, seed
from tests.fixtures.azure import AzureSandbox
from tests.fixtures.misp import MispSandbox
from tests.fixtures.sync_config import write_config

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ("misp2sentinel", "misp2sentinel-check-config", "misp2sentinel-delete", "pandora-to-misp")


@pytest.fixture(scope="module")
def bin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("package")
    tree = base / "tree"
    tree.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tree / name)
    shutil.copytree(ROOT / "misp_bridge", tree / "misp_bridge", ignore=shutil.ignore_patterns("__pycache__"))
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "test-run-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    done = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "--no-deps", str(tree)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=pip_env(),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return venv / "bin"


def command(bin_dir: Path, name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHONPATH", "VIRTUAL_ENV"))}
    return subprocess.run(
        [str(bin_dir / name), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("name", COMMANDS)
def test_each_command_is_installed(bin_dir: Path, name: str, tmp_path: Path) -> None:
    done = command(bin_dir, name, "--version", cwd=tmp_path)
    assert (done.returncode, done.stdout.strip()) == (0, f"{name} (misp-bridge) {__version__}")
    assert f"  {name} " in command(bin_dir, name, "--help", cwd=tmp_path).stdout  # examples under its name


def test_installed_sync_reads_the_config_here_and_the_built_in_constants(
    bin_dir: Path, tmp_path: Path, misp: MispSandbox, azure: AzureSandbox
) -> None:
    seed(misp, [XORIST])
    write_config(tmp_path, misp, azure)

    checked = command(bin_dir, "misp2sentinel-check-config", "--offline", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert (
        f"settings from {tmp_path / 'config.py'} (the current directory); built-in constants"
        in checked.stdout
    )

    synced = command(bin_dir, "misp2sentinel", "--quiet", cwd=tmp_path)
    assert (synced.returncode, synced.stderr) == (0, "")
    assert len(azure.sentinel.objects(azure.workspace_id)) == 5

    deleted = command(bin_dir, "misp2sentinel-delete", cwd=tmp_path)
    assert deleted.returncode == 2
    assert deleted.stderr.startswith("misp2sentinel-delete: error: say which indicators to revoke")


def test_installed_plugin_previews_an_alert(bin_dir: Path, tmp_path: Path) -> None:
    done = command(
        bin_dir, "pandora-to-misp", "--dry-run", "-a", "web01", "-n", "SSH brute force", "-d",
        "Failed password for root from 198.51.100.23 port 52114 ssh2", cwd=tmp_path,
    )  # fmt: skip
    assert (done.returncode, done.stderr) == (0, "")
    assert '"value": "198.51.100.23"' in done.stdout


def pip_env() -> dict[str, str]:
    """pip's environment: without the sandbox CA the test session points requests at (PyPI's
    certificate is not the sandbox's)."""
    dropped = ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE", "PYTHONPATH", "VIRTUAL_ENV")
    return {k: v for k, v in os.environ.items() if k not in dropped}
