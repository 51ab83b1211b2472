"""The spool: records written locked and private, claimed one run at a time, trusted only when ours."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from misp_bridge.errors import SpoolError
from misp_bridge.pandora.spool import AlertFields, Spool, SpoolRecord, normalise_url

NOW = 1_700_000_000.0


def record(first_seen: float = NOW, data: str = "x") -> SpoolRecord:
    return SpoolRecord(misp_url="https://m", first_seen=first_seen, alert=AlertFields("web1", "SSH", data))


def spool_at(path: Path) -> Spool:
    spool = Spool(path, clock=lambda: NOW)
    spool.ensure()
    return spool


def test_write_makes_one_private_file_and_no_temp(tmp_path: Path) -> None:
    spool = spool_at(tmp_path / "spool")
    held = spool.write(record())
    assert stat.S_IMODE(held.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(spool.directory.stat().st_mode) == 0o700
    assert [p.name for p in spool.directory.iterdir()] == [held.path.name]
    read = spool.read(held)
    assert (read.alert, read.misp_url, read.first_seen, read.attempts) == (
        record().alert,
        "https://m",
        NOW,
        0,
    )
    assert "key" not in held.path.read_text()


def test_a_held_record_cannot_be_claimed_by_another_run(tmp_path: Path) -> None:
    spool = spool_at(tmp_path)
    held = spool.write(record())
    assert spool.claim(held.path) is None  # locked before its name appeared
    held.close()
    again = spool.claim(held.path)
    assert again is not None
    spool.done(again)
    assert spool.pending() == []


def test_pending_is_oldest_first_and_skips_symlinks(tmp_path: Path) -> None:
    spool = spool_at(tmp_path)
    for seen in (30.0, 10.0, 20.0):
        spool.write(record(seen)).close()
    (tmp_path / "000000000000001-link.json").symlink_to(tmp_path / "elsewhere.json")
    names = [p.name[:15] for p in spool.pending()]
    assert names == ["000000000010000", "000000000020000", "000000000030000"]


def test_update_keeps_the_lock(tmp_path: Path) -> None:
    spool = spool_at(tmp_path)
    held = spool.write(record())
    first = spool.read(held)
    spool.update(held, first.__class__(**{**first.__dict__, "attempts": 3}))
    assert spool.claim(held.path) is None
    assert spool.read(held).attempts == 3


def test_fail_moves_with_the_reason(tmp_path: Path) -> None:
    spool = spool_at(tmp_path)
    held = spool.write(record())
    target = spool.fail(held, "MISP refused the event (HTTP 403): Could not add Event.", spool.read(held))
    assert spool.pending() == []
    assert json.loads(target.read_text())["failed_reason"].startswith("MISP refused")


def test_unreadable_file_moves_as_is(tmp_path: Path) -> None:
    spool = spool_at(tmp_path)
    bad = tmp_path / "000000000000001-bad.json"
    bad.write_text("{not json")
    held = spool.claim(bad)
    assert held is not None
    with pytest.raises(SpoolError, match="cannot be read as a spooled alert"):
        spool.read(held)
    target = spool.fail(held, "cannot be read")
    assert target.read_text() == "{not json"
    assert (target.parent / (target.name + ".reason")).read_text().strip() == "cannot be read"


def test_a_symlinked_reason_file_is_replaced_not_followed(tmp_path: Path) -> None:
    """Issue 8, finding 12: a symlink at failed/<name>.reason made the plugin overwrite its target."""
    spool = spool_at(tmp_path / "spool")
    victim = tmp_path / "victim"
    victim.write_text("root's file\n")
    bad = spool.directory / "000000000000001-bad.json"
    bad.write_text("{not json")
    spool.failed_dir.mkdir(mode=0o700)
    (spool.failed_dir / (bad.name + ".reason")).symlink_to(victim)
    held = spool.claim(bad)
    assert held is not None
    spool.fail(held, "cannot be read")
    assert victim.read_text() == "root's file\n"
    assert not (spool.failed_dir / (bad.name + ".reason")).is_symlink()


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o722], ids=["world", "group", "others-write"])
def test_a_spool_others_can_write_is_refused(tmp_path: Path, mode: int) -> None:
    directory = tmp_path / "spool"
    directory.mkdir()
    os.chmod(directory, mode)
    with pytest.raises(SpoolError, match="can be written by other users"):
        spool_at(directory)


def test_a_symlinked_spool_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    (tmp_path / "spool").symlink_to(real)
    with pytest.raises(SpoolError, match="not a directory"):
        spool_at(tmp_path / "spool")


def test_a_regular_file_where_the_spool_should_be(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(SpoolError, match="cannot be created"):
        spool_at(tmp_path / "file" / "spool")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://misp.example/", "https://misp.example"),
        ("HTTPS://MISP.Example:443", "https://misp.example"),
        ("https://user:secret@misp.example:8443/misp/", "https://misp.example:8443/misp"),
        ("http://[2001:db8::1]:80/", "http://[2001:db8::1]"),
    ],
)
def test_urls_are_normalised_without_credentials(given: str, expected: str) -> None:
    assert normalise_url(given) == expected


def test_a_record_of_the_earlier_format_still_loads(tmp_path: Path) -> None:
    spool = spool_at(tmp_path)
    old = tmp_path / "000000000000001-old.json"
    old.write_text(json.dumps({"event": {"uuid": "u", "info": "i"}, "misp_url": "https://m/",
                               "first_seen": 1.0, "attempts": 2, "attacker_ip": None}))  # fmt: skip
    held = spool.claim(old)
    assert held is not None
    loaded = spool.read(held)
    assert (loaded.event, loaded.alert, loaded.misp_url) == ({"uuid": "u", "info": "i"}, None, "https://m")
