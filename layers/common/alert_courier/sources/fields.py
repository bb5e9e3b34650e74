"""What the sources share: times that must convert to UTC, identity keys bounded by hashing, lenient decorations."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, TypeAdapter, ValidationError
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


# --- decorations: liberal about what does not decide the action -------------------------------------------------

DROPPED = "__dropped__"
"""The key under which a model receives the notes of what was dropped (always set by us, whatever was sent)."""


@dataclass(frozen=True)
class Decoration:
    """A field that does not decide the action: if malformed it is dropped with a note instead of refusing the alert.

    `each`: "whole" drops the field; "item" drops only the bad items of a list; "entry" only the bad map entries.
    """

    adapter: TypeAdapter[Any]
    each: Literal["whole", "item", "entry"] = "whole"


def decoration(kind: Any, each: Literal["whole", "item", "entry"] = "whole") -> Decoration:
    return Decoration(TypeAdapter(kind), each)


def drop_malformed(data: Any, decorations: Mapping[str, Decoration], already: Sequence[str] = ()) -> Any:
    """`data` with its malformed decorations removed and a note for each under DROPPED; anything else unchanged.

    `already`: notes made before (e.g. fields defaulted from the notification); whatever was sent as DROPPED is not
    kept.
    """
    if not isinstance(data, dict):
        return data
    kept = dict(data)
    notes: list[str] = list(already)
    for name, spec in decorations.items():
        if name not in kept or kept[name] is None:
            kept.pop(name, None)
            continue
        value = kept[name]
        if spec.each == "item" and isinstance(value, list):
            kept[name] = [item for index, item in enumerate(value) if _valid(spec, item, f"{name}.{index}", notes)]
        elif spec.each == "entry" and isinstance(value, dict):
            kept[name] = {key: item for key, item in value.items() if _valid(spec, item, f"{name}.{key}", notes)}
        elif spec.each != "whole" or not _valid(spec, value, name, notes):
            if spec.each != "whole":
                notes.append(f"{name} dropped: expected a {'list' if spec.each == 'item' else 'map'}")
            del kept[name]
    kept[DROPPED] = notes
    return kept


def _valid(spec: Decoration, value: Any, where: str, notes: list[str]) -> bool:
    try:
        spec.adapter.validate_python(value)
    except ValidationError as error:
        first = error.errors()[0]
        inside = ".".join(str(part) for part in first["loc"])
        notes.append(f"{where[:128]}{'.' + inside[:64] if inside else ''} dropped: {first['msg'][:160]}")
        return False
    return True


def notes_of(*dropped: Sequence[str]) -> dict[str, list[str]]:
    """The `raw` entry that carries intake notes to the alert's decision history; empty when there are none."""
    notes = [note for group in dropped for note in group]
    return {"intake_notes": notes} if notes else {}
