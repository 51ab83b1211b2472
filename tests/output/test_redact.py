"""What the tools write: secrets masked in every form, control characters escaped, one record one line."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from urllib.parse import quote

import pytest

from misp_bridge.output import logs
from misp_bridge.output.redact import MASK, clean, escape_controls, redact, register_secret

KEY = "k3y-with\nnewline-0123456789abcdef"


@pytest.mark.parametrize(
    "shown",
    [
        pytest.param(KEY, id="as-is"),
        pytest.param(repr(KEY), id="repr"),
        pytest.param(json.dumps({"key": KEY}), id="json"),
        pytest.param(f"https://misp/?key={quote(KEY, safe='')}", id="url-encoded"),
    ],
)
def test_a_registered_secret_is_masked_in_every_form(shown: str) -> None:
    register_secret(KEY)
    text = clean(f"before {shown} after")
    assert "newline-0123456789abcdef" not in text
    assert MASK in text


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        pytest.param("GET https://bob:s3cr3t-pass@misp.example/x", "s3cr3t-pass", id="url-password"),
        pytest.param(
            "{'Authorization': 'abcdefabcdef0123456789'}", "abcdefabcdef0123456789", id="auth-header"
        ),
        pytest.param("Authorization: Bearer eyJ0eXAi.eyJzdWIi.c2ln", "eyJ0eXAi.eyJzdWIi.c2ln", id="bearer"),
    ],
)
def test_credentials_nobody_registered_are_masked_too(text: str, hidden: str) -> None:
    assert hidden not in redact(text)


def test_url_without_credentials_is_left_alone() -> None:
    assert (
        redact("see https://misp.example:8443/events/view/1") == "see https://misp.example:8443/events/view/1"
    )


def test_controls_become_visible_escapes_and_tabs_stay() -> None:
    assert escape_controls("a\nb\rc\x1b[31md\x00e\tf\x9bg") == "a\\nb\\rc\\x1b[31md\\x00e\tf\\x9bg"


def test_a_forged_log_line_stays_inside_its_record(tmp_path: Path) -> None:
    log_file = tmp_path / "tool.log"
    logger = logs.configure(log_file)
    logger.getChild("t").warning("alert from %s", "web1\nINFO misp_bridge: Done: 1 created\x1b[2J")
    for handler in logger.handlers:
        handler.flush()
    lines = log_file.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    assert "\\nINFO misp_bridge: Done: 1 created\\x1b[2J" in lines[0]


def test_pymisp_records_reach_the_log_file_only_masked_and_cut(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    register_secret("pymisp-test-key-0123456789")
    log_file = tmp_path / "tool.log"
    logs.configure(log_file)
    body = "x" * 10_000
    logging.getLogger("pymisp").critical(
        "Something went wrong: {'Authorization': 'pymisp-test-key-0123456789'} %s", body
    )
    for handler in logging.getLogger("pymisp").handlers:
        handler.flush()
    assert capsys.readouterr().err == ""
    text = log_file.read_text(encoding="utf-8")
    assert "pymisp-test-key-0123456789" not in text
    assert len(text.splitlines()) == 1 and "more characters)" in text and len(text) < 2500


def test_the_log_file_is_private_and_never_written_through_a_link(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log_file = tmp_path / "tool.log"
    logs.configure(log_file).info("hello")
    assert log_file.stat().st_mode & 0o777 == 0o600
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n", encoding="utf-8")
    link = tmp_path / "link.log"
    link.symlink_to(victim)
    logs.configure(link).warning("written somewhere")
    assert victim.read_text(encoding="utf-8") == "keep me\n"
    assert "cannot write the log file" in capsys.readouterr().err
