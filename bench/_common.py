"""Helpers the sync benchmarks share: import path, a trusted sandbox CA, synthetic STIX indicators."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # runnable from any directory

from sandbox.tls import SandboxCA  # noqa: E402


@contextmanager
def trusted_ca(directory: Path | None = None) -> Iterator[SandboxCA]:
    """A fresh sandbox CA that requests and msal trust (they read these variables over verify=)."""
    ca = SandboxCA(directory)
    saved = {k: os.environ.get(k) for k in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")}
    os.environ["REQUESTS_CA_BUNDLE"] = os.environ["SSL_CERT_FILE"] = str(ca.ca_path)
    try:
        yield ca
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def indicator(n: int) -> dict[str, Any]:
    """A valid STIX 2.1 indicator for the n-th synthetic IPv4 address (unique for n < 2**24)."""
    value = f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid5(uuid.NAMESPACE_URL, f'bench/{n}')}",
        "created": "2024-01-01T00:00:00.000Z",
        "modified": "2024-01-01T00:00:00.000Z",
        "name": f"ip-dst {value}",
        "pattern": f"[ipv4-addr:value = '{value}']",
        "pattern_type": "stix",
        "pattern_version": "2.1",
        "valid_from": "2024-01-01T00:00:00Z",
        "valid_until": "2099-01-01T00:00:00Z",
        "confidence": 50,
        "labels": ["tlp:green"],
        "indicator_types": ["malicious-activity"],
    }
