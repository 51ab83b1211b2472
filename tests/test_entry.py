"""What every tool shares at the door (items 10 and 7): --version, examples and exit codes in --help, the
plugin's options explained with their defaults, check-config's --verbose, the top-level scripts and the
console scripts starting their tool, and a missing Python module said in one line."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from misp_bridge import __version__
from misp_bridge.checkconfig.cli import main as check_main
from misp_bridge.cli import Environment
from misp_bridge.pandora.cli import main as plugin_main
from misp_bridge.sync.cli import main as sync_main
from misp_bridge.sync.delete_cli import main as delete_main

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
Main = Callable[..., int]
# Tool -> its main() and the exit codes its help must explain (docs/architecture.md "Exit codes").
TOOLS: dict[str, tuple[Main, tuple[int, ...]]] = {
    "script.py": (sync_main, (0, 1, 2, 3, 4, 5)),
    "check-config.py": (check_main, (0, 1, 2)),
    "delete-from-azure.py": (delete_main, (0, 1, 2, 4, 5)),
    "pandora_to_misp.py": (plugin_main, (0, 1, 2)),
}


def run(main: Main, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), env=Environment(stdout=out, stderr=err, env={}))
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("tool", list(TOOLS))
def test_every_tool_has_version_examples_and_exit_codes(tool: str) -> None:
    main, numbers = TOOLS[tool]
    code, out, err = run(main, "--version")
    assert (code, out.strip(), err) == (0, f"{tool} (misp-bridge) {__version__}", "")

    code, out, _ = run(main, "--help")
    assert code == 0
    assert "--version" in out
    examples = out.split("examples:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert len(examples) >= 3 and all(line.startswith(f"  {tool}") for line in examples), examples
    codes = out.split("exit codes:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert [line.split()[0] for line in codes] == [str(n) for n in numbers]
    assert all(len(line.split()) > 2 for line in codes)  # each code with its meaning


def help_of(main: Main) -> str:
    return run(main, "--help")[1]


def option_help(text: str, option: str) -> str:
    """The help text of one option, its wrapped lines joined."""
    lines = text.split("options:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    # "-t TLP, --tlp TLP" before Python 3.13, "-t, --tlp TLP" since: match the flag alone.
    start = next(i for i, line in enumerate(lines) if line.lstrip().split(" ")[0].rstrip(",") == option)
    found = [lines[start]]
    for line in lines[start + 1 :]:
        if line.startswith("  -"):
            break
        found.append(line)
    return " ".join(" ".join(found).split())


@pytest.mark.parametrize(
    ("option", "words"),
    [
        ("-t", ["tlp:amber+strict", "default tlp:green"]),
        ("-c", ["Network activity", "default: what the triage rules say"]),
        ("-s", ["default 0"]),
        ("-g", ["comma-separated", "repeatable"]),
        ("--dedup-hours", ["default 24"]),
        ("--timeout", ["default 10"]),
        ("--spool-dir", ["default here:"]),
        ("--log-file", ["default here:", "pandora_to_misp.log"]),
    ],
)
def test_plugin_options_say_what_they_take_and_their_default(option: str, words: list[str]) -> None:
    text = option_help(help_of(plugin_main), option)
    for word in words:
        assert word in text, text


def test_plugin_tags_usage_matches_comma_separated() -> None:
    assert "[TAGS ...]" not in help_of(plugin_main)


def test_check_config_takes_verbose(tmp_path: Path) -> None:
    config = tmp_path / "config.py"
    config.write_text("ms_auth = {}\n", encoding="utf-8")
    code, out, err = run(check_main, "--config", str(config), "--offline", "--verbose")
    assert code == 2  # the config is wrong; the flag is not
    assert "unrecognized arguments" not in err
    assert "ERROR config.py: ms_auth" in out


def test_help_or_version_inside_alert_text_is_text(capsys: pytest.CaptureFixture[str]) -> None:
    """A word of unquoted alert text that reads "--help" or "--version" must not print the help (the
    alert would be lost); it joins the data."""
    code = plugin_main(["--dry-run", "-a", "web1", "-n", "probe", "-d", "GET", "/x", "--help", "--version"])
    out = capsys.readouterr().out
    assert code == 0
    assert '"GET /x --help --version"' in out


def test_console_scripts_start_the_four_tools() -> None:
    from misp_bridge import entry

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert set(scripts) == {
        "misp2sentinel",
        "misp2sentinel-check-config",
        "misp2sentinel-delete",
        "pandora-to-misp",
    }
    for target in scripts.values():
        module, function = target.split(":")
        assert module == "misp_bridge.entry"
        assert callable(getattr(entry, function))
    assert set(entry.TOOLS) == set(TOOLS)


@pytest.mark.parametrize("tool", list(TOOLS))
def test_top_level_scripts_start_their_tool_from_anywhere(tool: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / tool), "--version"],
        check=False,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": ""},
    )
    assert (done.returncode, done.stdout.strip(), done.stderr) == (
        0,
        f"{tool} (misp-bridge) {__version__}",
        "",
    )


def test_a_missing_module_is_one_line_saying_what_to_install(tmp_path: Path) -> None:
    """/usr/bin/python3 without the plugin's requirements: one line, exit 2, no traceback."""
    blocked = (
        "import sys; sys.modules['re2'] = None; sys.argv = ['pandora_to_misp.py', '--dry-run'];"
        f"sys.path.insert(0, {str(ROOT)!r}); from misp_bridge.entry import launch;"
        f"sys.exit(launch('pandora_to_misp.py', {str(ROOT / 'pandora_to_misp.py')!r}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", blocked], check=False, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith(f"pandora_to_misp.py: error: {sys.executable} (Python ")
    assert "no module 're2' (pip package google-re2); install requirements-plugin.txt" in line
