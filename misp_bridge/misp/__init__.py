"""MISP through PyMISP: one client wrapper and one translation of PyMISP's ways of failing."""

from misp_bridge.misp.client import MispClient, error_of, reason_of, translate

__all__ = ["MispClient", "error_of", "reason_of", "translate"]
