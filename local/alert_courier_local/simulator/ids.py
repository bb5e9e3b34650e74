"""Identifiers that look like incident.io's: ULIDs for objects, UUIDs for request ids."""

from __future__ import annotations

import secrets
import time
import uuid

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_ulid(now: float | None = None) -> str:
    """A 26-character ULID: 48 bits of milliseconds then 80 random bits, Crockford base32."""
    milliseconds = int((time.time() if now is None else now) * 1000)
    value = (milliseconds << 80) | secrets.randbits(80)
    characters = []
    for _ in range(26):
        characters.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(characters))


def new_request_id() -> str:
    return str(uuid.uuid4())
