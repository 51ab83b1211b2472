"""Publishing: replay the spool, then send the current alert (or a sighting on its earlier twin).

`MispGateway` is the only code that talks to MISP. It wraps PyMISP, gives every call a timeout taken
from the run's time budget, and turns PyMISP's raised errors and its returned {'errors': ...} dicts
into `MispUnavailable` (worth retrying: the alert is spooled) or `MispRejected` (never retried).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from misp_bridge.errors import MispKeyRefused, MispRejected, MispUnavailable, SpoolError
from misp_bridge.exitcodes import PluginExit
from misp_bridge.pandora.event import BuiltEvent, ip_attribute_uuid
from misp_bridge.pandora.spool import Spool, SpoolRecord

log = logging.getLogger("misp_bridge.pandora")

MIN_ATTEMPT = 1.5  # below this many seconds left, a call could not finish: spool instead
CONNECT_TIMEOUT = 3.0
EVENT_EXISTS = "already exists"
SIGHTING_FAILED = "Could not add the Sighting"

Added = Literal["created", "exists"]


class BudgetSpent(MispUnavailable):
    """Too little of the run's time budget is left to try MISP."""

    def __init__(self, remaining: float) -> None:
        self.remaining = remaining
        super().__init__(f"Only {remaining:.1f} s of the time budget were left, so MISP was not tried.")


class Budget:
    """A monotonic deadline for the whole run (Pandora kills the plugin after 15 s)."""

    def __init__(self, total: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.deadline = clock() + total

    def remaining(self) -> float:
        return max(0.0, self.deadline - self._clock())

    def timeouts(self) -> tuple[float, float]:
        """(connect, read) timeouts for one call; BudgetSpent when too little is left."""
        left = self.remaining()
        if left < MIN_ATTEMPT:
            raise BudgetSpent(left)
        return min(CONNECT_TIMEOUT, left), left


def _reason(body: object) -> str:
    if isinstance(body, Mapping):
        for key in ("message", "name"):
            if body.get(key):
                return str(body[key])
    return str(body)[:200]


class MispGateway:
    """PyMISP behind a narrow interface. The client is built on first use (its constructor is I/O)."""

    def __init__(
        self,
        url: str,
        key: str,
        budget: Budget,
        *,
        verify: bool | str = True,
        client_factory: Callable[..., Any] | None = None,
    ) -> None:
        self.url = url
        self._key = key
        self._budget = budget
        self._verify = verify
        self._factory = client_factory
        self._client: Any = None
        self._broken: MispUnavailable | None = None

    # --- error conversion -----------------------------------------------------------------------

    def _unavailable(self, exc: BaseException) -> MispUnavailable:
        import requests
        from pymisp.exceptions import MISPServerError, PyMISPUnexpectedResponse

        chain: BaseException | None = exc
        while chain is not None:
            if isinstance(chain, requests.Timeout):
                return MispUnavailable(f"MISP at {self.url} did not answer in time.")
            if isinstance(chain, requests.RequestException):
                return MispUnavailable(f"MISP at {self.url} is unreachable ({type(chain).__name__}).")
            if isinstance(chain, MISPServerError):
                return MispUnavailable(f"MISP at {self.url} answered with a server error.")
            if isinstance(chain, PyMISPUnexpectedResponse):
                return MispUnavailable(f"MISP at {self.url} answered something that is not JSON.")
            chain = chain.__cause__ or chain.__context__
        if "403" in str(exc) or "Authentication failed" in str(exc):
            return MispKeyRefused(self.url)
        return MispUnavailable(f"MISP at {self.url} could not be used ({type(exc).__name__}).")

    def _call(self, operation: Callable[[Any], Any]) -> Any:
        if self._broken is not None:
            # One failed connection per run is enough: retrying it would only eat the budget.
            raise self._broken
        timeouts = self._budget.timeouts()
        try:
            if self._client is None:
                self._client = self._connect(timeouts)
            self._client.timeout = self._budget.timeouts()
            return operation(self._client)
        except (MispUnavailable, MispRejected):
            raise
        except Exception as exc:  # noqa: BLE001 - PyMISP and requests raise many types; all mean "not now"
            self._broken = self._unavailable(exc)
            raise self._broken from None

    def _connect(self, timeouts: tuple[float, float]) -> Any:
        if self._factory is not None:
            return self._factory(self.url, self._key, ssl=self._verify, timeout=timeouts)
        import pymisp

        logging.getLogger("pymisp").setLevel(logging.CRITICAL)  # its own error lines would repeat ours
        return pymisp.PyMISP(self.url, self._key, ssl=self._verify, timeout=timeouts, tool="pandora_to_misp")

    def _check(self, what: str, reply: object) -> Mapping[str, Any]:
        if isinstance(reply, Mapping) and "errors" in reply:
            errors = reply["errors"]
            status, body = errors if isinstance(errors, tuple) and len(errors) == 2 else (None, errors)
            if status == 403 and "Authentication failed" in _reason(body):
                raise MispKeyRefused(self.url)
            raise MispRejected(what, status, _reason(body))
        if not isinstance(reply, Mapping):
            raise MispUnavailable(f"MISP at {self.url} gave an unusable reply to {what}.")
        return reply

    # --- operations -----------------------------------------------------------------------------

    def event_exists(self, event_uuid: str) -> bool:
        return bool(self._call(lambda c: c.event_exists(event_uuid)))

    def event_timestamp(self, event_uuid: str) -> float | None:
        reply = self._call(lambda c: c.get_event(event_uuid))
        if isinstance(reply, Mapping) and "errors" in reply:
            return None
        event = self._check("the event lookup", reply).get("Event", {})
        try:
            return float(event.get("timestamp"))
        except (TypeError, ValueError):
            return None

    def add_event(self, event: Mapping[str, Any]) -> Added:
        """'created', or 'exists' when MISP already holds an event with this uuid."""

        def send(client: Any) -> Any:
            from pymisp import MISPEvent

            misp_event = MISPEvent()
            misp_event.load({"Event": dict(event)})
            return client.add_event(misp_event)

        reply = self._call(send)
        if isinstance(reply, Mapping) and "errors" in reply:
            errors = reply["errors"]
            if isinstance(errors, tuple) and errors[0] == 404 and EVENT_EXISTS in _reason(errors[1]):
                return "exists"
        body = self._check("the event", reply)
        if not isinstance(body.get("Event"), Mapping):
            raise MispUnavailable(f"MISP at {self.url} gave an unusable reply to the event.")
        return "created"

    def add_sighting(self, attribute_uuid: str, value: str) -> None:
        sighting = {"value": value, "source": "pandora_to_misp"}
        reply = self._check("the sighting", self._call(lambda c: c.add_sighting(sighting, attribute_uuid)))
        if "Sighting" not in reply:
            raise MispRejected("the sighting", None, _reason(reply).rstrip("."))


# --- one run --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    code: PluginExit
    created: int = 0
    sighted: int = 0
    replayed: int = 0
    spooled: int = 0
    failed: int = 0


def replay(gateway: MispGateway, spool: Spool, budget: Budget) -> tuple[int, int]:
    """Send spooled events for this MISP, oldest first, while the budget lasts; (sent, failed)."""
    sent = failed = 0
    for path in spool.pending():
        if budget.remaining() < MIN_ATTEMPT:
            break
        try:
            record = spool.load(path)
        except SpoolError as exc:
            spool.fail(path, str(exc))
            log.error("%s Moved to %s.", exc, spool.failed_dir)  # noqa: TRY400 - our own one-sentence error, no traceback wanted
            failed += 1
            continue
        if record.misp_url != gateway.url:
            continue  # kept for the MISP it was meant for
        try:
            result = gateway.add_event(record.event)
        except MispUnavailable as exc:
            spool.update(path, replace(record, attempts=record.attempts + 1))
            log.warning("Replay stopped: %s", exc)
            break
        except MispRejected as exc:
            target = spool.fail(path, str(exc), record)
            log.error("Spooled event %s: %s Moved to %s.", record.event.get("uuid"), exc, target)  # noqa: TRY400 - our own one-sentence error, no traceback wanted
            failed += 1
            continue
        spool.remove(path)
        sent += 1
        # "exists": an earlier try reached MISP but its reply was lost; the event is there once.
        log.info("Replayed spooled event %s (%s).", record.event.get("uuid"), result)
    return sent, failed


def _twin(gateway: MispGateway, built: BuiltEvent, now: float) -> str | None:
    """The uuid of an earlier event for the same agent, alert and attacker inside the window."""
    for index, twin in enumerate(built.twin_uuids):
        if not gateway.event_exists(twin):
            continue
        if index == 0:
            return twin  # the current window's uuid: created within the window by construction
        stamp = gateway.event_timestamp(twin)
        if stamp is not None and now - stamp <= built.window_seconds:
            return twin
    return None


def send_current(gateway: MispGateway, built: BuiltEvent, now: float) -> Literal["created", "sighted"]:
    if built.twin_uuids and built.attacker_ip is not None:
        twin = _twin(gateway, built, now)
        if twin is not None:
            gateway.add_sighting(ip_attribute_uuid(twin), built.attacker_ip)
            return "sighted"
    if gateway.add_event(built.event) == "exists" and built.attacker_ip is not None:
        # Created by a parallel run between our check and our add: a repeat after all.
        gateway.add_sighting(ip_attribute_uuid(built.uuid), built.attacker_ip)
        return "sighted"
    return "created"


def deliver(
    gateway: MispGateway,
    spool: Spool,
    budget: Budget,
    built: BuiltEvent | None,
) -> Outcome:
    """Replay the spool (if its lock is free), then send `built` (None: a --flush-spool run)."""
    replayed = failed = 0
    with spool.lock() as held:
        if held:
            replayed, failed = replay(gateway, spool, budget)
        else:
            log.info("Another run is replaying the spool; this run only sends its own alert.")
    if built is None:
        left = len(spool.pending())
        code = PluginExit.SENT if left == 0 else PluginExit.SPOOLED
        return Outcome(code, replayed=replayed, failed=failed, spooled=left)
    now = spool.now()
    record = SpoolRecord(
        event=built.event,
        misp_url=gateway.url,
        first_seen=now,
        attempts=1,
        attacker_ip=built.attacker_ip,
        ip_attribute_uuid=built.ip_attribute_uuid,
    )
    try:
        result = send_current(gateway, built, now)
    except MispUnavailable as exc:
        path = spool.add(record)
        log.warning("%s The alert was spooled to %s.", exc, path)
        return Outcome(PluginExit.SPOOLED, replayed=replayed, failed=failed, spooled=1)
    except MispRejected as exc:
        path = spool.add_failed(record, str(exc))
        log.error("%s The event was kept in %s.", exc, path)  # noqa: TRY400 - our own one-sentence error, no traceback wanted
        return Outcome(PluginExit.SPOOLED, replayed=replayed, failed=failed + 1)
    log.info("Event %s %s (%s).", built.uuid, result, built.event.get("info"))
    if result == "created":
        return Outcome(PluginExit.SENT, created=1, replayed=replayed, failed=failed)
    return Outcome(PluginExit.SENT, sighted=1, replayed=replayed, failed=failed)
