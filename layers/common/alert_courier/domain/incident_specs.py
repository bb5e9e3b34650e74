"""The one way a rule's incident spec becomes an action: opening (alert groups and heartbeats alike) and the
recovery under its `on_resolve`."""

from __future__ import annotations

from alert_courier.domain.actions import OpenIncident, ResolveIncident
from alert_courier.domain.alert import Alert
from alert_courier.domain.rules import OpenIncidentSpec, RuleSet
from alert_courier.domain.templates import render


def resolve_incident_from_spec(
    spec: OpenIncidentSpec, *, group_id: str, generation: int, incident_id: str, summary: str, why: str
) -> ResolveIncident:
    """The one way a recovery becomes an action under the spec's `on_resolve` (resolve, or only post an update)."""
    closes = spec.on_resolve == "resolve"
    return ResolveIncident(
        group_id=group_id,
        generation=generation,
        incident_id=incident_id,
        summary=summary,
        close=closes,
        status_name=spec.resolve_status,
        reason=f"{why}: " + ("resolve the incident" if closes else "post the recovery, leave it open"),
    )


def open_incident_from_spec(
    spec: OpenIncidentSpec,
    alert: Alert,
    rules: RuleSet,
    *,
    group_id: str,
    generation: int,
    reason: str,
    links: dict[str, str] | None = None,
) -> OpenIncident:
    """The one way a rule's incident spec becomes an action (alert groups and heartbeats alike)."""
    return OpenIncident(
        group_id=group_id,
        generation=generation,
        name=render(spec.name, alert)[:250] or alert.title,
        summary=render(spec.summary, alert),
        severity=alert.severity,
        severity_name=spec.severity or rules.severity.incident_io.get(alert.severity),
        incident_type=spec.incident_type,
        mode=spec.mode,
        visibility=spec.visibility,
        links=links or {},
        reason=reason,
    )
