"""Publishing: replay the spool, then send the current alert (or a sighting on its earlier twin).

`MispGateway` is the plugin's side of MISP: the project's MISP client (misp_bridge/misp/client.py, which
translates every PyMISP failure) with a timeout taken from the run's time budget before every call. What
a failure means for the alert is decided here: MispRejected means MISP refused it for good (failed/),
any other MISP error keeps it in the spool for a later run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from misp_bridge.errors import BudgetSpent, MispError, MispRejected, SpoolError
from misp_bridge.exitcodes import PluginExit
from misp_bridge.misp import MispClient, error_of, reason_of
from misp_bridge.pandora.event import BuiltEvent, ip_attribute_uuid
from misp_bridge.pandora.spool import Spool, SpoolRecord

log = logging.getLogger("misp_bridge.pandora")

MIN_ATTEMPT = 1.5  # below this many seconds left, a call could not finish: spool instead
CONNECT_TIMEOUT = 3.0
EVENT_EXISTS = "already exists"

Added = Literal["created", "exists"]


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


class MispGateway:
    """The plugin's MISP operations. The client is built on first use (its constructor is I/O)."""

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
        self._budget = budget
        if client_factory is None:
            # PyMISP's own error lines would repeat ours, with request bodies in them.
            logging.getLogger("pymisp").setLevel(logging.CRITICAL)
        options: dict[str, Any] = {} if client_factory is None else {"factory": client_factory}
        self._client = MispClient(
            url,
            key,
            verify=verify,
            timeout=budget.timeouts,
            key_hint="check field 2 of the Pandora action (the key is not shown here)",
            tls_hint="give the CA with --ca-bundle",
            url_hint="check the MISP URL (-u)",
            tool="pandora_to_misp",
            **options,
        )
        self._broken: MispError | None = None

    def _call(self, action: str, operation: Callable[[Any], Any]) -> Any:
        if self._broken is not None:
            # One failed connection per run is enough: retrying it would only eat the budget.
            raise self._broken
        try:
            return self._client.call(action, operation)
        except MispRejected:
            raise
        except MispError as exc:
            self._broken = exc
            raise

    # --- operations -----------------------------------------------------------------------------

    def event_exists(self, event_uuid: str) -> bool:
        return bool(self._call("the duplicate check", lambda c: c.event_exists(event_uuid)))

    def event_timestamp(self, event_uuid: str) -> float | None:
        reply = self._call("the event lookup", lambda c: c.get_event(event_uuid))
        if error_of(reply) is not None:
            return None
        event = self._client.checked(reply, "the event lookup")
        inner = event.get("Event") if isinstance(event, Mapping) else None
        stamp = inner.get("timestamp") if isinstance(inner, Mapping) else None
        try:
            return float(stamp) if stamp is not None else None
        except (TypeError, ValueError):
            return None

    def add_event(self, event: Mapping[str, Any]) -> Added:
        """'created', or 'exists' when MISP already holds an event with this uuid."""

        def send(client: Any) -> Any:
            from pymisp import MISPEvent

            misp_event = MISPEvent()
            misp_event.load({"Event": dict(event)})
            return client.add_event(misp_event)

        reply = self._call("the event", send)
        found = error_of(reply)
        if found is not None and found[0] == 404 and EVENT_EXISTS in reason_of(found[1]):
            return "exists"
        body = self._client.checked(reply, "the event")
        if not isinstance(body, Mapping) or not isinstance(body.get("Event"), Mapping):
            raise MispRejected("the event", None, "the reply holds no event")
        return "created"

    def add_sighting(self, attribute_uuid: str, value: str) -> None:
        sighting = {"value": value, "source": "pandora_to_misp"}
        reply = self._call("the sighting", lambda c: c.add_sighting(sighting, attribute_uuid))
        body = self._client.checked(reply, "the sighting")
        # A refused sighting ALSO comes back as a 200 {"message": "Could not add the Sighting ..."}.
        if not isinstance(body, Mapping) or "Sighting" not in body:
            raise MispRejected("the sighting", None, reason_of(body))


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
        except MispRejected as exc:
            target = spool.fail(path, str(exc), record)
            log.error("Spooled event %s: %s Moved to %s.", record.event.get("uuid"), exc, target)  # noqa: TRY400 - our own one-sentence error, no traceback wanted
            failed += 1
            continue
        except MispError as exc:
            spool.update(path, replace(record, attempts=record.attempts + 1))
            log.warning("Replay stopped: %s", exc)
            break
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
    except MispRejected as exc:
        path = spool.add_failed(record, str(exc))
        log.error("%s The event was kept in %s.", exc, path)  # noqa: TRY400 - our own one-sentence error, no traceback wanted
        return Outcome(PluginExit.SPOOLED, replayed=replayed, failed=failed + 1)
    except MispError as exc:
        path = spool.add(record)
        log.warning("%s The alert was spooled to %s.", exc, path)
        return Outcome(PluginExit.SPOOLED, replayed=replayed, failed=failed, spooled=1)
    log.info("Event %s %s (%s).", built.uuid, result, built.event.get("info"))
    if result == "created":
        return Outcome(PluginExit.SENT, created=1, replayed=replayed, failed=failed)
    return Outcome(PluginExit.SENT, sighted=1, replayed=replayed, failed=failed)
