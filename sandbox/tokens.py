"""Access tokens the sandbox Entra ID issues and the other emulators check.

A token is `base64url(json claims) + "." + base64url(hmac-sha256)` signed with a per-process key, so any
emulator in the process can verify it without a shared store. Claims: `aud` (resource, e.g.
`https://management.azure.com`), `tid` (tenant), `appid` (client id), `oid` (object id), `exp` (epoch).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

_KEY = secrets.token_bytes(32)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Claims:
    aud: str
    tid: str
    appid: str
    oid: str
    exp: float


def issue(aud: str, tid: str, appid: str, lifetime: float = 3599, now: float | None = None) -> str:
    """A signed token for `aud` valid for `lifetime` seconds."""
    issued = time.time() if now is None else now
    oid = str(hashlib.sha256(f"{tid}/{appid}".encode()).hexdigest()[:32])
    claims = {"aud": aud, "tid": tid, "appid": appid, "oid": oid, "exp": issued + lifetime}
    body = _b64(json.dumps(claims, sort_keys=True).encode())
    signature = _b64(hmac.new(_KEY, body.encode(), hashlib.sha256).digest())
    return f"{body}.{signature}"


def verify(token: str, now: float | None = None) -> Claims | None:
    """The token's claims if it is well-formed, signed by this process and not expired; else None."""
    try:
        body, signature = token.split(".")
        expected = _b64(hmac.new(_KEY, body.encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(signature, expected):
            return None
        raw: dict[str, Any] = json.loads(_unb64(body))
        claims = Claims(
            str(raw["aud"]), str(raw["tid"]), str(raw["appid"]), str(raw["oid"]), float(raw["exp"])
        )
    except (ValueError, KeyError, TypeError):
        return None
    if claims.exp <= (time.time() if now is None else now):
        return None
    return claims


def bearer(authorization: str) -> str | None:
    """The token out of an `Authorization: Bearer <token>` header value, or None."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
