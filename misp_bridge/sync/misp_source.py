"""Reading MISP for the sync, one page at a time, through the project's MISP client.

Errors come out of misp_bridge/misp/client.py already translated (MispUnavailable, MispKeyRefused,
MispRejected, ...); the sensible thing for a sync to do about any of them is to stop with exit 3. Before
that: a rate-limited search (429) is waited out as MISP's X-Rate-Limit-Reset asks (the client does it),
and a page MISP cannot build within misp_timeout (it writes the whole page before the first byte) is
asked again at half the size, and the run goes on with that size, saying so in the log. Paging asks for
a stable order and stops on the first empty page (a short page is not the last one when warninglists
remove rows).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from pymisp import PyMISP

from misp_bridge.errors import MispError, MispTimeout
from misp_bridge.misp import MispClient

log = logging.getLogger("misp_bridge.misp")

MAX_PAGES = 1_000_000  # a guard against a server that never returns an empty page
# A rate-limited search is asked this many times in all (MISP's window is at most 900 s).
THROTTLE_ATTEMPTS = 3


def smaller_page(size: int, offset: int) -> int:
    """The largest page size up to half of `size` that still starts a page at `offset` (pages are
    numbered: page p of size n covers items (p-1)n .. pn-1)."""
    for candidate in range(max(1, size // 2), 0, -1):
        if offset % candidate == 0:
            return candidate
    return 1


class MispSource:
    """A narrow gateway to MISP for the sync: connect, page events, page attributes."""

    def __init__(
        self,
        *,
        url: str,
        key: str,
        verify: bool | str,
        timeout: float,
        page_size: int,
        factory: Callable[..., PyMISP] = PyMISP,
        sleep: Callable[[float], None] = time.sleep,
        throttle_attempts: int = THROTTLE_ATTEMPTS,
    ) -> None:
        self._timeout = timeout
        self._client = MispClient(
            url,
            key,
            verify=verify,
            timeout=timeout,
            key_hint="check misp_key",
            tls_hint="set misp_verifycert to the CA bundle path",
            url_hint="check misp_domain",
            factory=factory,
            throttle_attempts=throttle_attempts,
            sleep=sleep,
        )
        self.url = self._client.url
        self.page_size = page_size

    @property
    def version(self) -> str | None:
        return self._client.version

    def connect(self) -> PyMISP:
        """Construct PyMISP (three network calls); raises a MispError."""
        return self._client.connect()

    def _search(self, controller: str, action: str, **query: Any) -> Any:
        reply = self._client.call(
            action, lambda client: client.search(controller=controller, return_format="json", **query)
        )
        return self._client.checked(reply, action)

    def _pages(self, controller: str, what: str, order: str, query: Mapping[str, Any]) -> Iterator[Any]:
        """Replies to one search, page after page, until MISP answers an empty page. A page MISP could not
        build within misp_timeout is asked again smaller; the smaller size stays for the rest of the run."""
        offset = 0
        for _ in range(MAX_PAGES):
            size = self.page_size
            page = offset // size + 1
            try:
                reply = self._search(
                    controller, f"{what} (page {page})", limit=size, page=page, order=order, **query
                )
            except MispTimeout:
                if size == 1:
                    raise
                self.page_size = smaller_page(size, offset)
                log.warning(
                    "MISP did not answer a page of %d %s within misp_timeout (%g s): it builds the whole "
                    "page first; asking for pages of %d from now on (set misp_event_limit_per_page lower "
                    "to start there)",
                    size,
                    controller,
                    self._timeout,
                    self.page_size,
                )
                continue
            if not reply:  # [] for events, {"Attribute": []} is truthy: checked by the caller
                return
            yield reply
            offset += size

    def events(self, filters: Mapping[str, Any], *, uuid: str | None = None) -> Iterator[dict[str, Any]]:
        """Every matching event (the inner dict), one page in memory at a time, in id order."""
        query = dict(filters)
        if uuid is not None:
            # One event by hand: the filters still apply except the time windows, as the original tool.
            query = {k: v for k, v in query.items() if k not in ("publish_timestamp", "timestamp", "last")}
            query["uuid"] = uuid
        for reply in self._pages("events", "the events search", "Event.id", query):
            if not isinstance(reply, list):
                raise MispError(
                    f"MISP at {self.url} answered the events search with {type(reply).__name__}, not a list"
                )
            for item in reply:
                event = item.get("Event", item) if isinstance(item, Mapping) else None
                if isinstance(event, Mapping):
                    yield dict(event)

    def attributes(self, **filters: Any) -> Iterator[dict[str, Any]]:
        """Matching attributes (flattened, with their Event summary), page by page."""
        for reply in self._pages("attributes", "the attributes search", "Attribute.id", filters):
            rows = reply.get("Attribute") if isinstance(reply, Mapping) else None
            if rows is None:
                raise MispError(
                    f"MISP at {self.url} answered the attributes search without an Attribute list"
                )
            if not rows:
                return
            yield from (dict(row) for row in rows)

    def count_events(self, filters: Mapping[str, Any]) -> int:
        """How many events match (check-config): counts pages of metadata only."""
        query = {**dict(filters), "metadata": True}
        total = 0
        for reply in self._pages("events", "the events count", "Event.id", query):
            if not isinstance(reply, list):
                raise MispError(f"MISP at {self.url} answered the events count with {type(reply).__name__}")
            total += len(reply)
        return total
