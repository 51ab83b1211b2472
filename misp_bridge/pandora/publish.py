"""Publishing: send the run's own alert, then replay what the spools hold, each within the time budget.

`MispGateway` is the plugin's side of MISP: the project's MISP client (misp_bridge/misp/client.py, which
translates every PyMISP failure) with each request's timeout taken from the run's budget and every call
under the watchdog. What a failure means for one kept alert is decided here (`_handle`):

| failure | the alert |
|---|---|
| unreachable, timed out, TLS, key refused, not JSON, budget spent | stays; the run stops sending |
| 5xx or 429 on this alert's own request | stays, retried after a back-off; failed/ after MAX_ATTEMPTS |
| 403 "Event blocked by event blocklist." | failed/ (an analyst deleted that event), explained once |
| any other refusal (4xx) | failed/ with MISP's reason |
| the record cannot be read or turned into an event | failed/ with the reason |

Repeats spooled during an outage become sightings on replay (the twin check runs at replay time,
with the alert's own first-seen time). MISP's sightings/add never honours a client sighting uuid
(docs/contracts.md section 2), so a sighting replayed after a kill may be counted twice: sightings are
at-least-once, events exactly-once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from misp_bridge.errors import BudgetSpent, MispError, MispRejected, MispServerFailed, SpoolError
from misp_bridge.exitcodes import PluginExit
from misp_bridge.misp import MispClient, error_of, reason_of
from misp_bridge.output import logs
from misp_bridge.pandora.assemble import RulesCache, assemble
from misp_bridge.pandora.event import BuiltEvent, ip_attribute_uuid
from misp_bridge.pandora.spool import Held, Spool, SpoolRecord, normalise_url
from misp_bridge.pandora.watchdog import MIN_ATTEMPT, Budget, Watchdog, WatchdogFired

log = logging.getLogger("misp_bridge.pandora")

EVENT_EXISTS = "already exists"
BLOCKLISTED = "blocked by event blocklist"
MAX_ATTEMPTS = 8  # failures of an alert's own request (5xx, 429) before it moves to failed/
BACKOFF_BASE = 60.0
BACKOFF_MAX = 3600.0
MAX_STRAIGHT_FAILURES = 3  # alerts failing one after another: MISP is failing, not the alerts

Added = Literal["created", "exists"]
Result = Literal["created", "sighted"]


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
        self.url = normalise_url(url)
        self.budget = budget
        self._watchdog = Watchdog(budget)
        options: dict[str, Any] = {} if client_factory is None else {"factory": client_factory}
        self._client = MispClient(
            url.rstrip("/"),
            key,
            verify=verify,
            timeout=budget.timeouts,
            key_hint="check field 2 of the Pandora action or the --key-file (the key is not shown here)",
            tls_hint="give the CA with --ca-bundle",
            url_hint="check the MISP URL (-u)",
            tool="pandora_to_misp",
            **options,
        )
        self.broken: MispError | None = None

    def _call(self, action: str, operation: Callable[[Any], Any]) -> Any:
        if self.broken is not None:
            raise self.broken  # one failed connection per run is enough: retrying eats the budget
        try:
            with self._watchdog.guard():
                return self._client.call(action, operation)
        except WatchdogFired:
            self.broken = BudgetSpent(0.0)
            raise self.broken from None
        except (MispRejected, MispServerFailed):
            raise
        except MispError as exc:
            self.broken = exc
            raise

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

    def event_holds(self, event_uuid: str, record_id: str) -> bool:
        """Whether the event was made from the kept alert `record_id` (its raw-text attribute names it)."""
        reply = self._call("the event lookup", lambda c: c.get_event(event_uuid, pythonify=False))
        inner = reply.get("Event") if isinstance(reply, Mapping) else None
        attributes = inner.get("Attribute") if isinstance(inner, Mapping) else None
        return any(record_id in str(a.get("comment", "")) for a in attributes or [] if isinstance(a, Mapping))

    def add_event(self, event: Mapping[str, Any]) -> Added:
        """'created', or 'exists' when MISP already holds an event with this uuid. An event PyMISP
        cannot load raises its own error (not a MispError): the caller's record is unusable."""
        misp_event = as_misp_event(event)
        reply = self._call("the event", lambda client: client.add_event(misp_event, pythonify=False))
        found = error_of(reply)
        if found is not None and found[0] == 404 and EVENT_EXISTS in reason_of(found[1]):
            return "exists"
        body = self._client.checked(reply, "the event")
        stored = body.get("Event") if isinstance(body, Mapping) else None
        if not isinstance(stored, Mapping):
            raise MispRejected("the event", None, "the reply holds no event")
        _report_dropped(event, stored)
        return "created"

    def add_sighting(self, attribute_uuid: str, value: str, when: float) -> None:
        sighting = {"value": value, "source": "pandora_to_misp", "timestamp": int(when)}
        reply = self._call("the sighting", lambda c: c.add_sighting(sighting, attribute_uuid))
        body = self._client.checked(reply, "the sighting")
        # A refused sighting ALSO comes back as a 200 {"message": "Could not add the Sighting ..."}.
        if not isinstance(body, Mapping) or "Sighting" not in body:
            raise MispRejected("the sighting", None, reason_of(body))


def as_misp_event(event: Mapping[str, Any]) -> Any:
    """The event as PyMISP's MISPEvent (raises PyMISP's own errors for an event it cannot load)."""
    from pymisp import MISPEvent

    misp_event = MISPEvent()
    misp_event.load({"Event": dict(event)})
    return misp_event


def _report_dropped(sent: Mapping[str, Any], stored: Mapping[str, Any]) -> None:
    """MISP drops an attribute it will not store and still answers 200: say which ones it dropped."""
    kept = {str(a.get("uuid")) for a in stored.get("Attribute") or [] if isinstance(a, Mapping)}
    for attribute in sent.get("Attribute") or []:
        if str(attribute.get("uuid")) not in kept:
            value = str(attribute.get("value", ""))
            log.warning(
                "MISP created event %s without its %s attribute %r (%d bytes): MISP drops an attribute "
                "it will not store without saying why; its log (Administration > Logs) has the reason.",
                sent.get("uuid"),
                attribute.get("type"),
                value[:60] + ("..." if len(value) > 60 else ""),
                len(value.encode("utf-8")),
            )


# --- sending one alert ----------------------------------------------------------------------------


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


def send_built(gateway: MispGateway, built: BuiltEvent, now: float, replayed_id: str | None = None) -> Result:
    """Create the event, or add a sighting to its earlier twin. `now` is when the alert was seen.

    `replayed_id` is the record id of a replayed alert: an earlier try may have created the event and
    lost the reply (or been killed), and an event holding that id is this alert itself, not a twin.
    """
    if built.twin_uuids and built.attacker_ip is not None:
        twin = _twin(gateway, built, now)
        if twin is not None:
            if replayed_id is not None and gateway.event_holds(twin, replayed_id):
                return "created"
            gateway.add_sighting(ip_attribute_uuid(twin), built.attacker_ip, now)
            return "sighted"
    if gateway.add_event(built.event) == "exists":
        if built.attacker_ip is None or (
            replayed_id is not None and gateway.event_holds(built.uuid, replayed_id)
        ):
            return "created"  # this very alert, created by a try whose reply was lost
        # Created by a parallel run between our check and our add: a repeat after all.
        gateway.add_sighting(ip_attribute_uuid(built.uuid), built.attacker_ip, now)
        return "sighted"
    return "created"


@dataclass
class Tally:
    created: int = 0
    sighted: int = 0
    replayed: int = 0
    kept: int = 0
    failed: int = 0
    elsewhere: dict[str, int] | None = None


Verdict = Literal["sent", "kept", "failed", "stop"]


class Sender:
    """Sends kept alerts one by one and files each away according to the table in the docstring."""

    def __init__(self, gateway: MispGateway, rules: RulesCache, tally: Tally) -> None:
        self.gateway = gateway
        self.rules = rules
        self.tally = tally
        self.straight_failures = 0

    def process(self, spool: Spool, held: Held, record: SpoolRecord, *, fresh: bool) -> Verdict:
        """Send one kept alert; `fresh` when this run wrote it (so no earlier try can have sent it)."""
        try:
            built = self._build(record)
        except Exception as exc:  # noqa: BLE001 - whatever makes a record unusable sends it to failed/
            return self.fail(
                spool, held, record, f"it cannot be turned into an event ({type(exc).__name__}: {exc})"
            )
        try:
            if built is None:  # a record of an earlier version: its event was built already
                self.gateway.add_event(record.event or {})
                result: Result = "created"
            else:
                result = send_built(
                    self.gateway, built, record.first_seen, None if fresh else record.record_id
                )
        except MispRejected as exc:
            return self._rejected(spool, held, record, exc)
        except MispServerFailed as exc:
            return self._retry_later(spool, held, record, str(exc))
        except MispError:
            held.close()  # MISP is unusable this run: the alert stays as it is
            return "stop"
        spool.done(held)
        self.straight_failures = 0
        setattr(self.tally, result, getattr(self.tally, result) + 1)
        uuid = built.uuid if built is not None else (record.event or {}).get("uuid")
        info = built.event.get("info") if built is not None else (record.event or {}).get("info")
        log.info("Event %s %s (%s).", uuid, result, info)
        return "sent"

    def send_unkept(self, record: SpoolRecord) -> Verdict:
        """No spool could be written: send the alert directly, once; lost if MISP cannot take it now."""
        try:
            built = self._build(record)
            result = "created" if built is None else send_built(self.gateway, built, record.first_seen)
        except MispError as exc:
            log.error("%s The alert could not be kept anywhere and is lost.", exc)  # noqa: TRY400 - one line
            return "failed"
        if built is not None:
            log.info("Event %s %s (%s).", built.uuid, result, built.event.get("info"))
        return "sent"

    def _build(self, record: SpoolRecord) -> BuiltEvent | None:
        if record.alert is None:
            as_misp_event(record.event or {})  # an earlier version's event: usable only if PyMISP loads it
            return None
        return assemble(
            record.alert,
            record.misp_url,
            first_seen=record.first_seen,
            record_id=record.record_id,
            rules=self.rules,
        )

    def _rejected(self, spool: Spool, held: Held, record: SpoolRecord, exc: MispRejected) -> Verdict:
        if exc.status == 429:
            return self._retry_later(spool, held, record, str(exc))
        if exc.status == 403 and BLOCKLISTED in exc.reason.lower():
            return self._blocklisted(spool, held, record, exc)
        return self.fail(spool, held, record, str(exc))

    def _blocklisted(self, spool: Spool, held: Held, record: SpoolRecord, exc: MispRejected) -> Verdict:
        built = self._build(record)
        event_uuid = built.uuid if built is not None else str((record.event or {}).get("uuid"))
        verdict = self.fail(spool, held, record, str(exc), quiet=True)
        if spool.mark(f"blocklisted-{event_uuid}"):
            log.error(
                "MISP refused event %s: its uuid is on MISP's event blocklist, so an analyst deleted that "
                "event. This alert and its repeats in the same duplicate window are kept in %s, not sent. "
                "To have them sent after all: remove the entry (MISP: Administration > Manage Event "
                "Blocklists, or POST /eventBlocklists/delete/%s), then move their files from failed/ back "
                "into %s.",
                event_uuid,
                spool.failed_dir,
                event_uuid,
                spool.directory,
            )
        else:
            log.info(
                "Kept in %s: event %s is on MISP's event blocklist (explained above).",
                spool.failed_dir,
                event_uuid,
            )
        return verdict

    def _retry_later(self, spool: Spool, held: Held, record: SpoolRecord, reason: str) -> Verdict:
        attempts = record.attempts + 1
        self.straight_failures += 1
        if attempts >= MAX_ATTEMPTS:
            return self.fail(
                spool, held, record, f"MISP failed on it {attempts} times; the last time: {reason}"
            )
        wait = min(BACKOFF_BASE * 2 ** (attempts - 1), BACKOFF_MAX)
        updated = replace(record, attempts=attempts, next_try=spool.now() + wait, last_error=reason)
        try:
            spool.update(held, updated)
        except SpoolError as exc:
            log.error("%s", exc)  # noqa: TRY400 - our own one-sentence error
        held.close()
        self.tally.kept += 1
        log.warning("%s The alert stays in %s and is tried again in %d s.", reason, spool.directory, wait)
        return "kept"

    def fail(
        self, spool: Spool, held: Held, record: SpoolRecord | None, reason: str, *, quiet: bool = False
    ) -> Verdict:
        self.straight_failures = 0
        try:
            target = spool.fail(held, reason, record)
        except SpoolError as exc:
            log.error("%s The alert stays in the spool.", exc)  # noqa: TRY400 - our own one-sentence error
            return "kept"
        self.tally.failed += 1
        if not quiet:
            log.error("Alert kept in %s, not sent: %s", target, reason)
        return "failed"


def replay(sender: Sender, spools: Sequence[Spool], budget: Budget) -> None:
    """Send what the spools hold for this MISP, oldest first, while the budget lasts."""
    url = sender.gateway.url
    for spool in spools:
        for path in spool.pending():
            if budget.remaining() < MIN_ATTEMPT or sender.gateway.broken is not None:
                return
            if sender.straight_failures >= MAX_STRAIGHT_FAILURES:
                return
            held = spool.claim(path)
            if held is None:
                continue  # another run is sending it
            try:
                record = spool.read(held)
            except SpoolError as exc:
                sender.fail(spool, held, None, str(exc))
                continue
            if record.misp_url != url:
                held.close()
                elsewhere = sender.tally.elsewhere if sender.tally.elsewhere is not None else {}
                elsewhere[record.misp_url] = elsewhere.get(record.misp_url, 0) + 1
                sender.tally.elsewhere = elsewhere
                continue
            if record.next_try > spool.now():
                held.close()
                sender.tally.kept += 1
                continue
            if sender.process(spool, held, record, fresh=False) == "sent":
                sender.tally.replayed += 1


def report_elsewhere(tally: Tally, url: str) -> None:
    """Alerts kept for another MISP URL are never sent by this run: say so (in the log file)."""
    for other, count in sorted((tally.elsewhere or {}).items()):
        logs.file_only(
            log,
            f"{count} kept alert(s) wait for the MISP at {other}, not {url}: "
            f"run --flush-spool -u {other} to send them (or move them away).",
            level=logging.WARNING,
        )


def exit_code(current: Verdict | None, left: int) -> PluginExit:
    """0 when this run's alert reached MISP (a flush: when nothing is left for this MISP), else 1."""
    if current is None:
        return PluginExit.SENT if left == 0 else PluginExit.SPOOLED
    return PluginExit.SENT if current == "sent" else PluginExit.SPOOLED
