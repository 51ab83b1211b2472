"""Which indicators Sentinel already holds for our source (`ms_check_if_exist_in_sentinel`)."""

from __future__ import annotations

from collections.abc import Sequence

from misp_bridge.sync.context import RunContext, WorkspaceTarget


def existing_ids(ctx: RunContext, target: WorkspaceTarget, stix_ids: Sequence[str]) -> set[str]:
    """The state answers first (ids it recorded as delivered, revoked ones included, as they exist);
    the rest is asked of Sentinel (misp_bridge/azure/management.py: by `ids` in batches, or from one
    read of the whole source when `ids` cannot be relied on), revoked items included."""
    wanted = list(dict.fromkeys(stix_ids))
    known = ctx.state.known_ids(target.key, wanted) if wanted else set()
    rest = [sid for sid in wanted if sid not in known]
    if not rest:
        return known
    client = target.management("look up which indicators already exist")
    return known | client.existing(rest, source=ctx.settings.sourcesystem)
