"""What one sync run needs, built once from Settings: the state, MISP, one upload target per workspace.

`build_context()` makes the narrow I/O objects (nothing touches the network yet) and `RunContext.close()`
releases them. Cleanup (to_ids and expiry revocation) receives the same context, so it shares the
uploaders, their rate limiters, the state and the summary with the run.

Rate limiter sharing: Sentinel documents its 100 requests a minute "per user"; it may equally count per
workspace. Workspaces that use the same app registration (tenant, client_id) therefore share ONE
sliding window, which keeps every reading of the rule; different app registrations get their own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from misp_bridge.azure.ratelimit import SlidingWindow
from misp_bridge.azure.token import TokenProvider
from misp_bridge.azure.upload import SentinelUploader
from misp_bridge.config.load import Settings, Workspace
from misp_bridge.sync.convert.indicators import ConvertOptions, options_from_settings
from misp_bridge.sync.misp_source import MispSource
from misp_bridge.sync.state.store import State
from misp_bridge.sync.summary import Summary

# The limiter counts departures, Sentinel counts arrivals: slack (seconds) against network jitter avoids a
# 429 at the window's edge. Absolute, not scaled with the window: jitter does not shrink with it.
LIMITER_MARGIN = 0.5
WINDOW_SECONDS = 60.0
PARSED_INDICATORS_FILE = "parsed_indicators.txt"
SENTINEL_RESPONSE_FILE = "sentinel_response.txt"


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class WorkspaceTarget:
    """One Sentinel workspace with its uploader and token provider."""

    workspace: Workspace
    uploader: SentinelUploader
    tokens: TokenProvider

    @property
    def key(self) -> str:
        """The workspace's key in the state file (its GUID: stable when the name changes)."""
        return self.workspace.workspace_id

    @property
    def label(self) -> str:
        """The name shown in logs and the summary."""
        return self.workspace.label


@dataclass(frozen=True)
class CleanupResult:
    """What a clean-up pass did: revoked count per workspace label, what a dry run would revoke
    (stix ids), and one sentence per problem met."""

    revoked: Mapping[str, int] = field(default_factory=dict)
    would_revoke: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunContext:
    """Everything one run uses; frozen, but its parts (state, summary) are live objects."""

    settings: Settings
    state: State
    misp: MispSource
    targets: tuple[WorkspaceTarget, ...]
    options: ConvertOptions
    dry_run: bool
    summary: Summary
    now: Callable[[], datetime] = utc_now
    sleep: Callable[[float], None] = time.sleep
    parsed_indicators_path: Path | None = None
    response_log_path: Path | None = None
    _closers: tuple[Callable[[], None], ...] = field(default=(), repr=False)

    def close(self) -> None:
        for closer in self._closers:
            closer()


def _ca(settings: Settings) -> bool | str:
    return str(settings.ms_ca_bundle) if settings.ms_ca_bundle is not None else True


def build_context(
    settings: Settings,
    *,
    dry_run: bool,
    state: State | None = None,
    misp: MispSource | None = None,
    summary: Summary | None = None,
    now: Callable[[], datetime] = utc_now,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
    window_seconds: float = WINDOW_SECONDS,
) -> RunContext:
    """Build the run's objects from settings; opens the state file (StateError) but no network yet."""
    dry_run = dry_run or settings.dry_run
    summary = summary or Summary(clock=monotonic)
    summary.dry_run = dry_run
    owned_state = state is None
    state = state or State.open(settings.state_file)
    misp = misp or MispSource(
        url=settings.misp_domain,
        key=settings.misp_key,
        verify=settings.misp_verifycert,
        timeout=settings.misp_timeout,
        page_size=settings.misp_event_limit_per_page,
    )
    beside = settings.config_path.parent
    parsed = beside / PARSED_INDICATORS_FILE if settings.write_parsed_indicators else None
    response_log = beside / SENTINEL_RESPONSE_FILE if settings.sentinel_write_response else None
    limiters: dict[tuple[str, str], SlidingWindow] = {}
    targets = []
    for ws in settings.ms_auth:
        limiter = limiters.setdefault(
            (ws.tenant, ws.client_id),
            SlidingWindow(
                settings.ms_max_requests_minute,
                window_seconds,
                margin=LIMITER_MARGIN,
                clock=monotonic,
                sleep=sleep,
            ),
        )
        tokens = TokenProvider(
            tenant=ws.tenant,
            client_id=ws.client_id,
            client_secret=ws.client_secret,
            authority_host=settings.ms_authority_host,
            scope=ws.scope,
            verify=_ca(settings),
            timeout=settings.ms_timeout,
            label=ws.label,
        )
        uploader = SentinelUploader(
            workspace_id=ws.workspace_id,
            label=ws.label,
            tokens=tokens,
            limiter=limiter,
            base_url=settings.ms_upload_base_url,
            api_version=settings.ms_api_version,
            legacy=not ws.new_upload_api,
            legacy_base_url=settings.ms_legacy_upload_base_url,
            sourcesystem=settings.sourcesystem,
            user_agent=settings.ms_useragent,
            verify=_ca(settings),
            timeout=settings.ms_timeout,
            sleep=sleep,
            clock=monotonic,
            response_log=response_log,
        )
        targets.append(WorkspaceTarget(ws, uploader, tokens))
        summary.add_workspace(ws.label)
    return RunContext(
        settings=settings,
        state=state,
        misp=misp,
        targets=tuple(targets),
        options=options_from_settings(settings),
        dry_run=dry_run,
        summary=summary,
        now=now,
        sleep=sleep,
        parsed_indicators_path=parsed,
        response_log_path=response_log,
        _closers=(state.close,) if owned_state else (),
    )
