"""Hypothesis strategies the property tests share: arbitrary JSON, and real samples with a few fields broken."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)


def break_some_fields(draw: st.DrawFn, document: Any, most: int) -> Any:
    """Up to `most` fields (top level, or inside a nested object or list item) replaced or removed, in place."""
    for _ in range(draw(st.integers(0, most))):
        target = document
        while isinstance(target, dict | list) and target and draw(st.booleans()):
            target = draw(st.sampled_from(list(target.values()) if isinstance(target, dict) else target))
        if isinstance(target, dict) and target:
            key = draw(st.sampled_from(sorted(target)))
            if draw(st.booleans()):
                del target[key]
            else:
                target[key] = draw(json_values)
        elif isinstance(target, list) and target:
            target[draw(st.integers(0, len(target) - 1))] = draw(json_values)
    return document
