"""The state file's schema and its migrations, versioned with PRAGMA user_version.

To change the schema, add the statements that turn version N into N + 1 under key N + 1 in MIGRATIONS:
`migrate` applies every missing step in order, each in its own transaction, and refuses a file written
by a newer version rather than guessing at its layout.
"""

from __future__ import annotations

import sqlite3

from misp_bridge.errors import StateError

# Row layout notes (200,000 indicators must stay a few tens of MB):
# - workspaces get a small integer key instead of repeating a 36-character id on every row;
# - delivered indicators keep ids, hashes and uuids only, never the STIX body (Sentinel has it);
# - only pending rows keep their body, since they must be resent as they were;
# - valid_until and timestamps are epoch seconds (REAL): compact, and they compare as times;
# - ids, uuids and hashes are packed by state.py (16-byte blobs where possible), so those columns are
#   declared BLOB: no type affinity, a value is kept exactly as it was bound.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        "CREATE TABLE workspaces (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)",
        "CREATE TABLE indicators ("
        " ws INTEGER NOT NULL REFERENCES workspaces(id),"
        " stix_id BLOB NOT NULL,"
        " delivered_hash BLOB,"  # hash of the version Sentinel holds; NULL if never accepted
        " rejected_hash BLOB,"  # hash of the version Sentinel refused; not sent again while unchanged
        " attribute_uuid BLOB NOT NULL,"
        " event_uuid BLOB,"
        " valid_until REAL,"
        " revoked INTEGER NOT NULL DEFAULT 0,"
        " reject_message TEXT,"
        " updated_at REAL NOT NULL,"
        " PRIMARY KEY (ws, stix_id)) WITHOUT ROWID",
        "CREATE INDEX indicators_by_attribute ON indicators(ws, attribute_uuid)",
        "CREATE TABLE pending ("
        " seq INTEGER PRIMARY KEY,"  # queue order: oldest failure first
        " ws INTEGER NOT NULL REFERENCES workspaces(id),"
        " stix_id TEXT NOT NULL,"
        " body TEXT NOT NULL,"
        " content_hash TEXT NOT NULL,"
        " attribute_uuid TEXT NOT NULL,"
        " event_uuid TEXT NOT NULL,"
        " attempts INTEGER NOT NULL,"
        " first_at REAL NOT NULL,"
        " last_at REAL NOT NULL,"
        " UNIQUE (ws, stix_id))",
        "CREATE INDEX pending_by_workspace ON pending(ws, seq)",
        "CREATE TABLE runs ("
        " id INTEGER PRIMARY KEY,"
        " kind TEXT NOT NULL,"
        " pid INTEGER,"
        " started_at REAL NOT NULL,"
        " finished_at REAL,"
        " exit_code INTEGER,"
        " summary TEXT)",
    ),
    # Revocation is final in Sentinel: an indicator back after one is sent under the id of its next
    # generation (docs/mapping.md "Ids"). One plain record per (workspace, generation-0 id), written only
    # once an indicator has gone past generation 0, so the table stays as small as the revocations.
    # Pending rows remember the generation-0 id of what they hold; `marks` keeps per-workspace times
    # (where the last expiry pass stopped).
    2: (
        "CREATE TABLE generations ("
        " ws INTEGER NOT NULL REFERENCES workspaces(id),"
        " base_id BLOB NOT NULL,"  # the generation-0 stix id
        " generation INTEGER NOT NULL,"
        " attribute_uuid BLOB,"
        " updated_at REAL NOT NULL,"
        " PRIMARY KEY (ws, base_id)) WITHOUT ROWID",
        "ALTER TABLE pending ADD COLUMN base_id TEXT",  # NULL: the same as stix_id
        "CREATE TABLE marks ("
        " ws INTEGER NOT NULL REFERENCES workspaces(id),"
        " name TEXT NOT NULL,"
        " value REAL NOT NULL,"
        " PRIMARY KEY (ws, name)) WITHOUT ROWID",
    ),
}

SCHEMA_VERSION = max(MIGRATIONS)


def migrate(conn: sqlite3.Connection, name: str) -> None:
    """Bring the file at `name` up to SCHEMA_VERSION (conn is in autocommit mode)."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise StateError(
            f"The state file {name} has schema version {version}, newer than this program's "
            f"{SCHEMA_VERSION}; upgrade misp-bridge or use another state_file."
        )
    for target in range(version + 1, SCHEMA_VERSION + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in MIGRATIONS[target]:
                conn.execute(statement)
            # PRAGMA takes no bound parameters; target is an int from our own table.
            conn.execute(f"PRAGMA user_version = {int(target)}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
