"""What revocation needs from the state file: generations and the expiry pass's mark.

Sentinel never lets a revoked id come back (docs/contracts.md 4), so an indicator that must return after
a revocation is sent under the id of its next generation (`generation_id`, docs/mapping.md "Ids"). The
`generations` table holds one row per (workspace, generation-0 id) that has gone past generation 0;
every run reads it, so re-runs agree on the id. `marks` keeps per-workspace times: where the last
complete expiry pass stopped, so the next one asks Sentinel only for what expired since.
"""

from __future__ import annotations

from collections.abc import Sequence

from misp_bridge.sync.convert.indicators import generation_id
from misp_bridge.sync.indicator import Indicator
from misp_bridge.sync.state.codec import pack_id, pack_uuid, unpack_id
from misp_bridge.sync.state.sqlite import SqliteFile

# A service that refuses id after id as "revoked" must not make a run loop: past this, give up.
MAX_GENERATION = 100


def in_current(items: Sequence[Indicator], found: dict[str, int]) -> list[Indicator]:
    """The items under the id of their current generation (`found`: generation-0 id -> generation)."""
    return [item.with_id(generation_id(item.base, found.get(item.base, 0))) for item in items]


def plan_next(
    items: Sequence[Indicator], found: dict[str, int]
) -> tuple[list[Indicator], list[Indicator], list[tuple[Indicator, int]]]:
    """(moved to their next generation, stuck at MAX_GENERATION, (item, new generation) to record);
    an id listed twice moves twice, as two revocations in a row would."""
    found = dict(found)
    moved: list[Indicator] = []
    stuck: list[Indicator] = []
    raised: list[tuple[Indicator, int]] = []
    for item in items:
        generation = found.get(item.base, 0) + 1
        if generation > MAX_GENERATION:
            stuck.append(item)
            continue
        found[item.base] = generation
        moved.append(item.with_id(generation_id(item.base, generation)))
        raised.append((item, generation))
    return moved, stuck, raised


class RevocationRecords(SqliteFile):
    """Generations and marks (a mixin of State)."""

    def generations(self, workspace: str, base_ids: Sequence[str]) -> dict[str, int]:
        """Generation-0 id -> current generation, for those past generation 0."""
        return {
            unpack_id(base): int(generation)
            for base, generation in self._select_in(
                workspace,
                "SELECT base_id, generation FROM generations WHERE ws = ? AND base_id IN ({marks})",
                map(pack_id, base_ids),
            )
        }

    def current(self, workspace: str, items: Sequence[Indicator]) -> list[Indicator]:
        """The items under the id of their current generation in this workspace."""
        return in_current(items, self.generations(workspace, [item.base for item in items]))

    def next_generation(
        self, workspace: str, items: Sequence[Indicator], *, persist: bool = True
    ) -> tuple[list[Indicator], list[Indicator]]:
        """(items under the id of their next generation, items already at MAX_GENERATION). `persist`
        False (a dry run) computes the ids without writing them."""
        found = self.generations(workspace, [item.base for item in items])
        moved, stuck, raised = plan_next(items, found)
        now = self._clock()
        rows = [
            (pack_id(item.base), generation, pack_uuid(item.attribute_uuid), now)
            for item, generation in raised
        ]
        if persist and rows:
            with self._write() as conn:
                ws = self._ws(conn, workspace, create=True)
                conn.executemany(
                    "INSERT INTO generations(ws, base_id, generation, attribute_uuid, updated_at)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT(ws, base_id) DO UPDATE SET"
                    " generation = excluded.generation, updated_at = excluded.updated_at",
                    [(ws, *row) for row in rows],
                )
        return moved, stuck

    def mark(self, workspace: str, name: str) -> float | None:
        with self._read() as conn:
            ws = self._ws(conn, workspace, create=False)
            if ws is None:
                return None
            row = conn.execute("SELECT value FROM marks WHERE ws = ? AND name = ?", (ws, name)).fetchone()
        return float(row[0]) if row else None

    def set_mark(self, workspace: str, name: str, value: float) -> None:
        with self._write() as conn:
            ws = self._ws(conn, workspace, create=True)
            conn.execute(
                "INSERT INTO marks(ws, name, value) VALUES (?, ?, ?)"
                " ON CONFLICT(ws, name) DO UPDATE SET value = excluded.value",
                (ws, name, value),
            )
