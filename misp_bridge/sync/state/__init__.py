"""The sync's memory between runs, behind one interface (protocol.py: StateStore) with two backends.

protocol.py   StateStore: what a run needs from its state; Pending, Status
store.py      State: one SQLite file (the command-line tools)
codec.py      compact keys and comparable times (how values are stored)
schema.py     the SQLite schema and its migrations
lock.py       the SQLite run lock (one sync at a time per state file)
revocation.py generations and marks (SQLite)
tables.py     TableState: an Azure Storage table (the Azure Function); rows.py its row layout,
              table_file.py its plumbing, table_records.py generations, marks and runs,
              lease.py its run lock (a lease renewed while the run lives)
"""

from misp_bridge.sync.state.protocol import Pending, StateStore, Status
from misp_bridge.sync.state.store import State

__all__ = ["Pending", "State", "StateStore", "Status"]
