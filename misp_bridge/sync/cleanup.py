"""Revoking indicators in Sentinel: to_ids changes, expired indicators and delete-from-azure.

Sentinel's DELETE does not remove objects that came in through the upload API (docs/contracts.md 5), so every
clean-up here re-uploads the indicator under the same STIX id with `revoked: true` and a newer `modified`,
through the run's upload feed (its batches, shared rate limiter and bookkeeping): a delivered revocation
is recorded in the state as final, a failed one is kept pending for the next run. Only indicators of our
`sourcesystem` are touched: every management query filters `sources`, and every item returned is checked
again here (source, STIX id, `revoked`, `validUntil`): what `ids` and `includeDisabled` mean is
undocumented, so neither is trusted.

Where a revoked body comes from:
- to_ids changes with a state: the MISP attribute (to_ids forced back on) and the event summary MISP
  sends with it, through `convert_attribute`, under the id of the indicator's current generation; ids
  the rebuild does not produce (the value changed since the upload) are looked up in Sentinel when the
  management API is configured.
- everything else (to_ids with an empty state, expiry, delete-from-azure): the queryIndicators item,
  which holds the stored pattern, validity and references, converted back from ARM's spelling.

The run remembers what it revoked per workspace (`RunContext.revoked`), so a second pass in the same run
(to_ids, then expiry) does not revoke again an indicator that the query lag still shows as active.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from misp_bridge.azure.management import (
    ManagementClient,
    external_id,
    of_source,
    properties,
)
from misp_bridge.sync.context import CleanupResult, RunContext, WorkspaceTarget
from misp_bridge.sync.convert import convert_attribute, generation_id, iso, revoked
from misp_bridge.sync.indicator import Indicator
from misp_bridge.sync.items import body_from_item, item_time
from misp_bridge.sync.pipeline import upload_indicators

log = logging.getLogger("misp_bridge.cleanup")

DeleteMode = Literal["all", "older_than", "uuid"]

# With an empty state, the to_ids pass looks for these many generations after the first of each id.
GENERATIONS_LOOKED_UP = 3
# The expiry pass asks for what expired since the last complete pass, less this overlap.
EXPIRY_MARK = "expiry_pass"
EXPIRY_OVERLAP = timedelta(days=1)


def _from_items(items: Iterable[Mapping[str, Any]], source: str) -> Iterator[Indicator]:
    for item in items:
        if not of_source(item, source) or properties(item).get("revoked"):
            continue
        body = body_from_item(item)
        if body is None:
            log.warning("indicator %s cannot be rebuilt from Sentinel's reply; skipped", external_id(item))
            continue
        yield Indicator.from_body(body)


def _rebuild(ctx: RunContext, attribute: Mapping[str, Any]) -> list[Indicator]:
    """The indicators (generation 0) this attribute gave while it had to_ids set."""
    event = attribute.get("Event")
    as_uploaded = {**attribute, "to_ids": True, "deleted": False}
    result = convert_attribute(
        as_uploaded, event if isinstance(event, Mapping) else {}, ctx.options, ctx.now()
    )
    return result if isinstance(result, list) else []


# --- revoking -------------------------------------------------------------------------------------


def revoke(ctx: RunContext, target: WorkspaceTarget, revocations: Iterable[Indicator]) -> CleanupResult:
    """Upload each indicator revoked (once per run) through the run's upload feed: delivered ones are
    recorded revoked, refused ones reported, failed ones kept pending and sent again by the next run.
    A dry run only lists."""
    done = ctx.revoked.of(target.key)
    todo: dict[str, Indicator] = {}
    for revocation in revocations:
        if revocation.stix_id not in done:
            todo.setdefault(revocation.stix_id, revocation)
    if not todo:
        return CleanupResult({target.label: 0})
    if ctx.dry_run:
        for stix_id in todo:
            log.info("workspace %s: would revoke %s (dry run)", target.label, stix_id)
        ctx.summary.count(target.label, "would_revoke", len(todo))
        return CleanupResult({target.label: 0}, would_revoke=tuple(todo))
    now = ctx.now()

    def note(_items: list[Indicator], delivered: list[str]) -> None:
        done.update(delivered)

    totals = upload_indicators(ctx, target, (revoked(r, now) for r in todo.values()), on_batch=note)
    errors = list(totals.problems)
    refused = totals.refused or (str(target.uploader.stopped) if target.uploader.stopped else None)
    if refused:
        errors.append(f"{refused}; its revocations are kept to send next run")
    for error in errors:
        log.error("workspace %s: revocation failed: %s", target.label, error)
    log.info("workspace %s: revoked %d indicators", target.label, totals.revoked)
    return CleanupResult(
        {target.label: totals.revoked}, errors=tuple(f"workspace {target.label}: {e}" for e in errors)
    )


def merge(results: Iterable[CleanupResult]) -> CleanupResult:
    """One result for the whole run out of per-workspace ones."""
    revoked_counts: dict[str, int] = {}
    would: list[str] = []
    errors: list[str] = []
    for result in results:
        for label, count in result.revoked.items():
            revoked_counts[label] = revoked_counts.get(label, 0) + count
        would.extend(result.would_revoke)
        errors.extend(result.errors)
    return CleanupResult(revoked_counts, tuple(would), tuple(errors))


# --- --verify-recent-toids-change -----------------------------------------------------------------


def _toids_from_state(
    ctx: RunContext, target: WorkspaceTarget, attributes: Mapping[str, Mapping[str, Any]]
) -> Iterator[Indicator]:
    uploaded = ctx.state.uploaded_for_attributes(target.key, list(attributes))
    unresolved: list[str] = []
    for attribute_uuid, stix_ids in uploaded.items():
        rebuilt = _rebuild(ctx, attributes[attribute_uuid])
        current = {i.stix_id: i for i in ctx.state.current(target.key, rebuilt)}
        for stix_id in stix_ids:
            if stix_id in current:
                yield current[stix_id]
            else:
                unresolved.append(stix_id)
    if not unresolved:
        return
    if target.management_client is None:
        log.warning(
            "workspace %s: %d uploaded indicators changed in MISP and cannot be rebuilt; set "
            "subscription_id, resourceGroupName and workspaceName in ms_auth to revoke them",
            target.label,
            len(unresolved),
        )
        return
    source = ctx.settings.sourcesystem
    client = target.management_client
    yield from _from_items(client.find(unresolved, source=source), source)


def _toids_from_sentinel(
    ctx: RunContext, target: WorkspaceTarget, attributes: Mapping[str, Mapping[str, Any]]
) -> Iterator[Indicator]:
    """The state knows nothing (first run, lost file): ask Sentinel for the ids the attributes give,
    in their first GENERATIONS_LOOKED_UP generations (which one is live is what the state forgot)."""
    client = target.management("find indicators to revoke while the state file is empty")
    ids = [
        generation_id(indicator.stix_id, generation)
        for attribute in attributes.values()
        for indicator in _rebuild(ctx, attribute)
        for generation in range(GENERATIONS_LOOKED_UP + 1)
    ]
    source = ctx.settings.sourcesystem
    yield from _from_items(client.find(ids, source=source), source)


def revoke_toids_changes(ctx: RunContext, event_uuid: str | None = None) -> CleanupResult:
    """Revoke the indicators of attributes whose to_ids was turned off within timeframe_toids_change."""
    filters: dict[str, Any] = {
        "to_ids": 0,
        "timestamp": ctx.settings.timeframe_toids_change,
        "includeEventTags": True,
    }
    if event_uuid is not None:
        filters["uuid"] = event_uuid
    attributes = {
        str(a["uuid"]): a
        for a in ctx.misp.attributes(**filters)
        if isinstance(a.get("uuid"), str) and a["uuid"]
    }
    log.info("%d MISP attributes lost their to_ids flag recently", len(attributes))
    results = []
    for target in ctx.targets:
        if not attributes:
            results.append(CleanupResult({target.label: 0}))
            continue
        if ctx.state.is_empty(target.key):
            found = list(_toids_from_sentinel(ctx, target, attributes))
        else:
            found = list(_toids_from_state(ctx, target, attributes))
        results.append(revoke(ctx, target, found))
    return merge(results)


# --- --delete-outdated-indicators -----------------------------------------------------------------


def _of_event(ctx: RunContext, target: WorkspaceTarget, event_uuid: str) -> set[str]:
    return {
        stix_id for stix_id, _attr, _event in ctx.state.uploaded_body_ids(target.key, event_uuid=event_uuid)
    }


def _mentions_event(item: Mapping[str, Any], event_uuid: str) -> bool:
    wanted = event_uuid.lower()
    for reference in properties(item).get("externalReferences") or []:
        if isinstance(reference, Mapping):
            if str(reference.get("external_id") or reference.get("externalId") or "").lower() == wanted:
                return True
            if str(reference.get("url") or "").lower().rstrip("/").endswith("/" + wanted):
                return True
    return False


def _query_items(
    ctx: RunContext, client: ManagementClient, filters: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Active items of our source matching `filters`. What `includeDisabled: false` hides (revoked?
    expired?) is undocumented, so the query asks for everything and `revoked` is checked here.
    Every page is read before anything is revoked: revoked items could leave the result set and shift
    the offsets later skip tokens point at."""
    source = ctx.settings.sourcesystem
    query = {**dict(filters), "sources": [source], "includeDisabled": True}
    return [
        item
        for item in client.query(query)
        if of_source(item, source) and not properties(item).get("revoked")
    ]


def _expired(item: Mapping[str, Any], now: datetime) -> bool:
    """The item's validUntil has passed (checked here, not left to the query's filter)."""
    until = item_time(properties(item), "validUntil")
    return until is not None and until <= now


def _keep_event(
    ctx: RunContext, target: WorkspaceTarget, items: list[dict[str, Any]], event_uuid: str | None
) -> list[dict[str, Any]]:
    if event_uuid is None:
        return items
    ids = _of_event(ctx, target, event_uuid)
    return [item for item in items if external_id(item) in ids or _mentions_event(item, event_uuid)]


def revoke_expired(ctx: RunContext, event_uuid: str | None = None) -> CleanupResult:
    """Revoke indicators of our source whose validUntil has passed (one event's only with event_uuid).

    Revoked items stay listed by queryIndicators for good, so a pass asks only for what expired since
    the last complete pass (less EXPIRY_OVERLAP); the first pass, and one for a single event, ask for
    everything expired."""
    results = []
    now = ctx.now()
    for target in ctx.targets:
        client = target.management("find expired indicators")
        filters = {"maxValidUntil": iso(now)}
        since = ctx.state.mark(target.key, EXPIRY_MARK) if event_uuid is None else None
        if since is not None:
            filters["minValidUntil"] = iso(datetime.fromtimestamp(since, timezone.utc) - EXPIRY_OVERLAP)
        items = _query_items(ctx, client, filters)
        items = [item for item in _keep_event(ctx, target, items, event_uuid) if _expired(item, now)]
        result = revoke(ctx, target, _from_items(items, ctx.settings.sourcesystem))
        if event_uuid is None and not ctx.dry_run and not result.errors:
            ctx.state.set_mark(target.key, EXPIRY_MARK, now.timestamp())
        results.append(result)
    return merge(results)


# --- delete-from-azure ----------------------------------------------------------------------------


def _last_touched(item: Mapping[str, Any]) -> datetime | None:
    props = properties(item)
    stamps = [t for key in ("created", "modified", "lastUpdatedTimeUtc") if (t := item_time(props, key))]
    return max(stamps) if stamps else None


def select_for_delete(
    ctx: RunContext,
    target: WorkspaceTarget,
    *,
    mode: DeleteMode,
    older_than_days: int | None = None,
    event_uuid: str | None = None,
) -> list[Indicator]:
    """Active indicators of our source in the workspace that delete-from-azure would revoke."""
    client = target.management("list the indicators delete-from-azure revokes")
    items = _query_items(ctx, client, {})
    if mode == "older_than":
        cutoff = ctx.now() - timedelta(days=older_than_days or 0)
        items = [i for i in items if (t := _last_touched(i)) is not None and t < cutoff]
    elif mode == "uuid":
        if not event_uuid:
            return []
        items = _keep_event(ctx, target, items, event_uuid)
    return list(_from_items(items, ctx.settings.sourcesystem))


__all__ = [
    "CleanupResult",
    "DeleteMode",
    "body_from_item",
    "merge",
    "revoke",
    "revoke_expired",
    "revoke_toids_changes",
    "select_for_delete",
]
