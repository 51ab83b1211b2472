"""tools/azurite/install.sh (run by `make test`): it never fails the build, and when it cannot install
Azurite it says why in one line (the tests that need Azurite then skip with that reason)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def copy_of_the_installer(root: Path) -> Path:
    """The installer in a tree of its own: it installs into <root>/.tools/azurite, never the repository's."""
    (root / "tools").mkdir(parents=True)
    shutil.copytree(REPO / "tools" / "azurite", root / "tools" / "azurite")
    return root / "tools" / "azurite" / "install.sh"


def fake(bin_dir: Path, name: str, script: str) -> None:
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)


TOOLS = ("sh", "dirname", "cmp", "mkdir", "cp", "grep", "sed", "rm")


def plain_bin(directory: Path) -> Path:
    """A PATH directory with the script's tools and nothing else (no node, no npm)."""
    directory.mkdir()
    for tool in TOOLS:
        found = shutil.which(tool)
        assert found is not None, tool
        (directory / tool).symlink_to(found)
    return directory


def run(script: Path, path: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(script)], capture_output=True, text=True, env={"PATH": path}, check=False, timeout=60
    )


@pytest.mark.skipif(os.name != "posix", reason="a POSIX shell script")
def test_without_npm_it_says_so_in_one_line(tmp_path: Path) -> None:
    script = copy_of_the_installer(tmp_path / "tree")
    done = run(script, str(plain_bin(tmp_path / "bin")))
    assert done.returncode == 0
    assert done.stderr.splitlines() == [
        "azurite: not installed: node and npm are not on PATH (the Table-state and Function tests will skip)"
    ]
    assert not (tmp_path / "tree" / ".tools" / "azurite" / "node_modules").exists()


@pytest.mark.skipif(os.name != "posix", reason="a POSIX shell script")
def test_a_failed_npm_install_says_why_in_one_line(tmp_path: Path) -> None:
    script = copy_of_the_installer(tmp_path / "tree")
    bin_dir = plain_bin(tmp_path / "bin")
    fake(bin_dir, "node", "exit 0")
    fake(
        bin_dir,
        "npm",
        'echo "npm error code ENOTFOUND" >&2; '
        'echo "npm error request to https://registry.npmjs.org/azurite failed" >&2; exit 1',
    )
    done = run(script, str(bin_dir))
    assert done.returncode == 0
    assert done.stderr.splitlines() == [
        "azurite: not installed: npm ci failed (code ENOTFOUND); the Table-state and Function tests will skip"
    ]
    # The next `make` tries again (the lock file copy that marks an install is removed).
    assert not (tmp_path / "tree" / ".tools" / "azurite" / "package-lock.json").exists()
