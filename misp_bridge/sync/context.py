"""What one sync run holds: the state, MISP, one upload target per workspace, and the run's services.

These are plain records; `misp_bridge.sync.wiring.build_context` builds them from Settings. Everything a
run calls that a test may want to replace is a field here and handed in, never patched in afterwards:
the existing-ids lookup (`ms_check_if_exist_in_sentinel`), the clean-up passes the flags ask for, the
record of what this run has revoked already, and the run's deadline (deadline.py: when it stops taking
new work). The state is any StateStore (state/protocol.py): a SQLite file or an Azure table.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from misp_bridge.azure.management import ManagementClient, require_management
from misp_bridge.azure.token import TokenProvider
from misp_bridge.azure.upload import SentinelUploader
from misp_bridge.config import Settings, Workspace
from misp_bridge.sync.convert import ConvertOptions
from misp_bridge.sync.deadline import Deadline
from misp_bridge.sync.misp_source import MispSource
from misp_bridge.sync.state import StateStore
from misp_bridge.sync.summary import Summary


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class WorkspaceTarget:
    """One Sentinel workspace with its uploader, token provider and (when configured) management client."""

    workspace: Workspace
    uploader: SentinelUploader
    tokens: TokenProvider
    management_client: ManagementClient | None = None

    @property
    def key(self) -> str:
        """The workspace's key in the state file (its GUID: stable when the name changes)."""
        return self.workspace.workspace_id

    @property
    def label(self) -> str:
        """The name shown in logs and the summary."""
        return self.workspace.label

    def management(self, purpose: str) -> ManagementClient:
        """The management client; a ConfigError naming the missing ms_auth keys when there is none."""
        if self.management_client is None:
            require_management(self.workspace, purpose)
        assert self.management_client is not None  # require_management raised otherwise
        return self.management_client


@dataclass(frozen=True)
class CleanupResult:
    """What a clean-up pass did: revoked count per workspace label, what a dry run would revoke
    (stix ids), and one sentence per problem met."""

    revoked: Mapping[str, int] = field(default_factory=dict)
    would_revoke: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()


class RevokedInRun:
    """The ids this run has revoked, per workspace: a second clean-up pass in the same run (to_ids,
    then expiry) must not revoke again what the query lag still shows as active."""

    def __init__(self) -> None:
        self._ids: dict[str, set[str]] = {}

    def of(self, workspace_key: str) -> set[str]:
        return self._ids.setdefault(workspace_key, set())


# (run, workspace, stix ids) -> the ids Sentinel already holds for our source.
ExistingIds = Callable[["RunContext", WorkspaceTarget, list[str]], set[str]]
# (run, event uuid or None) -> what the pass revoked.
CleanupPass = Callable[["RunContext", "str | None"], CleanupResult]


@dataclass(frozen=True)
class RunContext:
    """Everything one run uses; frozen, but its parts (state, summary, revoked) are live objects."""

    settings: Settings
    state: StateStore
    misp: MispSource
    targets: tuple[WorkspaceTarget, ...]
    options: ConvertOptions
    dry_run: bool
    summary: Summary
    existing_ids: ExistingIds | None = None  # set when ms_check_if_exist_in_sentinel is on
    cleanups: Mapping[str, CleanupPass] = field(default_factory=dict)  # flag name -> pass
    revoked: RevokedInRun = field(default_factory=RevokedInRun)
    deadline: Deadline = field(default_factory=Deadline)  # no budget unless one is handed in
    now: Callable[[], datetime] = utc_now
    sleep: Callable[[float], None] = time.sleep
    parsed_indicators_path: Path | None = None
    response_log_path: Path | None = None
    closers: tuple[Callable[[], None], ...] = field(default=(), repr=False)

    def close(self) -> None:
        for closer in self.closers:
            closer()


# (settings, dry_run=..., sleep=...) -> a RunContext: what the CLIs call; tests hand in their own.
ContextFactory = Callable[..., RunContext]
