"""What script.py and delete-from-azure.py share: settings loaded, a run built, the state lock held.

`LockedRun` is the body the shared runner (misp_bridge/cli.py) calls. A subclass says what may stop the
command before anything is built (`refuse`), whether it is a dry run, and what it does under the lock
(`locked`). `context_factory` and `lock_wait` are what tests hand in.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from misp_bridge.cli import Environment
from misp_bridge.config import Settings
from misp_bridge.sync.context import ContextFactory, RunContext
from misp_bridge.sync.deadline import Deadline
from misp_bridge.sync.wiring import LOCK_WAIT, build_context, load_run_settings


def add_config_argument(p: argparse.ArgumentParser) -> None:
    """--config, the same for every tool that reads config.py (the lookup: config/locate.py)."""
    p.add_argument(
        "--config",
        metavar="PATH",
        help="the settings file (default: ./config.py, else config.py beside this command)",
    )


class LockedRun:
    def __init__(
        self, *, context_factory: ContextFactory = build_context, lock_wait: float = LOCK_WAIT
    ) -> None:
        self._context_factory = context_factory
        self._lock_wait = lock_wait

    def __call__(self, args: argparse.Namespace, env: Environment) -> int:
        self.check_arguments(args)
        # The budget counts from here: reading settings and Key Vault are part of the run.
        deadline = Deadline(self.budget(args), env.monotonic)
        given = Path(args.config) if args.config is not None else None
        settings = load_run_settings(given, env, verbose=args.verbose)
        refused = self.refuse(args, settings, env)
        if refused is not None:
            return refused
        dry_run = bool(args.dry_run or settings.dry_run)
        ctx = self._context_factory(settings, dry_run=dry_run, sleep=env.sleep, deadline=deadline)
        try:
            with ctx.state.lock(wait=self._lock_wait, sleep=env.sleep):
                return int(self.locked(ctx, args, env))
        finally:
            ctx.close()

    def check_arguments(self, args: argparse.Namespace) -> None:
        """Raise UsageError for arguments argparse cannot judge alone (before any file is read)."""

    def budget(self, args: argparse.Namespace) -> float | None:
        """Seconds after which the run stops taking new work (counted from here), or None."""
        return None

    def refuse(self, args: argparse.Namespace, settings: Settings, env: Environment) -> int | None:
        """An exit code that stops the command before the run is built, or None to go on."""
        return None

    def locked(self, ctx: RunContext, args: argparse.Namespace, env: Environment) -> int:
        raise NotImplementedError
