"""Text that cannot be represented: lone UTF-16 surrogates, which JSON can spell (`"\\ud800"`) but UTF-8 cannot.

They are refused (422 naming the field) rather than replaced with U+FFFD: a replacement would silently change an
identity (two distinct fingerprints or dedup keys could become one), no monitoring sender emits them (Go's and
most encoders write U+FFFD for invalid text themselves), and nothing downstream (SQS, the decision history,
incident.io) can store them, so refusing is the one answer that never changes what the sender meant.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # a valid pair is already one character once JSON is decoded


Trail = tuple[str, "Trail"] | None
"""The path to a value as a linked list (key, parent): building it costs nothing until it is reported."""


CHECK_EVERY = 4096


def lone_surrogate_at(document: Any, checkpoint: Callable[[], None] | None = None) -> str | None:
    """The dotted path of the first key or string holding a lone surrogate, or None. Linear, no recursion.
    `checkpoint` (intake's time budget) is called every `CHECK_EVERY` values."""
    stack: list[tuple[Trail, Any]] = [(None, document)]
    seen = 0
    while stack:
        trail, value = stack.pop()
        seen += 1
        if checkpoint is not None and seen % CHECK_EVERY == 0:
            checkpoint()
        if isinstance(value, str):
            if _LONE_SURROGATE.search(value):
                return _path(trail)
        elif isinstance(value, dict):
            for key, item in value.items():
                if _LONE_SURROGATE.search(str(key)):
                    return _path((str(key), trail))
                stack.append(((str(key), trail), item))
        elif isinstance(value, list):
            stack.extend(((str(index), trail), item) for index, item in enumerate(value))
    return None


def _path(trail: Trail) -> str:
    parts: list[str] = []
    while trail is not None:
        key, trail = trail
        parts.append(_LONE_SURROGATE.sub("\ufffd", key[:64]))
    return ".".join(reversed(parts)) or "body"
