"""The one record for an indicator on its way through the sync.

An `Indicator` is born in the conversion (misp_bridge/sync/convert), waits in the upload feed, is
recorded by the state as delivered, rejected or pending (the state wraps it in `Pending` with its
attempt count), and comes back as a revocation (the same record with a revoked body). After a
revocation it may return under the id of a later generation (`with_id`; `base` keeps the first id).
Nothing converts between look-alike records: every stage passes this one along.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any


def content_hash(body: Mapping[str, Any]) -> str:
    """What the state compares to decide "unchanged": the body without `modified` (a new version of
    unchanged content must not count as a change)."""
    stable = {key: value for key, value in body.items() if key != "modified"}
    text = json.dumps(stable, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Indicator:
    """One STIX indicator body with where it came from in MISP (uuids are empty when unknown)."""

    stix_id: str
    body: Mapping[str, Any] = field(repr=False)
    content_hash: str
    attribute_uuid: str = ""
    event_uuid: str = ""
    misp_type: str = ""
    base_id: str = ""  # the generation-0 id when stix_id belongs to a later generation (docs/mapping.md)

    @property
    def base(self) -> str:
        """The id of generation 0: what identifies the indicator across its generations."""
        return self.base_id or self.stix_id

    @property
    def is_revocation(self) -> bool:
        """True for a revoked copy (cleanup), which Sentinel records as the end of this id."""
        return self.body.get("revoked") is True

    @classmethod
    def from_body(
        cls, body: Mapping[str, Any], *, attribute_uuid: str = "", event_uuid: str = "", misp_type: str = ""
    ) -> Indicator:
        """An Indicator for a body built elsewhere (Sentinel's copy, a pending row)."""
        return cls(str(body.get("id", "")), body, content_hash(body), attribute_uuid, event_uuid, misp_type)

    @property
    def valid_until(self) -> str | None:
        """The body's valid_until (ISO 8601), or None when it has none."""
        value = self.body.get("valid_until")
        return str(value) if value else None

    def with_id(self, stix_id: str) -> Indicator:
        """The same indicator under another id (a later generation); the content hash and base stay."""
        if stix_id == self.stix_id:
            return self
        return replace(self, stix_id=stix_id, body={**self.body, "id": stix_id}, base_id=self.base)

    def with_changes(self, **changes: Any) -> Indicator:
        """The same indicator with some body properties changed (`modified`, `revoked`); the content
        hash keeps describing the MISP content, which did not change."""
        return replace(self, body={**self.body, **changes})
