"""Fixtures for the misp sandbox (filled in by its owner)."""
