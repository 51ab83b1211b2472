"""Reading MISP through PyMISP, one page at a time.

PyMISP reports trouble in three ways (CONTRACTS.md 2): it raises for 5xx and HTML bodies, it RETURNS
`{"errors": (status, body)}` for a 4xx, and the constructor itself makes three network calls. Everything
here turns those into `MispUnavailable` (worth retrying later) or `MispError` (fix something first), so no
error dict travels further. Paging asks for a stable order and stops on the first empty page (a short page
is not the last one when warninglists remove rows).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import requests
from pymisp import PyMISP
from pymisp.exceptions import MISPServerError, PyMISPError, PyMISPUnexpectedResponse

from misp_bridge.errors import MispError, MispUnavailable

log = logging.getLogger("misp_bridge.misp")

MAX_PAGES = 1_000_000  # a guard against a server that never returns an empty page


def _describe(status: int, body: Any) -> str:
    if isinstance(body, Mapping):
        message = body.get("message") or body.get("name") or ""
        return f"HTTP {status}: {message}".strip()
    return f"HTTP {status}"


def _root_cause(exc: BaseException) -> BaseException:
    """The requests/PyMISP error under PyMISP's constructor wrapper ("Unable to connect to MISP ...").

    The constructor re-raises any failure as a bare PyMISPError inside its `except`, so the real cause
    (refused connection, untrusted certificate, HTML body) is only on the implicit exception context.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (requests.RequestException, MISPServerError, PyMISPUnexpectedResponse)):
            return current
        current = current.__cause__ or current.__context__
    return exc


class MispSource:
    """A narrow gateway to MISP for the sync: connect, page events, page attributes, fetch one event."""

    def __init__(
        self,
        *,
        url: str,
        key: str,
        verify: bool | str = True,
        timeout: float = 30.0,
        page_size: int = 500,
        factory: Callable[..., PyMISP] = PyMISP,
    ) -> None:
        self.url = url.rstrip("/")
        self._key = key
        self._verify = verify
        self._timeout = timeout
        self.page_size = page_size
        self._factory = factory
        self._client: PyMISP | None = None
        self.version: str | None = None

    def _fail(self, action: str, exc: BaseException) -> MispError:
        exc = _root_cause(exc)
        if isinstance(exc, requests.exceptions.SSLError):
            return MispError(
                f"MISP at {self.url}: TLS certificate not trusted while {action}; set misp_verifycert "
                "to the CA bundle path"
            )
        if isinstance(exc, requests.Timeout):
            return MispUnavailable(f"MISP at {self.url} timed out while {action}")
        if isinstance(exc, requests.ConnectionError):
            return MispUnavailable(f"MISP at {self.url} is unreachable while {action}")
        if isinstance(exc, MISPServerError):
            return MispUnavailable(f"MISP at {self.url} failed with a server error while {action}")
        if isinstance(exc, PyMISPUnexpectedResponse):
            return MispError(
                f"MISP at {self.url} answered something that is not JSON while {action} "
                "(a login page or a proxy? check misp_domain)"
            )
        text = str(exc)
        if "Authentication failed" in text or "403" in text:
            return MispError(f"MISP at {self.url} refused the API key (check misp_key) while {action}")
        return MispError(
            f"MISP at {self.url}: {text.splitlines()[0] if text else type(exc).__name__} while {action}"
        )

    def connect(self) -> PyMISP:
        """Construct PyMISP (three network calls); raises MispError/MispUnavailable."""
        if self._client is None:
            try:
                client = self._factory(self.url, self._key, ssl=self._verify, timeout=self._timeout)
                version = client.misp_instance_version
            except (requests.RequestException, PyMISPError) as exc:
                raise self._fail("connecting", exc) from None
            self._checked(version, "the version query")
            self.version = str(version.get("version")) if isinstance(version, Mapping) else None
            self._client = client
        return self._client

    def _checked(self, reply: Any, action: str) -> Any:
        if isinstance(reply, Mapping) and "errors" in reply:
            errors = reply["errors"]
            if isinstance(errors, (tuple, list)) and len(errors) == 2 and isinstance(errors[0], int):
                status, body = errors
                if status == 403:
                    raise MispError(
                        f"MISP at {self.url} refused {action} ({_describe(status, body)}); check misp_key"
                    )
                raise MispError(f"MISP at {self.url} refused {action} ({_describe(status, body)})")
            raise MispError(f"MISP at {self.url} refused {action}: {errors}")
        return reply

    def _search(self, controller: str, action: str, **query: Any) -> Any:
        client = self.connect()
        try:
            reply = client.search(controller=controller, return_format="json", **query)
        except (requests.RequestException, PyMISPError) as exc:
            raise self._fail(action, exc) from None
        return self._checked(reply, action)

    def events(self, filters: Mapping[str, Any], *, uuid: str | None = None) -> Iterator[dict[str, Any]]:
        """Every matching event (the inner dict), one page in memory at a time, in id order."""
        query = dict(filters)
        if uuid is not None:
            # One event by hand: the filters still apply except the time windows, as the original tool.
            query = {k: v for k, v in query.items() if k not in ("publish_timestamp", "timestamp", "last")}
            query["uuid"] = uuid
        for page in range(1, MAX_PAGES):
            reply = self._search(
                "events",
                f"the events search (page {page})",
                limit=self.page_size,
                page=page,
                order="Event.id",
                **query,
            )
            if not isinstance(reply, list):
                raise MispError(
                    f"MISP at {self.url} answered the events search with {type(reply).__name__}, not a list"
                )
            if not reply:
                return
            for item in reply:
                event = item.get("Event", item) if isinstance(item, Mapping) else None
                if isinstance(event, Mapping):
                    yield dict(event)

    def attributes(self, **filters: Any) -> Iterator[dict[str, Any]]:
        """Matching attributes (flattened, with their Event summary), page by page."""
        for page in range(1, MAX_PAGES):
            reply = self._search(
                "attributes",
                f"the attributes search (page {page})",
                limit=self.page_size,
                page=page,
                order="Attribute.id",
                **filters,
            )
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
        total = 0
        for page in range(1, MAX_PAGES):
            reply = self._search(
                "events",
                "the events count",
                limit=self.page_size,
                page=page,
                metadata=True,
                order="Event.id",
                **dict(filters),
            )
            if not isinstance(reply, list) or not reply:
                return total
            total += len(reply)
        return total
