"""Private files: 0600, never through a symlink, atomic replacement, existing files tightened."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from misp_bridge.output.files import UnsafePath, ensure_private_dir, open_private, open_text, write_atomic


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_new_files_are_owner_only(tmp_path: Path) -> None:
    os.close(open_private(tmp_path / "new"))
    assert mode(tmp_path / "new") == 0o600


def test_an_existing_readable_file_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "old"
    path.write_text("x", encoding="utf-8")
    path.chmod(0o644)
    with open_text(path) as handle:
        handle.write("y")
    assert mode(path) == 0o600
    assert path.read_text(encoding="utf-8") == "xy"


def test_a_symlink_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_text("precious", encoding="utf-8")
    (tmp_path / "link").symlink_to(target)
    with pytest.raises(UnsafePath, match="symbolic link"):
        open_text(tmp_path / "link", "w")
    assert target.read_text(encoding="utf-8") == "precious"


def test_exclusive_refuses_an_existing_file(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("", encoding="utf-8")
    with pytest.raises(FileExistsError):
        open_private(tmp_path / "taken", exclusive=True)


def test_write_atomic_replaces_a_link_instead_of_following_it(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_text("precious", encoding="utf-8")
    link = tmp_path / "data.json"
    link.symlink_to(target)
    write_atomic(link, b'{"a": 1}')
    assert not link.is_symlink() and link.read_bytes() == b'{"a": 1}' and mode(link) == 0o600
    assert target.read_text(encoding="utf-8") == "precious"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_truncating_happens_after_the_checks(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text("old content", encoding="utf-8")
    with open_text(path, "w") as handle:
        handle.write("new")
    assert path.read_text(encoding="utf-8") == "new"


def test_a_fifo_is_not_a_file(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(UnsafePath):
        os.close(open_private(tmp_path / "pipe", os.O_RDWR | os.O_CREAT))


def test_private_dirs(tmp_path: Path) -> None:
    ensure_private_dir(tmp_path / "a" / "b")
    assert mode(tmp_path / "a" / "b") == 0o700
