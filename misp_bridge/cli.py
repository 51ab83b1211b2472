"""The one runner behind every command-line tool: arguments in, an exit code out, nothing escapes.

Each tool (script.py, delete-from-azure.py, check-config.py, pandora_to_misp.py) is a `Command`: its
argument parser, its body `run(args, env) -> int`, its table of exception class -> exit code, and what
its help shows besides the options (examples, what each exit code means). The runner adds `--version`
and that epilog to every parser, parses the arguments (argparse's own exit on a usage error, --help or
--version becomes the return value), sets up logging on the environment's stderr, runs the body and turns
whatever it raises into an exit code through the table: an expected error (a BridgeError) becomes one
line, an unexpected one becomes one line on stderr and a traceback in the log file only, a missing
Python module one line saying what to install. The exit code, with its meaning, is the log file's last
line of the run. Tests run a command in-process with an `Environment` of their own: streams,
environment variables, clocks and sleep (httpie's idea).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import textwrap
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from misp_bridge import __version__
from misp_bridge.errors import BridgeError, ConfigErrors, UsageError
from misp_bridge.output import logs
from misp_bridge.output.redact import clean, redact

log = logging.getLogger("misp_bridge.cli")

ExitTable = Sequence[tuple[type[BaseException], int]]


@dataclass
class Environment:
    """Where a command reads and writes; the defaults are the process's own, looked up when built."""

    stdin: TextIO = field(default_factory=lambda: sys.stdin)
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    env: Mapping[str, str] = field(default_factory=lambda: os.environ)
    clock: Callable[[], float] = time.time
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    # Where the command that was run lives (script.py's directory, or the console script's) and the name
    # it was run under: settings files are looked for there too (config/locate.py), the help uses it.
    command_dir: Path | None = None
    command_name: str | None = None

    def is_terminal(self, stream: TextIO) -> bool:
        isatty = getattr(stream, "isatty", None)
        return bool(isatty()) if callable(isatty) else False


def exit_code_for(exc: BaseException, table: ExitTable, default: int) -> int:
    """The code of the first class in `table` that `exc` is an instance of (most specific first)."""
    for kind, code in table:
        if isinstance(exc, kind):
            return code
    return default


def message_for(exc: BaseException) -> str:
    """The words shown to the user: every setting problem on its own line, else one sentence."""
    if isinstance(exc, ConfigErrors):
        return "configuration has errors:\n" + "\n".join(f"  - {error}" for error in exc.errors)
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__


@dataclass(frozen=True)
class Command:
    """One tool: `run` does the work once arguments are parsed and logging goes to env.stderr.

    `examples` (command lines after the program name) and `exit_codes` (code -> meaning) make the
    epilog of --help; `notes` adds a paragraph there. The meanings also name the exit code in the log."""

    prog: str
    parser: Callable[[], argparse.ArgumentParser]
    run: Callable[[argparse.Namespace, Environment], int]
    exits: ExitTable
    usage_code: int = 2
    unexpected_code: int = 1
    interrupted: str = "interrupted"
    examples: tuple[str, ...] = ()
    exit_codes: Mapping[int, str] = field(default_factory=dict)
    notes: str = ""
    requirements: str = "requirements.txt"  # what to install when a Python module is missing


def epilog(command: Command, prog: str) -> str:
    """The text --help shows after the options: examples, exit codes, notes."""
    parts: list[str] = []
    if command.examples:
        parts.append(
            "examples:\n" + "\n".join(f"  {prog} {example}".rstrip() for example in command.examples)
        )
    if command.exit_codes:
        rows = "\n".join(f"  {code}  {meaning}" for code, meaning in sorted(command.exit_codes.items()))
        parts.append("exit codes:\n" + rows)
    if command.notes:
        parts.append(textwrap.fill(command.notes, width=100))
    return "\n\n".join(parts)


def build_parser(command: Command, prog: str) -> argparse.ArgumentParser:
    """The command's parser with what every tool shares: --version and the epilog."""
    parser = command.parser()
    parser.prog = prog
    parser.epilog = epilog(command, prog) or None
    parser.formatter_class = argparse.RawDescriptionHelpFormatter  # keeps the epilog's lines
    if parser.description:  # which the raw formatter no longer wraps
        parser.description = textwrap.fill(parser.description, width=100)
    parser.add_argument("--version", action="version", version=f"%(prog)s (misp-bridge) {__version__}")
    return parser


def missing_module(exc: ModuleNotFoundError, requirements: str = "requirements.txt") -> str:
    """One sentence for a Python module that is not installed: which one, for which Python, what to do."""
    name = (exc.name or str(exc)).split(".")[0]
    package = PIP_NAMES.get(name, name)
    python = f"{sys.executable} (Python {sys.version_info.major}.{sys.version_info.minor})"
    return (
        f"{python} has no module '{name}' (pip package {package}); install {requirements} into a "
        "virtual environment and run the tool with that environment's python"
    )


# Import name -> the pip package that provides it, where the two differ.
PIP_NAMES = {"re2": "google-re2", "dateutil": "python-dateutil", "stix2patterns": "stix2-patterns"}


def _log_exit(command: Command, prog: str, code: int) -> None:
    """The run's exit code and its meaning, as the log file's last line of the run."""
    meaning = command.exit_codes.get(code, "")
    level = logging.INFO if code == 0 else logging.WARNING if code == 1 else logging.ERROR
    logs.file_only(log, f"{prog} exit {code}" + (f" ({meaning})" if meaning else ""), level=level)


def run_command(command: Command, argv: Sequence[str] | None, env: Environment | None = None) -> int:
    """Run a command; see the module docstring. Never raises (SystemExit included)."""
    env = env or Environment()
    prog = env.command_name or command.prog
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        with contextlib.redirect_stdout(env.stdout), contextlib.redirect_stderr(env.stderr):
            args = build_parser(command, prog).parse_args(argv)
    except SystemExit as exc:  # argparse printed usage, help or the version already
        return int(exc.code) if isinstance(exc.code, int) else command.usage_code
    except UsageError as exc:  # parsers that raise instead of exiting
        env.stderr.write(f"{prog}: error: {clean(str(exc))}\n")
        return command.usage_code
    logs.configure(None, verbose=bool(getattr(args, "verbose", False)), stream=env.stderr)
    code = _run_body(command, prog, args, env)
    _log_exit(command, prog, code)
    return code


def _run_body(command: Command, prog: str, args: argparse.Namespace, env: Environment) -> int:
    try:
        return int(command.run(args, env))
    except UsageError as exc:
        env.stderr.write(f"{prog}: error: {clean(message_for(exc))}\n")
        return command.usage_code
    except ConfigErrors as exc:
        log.error("configuration has errors:")  # noqa: TRY400 - no traceback wanted
        for error in exc.errors:  # one record per setting: a record is one line
            log.error("  - %s", error)  # noqa: TRY400 - expected errors get one line, no traceback
        return exit_code_for(exc, command.exits, command.unexpected_code)
    except BridgeError as exc:
        log.error("%s", message_for(exc))  # noqa: TRY400 - expected errors get one line, no traceback
        return exit_code_for(exc, command.exits, command.unexpected_code)
    except KeyboardInterrupt:
        log.error("%s", command.interrupted)  # noqa: TRY400
        return command.unexpected_code
    except ModuleNotFoundError as exc:  # an install that lacks a dependency: say which, not a traceback
        logs.file_only(log, "a Python module is missing", exc)
        env.stderr.write(f"{prog}: error: {clean(missing_module(exc, command.requirements))}\n")
        return command.usage_code
    except Exception as exc:  # noqa: BLE001 - the one place unexpected errors become a message
        logs.file_only(log, "unexpected error", exc)
        files = logs.log_files()
        if files:
            details = "details in the log file: " + ", ".join(str(p) for p in files)
        elif getattr(args, "verbose", False):
            details = "no log file yet; the traceback follows"
        else:
            details = "no log file was configured yet; run it again with --verbose to see the traceback"
        env.stderr.write(
            f"{prog}: error: unexpected {type(exc).__name__}: {clean(message_for(exc))} ({details})\n"
        )
        if not files and getattr(args, "verbose", False):
            env.stderr.write(redact("".join(traceback.format_exception(type(exc), exc, exc.__traceback__))))
        return command.unexpected_code
