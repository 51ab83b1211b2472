"""The one runner behind every command-line tool: arguments in, an exit code out, nothing escapes.

Each tool (script.py, delete-from-azure.py, check-config.py, pandora_to_misp.py) is a `Command`: its
argument parser, its body `run(args, env) -> int`, and its table of exception class -> exit code. The
runner parses the arguments (argparse's own exit on a usage error or --help becomes the return value),
sets up logging on the environment's stderr, runs the body and turns whatever it raises into an exit
code through the table: an expected error (a BridgeError) becomes one line, an unexpected one becomes one
line on stderr and a traceback in the log file only. Tests run a command in-process with an
`Environment` of their own: streams, environment variables, clocks and sleep (httpie's idea).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TextIO

from misp_bridge.errors import BridgeError, ConfigErrors, UsageError
from misp_bridge.output import logs
from misp_bridge.output.redact import clean

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
    """One tool: `run` does the work once arguments are parsed and logging goes to env.stderr."""

    prog: str
    parser: Callable[[], argparse.ArgumentParser]
    run: Callable[[argparse.Namespace, Environment], int]
    exits: ExitTable
    usage_code: int = 2
    unexpected_code: int = 1
    interrupted: str = "interrupted"


def run_command(command: Command, argv: Sequence[str] | None, env: Environment | None = None) -> int:
    """Run a command; see the module docstring. Never raises (SystemExit included)."""
    env = env or Environment()
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        with contextlib.redirect_stdout(env.stdout), contextlib.redirect_stderr(env.stderr):
            args = command.parser().parse_args(argv)
    except SystemExit as exc:  # argparse printed usage (or help) already
        return int(exc.code) if isinstance(exc.code, int) else command.usage_code
    except UsageError as exc:  # parsers that raise instead of exiting
        env.stderr.write(f"{command.prog}: error: {clean(str(exc))}\n")
        return command.usage_code
    logs.configure(None, verbose=bool(getattr(args, "verbose", False)), stream=env.stderr)
    try:
        return int(command.run(args, env))
    except UsageError as exc:
        env.stderr.write(f"{command.prog}: error: {clean(message_for(exc))}\n")
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
    except Exception as exc:  # noqa: BLE001 - the one place unexpected errors become a message
        logs.file_only(log, "unexpected error", exc)
        where = ", ".join(str(p) for p in logs.log_files()) or "no log file was configured"
        env.stderr.write(
            f"{command.prog}: error: unexpected {type(exc).__name__}: {clean(message_for(exc))} "
            f"(details in the log file: {where})\n"
        )
        return command.unexpected_code
