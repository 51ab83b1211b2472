"""delete-from-azure.py's command line: `main(argv) -> int`.

Revokes (Sentinel's DELETE cannot remove uploaded objects, CONTRACTS.md 5) the indicators of our
`sourcesystem` in every configured workspace: all of them, those not touched for some days, or one MISP
event's. A person at a terminal confirms each workspace; without a terminal `--yes` is required, so a
cron job cannot wipe a workspace by accident. Errors become exit codes through the sync CLI's table.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from misp_bridge.azure.management import require_management
from misp_bridge.config.load import Settings
from misp_bridge.errors import BridgeError, UsageError
from misp_bridge.exitcodes import SyncExit
from misp_bridge.output import logs as logsetup
from misp_bridge.sync.cleanup import DeleteMode, Revocation, revoke, select_for_delete
from misp_bridge.sync.cli import LOCK_WAIT, exit_code_for, load_run_settings, message_for
from misp_bridge.sync.context import RunContext, WorkspaceTarget, build_context

log = logging.getLogger("misp_bridge.delete")

ContextFactory = Callable[[Settings, bool], RunContext]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="delete-from-azure.py",
        description="Revoke indicators this tool uploaded to Microsoft Sentinel (revoked: true).",
    )
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true", help="every indicator of our sourcesystem")
    which.add_argument(
        "--older-than", type=int, metavar="DAYS", help="indicators neither created nor updated for DAYS days"
    )
    which.add_argument("--uuid", metavar="EVENT", help="the indicators of one MISP event (its uuid)")
    p.add_argument(
        "--config", metavar="PATH", default="config.py", help="settings file (default ./config.py)"
    )
    p.add_argument("--dry-run", action="store_true", help="list what would be revoked, change nothing")
    p.add_argument(
        "--yes", action="store_true", help="do not ask for confirmation (needed without a terminal)"
    )
    p.add_argument("--verbose", action="store_true", help="debug lines in the log and on stderr")
    return p


def _mode(args: argparse.Namespace) -> DeleteMode:
    if args.older_than is not None:
        if args.older_than < 0:
            raise UsageError("--older-than needs a number of days of 0 or more.")
        return "older_than"
    return "uuid" if args.uuid is not None else "all"


def _default_context(settings: Settings, dry_run: bool) -> RunContext:
    return build_context(settings, dry_run=dry_run)


def _confirm(question: str, stdin: TextIO, stderr: TextIO) -> bool:
    stderr.write(f"{question} [y/N] ")
    stderr.flush()
    answer = stdin.readline().strip().lower()
    return answer in ("y", "yes")


def main(
    argv: Sequence[str] | None = None,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    context_factory: ContextFactory = _default_context,
    lock_wait: float = LOCK_WAIT,
) -> int:
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:  # argparse already printed the usage line
        return int(exc.code) if isinstance(exc.code, int) else int(SyncExit.USAGE)
    logsetup.configure(None, verbose=args.verbose)
    try:
        mode = _mode(args)
        settings = load_run_settings(Path(args.config), verbose=args.verbose)
        for workspace in settings.ms_auth:
            require_management(workspace, "list its indicators")
        dry_run = args.dry_run or settings.dry_run
        if not dry_run and not args.yes and not stdin.isatty():
            stderr.write(
                "delete-from-azure.py: refusing to revoke indicators without confirmation; "
                "run it on a terminal or pass --yes.\n"
            )
            return int(SyncExit.USAGE)
        ctx = context_factory(settings, dry_run)
        try:
            with ctx.state.lock(wait=lock_wait):
                return int(_run(ctx, args, mode, stdin=stdin, stdout=stdout, stderr=stderr))
        finally:
            ctx.close()
    except BridgeError as exc:
        stderr.write(f"delete-from-azure.py: {message_for(exc)}\n")
        return int(exit_code_for(exc))


def _run(
    ctx: RunContext,
    args: argparse.Namespace,
    mode: DeleteMode,
    *,
    stdin: TextIO,
    stdout: TextIO,
    stderr: TextIO,
) -> SyncExit:
    source = ctx.settings.sourcesystem
    failed = False
    for target in ctx.targets:
        chosen = select_for_delete(
            ctx, target, mode=mode, older_than_days=args.older_than, event_uuid=args.uuid
        )
        if not chosen:
            stdout.write(f"workspace {target.label}: no indicators of source {source} to revoke\n")
            continue
        if ctx.dry_run:
            for revocation in chosen:
                stdout.write(f"would revoke {revocation.stix_id}\n")
            stdout.write(f"workspace {target.label}: would revoke {len(chosen)} indicators (dry run)\n")
            continue
        question = f"Revoke {len(chosen)} indicators of source {source} in workspace {target.label}?"
        if not args.yes and not _confirm(question, stdin, stderr):
            stdout.write(f"workspace {target.label}: nothing revoked (not confirmed)\n")
            continue
        failed = _revoke(ctx, target, chosen, stdout) or failed
    return SyncExit.FAILURES if failed else SyncExit.OK


def _revoke(ctx: RunContext, target: WorkspaceTarget, chosen: list[Revocation], stdout: TextIO) -> bool:
    result = revoke(ctx, target, chosen)
    count = result.revoked.get(target.label, 0)
    stdout.write(f"workspace {target.label}: revoked {count} of {len(chosen)} indicators\n")
    for error in result.errors:
        log.error("%s", error)
    return bool(result.errors) or count < len(chosen)
