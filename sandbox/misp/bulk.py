"""Synthetic MISP data in bulk: rows ready for the store's tables, built without per-row JSON encoding.

A benchmark pages 200,000 attributes, so seeding must take about a second: the JSON bodies come from
a template encoded once, and uuids from one random prefix plus a counter (unique, cheap, valid v4).
"""

from __future__ import annotations

import json
import uuid as uuidlib
from typing import Any

from sandbox.misp.data import ATTRIBUTE_DEFAULTS, EVENT_DEFAULTS, ORGC, synthetic_values

EventRow = tuple[int, str, int, int, int, str, str, str]
AttributeRow = tuple[int, str, int, int, str, str, str, int, int, int, str]


def _fixed(fields: dict[str, Any]) -> str:
    """The JSON members shared by every row, without the braces."""
    return json.dumps(fields)[1:-1]


def bulk_rows(
    first_event: int,
    first_attribute: int,
    serial: int,
    n_events: int,
    attrs_per_event: int,
    *,
    to_ids_ratio: float,
    published: bool,
    now: int,
) -> tuple[list[EventRow], list[AttributeRow], list[str]]:
    """Rows for `events` and `attributes`, and the new event uuids.

    `serial` numbers the attributes already stored, so values never repeat across calls.
    """
    base = uuidlib.uuid4().hex
    prefix = f"{base[:8]}-{base[8:12]}-4{base[13:16]}-a{base[17:19]}"
    defaults = {k: v for k, v in EVENT_DEFAULTS.items() if k != "publish_timestamp"}
    event_fixed = _fixed(
        {**defaults, "published": published, "date": "2024-01-01", "Orgc": ORGC, "Org": ORGC,
         "Tag": [], "Galaxy": [], "attribute_count": str(attrs_per_event)}
    )  # fmt: skip
    attribute_fixed = _fixed({**ATTRIBUTE_DEFAULTS, "Galaxy": [], "ShadowAttribute": []})
    events: list[EventRow] = []
    attributes: list[AttributeRow] = []
    uuids: list[str] = []
    attribute_id = first_attribute
    for i in range(n_events):
        event_id, stamp = first_event + i, now - n_events + i
        published_at = stamp if published else 0
        event_uuid = f"{prefix}0-{event_id:012x}"
        info = f"Synthetic event {event_id}"
        body = (
            f'{{"id": "{event_id}", "uuid": "{event_uuid}", "info": "{info}", "timestamp": "{stamp}", '
            f'"publish_timestamp": "{published_at}", {event_fixed}}}'
        )
        uuids.append(event_uuid)
        events.append((event_id, event_uuid, int(published), stamp, published_at, "2024-01-01", info, body))
        for attr_type, category, value in synthetic_values(serial, attrs_per_event):
            to_ids = int((serial + 1) * to_ids_ratio) > int(serial * to_ids_ratio)
            attribute_uuid = f"{prefix}1-{attribute_id:012x}"
            body = (
                f'{{"id": "{attribute_id}", "uuid": "{attribute_uuid}", "event_id": "{event_id}", '
                f'"type": "{attr_type}", "category": "{category}", "value": "{value}", '
                f'"to_ids": {"true" if to_ids else "false"}, "timestamp": "{stamp}", {attribute_fixed}}}'
            )
            row = (attribute_id, attribute_uuid, event_id, 0, attr_type, category, value,
                   int(to_ids), stamp, 0, body)  # fmt: skip
            attributes.append(row)
            attribute_id += 1
            serial += 1
    return events, attributes, uuids
