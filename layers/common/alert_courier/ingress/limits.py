"""Documented size limits of an accepted alert: larger values are clipped, never refused, with a note on the alert.

Oversized decorations must not lose the alert (SQS takes at most 256 KiB a message, incident.io less), and what
decides the action (identity, status, severity, times) is never clipped here. Each clip adds one line to
`alert.raw["intake_notes"]`, which travels with the alert so its decision history can say what was cut.

Limits (characters):
- labels: at most 100, in the sender's order; keys 128, values 1,024;
- annotations: at most 50; keys 128, values 4,096;
- links: at most 20; names 128, URLs 2,048;
- description: 8,192;
- each source detail kept for explanations (`raw`): 4,096 once written as JSON, else replaced by a note.
Titles are clipped to 1,024 by each source. A message still over SQS' limit after these (text that JSON escapes
to six bytes a character) is reduced further by the queue, see `aws.alert_queue.fitted_body`.
"""

from __future__ import annotations

import json
from typing import Any

from alert_courier.domain.alert import Alert

MAX_LABELS = 100
MAX_ANNOTATIONS = 50
MAX_LINKS = 20
MAX_KEY_CHARS = 128
MAX_LABEL_VALUE_CHARS = 1024
MAX_ANNOTATION_VALUE_CHARS = 4096
MAX_URL_CHARS = 2048
MAX_DESCRIPTION_CHARS = 8192
MAX_RAW_VALUE_CHARS = 4096
NOTES = "intake_notes"


def within_limits(alert: Alert) -> Alert:
    """The alert itself when it is within every limit (the usual case), else a clipped copy with notes."""
    notes: list[str] = []
    labels = _clipped_map(alert.labels, "labels", MAX_LABELS, MAX_LABEL_VALUE_CHARS, notes)
    annotations = _clipped_map(alert.annotations, "annotations", MAX_ANNOTATIONS, MAX_ANNOTATION_VALUE_CHARS, notes)
    links = _clipped_map(alert.links, "links", MAX_LINKS, MAX_URL_CHARS, notes)
    description = alert.description
    if len(description) > MAX_DESCRIPTION_CHARS:
        notes.append(f"description clipped from {len(description)} to {MAX_DESCRIPTION_CHARS} characters")
        description = description[:MAX_DESCRIPTION_CHARS]
    raw = _clipped_raw(alert.raw, notes)
    if not notes:
        return alert
    raw[NOTES] = [*alert.raw.get(NOTES, []), *notes]
    update = {"labels": labels, "annotations": annotations, "links": links, "description": description, "raw": raw}
    return alert.model_copy(update=update)


def with_note(alert: Alert, note: str) -> Alert:
    """The alert with one more intake note (e.g. a malformed decoration that was dropped)."""
    return alert.model_copy(update={"raw": {**alert.raw, NOTES: [*alert.raw.get(NOTES, []), note]}})


def _clipped_map(values: dict[str, str], name: str, most: int, value_chars: int, notes: list[str]) -> dict[str, str]:
    if len(values) <= most and all(len(k) <= MAX_KEY_CHARS and len(v) <= value_chars for k, v in values.items()):
        return values
    kept: dict[str, str] = {}
    clipped_keys = clipped_values = 0
    for key, value in list(values.items())[:most]:
        short_key = key[:MAX_KEY_CHARS]
        clipped_keys += short_key != key
        clipped_values += len(value) > value_chars
        kept.setdefault(short_key, value[:value_chars])
    if len(values) > most:
        notes.append(f"{name}: {len(values) - most} of {len(values)} dropped (at most {most} are kept)")
    if clipped_keys:
        notes.append(f"{name}: {clipped_keys} name(s) clipped to {MAX_KEY_CHARS} characters")
    if clipped_values:
        notes.append(f"{name}: {clipped_values} value(s) clipped to {value_chars} characters")
    return kept


def _clipped_raw(raw: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for key, value in raw.items():
        if key == NOTES or (isinstance(value, str | int | float | bool) and len(str(value)) <= MAX_RAW_VALUE_CHARS):
            kept[key] = value
            continue
        size = len(json.dumps(value, ensure_ascii=False, default=str))
        if size <= MAX_RAW_VALUE_CHARS:
            kept[key] = value
        else:
            notes.append(f"source detail {key[:64]!r} dropped: {size} characters (limit {MAX_RAW_VALUE_CHARS})")
    return kept
