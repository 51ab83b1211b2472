"""The sync's memory between runs: one SQLite file behind the `State` object.

store.py   State: what each workspace holds, what is pending, what was revoked, the run log
codec.py   compact keys and comparable times (how values are stored)
schema.py  the schema and its migrations
lock.py    the run lock (one sync at a time per state file)
"""

from misp_bridge.sync.state.store import Pending, State, Status

__all__ = ["Pending", "State", "Status"]
