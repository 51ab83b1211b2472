"""script.py's command line: `main(argv) -> int`.

This is the one place that turns exceptions into messages and exit codes (SyncExit): expected errors
become one line on stderr (and in the log), unexpected ones one line on stderr and a traceback in the
log file only. The summary goes to stderr and the log; `--json` also prints it on stdout.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from misp_bridge.config.load import Settings, load_settings
from misp_bridge.errors import (
    BridgeError,
    ConfigError,
    ConfigErrors,
    KeyVaultError,
    LockHeld,
    MispError,
    SentinelError,
    StateError,
    UsageError,
)
from misp_bridge.exitcodes import SyncExit
from misp_bridge.output import logs as logsetup
from misp_bridge.output.redact import redact
from misp_bridge.sync.pipeline import CleanupResult, RunContext, build_context, finalize_summary, run_sync

PACKAGE_LOGGER = "misp_bridge"
log = logging.getLogger("misp_bridge.sync")

# Seconds a run waits for an earlier one to release the state lock before giving up (exit 5).
LOCK_WAIT = 10.0

# Exception class -> exit code; the most specific class listed first wins (checked in this order).
EXIT_FOR: tuple[tuple[type[BaseException], SyncExit], ...] = (
    (LockHeld, SyncExit.LOCKED),
    (ConfigErrors, SyncExit.USAGE),
    (ConfigError, SyncExit.USAGE),
    (UsageError, SyncExit.USAGE),
    (StateError, SyncExit.USAGE),
    (MispError, SyncExit.MISP),
    (SentinelError, SyncExit.SENTINEL),
    (KeyVaultError, SyncExit.SENTINEL),
    (BridgeError, SyncExit.FAILURES),
)

# --flag -> (cleanup function name, what it does in words).
CLEANUP_FLAGS: dict[str, tuple[str, str]] = {
    "verify_recent_toids_change": ("revoke_toids_changes", "--verify-recent-toids-change"),
    "delete_outdated_indicators": ("revoke_expired", "--delete-outdated-indicators"),
}


def exit_code_for(exc: BaseException) -> SyncExit:
    for kind, code in EXIT_FOR:
        if isinstance(exc, kind):
            return code
    return SyncExit.FAILURES


def message_for(exc: BaseException) -> str:
    """The words shown to the user: every setting problem on its own line, else one sentence."""
    if isinstance(exc, ConfigErrors):
        return "configuration has errors:\n" + "\n".join(f"  - {error}" for error in exc.errors)
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


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
    p.add_argument(
        "--config", metavar="PATH", default="config.py", help="settings file (default ./config.py)"
    )
    p.add_argument("--dry-run", action="store_true", help="convert and compare, but upload nothing")
    p.add_argument("--json", action="store_true", help="print the run summary as JSON on stdout")
    p.add_argument("--no-progress", action="store_true", help="no progress bar, even on a terminal")
    p.add_argument("--verbose", action="store_true", help="debug lines in the log and on stderr")
    return p


def main(
    argv: Sequence[str] | None = None,
    *,
    lock_wait: float = LOCK_WAIT,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Run script.py; `lock_wait` and `sleep` (retry back-offs, rate limit waits) are for tests."""
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:  # argparse already printed the usage line
        return int(exc.code) if isinstance(exc.code, int) else int(SyncExit.USAGE)
    logsetup.configure(None, verbose=args.verbose)
    try:
        return int(_main(args, lock_wait, sleep))
    except BridgeError as exc:
        log.error("%s", message_for(exc))  # noqa: TRY400 - expected errors get one line, no traceback
        return int(exit_code_for(exc))
    except KeyboardInterrupt:
        log.error("interrupted; indicators not yet delivered are sent first next run")  # noqa: TRY400
        return int(SyncExit.FAILURES)
    except Exception as exc:  # noqa: BLE001 - the one place unexpected errors become a message
        # Full traceback to the log file only; stderr gets one line.
        _log_file_only("unexpected error", exc)
        print(
            f"ERROR: unexpected {type(exc).__name__}: {message_for(exc)} (details in the log file)",
            file=sys.stderr,
        )
        return int(SyncExit.FAILURES)


def _log_file_only(text: str, exc: BaseException | None = None, level: int = logging.ERROR) -> None:
    """A record for the log file alone (a traceback, or a text already printed on stderr)."""
    info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    record = log.makeRecord(log.name, level, __file__, 0, "%s", (text,), info)
    for handler in logging.getLogger(PACKAGE_LOGGER).handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


def load_run_settings(config: Path, *, verbose: bool = False) -> Settings:
    """Settings for a run of any of the sync's tools: config.py loaded and checked, logging set up from
    it, Key Vault secrets applied. Shared so script.py and delete-from-azure.py read secrets alike."""
    settings = load_settings(config)
    logsetup.configure(settings.log_file, verbose=verbose or settings.verbose_log)
    if settings.misp_verifycert is False:
        log.warning("misp_verifycert is False: the MISP server's TLS certificate is not checked")
    vault = settings.vault_url
    if vault:
        from misp_bridge.azure.keyvault import read_secrets, vault_authority

        secrets = read_secrets(vault, authority_host=vault_authority(settings.ms_authority_host))
        settings = settings.with_secrets(misp_key=secrets.misp_key, client_secret=secrets.client_secret)
    return settings


def _main(args: argparse.Namespace, lock_wait: float, sleep: Callable[[float], None]) -> SyncExit:
    settings = load_run_settings(Path(args.config), verbose=args.verbose)
    ctx = build_context(settings, dry_run=args.dry_run, sleep=sleep)
    try:
        with ctx.state.lock(wait=lock_wait):
            return _locked_run(ctx, args)
    finally:
        ctx.close()


def _locked_run(ctx: RunContext, args: argparse.Namespace) -> SyncExit:
    run_id = None if ctx.dry_run else ctx.state.start_run("sync")
    failure: BridgeError | None = None
    problems: list[str] = []
    bar = _progress(args)
    try:
        run_sync(ctx, event_uuid=args.uuid, progress=bar.update if bar is not None else None)
        problems = _cleanups(ctx, args)
    except BridgeError as exc:
        failure = exc
    finally:
        if bar is not None:
            bar.close()
    finalize_summary(ctx)
    code = exit_code_for(failure) if failure is not None else _outcome(ctx, problems)
    if run_id is not None:
        ctx.state.finish_run(run_id, ctx.summary.as_dict(), int(code))
    _report(ctx, args)
    if failure is not None:
        raise failure
    return code


def _progress(args: argparse.Namespace) -> Any:
    """A tqdm bar on stderr when it is a terminal (cron logs stay clean), else None."""
    if args.no_progress or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(unit="event", desc="MISP events", file=sys.stderr, leave=False)


def _cleanups(ctx: RunContext, args: argparse.Namespace) -> list[str]:
    """Run the clean-up passes the flags ask for; returns the problems met, one sentence each."""
    problems: list[str] = []
    for attribute, (function_name, flag) in CLEANUP_FLAGS.items():
        if not getattr(args, attribute):
            continue
        try:
            from misp_bridge.sync import cleanup  # type: ignore[attr-defined,unused-ignore]
        except ImportError:
            problems.append(
                f"{flag} is not available in this installation (misp_bridge.sync.cleanup is missing)"
            )
            continue
        function = getattr(cleanup, function_name, None)
        if not callable(function):
            problems.append(f"{flag} is not available in this installation")
            continue
        result = function(ctx, event_uuid=args.uuid)
        if isinstance(result, CleanupResult):
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
    return SyncExit.FAILURES if unfinished or problems else SyncExit.OK


def _report(ctx: RunContext, args: argparse.Namespace) -> None:
    text = ctx.summary.render()
    # The log file gets it; stderr gets it directly (the stderr handler may show warnings only).
    _log_file_only(text, level=logging.INFO)
    print(redact(text), file=sys.stderr)
    if args.json:
        print(json.dumps(ctx.summary.as_dict(), sort_keys=True))
