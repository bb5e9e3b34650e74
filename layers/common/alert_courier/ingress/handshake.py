"""A request a source answers itself instead of accepting alerts (e.g. an SNS subscription confirmation)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Handshake:
    status: int
    """The HTTP status to answer with (200: done, nothing enqueued)."""
    outcome: str
    """Machine-readable, e.g. "subscription_confirmed"; the answer's `status` field."""
    detail: str = ""
