"""Checks an inbound webhook credential in constant time against every currently valid value."""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Sequence

from .rejection import unauthorized
from .webhook import WebhookRequest


def presented_secret(request: WebhookRequest) -> str | None:
    """The secret a sender presented: a Bearer token, or the password of Basic auth."""
    header = request.headers.get("authorization", "").strip()
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return value
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        _, _, password = decoded.partition(":")
        return password or None
    return None


def matches_any(presented: str, valid: Sequence[str]) -> bool:
    """Constant-time comparison against each valid value (two are live during a rotation)."""
    presented_bytes = presented.encode("utf-8")
    matched = False
    for candidate in valid:
        if candidate and hmac.compare_digest(presented_bytes, candidate.encode("utf-8")):
            matched = True
    return matched


def require_shared_secret(request: WebhookRequest, valid: Sequence[str]) -> None:
    presented = presented_secret(request)
    if presented is None:
        raise unauthorized("missing credentials: send Authorization: Bearer <token> (or Basic auth)")
    if not matches_any(presented, valid):
        raise unauthorized("invalid credentials")
