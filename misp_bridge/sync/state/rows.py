"""How TableState lays the state out in one Azure Storage table (pure functions; docs/azure-function.md).

Partitions are chosen for the run's access patterns. Everything a run reads or writes about one
workspace is in that workspace's partition, so each Sentinel batch answer (at most 100 indicators, one
workspace) is recorded in one or two entity-group transactions (at most 100 entities, one partition,
4 MB), and no query ever crosses partitions:

    PartitionKey      RowKey                  what
    w-<workspace>     i-<stix id>             an indicator: hashes delivered/rejected, uuids, valid_until,
                                              revoked (the SQLite `indicators` row)
    w-<workspace>     a-<attribute>|<id>      index: the indicators of a MISP attribute (to_ids pass)
    w-<workspace>     p-<stix id>             a pending item: where it sits in the queue, attempts
    w-<workspace>     q-<order>               the pending queue in order: body (zlib, split), uuids
    w-<workspace>     g-<generation-0 id>     the generation an indicator is at (revocation.py)
    w-<workspace>     m-<name>                a mark (where the last expiry pass stopped)
    runs              r-<inverted run id>     the run log, newest first; `counter` holds the next id
    lease             run                     the run lease (lease.py)

Keys are the values themselves when they are plain (canonical ids, GUIDs), otherwise "~" and a SHA-256
of the value: the service refuses "/", "\\", "#", "?" and control characters in keys, and a key stays
under its 1 KiB limit. The value itself is always kept in a property.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import threading
import zlib
from collections.abc import Mapping
from typing import Any

from misp_bridge.errors import StateError

_PLAIN = re.compile(r"[A-Za-z0-9._:-]{1,400}")

INDICATOR, ATTRIBUTE, POINTER, QUEUE, GENERATION, MARK = "i-", "a-", "p-", "q-", "g-", "m-"
RUNS_PARTITION, RUN, RUN_COUNTER = "runs", "r-", "counter"
LEASE_PARTITION, LEASE_ROW = "lease", "run"

# One binary property holds at most 64 KiB; 15 of them (960,000 bytes) stay inside the 1 MiB entity
# limit with the other properties. A body MISP can produce (its text fields stop at 65,535 bytes)
# compresses far below that.
CHUNK = 64_000
MAX_CHUNKS = 15
# Entity-group transactions: one partition, at most 100 entities, at most 4 MB of payload.
BATCH = 100
BATCH_BYTES = 3_000_000
# Run ids are stored inverted so that the newest sorts first.
_RUN_SPAN = 10**15


def key(value: str) -> str:
    """A table key for any text: itself when plain, else "~" + SHA-256 (hex) of its UTF-8 bytes."""
    if _PLAIN.fullmatch(value):
        return value
    return "~" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def partition(workspace: str) -> str:
    return "w-" + key(workspace)


def upper(prefix: str) -> str:
    """The first key after every key starting with `prefix` (for range queries)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def attribute_prefix(attribute_uuid: str) -> str:
    return f"{ATTRIBUTE}{key(attribute_uuid)}|"


def run_row(run_id: int) -> str:
    return f"{RUN}{_RUN_SPAN - run_id:016d}"


def run_id_of(row_key: str) -> int:
    return _RUN_SPAN - int(row_key[len(RUN) :])


_order_lock = threading.Lock()
_order_counter = itertools.count()


def queue_order(now: float) -> str:
    """A queue key that sorts by the time an item first failed, then by the order of calls in this
    process (items kept in one call keep their order; a clock that stands still keeps it too)."""
    with _order_lock:
        tick = next(_order_counter)
    return f"{QUEUE}{int(now * 1_000_000):017d}-{tick:012d}"


def pack_body(body: Mapping[str, Any], stix_id: str) -> dict[str, bytes | int]:
    """A STIX body as properties: zlib-compressed JSON split into Body0..BodyN (N < MAX_CHUNKS)."""
    raw = zlib.compress(json.dumps(dict(body), separators=(",", ":")).encode("utf-8"), 6)
    parts = [raw[start : start + CHUNK] for start in range(0, len(raw), CHUNK)] or [b""]
    if len(parts) > MAX_CHUNKS:
        raise StateError(
            f"The pending indicator {stix_id} is too large for the state table "
            f"({len(raw):,} bytes compressed, at most {CHUNK * MAX_CHUNKS:,})."
        )
    props: dict[str, bytes | int] = {f"Body{n}": part for n, part in enumerate(parts)}
    props["BodyParts"] = len(parts)
    return props


def unpack_body(entity: Mapping[str, Any]) -> dict[str, Any]:
    parts = int(entity.get("BodyParts", 0))
    raw = b"".join(bytes(entity[f"Body{n}"]) for n in range(parts))
    loaded = json.loads(zlib.decompress(raw).decode("utf-8"))
    if not isinstance(loaded, dict):
        raise StateError("A pending row of the state table holds a body that is not a JSON object.")
    return loaded


def body_size(props: Mapping[str, Any]) -> int:
    """Roughly what an entity adds to a transaction's payload (its bodies dominate)."""
    return 1_000 + sum(len(value) for value in props.values() if isinstance(value, bytes))
