"""Fixtures for the keyvault sandbox (filled in by its owner)."""
