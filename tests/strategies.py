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
    return break_some_fields_with(draw, document, most, json_values)


# --- hostile values: what senders (or attackers) put where we expect ordinary text, times and sizes -------------

hostile_text = st.one_of(
    st.text(max_size=30),
    st.text(st.characters(codec=None, categories=["Cs", "Cc", "Co", "Cn"]), max_size=10),  # surrogates, controls
    st.sampled_from(["\ud800", "a\udfffb", "\ufffe", "\uffff", "\x00", "\x0b", "\u2028", "\U0010ffff"]),
    st.builds(lambda char, count: char * count, st.sampled_from("x \x01{[\u00e9"), st.integers(3_000, 300_000)),
)
hostile_times = st.one_of(
    st.sampled_from(
        [
            "9999-12-31T23:00:00-12:00",
            "0001-01-01T00:00:00+01:00",
            "0001-01-01T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "2026-11-25T10:00:00.123456789+14:00",
            "99999999999999999999",
            "1795600020000",
            "",
        ]
    ),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
)
hostile_values = st.one_of(
    json_values,
    hostile_text,
    hostile_times,
    st.lists(hostile_text, max_size=3),
    st.dictionaries(hostile_text, hostile_text, max_size=3),
    st.builds(lambda count: {f"k{n}": "v" * 50 for n in range(count)}, st.integers(100, 800)),
    st.builds(lambda count: [{"href": f"https://x/{n}"} for n in range(count)], st.integers(20, 2000)),
)


def break_some_fields_with(draw: st.DrawFn, document: Any, most: int, values: st.SearchStrategy[Any]) -> Any:
    """Up to `most` fields (top level, or inside a nested object or list item) replaced by one of `values` or
    removed, in place."""
    for _ in range(draw(st.integers(0, most))):
        target = document
        while isinstance(target, dict | list) and target and draw(st.booleans()):
            target = draw(st.sampled_from(list(target.values()) if isinstance(target, dict) else target))
        if isinstance(target, dict) and target:
            key = draw(st.sampled_from(sorted(target)))
            if draw(st.booleans()):
                del target[key]
            else:
                target[key] = draw(values)
        elif isinstance(target, list) and target:
            target[draw(st.integers(0, len(target) - 1))] = draw(values)
    return document


@st.composite
def mangled_bytes(draw: st.DrawFn, body: bytes) -> bytes:
    """`body` with a few bytes replaced, inserted or removed, or cut short: byte-level damage to valid JSON."""
    data = bytearray(body)
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, max(0, len(data) - 1)))
        action = draw(st.sampled_from(["replace", "insert", "delete", "cut"]))
        if action == "replace" and data:
            data[position] = draw(st.integers(0, 255))
        elif action == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=6))
        elif action == "delete":
            del data[position : position + draw(st.integers(1, 6))]
        else:
            del data[position:]
    return bytes(data)
