"""Fixtures for the azure sandbox (filled in by its owner)."""
