"""One sync run: MISP pages -> indicators -> state -> Sentinel, for every workspace at once.

Lifecycle (see `run_sync`): the caller builds a RunContext and holds the state lock; then, per workspace,
the indicators left pending by earlier runs are sent first; then MISP is streamed one page at a time;
each event is converted, each page's indicators are classified against the state per workspace (under
the id of their current generation there; one whose id was revoked comes back under the next), and the
new or changed ones go, in batches, to that workspace's upload feed: a thread running the uploader's
`upload_all` (a few requests in flight, the shared rate limiter) behind a small bounded queue. Memory is
one MISP page plus the queued and in-flight batches, whatever the size of MISP.

A workspace Sentinel refuses (403, 404, no token) stops alone: what it still had to send is kept
pending in the state for the next run. A dry run converts and classifies but sends nothing and writes
no state.

When the run's deadline passes (`RunContext.deadline`: a time budget, or the state lease lost), it stops
taking new work: no further pending item is put, no further MISP event is read, and what is converted
but not sent is kept pending by the feeds; batches already sent are answered and recorded. The next
run sends the pending items first and reads MISP again, so nothing is lost and nothing sent twice.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import IO

from misp_bridge.errors import OutputFileError
from misp_bridge.output.files import open_text
from misp_bridge.sync.context import RunContext, WorkspaceTarget
from misp_bridge.sync.convert import Skip, convert_event, iso
from misp_bridge.sync.feed import UploadFeed, UploadTotals
from misp_bridge.sync.indicator import Indicator
from misp_bridge.sync.summary import Summary

__all__ = ["finalize_summary", "note_stop", "run_sync", "upload_indicators"]

log = logging.getLogger("misp_bridge.sync")

# Indicators classified against the state at once: few queries, little memory.
CLASSIFY_CHUNK = 1000


def upload_indicators(
    ctx: RunContext,
    target: WorkspaceTarget,
    indicators: Iterable[Indicator],
    *,
    on_batch: Callable[[list[Indicator], list[str]], None] | None = None,
) -> UploadTotals:
    """Upload indicators (e.g. revoked copies) to one workspace through the run's batching, limiter
    and state bookkeeping: delivered ones are recorded, rejected ones recorded and logged, failed ones
    kept pending. `on_batch(indicators, delivered_ids)` is called after each batch. A dry run counts only.
    """
    feed = UploadFeed(ctx, target, on_batch=on_batch)
    with feed:
        for indicator in indicators:
            feed.put(indicator)
    return feed.totals


class _Run:
    """The state of one run_sync call (kept apart so run_sync itself reads as the lifecycle)."""

    def __init__(self, ctx: RunContext, progress: Callable[[int], None] | None) -> None:
        self.ctx = ctx
        self.summary = ctx.summary
        self.progress = progress
        self.lookup = ctx.existing_ids

    def send_pending(self, feeds: dict[str, UploadFeed]) -> None:
        """Items an earlier run could not deliver go first, before anything from MISP."""
        for target in self.ctx.targets:
            feed = feeds[target.key]
            count = 0
            for pending in self.ctx.state.pending(target.key):
                if self.ctx.deadline.passed():
                    break  # the rest stays pending as it is
                feed.put(pending.indicator, from_pending=True)
                count += 1
            if count:
                log.info(
                    "workspace %s: sending %d indicators left pending by an earlier run", target.label, count
                )
            # Pending first means delivered first: wait for them before MISP items can overlap them.
            feed.drain()

    def pages(self, event_uuid: str | None, parsed: IO[str] | None) -> Iterator[list[Indicator]]:
        """Convert MISP events and yield their indicators about CLASSIFY_CHUNK at a time."""
        page: list[Indicator] = []
        for event in self.ctx.misp.events(self.ctx.settings.misp_event_filters, uuid=event_uuid):
            if self.ctx.deadline.passed():
                # The events not read yet are read again by the next run (its filters still match them).
                break
            self.summary.total("events")
            if self.ctx.settings.write_parsed_eventid:
                log.info("parsing MISP event id %s (uuid %s)", event.get("id"), event.get("uuid"))
            previous: str | None = None
            for result in convert_event(event, self.ctx.options, self.ctx.now()):
                # A split composite (domain|ip) yields two indicators in a row for one attribute.
                if result.attribute_uuid != previous or not previous:
                    self.summary.total("attributes")
                previous = result.attribute_uuid
                if isinstance(result, Skip):
                    self.summary.skip(result.reason)
                    continue
                self.summary.total("indicators")
                if parsed is not None:
                    parsed.write(json.dumps(dict(result.body), sort_keys=True) + "\n")
                page.append(result)
            if self.progress is not None:
                self.progress(1)
            if len(page) >= CLASSIFY_CHUNK:
                yield page
                page = []
        if page:
            yield page
        if event_uuid is not None and not self.summary.get_total("events"):
            log.warning("no MISP event with uuid %s matches misp_event_filters", event_uuid)

    def dispatch(self, page: list[Indicator], feeds: dict[str, UploadFeed]) -> None:
        """Classify a page against each workspace's state and queue what must go. Each workspace sees
        the ids of the indicators' current generations; one whose id was revoked comes back under the
        next generation's id (revocation is final in Sentinel)."""
        for target in self.ctx.targets:
            items = self.ctx.state.current(target.key, page)
            statuses = self.ctx.state.classify(target.key, [(i.stix_id, i.content_hash) for i in items])
            due: list[tuple[Indicator, str]] = []
            returning: list[Indicator] = []
            for item in items:
                status = statuses.get(item.stix_id, "new")
                if status == "unchanged":
                    self.summary.count(target.label, "unchanged")
                elif status == "rejected":
                    self.summary.count(target.label, "rejected_unchanged")
                elif status == "revoked":
                    returning.append(item)
                else:
                    due.append((item, status))
            due += self._returning(target, returning)
            due = self._not_in_sentinel(target, due)
            feed = feeds[target.key]
            stamp = iso(self.ctx.now())
            for item, kind in due:
                feed.put(_newer_version(item, stamp) if kind == "changed" else item)

    def _returning(self, target: WorkspaceTarget, items: list[Indicator]) -> list[tuple[Indicator, str]]:
        """Indicators revoked earlier that MISP offers again: their next generation, new to Sentinel."""
        if not items:
            return []
        moved, stuck = self.ctx.state.next_generation(target.key, items, persist=not self.ctx.dry_run)
        log.info(
            "workspace %s: %d revoked indicators are back in MISP; they go under new ids",
            target.label,
            len(moved),
        )
        self.summary.count(target.label, "returned", len(moved))
        for item in stuck:
            log.error("workspace %s: %s has no new id left to come back under", target.label, item.base)
        return [(item, "new") for item in moved]

    def _not_in_sentinel(
        self, target: WorkspaceTarget, due: list[tuple[Indicator, str]]
    ) -> list[tuple[Indicator, str]]:
        """ms_check_if_exist_in_sentinel: ids the state never saw are looked up in Sentinel first."""
        if self.lookup is None or not target.workspace.has_management:
            return due
        unknown = [item.stix_id for item, status in due if status == "new"]
        found: set[str] = set()
        for start in range(0, len(unknown), 100):
            found |= self.lookup(self.ctx, target, unknown[start : start + 100])
        if found:
            self.summary.count(target.label, "exists_in_sentinel", len(found))
        return [(item, status) for item, status in due if item.stix_id not in found]


def run_sync(
    ctx: RunContext, *, event_uuid: str | None = None, progress: Callable[[int], None] | None = None
) -> Summary:
    """One sync run; the caller holds the state lock. MISP errors propagate (MispError); a refused
    workspace is noted in the summary and the others carry on."""
    run = _Run(ctx, progress)
    with ExitStack() as stack:
        parsed: IO[str] | None = None
        if ctx.parsed_indicators_path is not None:
            parsed = stack.enter_context(_private_text(ctx.parsed_indicators_path))
        if ctx.response_log_path is not None and not ctx.dry_run:
            _private_text(ctx.response_log_path).close()  # one run's replies per file
        feeds: dict[str, UploadFeed] = {}
        for target in ctx.targets:
            feeds[target.key] = stack.enter_context(UploadFeed(ctx, target))
        if not ctx.dry_run:
            run.send_pending(feeds)
        for page in run.pages(event_uuid, parsed):
            run.dispatch(page, feeds)
    # Leaving the stack closed every feed: all batches are answered and recorded by now.
    note_stop(ctx)
    finalize_summary(ctx)
    return ctx.summary


def note_stop(ctx: RunContext) -> None:
    """When the deadline cut the run short: say so once, in the log and the summary."""
    reason = ctx.deadline.reason
    if reason is None or ctx.summary.stopped is not None:
        return
    ctx.summary.stop(reason)
    log.warning(
        "%s: the run stopped taking new work after %.0f s; what it could not send is kept pending and "
        "the next run goes on from there",
        reason,
        ctx.deadline.elapsed(),
    )


def _private_text(path: Path) -> IO[str]:
    """A file of ours, emptied: owner-only, never through a symbolic link (it holds threat intel)."""
    try:
        return open_text(path, "w")
    except OSError as exc:
        raise OutputFileError(path, exc.strerror or str(exc)) from exc


def finalize_summary(ctx: RunContext) -> None:
    """Copy the end-of-run figures kept elsewhere (state, uploaders) into the summary; idempotent."""
    for target in ctx.targets:
        ctx.summary.set(target.label, "pending", ctx.state.pending_count(target.key))
        ctx.summary.set(target.label, "requests", target.uploader.stats.requests)
        ctx.summary.set(target.label, "throttled", target.uploader.stats.throttled)
    ctx.summary.finish()


def _newer_version(item: Indicator, stamp: str) -> Indicator:
    """A changed indicator whose attribute timestamp did not move (an event tag or the event info was
    edited, or valid_until counts from the current date) would reach Sentinel with the `modified` of the
    version it already holds; STIX versioning wants a later one, so the update carries the run's time."""
    if str(item.body.get("modified", "")) >= stamp:
        return item
    return item.with_changes(modified=stamp)
