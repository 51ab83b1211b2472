"""Build a run's objects from Settings: MISP, and per workspace a token provider, an upload client and a
management client, each Microsoft API with its own rate limiter (nothing touches the network yet).

Rate limiter sharing: Sentinel documents its 100 upload requests a minute "per user"; it may equally
count per workspace. Workspaces that use the same app registration (tenant, client_id) therefore share
ONE upload window, which keeps every reading of the rule; different app registrations get their own.
The management API has a window of its own per app registration, so look-ups and clean-up never spend
the upload budget.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path

from urllib3.exceptions import InsecureRequestWarning

from misp_bridge.azure.http import AzureSender
from misp_bridge.azure.keyvault import read_secrets, vault_authority
from misp_bridge.azure.management import REQUESTS_PER_MINUTE, ManagementClient
from misp_bridge.azure.ratelimit import SlidingWindow
from misp_bridge.azure.token import TOKEN_ATTEMPTS, TokenProvider
from misp_bridge.azure.upload import SentinelUploader, upload_url
from misp_bridge.cli import Environment
from misp_bridge.config import Settings, Workspace, inspect_config
from misp_bridge.config.defaults import SENTINEL_RESPONSE_FILE
from misp_bridge.config.load import usable
from misp_bridge.config.locate import Lookup
from misp_bridge.output import logs
from misp_bridge.sync import cleanup, lookup
from misp_bridge.sync.context import CleanupPass, ExistingIds, RunContext, WorkspaceTarget, utc_now
from misp_bridge.sync.convert import options_from_settings
from misp_bridge.sync.convert.patterns import without_pattern
from misp_bridge.sync.deadline import Deadline
from misp_bridge.sync.misp_source import MispSource
from misp_bridge.sync.state import State, StateStore
from misp_bridge.sync.summary import Summary

log = logging.getLogger("misp_bridge.sync")

# The limiter counts departures, Sentinel counts arrivals: slack (seconds) against network jitter avoids a
# 429 at the window's edge. Absolute, not scaled with the window: jitter does not shrink with it.
LIMITER_MARGIN = 0.5
WINDOW_SECONDS = 60.0
# Seconds a run waits for an earlier one to release the state lock before giving up (exit 5).
LOCK_WAIT = 10.0

# Command-line flag (argparse dest) -> the clean-up pass it runs after the upload.
CLEANUP_PASSES: dict[str, CleanupPass] = {
    "verify_recent_toids_change": cleanup.revoke_toids_changes,
    "delete_outdated_indicators": cleanup.revoke_expired,
}


def ca_of(settings: Settings) -> bool | str:
    """What `verify=` the Microsoft clients get: the configured CA bundle, else the system's."""
    return str(settings.ms_ca_bundle) if settings.ms_ca_bundle is not None else True


def token_provider(
    settings: Settings,
    ws: Workspace,
    *,
    timeout: float | None = None,
    attempts: int = TOKEN_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
) -> TokenProvider:
    return TokenProvider(
        tenant=ws.tenant,
        client_id=ws.client_id,
        client_secret=ws.client_secret,
        authority_host=settings.ms_authority_host,
        scope=ws.scope,
        verify=ca_of(settings),
        timeout=settings.ms_timeout if timeout is None else timeout,
        label=ws.label,
        attempts=attempts,
        sleep=sleep,
    )


def misp_source(settings: Settings, *, sleep: Callable[[float], None] = time.sleep) -> MispSource:
    return MispSource(
        url=settings.misp_domain,
        key=settings.misp_key,
        verify=settings.misp_verifycert,
        timeout=settings.misp_timeout,
        page_size=settings.misp_event_limit_per_page,
        sleep=sleep,
    )


class _Limiters:
    """One window per (API, app registration)."""

    def __init__(
        self, settings: Settings, window: float, clock: Callable[[], float], sleep: Callable[[float], None]
    ) -> None:
        self._per_minute = {"upload": settings.ms_max_requests_minute, "management": REQUESTS_PER_MINUTE}
        self._window, self._clock, self._sleep = window, clock, sleep
        self._made: dict[tuple[str, str, str], SlidingWindow] = {}

    def get(self, api: str, ws: Workspace) -> SlidingWindow:
        key = (api, ws.tenant, ws.client_id)
        if key not in self._made:
            self._made[key] = SlidingWindow(
                self._per_minute[api],
                self._window,
                margin=LIMITER_MARGIN,
                clock=self._clock,
                sleep=self._sleep,
            )
        return self._made[key]


def _target(
    settings: Settings,
    ws: Workspace,
    limiters: _Limiters,
    *,
    response_log: Path | None,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    deadline: Deadline,
) -> WorkspaceTarget:
    tokens = token_provider(settings, ws, sleep=sleep)

    def sender(api: str) -> AzureSender:
        return AzureSender(
            tokens=tokens,
            limiter=limiters.get(api, ws),
            user_agent=settings.ms_useragent,
            verify=ca_of(settings),
            timeout=settings.ms_timeout,
            sleep=sleep,
            clock=clock,
            # Uploads stop retrying once the run stops taking work; a clean-up's queries finish.
            stop=deadline.passed if api == "upload" else None,
        )

    base = settings.ms_upload_base_url if ws.new_upload_api else settings.ms_legacy_upload_base_url
    uploader = SentinelUploader(
        sender=sender("upload"),
        url=upload_url(base, ws.workspace_id, settings.ms_api_version, legacy=not ws.new_upload_api),
        label=ws.label,
        sourcesystem=settings.sourcesystem,
        legacy=not ws.new_upload_api,
        response_log=response_log,
        stopping=deadline.passed,
    )
    management = None
    if ws.has_management:
        management = ManagementClient(
            workspace=ws,
            sender=sender("management"),
            base_url=settings.ms_management_base_url,
            api_version=settings.ms_delete_api_version,
        )
    return WorkspaceTarget(ws, uploader, tokens, management)


def build_context(
    settings: Settings,
    *,
    dry_run: bool,
    state: StateStore | None = None,
    misp: MispSource | None = None,
    summary: Summary | None = None,
    existing_ids: ExistingIds | None = lookup.existing_ids,
    cleanups: Mapping[str, CleanupPass] = CLEANUP_PASSES,
    now: Callable[[], datetime] = utc_now,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
    window_seconds: float = WINDOW_SECONDS,
    budget: float | None = None,
    deadline: Deadline | None = None,
) -> RunContext:
    """Build the run's objects from settings; opens the state file (StateError) unless a state is
    handed in, but no network yet. The run stops taking new work at `deadline` (made here from
    `budget` seconds when not handed in; None: no limit)."""
    dry_run = dry_run or settings.dry_run
    deadline = deadline or Deadline(budget, monotonic)
    summary = summary or Summary(clock=monotonic)
    summary.dry_run = dry_run
    owned_state = state is None
    state = state or State.open(settings.state_file)
    work = settings.work_dir  # the state file's directory: writable wherever the state is
    response_log = work / SENTINEL_RESPONSE_FILE if settings.sentinel_write_response else None
    parsed = work / settings.parsed_indicators_file if settings.write_parsed_indicators else None
    limiters = _Limiters(settings, window_seconds, monotonic, sleep)
    targets = []
    for ws in settings.ms_auth:
        targets.append(
            _target(
                settings,
                ws,
                limiters,
                response_log=response_log,
                clock=monotonic,
                sleep=sleep,
                deadline=deadline,
            )
        )
        summary.add_workspace(ws.label)
    return RunContext(
        settings=settings,
        state=state,
        misp=misp or misp_source(settings, sleep=sleep),
        targets=tuple(targets),
        options=options_from_settings(settings),
        dry_run=dry_run,
        summary=summary,
        existing_ids=existing_ids if settings.ms_check_if_exist_in_sentinel else None,
        cleanups=cleanups,
        deadline=deadline,
        now=now,
        sleep=sleep,
        parsed_indicators_path=parsed,
        response_log_path=response_log,
        closers=(state.close,) if owned_state else (),
    )


def load_run_settings(config: Path | None, env: Environment, *, verbose: bool = False) -> Settings:
    """Settings for a run of any of the sync's tools: config.py found (config/locate.py), loaded and
    checked, logging set up from it (then its warnings logged, so the log file has them too), Key Vault
    secrets applied. Shared so script.py and delete-from-azure.py read settings alike."""
    places = Lookup.here(env.command_dir)
    found = places.config(config)
    settings, issues = inspect_config(found.path, env=env.env, lookup=places)
    settings = usable(settings, issues)
    logs.configure(settings.log_file, verbose=verbose or settings.verbose_log, stream=env.stderr)
    constants = settings.constants_path or "the tables built into misp_bridge"
    log.info("settings from %s (%s); constants from %s", found.path, found.how, constants)
    for issue in issues:  # misp_verifycert = False among them: its one warning line of the run
        log.warning("%s", issue)
    types = without_pattern(settings.upload_indicator_misp_accepted_types, settings.misp_custom_attribute)
    if types:
        log.info("accepted types without a STIX pattern, skipped as 'not an indicator type': %s", types)
    if settings.misp_verifycert is False:
        # Said once above; urllib3 would repeat it for every request to MISP.
        warnings.filterwarnings("ignore", category=InsecureRequestWarning)
    vault = settings.vault_url
    if vault:
        secrets = read_secrets(
            vault,
            authority_host=vault_authority(settings.ms_authority_host, env.env),
            ca_bundle=str(settings.ms_ca_bundle) if settings.ms_ca_bundle else None,
        )
        settings = settings.with_secrets(misp_key=secrets.misp_key, client_secret=secrets.client_secret)
    return settings
