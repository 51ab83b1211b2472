"""The run lock of the Table state: a lease in one table row, taken by a conditional write.

The row (PartitionKey `lease`, RowKey `run`) names its holder and when the lease ends. Taking it:
create the row (the service refuses a second create: 409), or replace a row whose lease has ended,
conditioned on the etag read (the service refuses a stale etag: 412), so two contenders can never both
win. While the run lives a thread renews the lease (a conditional replace with the holder's etag) every
third of its duration; the duration is longer than the host's functionTimeout, so a run killed by the
host (no renewal) keeps the next invocations out only until the lease ends, never for good. A renewal the
service refuses means another run took an ended lease: the holder is told (`on_lost`) and stops taking
work. Release deletes the row, again conditioned on the holder's etag.

Times are the machines' UTC clocks (Azure hosts keep them synchronised to well under a second; leases
last minutes).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from misp_bridge.azure.storage import translate
from misp_bridge.errors import RunLeaseHeld
from misp_bridge.sync.state.rows import LEASE_PARTITION, LEASE_ROW

log = logging.getLogger("misp_bridge.sync")

# How often a waiting run tries again.
POLL_INTERVAL = 0.5
# Without a Function's timeout to go by (script.py with a table), a lease lasts this long between renewals.
DEFAULT_DURATION = 15 * 60.0


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def _holder_name() -> str:
    """Who holds the lease, for a waiting run's message: the instance (a Function worker) and process."""
    instance = os.environ.get("WEBSITE_INSTANCE_ID", "")[:12] or socket.gethostname()
    return f"{instance} process {os.getpid()}"


class TableLease:
    """One holder's view of the lease row; `hold()` is the with-block a run runs in."""

    def __init__(
        self,
        table: TableClient,
        where: str,
        *,
        duration: float = DEFAULT_DURATION,
        clock: Callable[[], float] = time.time,
        renew_every: float | None = None,
        on_lost: Callable[[str], None] | None = None,
    ) -> None:
        self._table = table
        self._where = where
        self.duration = duration
        self._clock = clock
        self._renew_every = renew_every if renew_every is not None else duration / 3
        self._on_lost = on_lost
        self._owner = uuid.uuid4().hex
        self._holder = _holder_name()
        self._etag: str | None = None
        self._expires = 0.0
        self._stop = threading.Event()
        self.lost: str | None = None

    @contextlib.contextmanager
    def hold(self, *, wait: float, sleep: Callable[[float], None] = time.sleep) -> Iterator[None]:
        """Hold the lease for the with-block; RunLeaseHeld after `wait` seconds of trying (counted in
        what is passed to `sleep`, as the file lock does)."""
        self._acquire(wait, sleep)
        self._stop.clear()
        renewer = threading.Thread(target=self._renew_loop, name="state-lease", daemon=True)
        renewer.start()
        try:
            yield
        finally:
            self._stop.set()
            renewer.join()
            self._release()

    # -- taking it -----------------------------------------------------------------------------------

    def _acquire(self, wait: float, sleep: Callable[[float], None]) -> None:
        remaining = max(wait, 0.0)
        while True:
            holder = self._try()
            if holder is None:
                return
            if remaining <= 0:
                until = _utc(holder[1]).strftime("%Y-%m-%d %H:%M:%S UTC")
                raise RunLeaseHeld(self._where, holder[0], until, wait)
            step = min(POLL_INTERVAL, remaining)
            sleep(step)
            remaining -= step

    def _row(self, now: float) -> dict[str, Any]:
        return {
            "PartitionKey": LEASE_PARTITION,
            "RowKey": LEASE_ROW,
            "Owner": self._owner,
            "Holder": self._holder,
            "ExpiresAt": _utc(now + self.duration),
            "RenewedAt": _utc(now),
        }

    def _try(self) -> tuple[str, float] | None:
        """None when the lease is now ours, else (its holder, when it ends)."""
        now = self._clock()
        try:
            current = self._table.get_entity(LEASE_PARTITION, LEASE_ROW)
        except ResourceNotFoundError:
            return self._create(now)
        except Exception as exc:
            raise translate(exc, self._where, "locked") from exc
        ends = current["ExpiresAt"].timestamp()
        if ends > now and current.get("Owner") != self._owner:
            return str(current.get("Holder", "another run")), ends
        try:
            reply = self._table.update_entity(
                self._row(now),
                mode=UpdateMode.REPLACE,
                etag=current.metadata["etag"],
                match_condition=MatchConditions.IfNotModified,
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            return self._try_again_or_holder()
        except Exception as exc:
            raise translate(exc, self._where, "locked") from exc
        self._won(reply, now)
        return None

    def _create(self, now: float) -> tuple[str, float] | None:
        try:
            reply = self._table.create_entity(self._row(now))
        except ResourceExistsError:
            return self._try_again_or_holder()
        except Exception as exc:
            raise translate(exc, self._where, "locked") from exc
        self._won(reply, now)
        return None

    def _try_again_or_holder(self) -> tuple[str, float] | None:
        """Another contender wrote the row between our read and our write: it holds the lease now."""
        try:
            current = self._table.get_entity(LEASE_PARTITION, LEASE_ROW)
        except ResourceNotFoundError:  # ... and released it already
            return self._try()
        except Exception as exc:
            raise translate(exc, self._where, "locked") from exc
        return str(current.get("Holder", "another run")), current["ExpiresAt"].timestamp()

    def _won(self, reply: Any, now: float) -> None:
        self._etag = str(reply["etag"])
        self._expires = now + self.duration
        self.lost = None

    # -- keeping it ----------------------------------------------------------------------------------

    def _renew_loop(self) -> None:
        while not self._stop.wait(self._renew_every):
            if not self.renew():
                return

    def renew(self) -> bool:
        """Extend the lease; False once it is lost (the holder was told through `on_lost`)."""
        now = self._clock()
        try:
            reply = self._table.update_entity(
                self._row(now),
                mode=UpdateMode.REPLACE,
                etag=self._etag,
                match_condition=MatchConditions.IfNotModified,
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            self._lose(f"the run lease on {self._where} was taken by another run after it ended")
            return False
        except Exception as exc:  # noqa: BLE001 - a network blip: the lease still runs; retry next tick
            if now + self._renew_every >= self._expires:  # the next try would come too late
                self._lose(f"the run lease on {self._where} ended before it could be renewed ({exc})")
                return False
            log.warning("the run lease on %s could not be renewed yet (%s); trying again", self._where, exc)
            return True
        self._etag = str(reply["etag"])
        self._expires = now + self.duration
        return True

    def _lose(self, reason: str) -> None:
        self.lost = reason
        log.error("%s; this run stops taking new work", reason)
        if self._on_lost is not None:
            self._on_lost(reason)

    # -- giving it back ------------------------------------------------------------------------------

    def _release(self) -> None:
        if self._etag is None or self.lost is not None:
            return  # never held, or another run holds it now: not ours to delete
        try:
            self._table.delete_entity(
                LEASE_PARTITION, LEASE_ROW, etag=self._etag, match_condition=MatchConditions.IfNotModified
            )
        except ResourceModifiedError:
            log.warning(
                "the run lease on %s was taken by another run before this one released it", self._where
            )
        except Exception as exc:  # noqa: BLE001 - the lease ends by itself; the run's result stands
            log.warning("the run lease on %s could not be released (%s); it ends by itself", self._where, exc)
        finally:
            self._etag = None
