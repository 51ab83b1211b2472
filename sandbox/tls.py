"""A throw-away certificate authority for the sandbox servers (trustme)."""

from __future__ import annotations

import datetime
import ssl
import tempfile
from pathlib import Path

import trustme


class SandboxCA:
    """One CA and one server certificate for 127.0.0.1, ::1 and localhost.

    `ca_path` is a PEM file clients trust (requests `verify=`, `REQUESTS_CA_BUNDLE`, `ms_ca_bundle`).
    """

    def __init__(self, directory: Path | None = None) -> None:
        self._ca = trustme.CA(organization_name="misp-bridge sandbox")
        self._cert = self._ca.issue_cert("127.0.0.1", "::1", "localhost")
        self.directory = directory or Path(tempfile.mkdtemp(prefix="sandbox-ca-"))
        self.directory.mkdir(parents=True, exist_ok=True)
        self.ca_path = self.directory / "sandbox-ca.pem"
        self._ca.cert_pem.write_to_path(str(self.ca_path))

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._cert.configure_cert(context)
        return context

    def other_context(self, *names: str, not_after: datetime.datetime | None = None) -> ssl.SSLContext:
        """A server context with another certificate of this CA: other names (a certificate made out to
        the wrong host) or an end date in the past (an expired one)."""
        not_before = None if not_after is None else not_after - datetime.timedelta(days=30)
        cert = self._ca.issue_cert(
            *(names or ("127.0.0.1", "localhost")), not_before=not_before, not_after=not_after
        )
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        return context
