"""One invocation of the timer function: the same run as script.py, fitted to a Functions host.

Lifecycle of `invoke()`:
1. the deadline starts (the host's functionTimeout counts from the invocation's start);
2. app settings are read and checked (config/appsettings.py; every error in one line each), Key Vault
   secrets read when `key_vault_name` asks for them (the original Function's two secrets);
3. the state opens (an Azure table by default) and its lease is taken without waiting: an overlapping
   invocation logs who holds it and ends cleanly;
4. under the lease, sync/cli.py's `run_and_record` runs the sync and the clean-up passes the settings
   turn on; the run stops taking new work at its budget (default below functionTimeout) or when the lease
   is lost, and leaves the rest pending for the next invocation;
5. the summary goes to the host's log (Application Insights): INFO when all is done, WARNING when work
   is left (pending, rejected, cut short).

An error that ends the run (settings, MISP, Sentinel, the state) is logged in one line and raised as
FunctionRunFailed, so the host marks the invocation failed; what is pending stays for the next one.
Nothing here writes to stdout or a file (logs go through output/logs.py's masking handler).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

from misp_bridge.azure.keyvault import read_secrets, vault_authority
from misp_bridge.azure.storage import target_from
from misp_bridge.cli import message_for
from misp_bridge.config.appsettings import FunctionSettings, load_app_settings
from misp_bridge.errors import BridgeError, ConfigErrors, FunctionRunFailed, LockHeld
from misp_bridge.exitcodes import SyncExit
from misp_bridge.function.host import function_timeout
from misp_bridge.output import logs
from misp_bridge.output.files import ensure_private_dir
from misp_bridge.sync.cli import run_and_record
from misp_bridge.sync.context import RunContext
from misp_bridge.sync.deadline import Deadline
from misp_bridge.sync.state import State, StateStore
from misp_bridge.sync.state.tables import TableState
from misp_bridge.sync.wiring import build_context

log = logging.getLogger("misp_bridge.function")

WORK_DIR_NAME = "misp2sentinel"  # under the worker's temporary directory: relative paths, written files


def invoke(
    *,
    past_due: bool = False,
    app_dir: Path,
    env: Mapping[str, str] | None = None,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> SyncExit:
    """Run one invocation (see the module docstring); returns the sync's exit code, raises
    FunctionRunFailed when the run failed."""
    deadline = Deadline(None, monotonic)
    env = os.environ if env is None else env
    logs.configure_host(verbose=(env.get("verbose_log") or "").strip().lower() == "true")
    if past_due:
        log.info("the timer is past due: the previous occurrence was missed (the app was stopped or busy)")
    try:
        function = _settings(env, app_dir)
        deadline.budget = function.run_budget
        return _run(function, env, deadline, monotonic=monotonic, sleep=sleep)
    except LockHeld as exc:
        log.warning("%s This invocation ends without syncing; the one running goes on.", exc)
        return SyncExit.LOCKED
    except ConfigErrors as exc:
        for error in exc.errors:
            log.error("%s", error)  # noqa: TRY400 - one line per setting, no traceback
        raise FunctionRunFailed(
            f"the app settings have {len(exc.errors)} error(s); see the lines above"
        ) from None
    except FunctionRunFailed:
        raise  # already logged
    except BridgeError as exc:
        log.error("%s", message_for(exc))  # noqa: TRY400 - an expected error is one line
        raise FunctionRunFailed(message_for(exc)) from None
    except Exception as exc:
        log.exception("unexpected %s", type(exc).__name__)
        raise FunctionRunFailed(f"unexpected {type(exc).__name__}; see the log record above") from None


def _settings(env: Mapping[str, str], app_dir: Path) -> FunctionSettings:
    work_dir = Path(tempfile.gettempdir()) / WORK_DIR_NAME
    ensure_private_dir(work_dir)
    function, warnings = load_app_settings(
        env, work_dir=work_dir, app_dir=app_dir, function_timeout=function_timeout(app_dir, env)
    )
    for warning in warnings:
        log.warning("%s", warning)
    settings = function.settings
    if settings.vault_url:
        secrets = read_secrets(
            settings.vault_url, authority_host=vault_authority(settings.ms_authority_host, env)
        )
        client_secret = secrets.client_secret if function.vault_client_secret_applies else None
        settings = settings.with_secrets(misp_key=secrets.misp_key, client_secret=client_secret)
    if settings.misp_verifycert is False:
        log.warning("misp_verifycert is False (local_mode): the MISP server's TLS certificate is not checked")
    return replace(function, settings=settings)


def _open_state(function: FunctionSettings, env: Mapping[str, str], deadline: Deadline) -> StateStore:
    if function.state_backend == "sqlite":
        log.warning("state_backend is sqlite: the state lives on this worker's disk and is lost with it")
        return State.open(function.settings.state_file)
    target = target_from(env, function.state_storage, function.state_table)
    return TableState.open(target, lease_seconds=function.lease_seconds, on_lease_lost=deadline.stop)


def _run(
    function: FunctionSettings,
    env: Mapping[str, str],
    deadline: Deadline,
    *,
    monotonic: Callable[[], float],
    sleep: Callable[[float], None],
) -> SyncExit:
    settings = function.settings
    state = _open_state(function, env, deadline)
    try:
        ctx = build_context(
            settings,
            dry_run=settings.dry_run,
            state=state,
            deadline=deadline,
            sleep=sleep,
            monotonic=monotonic,
        )
        try:
            with state.lock(wait=0, sleep=sleep):
                log.info(
                    "sync started: %d workspace(s), state in %s, budget %s",
                    len(ctx.targets),
                    state.where,
                    f"{deadline.budget:g} s" if deadline.budget is not None else "none",
                )
                code, failure = run_and_record(ctx, cleanups=function.cleanups, kind="function")
        finally:
            ctx.close()
    finally:
        state.close()
    _report(ctx, code)
    if failure is not None:
        raise failure
    if code not in (SyncExit.OK, SyncExit.FAILURES):  # a workspace refused: the invocation failed too
        reasons = "; ".join(f"{label}: {why}" for label, why in ctx.summary.refused.items())
        raise FunctionRunFailed(f"sync ended with exit code {int(code)} ({code.name.lower()}): {reasons}")
    return code


def _report(ctx: RunContext, code: SyncExit) -> None:
    level = logging.INFO if code == SyncExit.OK else logging.WARNING
    for line in ctx.summary.render().splitlines():
        log.log(level, "%s", line.strip())
    # One record a query can parse (Application Insights: traces | where message startswith "summary ").
    log.log(level, "summary %s", json.dumps(ctx.summary.as_dict(), sort_keys=True))
    log.log(level, "sync ended with exit code %d (%s)", int(code), code.name.lower())
