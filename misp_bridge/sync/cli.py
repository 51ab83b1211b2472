"""script.py's command line: `main(argv) -> int`, run by the shared runner (misp_bridge/cli.py).

The body loads the settings, builds the run (misp_bridge/sync/wiring.py), holds the state lock, syncs,
runs the clean-up passes the flags ask for, records the run and reports it: the summary on stderr (left
out with --quiet when the run ended 0), one key=value line per record in the log at a level that says
how the run went, and as JSON on stdout with `--json`. Errors become exit codes through SYNC_EXIT_FOR.
`run_and_record` (sync, clean-up, run log, outcome) is what the Azure Function runs too.
"""

from __future__ import annotations

import argparse
import json
import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from misp_bridge.cli import Command, Environment, exit_code_for, run_command
from misp_bridge.errors import BridgeError
from misp_bridge.exitcodes import SYNC_EXIT_FOR, SYNC_MEANINGS, SyncExit
from misp_bridge.output import logs
from misp_bridge.output.redact import redact
from misp_bridge.sync.command import LockedRun, add_config_argument
from misp_bridge.sync.context import CleanupResult, ContextFactory, RunContext
from misp_bridge.sync.pipeline import finalize_summary, note_stop, run_sync
from misp_bridge.sync.wiring import CLEANUP_PASSES, LOCK_WAIT, build_context

log = logging.getLogger("misp_bridge.sync")

# The clean-up flags, in the order the passes run after the upload (argparse dest -> flag).
CLEANUP_FLAGS: dict[str, str] = {
    "verify_recent_toids_change": "--verify-recent-toids-change",
    "delete_outdated_indicators": "--delete-outdated-indicators",
}
assert set(CLEANUP_FLAGS) == set(CLEANUP_PASSES)


def _event_uuid(text: str) -> str:
    try:
        return str(uuid.UUID(text.strip()))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an event uuid") from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="script.py",
        description="Push MISP indicators to Microsoft Sentinel threat intelligence.",
    )
    p.add_argument(
        "--uuid",
        metavar="UUID",
        type=_event_uuid,
        help="push this one MISP event (the filters' time window is ignored)",
    )
    p.add_argument(
        "--verify-recent-toids-change",
        action="store_true",
        help="also revoke indicators whose MISP attribute lost its to_ids flag in timeframe_toids_change",
    )
    p.add_argument(
        "--delete-outdated-indicators", action="store_true", help="also revoke indicators that have expired"
    )
    add_config_argument(p)
    p.add_argument("--dry-run", action="store_true", help="convert and compare, but upload nothing")
    p.add_argument(
        "--budget",
        metavar="SECONDS",
        type=_budget,
        help="stop taking new work after SECONDS; what is left is kept for the next run (exit 1)",
    )
    p.add_argument("--json", action="store_true", help="print the run summary as JSON on stdout")
    p.add_argument(
        "--quiet",
        action="store_true",
        help="no summary on stderr when the run ends with exit 0 (for cron: mail only when it matters); "
        "warnings and errors still print, and the log file gets everything",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar, even on a terminal")
    p.add_argument("--verbose", action="store_true", help="debug lines in the log and on stderr")
    return p


# A budget shorter than this leaves no time to do anything; longer than a week is a typo.
MIN_BUDGET, MAX_BUDGET = 1.0, 7 * 86_400.0


def _budget(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not MIN_BUDGET <= value <= MAX_BUDGET:  # also refuses nan and inf
        raise argparse.ArgumentTypeError(f"must be {MIN_BUDGET:g} to {MAX_BUDGET:g} seconds, got {text}")
    return value


class Sync(LockedRun):
    """The body of script.py."""

    def budget(self, args: argparse.Namespace) -> float | None:
        return float(args.budget) if args.budget is not None else None

    def locked(self, ctx: RunContext, args: argparse.Namespace, env: Environment) -> int:
        return int(_locked_run(ctx, args, env))


def _locked_run(ctx: RunContext, args: argparse.Namespace, env: Environment) -> SyncExit:
    bar = _progress(args, env)
    chosen = [name for name in CLEANUP_FLAGS if getattr(args, name)]
    try:
        code, failure = run_and_record(
            ctx, event_uuid=args.uuid, cleanups=chosen, progress=bar.update if bar is not None else None
        )
    finally:
        if bar is not None:
            bar.close()
    _report(ctx, args, env, code)
    if failure is not None:
        raise failure
    return code


def run_and_record(
    ctx: RunContext,
    *,
    event_uuid: str | None = None,
    cleanups: Iterable[str] = (),
    progress: Callable[[int], None] | None = None,
    kind: str = "sync",
) -> tuple[SyncExit, BridgeError | None]:
    """One run under the caller's lock: sync, the clean-up passes named (CLEANUP_FLAGS keys), the
    run log entry; returns the exit code and the error that ended the run (None when none did)."""
    run_id = None if ctx.dry_run else ctx.state.start_run(kind)
    failure: BridgeError | None = None
    problems: list[str] = []
    try:
        run_sync(ctx, event_uuid=event_uuid, progress=progress)
        problems = _cleanups(ctx, set(cleanups), event_uuid)
    except BridgeError as exc:
        failure = exc
    note_stop(ctx)
    finalize_summary(ctx)
    code = (
        SyncExit(exit_code_for(failure, SYNC_EXIT_FOR, SyncExit.FAILURES))
        if failure
        else _outcome(ctx, problems)
    )
    ctx.summary.conclude(int(code), SYNC_MEANINGS[int(code)])
    if run_id is not None:
        ctx.state.finish_run(run_id, ctx.summary.as_dict(), int(code))
    return code, failure


def _progress(args: argparse.Namespace, env: Environment) -> Any:
    """A tqdm bar on stderr when it is a terminal (cron logs stay clean), else None."""
    if args.no_progress or not env.is_terminal(env.stderr):
        return None
    from tqdm import tqdm

    return tqdm(unit="event", desc="MISP events", file=env.stderr, leave=False)


def _cleanups(ctx: RunContext, chosen: set[str], event_uuid: str | None) -> list[str]:
    """Run the clean-up passes chosen, in CLEANUP_FLAGS order; returns the problems met, one sentence
    each. A run past its deadline starts none (the next run does them)."""
    problems: list[str] = []
    for name, flag in CLEANUP_FLAGS.items():
        if name not in chosen:
            continue
        if ctx.deadline.passed():
            log.warning("%s skipped: %s; the next run does it", flag, ctx.deadline.reason)
            continue
        result: CleanupResult = ctx.cleanups[name](ctx, event_uuid)
        if result.would_revoke:
            log.warning("%s: dry run, would revoke %d indicators", flag, len(result.would_revoke))
        problems.extend(f"{flag}: {error}" for error in result.errors)
    for problem in problems:
        log.error("%s", problem)
    return problems


def _outcome(ctx: RunContext, problems: list[str]) -> SyncExit:
    summary = ctx.summary
    if summary.refused:
        return SyncExit.SENTINEL
    labels = [target.label for target in ctx.targets]
    unfinished = any(summary.get(label, key) for label in labels for key in ("pending", "rejected"))
    stopped = summary.stopped is not None  # cut by its deadline: the next run has work left
    return SyncExit.FAILURES if unfinished or problems or stopped else SyncExit.OK


def _level(code: int) -> int:
    """How a run that ended with this code is logged: the summary of a failed run is never INFO."""
    if code == SyncExit.OK:
        return logging.INFO
    return logging.WARNING if code == SyncExit.FAILURES else logging.ERROR


def _report(ctx: RunContext, args: argparse.Namespace, env: Environment, code: SyncExit) -> None:
    for line in ctx.summary.log_lines():  # the log file: one line per record, the level says how it went
        logs.file_only(log, line, level=_level(code))
    if not (args.quiet and code == SyncExit.OK):
        env.stderr.write(redact(ctx.summary.render()) + "\n")
    if args.json:
        env.stdout.write(json.dumps(ctx.summary.as_dict(), sort_keys=True) + "\n")


EXAMPLES = (
    "--dry-run",
    "--config /etc/misp-bridge/config.py --quiet",
    "--uuid 5f1c2a3e-8d4b-4c6f-9e2a-1b3c5d7e9f00 --json",
    "--verify-recent-toids-change --delete-outdated-indicators",
)


def command(sync: Sync | None = None) -> Command:
    return Command(
        prog="script.py",
        parser=parser,
        run=sync or Sync(),
        exits=SYNC_EXIT_FOR,
        interrupted="interrupted; indicators not yet delivered are sent first next run",
        examples=EXAMPLES,
        exit_codes=SYNC_MEANINGS,
        notes="constants.py: beside config.py, else ./constants.py, else beside this command, else the "
        "built-in tables. Guide: docs/sync.md; running it as a service: docs/deployment.md.",
    )


def main(
    argv: Sequence[str] | None = None,
    *,
    env: Environment | None = None,
    context_factory: ContextFactory = build_context,
    lock_wait: float = LOCK_WAIT,
) -> int:
    """Run script.py; tests hand in the environment, the context factory and the lock wait."""
    return run_command(command(Sync(context_factory=context_factory, lock_wait=lock_wait)), argv, env)
