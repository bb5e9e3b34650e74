"""The one shape of a decision record (`alert-courier history` reads it), for dispatch and the scheduler alike."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from alert_courier.domain.actions import Action
from alert_courier.domain.alert import AlertEnvelope
from alert_courier.domain.errors import ActionFailed
from alert_courier.use_cases.ports import History


def history_entry(
    *,
    transition_id: str,
    correlation_id: str,
    status: str,
    title: str,
    rules: Sequence[str],
    reasons: Sequence[str],
    actions: Sequence[Action],
    results: Sequence[dict[str, Any]],
    error: ActionFailed | str | None,
    group_key: str | None = None,
    intake_notes: Sequence[str] = (),
    group_id: str | None = None,
    generation: int | None = None,
    incident_reference: str | None = None,
    heartbeat: str | None = None,
    manual: dict[str, str] | None = None,
) -> dict[str, Any]:
    """`intake_notes`: what ingest dropped or clipped from the payload (decorations), kept with the decision.

    What `history` and `tail` look decisions up by: `group_id` and `generation` (the group's state and episode;
    for a heartbeat instance its own state), `incident_reference` (the group's incident when it was decided, e.g.
    `INC-12`), `heartbeat` (the heartbeat's name, so every instance is found by it), `manual` (an operator's
    `ack`/`resolve`/`forget`: `{"operation", "by", "reason"}`)."""
    entry: dict[str, Any] = {
        "transition_id": transition_id,
        "correlation_id": correlation_id,
        "status": status,
        "title": title,
        "rules": list(rules),
        "reasons": list(reasons),
        "actions": [action.model_dump(mode="json") for action in actions],
        "results": list(results),
        "error": error.describe() if isinstance(error, ActionFailed) else error,
    }
    if group_key is not None:
        entry["group_key"] = group_key
    if intake_notes:
        entry["intake_notes"] = list(intake_notes)
    optional = {
        "group_id": group_id,
        "generation": generation,
        "incident_reference": incident_reference,
        "heartbeat": heartbeat,
        "manual": manual,
    }
    entry.update({name: value for name, value in optional.items() if value is not None})
    return entry


def record_without_action(history: History, envelope: AlertEnvelope, reasons: Sequence[str]) -> None:
    """Records an alert that is held, not acted on (a maintenance window, an inhibit rule), with why."""
    alert = envelope.alert
    entry = history_entry(
        transition_id=alert.transition_id(),
        correlation_id=envelope.correlation_id,
        status=alert.status.value,
        title=alert.title,
        group_key=alert.group_key,
        rules=[],
        reasons=reasons,
        actions=[],
        results=[],
        error=None,
    )
    history.record(alert.source, alert.dedup_key, entry)
