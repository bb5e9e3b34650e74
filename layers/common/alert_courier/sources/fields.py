"""Field types the sources share: times that must convert to UTC, identity keys bounded by hashing."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError


def convertible_to_utc(moment: datetime) -> datetime:
    """A time is a decision (order, duration): one that has no UTC equivalent is refused, never guessed."""
    if moment.tzinfo is None:
        return moment
    try:
        moment.astimezone(UTC)
    except OverflowError:
        raise PydanticCustomError(
            "datetime_out_of_range",
            "the time {value} has no UTC equivalent (it falls before year 1 or after year 9999)",
            {"value": moment.isoformat()[:40]},
        ) from None
    return moment


UtcDatetime = Annotated[datetime, AfterValidator(convertible_to_utc)]
"""A datetime field of a sender's model: parsed as pydantic does, refused (422, naming it) if it cannot be UTC."""


def bounded_key(key: str, limit: int = 255) -> str:
    """An identity key as sent, or a stable digest of it when it is too long to store (the same key, same digest)."""
    if len(key) <= limit:
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
