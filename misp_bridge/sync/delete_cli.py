"""delete-from-azure.py's command line: `main(argv) -> int`, run by the shared runner (misp_bridge/cli.py).

Revokes (Sentinel's DELETE cannot remove uploaded objects, docs/contracts.md 5) the indicators of our
`sourcesystem` in every configured workspace: all of them, those not touched for some days, or one MISP
event's. A person at a terminal confirms each workspace; without a terminal `--yes` is required, so a
cron job cannot wipe a workspace by accident. Errors become exit codes through the sync's table.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from misp_bridge.azure.management import require_management
from misp_bridge.cli import Command, Environment, run_command
from misp_bridge.config import Settings
from misp_bridge.config.readers import MAX_DAYS
from misp_bridge.errors import UsageError
from misp_bridge.exitcodes import DELETE_MEANINGS, SYNC_EXIT_FOR, SyncExit
from misp_bridge.sync.cleanup import DeleteMode, revoke, select_for_delete
from misp_bridge.sync.command import LockedRun, add_config_argument
from misp_bridge.sync.context import ContextFactory, RunContext, WorkspaceTarget
from misp_bridge.sync.indicator import Indicator
from misp_bridge.sync.wiring import LOCK_WAIT, build_context

log = logging.getLogger("misp_bridge.delete")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="delete-from-azure.py",
        usage="%(prog)s (--all | --older-than DAYS | --uuid EVENT) [--config PATH] [--dry-run] [--yes] "
        "[--verbose] [--version]",
        description="Revoke indicators this tool uploaded to Microsoft Sentinel (revoked: true).",
    )
    which = p.add_mutually_exclusive_group()  # one is needed: _mode says so in words
    which.add_argument("--all", action="store_true", help="every indicator of our sourcesystem")
    which.add_argument(
        "--older-than", type=int, metavar="DAYS", help="indicators neither created nor updated for DAYS days"
    )
    which.add_argument("--uuid", metavar="EVENT", help="the indicators of one MISP event (its uuid)")
    add_config_argument(p)
    p.add_argument("--dry-run", action="store_true", help="list what would be revoked, change nothing")
    p.add_argument(
        "--yes", action="store_true", help="do not ask for confirmation (needed without a terminal)"
    )
    p.add_argument("--verbose", action="store_true", help="debug lines in the log and on stderr")
    return p


# The original's delete-from-azure.py took no flags and revoked the 10 most recently updated indicators
# of the source without asking; a user running it that way gets this instead of a guess.
NOTHING_CHOSEN = (
    "say which indicators to revoke: --all, --older-than DAYS or --uuid EVENT (add --dry-run to list "
    "them first). misp2sentinel's delete-from-azure.py, run without flags, revoked the 10 most recently "
    "updated indicators of the source without asking; this one never chooses on its own."
)


def _mode(args: argparse.Namespace) -> DeleteMode:
    if not (args.all or args.older_than is not None or args.uuid is not None):
        raise UsageError(NOTHING_CHOSEN)
    if args.older_than is not None:
        if not 0 <= args.older_than <= MAX_DAYS:
            raise UsageError(f"--older-than needs a number of days from 0 to {MAX_DAYS}.")
        return "older_than"
    return "uuid" if args.uuid is not None else "all"


def _confirm(question: str, env: Environment) -> bool:
    env.stderr.write(f"{question} [y/N] ")
    env.stderr.flush()
    answer = env.stdin.readline().strip().lower()
    return answer in ("y", "yes")


class Delete(LockedRun):
    """The body of delete-from-azure.py."""

    def check_arguments(self, args: argparse.Namespace) -> None:
        _mode(args)

    def refuse(self, args: argparse.Namespace, settings: Settings, env: Environment) -> int | None:
        for workspace in settings.ms_auth:
            require_management(workspace, "list its indicators")
        dry_run = args.dry_run or settings.dry_run
        if not dry_run and not args.yes and not env.is_terminal(env.stdin):
            env.stderr.write(
                "delete-from-azure.py: refusing to revoke indicators without confirmation; "
                "run it on a terminal or pass --yes.\n"
            )
            return int(SyncExit.USAGE)
        return None

    def locked(self, ctx: RunContext, args: argparse.Namespace, env: Environment) -> int:
        return int(_run(ctx, args, _mode(args), env))


def _run(ctx: RunContext, args: argparse.Namespace, mode: DeleteMode, env: Environment) -> SyncExit:
    source = ctx.settings.sourcesystem
    failed = False
    for target in ctx.targets:
        chosen = select_for_delete(
            ctx, target, mode=mode, older_than_days=args.older_than, event_uuid=args.uuid
        )
        if not chosen:
            env.stdout.write(f"workspace {target.label}: no indicators of source {source} to revoke\n")
            continue
        if ctx.dry_run:
            for indicator in chosen:
                env.stdout.write(f"would revoke {indicator.stix_id}\n")
            env.stdout.write(f"workspace {target.label}: would revoke {len(chosen)} indicators (dry run)\n")
            continue
        question = f"Revoke {len(chosen)} indicators of source {source} in workspace {target.label}?"
        if not args.yes and not _confirm(question, env):
            env.stdout.write(f"workspace {target.label}: nothing revoked (not confirmed)\n")
            continue
        failed = _revoke(ctx, target, chosen, env) or failed
    return SyncExit.FAILURES if failed else SyncExit.OK


def _revoke(ctx: RunContext, target: WorkspaceTarget, chosen: list[Indicator], env: Environment) -> bool:
    result = revoke(ctx, target, chosen)
    count = result.revoked.get(target.label, 0)
    env.stdout.write(f"workspace {target.label}: revoked {count} of {len(chosen)} indicators\n")
    for error in result.errors:
        log.error("%s", error)
    return bool(result.errors) or count < len(chosen)


EXAMPLES = (
    "--all --dry-run",
    "--older-than 90",
    "--uuid 5f1c2a3e-8d4b-4c6f-9e2a-1b3c5d7e9f00 --yes",
    "--config /etc/misp-bridge/config.py --all --yes",
)


def command(body: Delete | None = None) -> Command:
    return Command(
        "delete-from-azure.py",
        parser,
        body or Delete(),
        SYNC_EXIT_FOR,
        examples=EXAMPLES,
        exit_codes=DELETE_MEANINGS,
        notes="Revoking is final: an indicator MISP still offers comes back under a new id with the next "
        "sync. Without a terminal, --yes is required. Guide: docs/operations.md.",
    )


def main(
    argv: Sequence[str] | None = None,
    *,
    env: Environment | None = None,
    context_factory: ContextFactory = build_context,
    lock_wait: float = LOCK_WAIT,
) -> int:
    """Run delete-from-azure.py; tests hand in the environment, the context factory and the lock wait."""
    body = Delete(context_factory=context_factory, lock_wait=lock_wait)
    return run_command(command(body), argv, env)
