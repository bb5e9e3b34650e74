"""Dry runs: what alert-courier would do with a payload, using exactly the dispatch function's decision
(`domain.decisions.decide_alert`, which the dispatch use case calls too).

Nothing here touches AWS or the MCP server; state starts empty (or, with `--state`, as the deployment's store
holds it, read by the command) and evolves as the alerts are read in order.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from alert_courier.domain.actions import Escalate, OpenIncident, ResolveIncident
from alert_courier.domain.alert import Alert
from alert_courier.domain.decisions import apply_results, decide_alert, state_id_of
from alert_courier.domain.group_state import GroupState
from alert_courier.domain.inhibition import inhibited_by, source_changes
from alert_courier.domain.maintenance import MaintenanceWindow, holding_reasons, window_holding
from alert_courier.domain.manual_operations import describe_group
from alert_courier.domain.rules import RuleSet, plan_for
from alert_courier.incident_io.organisation import Organisation
from alert_courier.incident_io.tool_table import UnknownName, planned_calls
from alert_courier.operator_tools.explain_controls import StormReads, StormReplay, control_lines, route_through_storm
from alert_courier.sources import SOURCES


class ExplainError(Exception):
    pass


def alerts_from_document(source: str, document: Any) -> list[Alert]:
    """Accepts the webhook body itself, or an API Gateway HTTP API event carrying it.

    For cloudwatch also what AWS invokes the ingest function with: an SNS event or an EventBridge event (the
    shape tells which); the alarm message itself and an SNS HTTPS body are webhook bodies.
    """
    if source not in SOURCES:
        raise ExplainError(f"unknown source {source!r}; known: {', '.join(SOURCES)}")
    if source == "cloudwatch":
        from alert_courier.ingress.aws_events import read_aws_event

        delivered = read_aws_event(document)
        if delivered is not None:
            if not delivered.alerts and delivered.ignored:
                raise ExplainError("; ".join(delivered.ignored))
            return delivered.alerts
    if isinstance(document, dict) and "requestContext" in document and "body" in document:
        body = document["body"]
        if document.get("isBase64Encoded"):
            import base64

            body = base64.b64decode(body).decode()
        document = json.loads(body)
    spec = SOURCES[source]
    try:
        payload = spec.model.model_validate(document)
    except ValidationError as error:
        first = error.errors()[0]
        raise ExplainError(f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from None
    return list(spec.normalise(payload))


@dataclass(frozen=True)
class Replay:
    """A sequence replayed: one report entry per alert, and the state each group was left in."""

    report: list[dict[str, Any]]
    states: dict[str, GroupState]
    pages: int  # escalation levels paged during the replay (delayed levels still pending are not counted)
    incidents_opened: int = 0
    incidents_closed: int = 0  # resolved in incident.io (an `on_resolve: update` posts the recovery, leaves it open)


def explain(
    alerts: list[Alert],
    rules: RuleSet,
    *,
    organisation: Organisation | None = None,
    schemas: dict[str, dict[str, Any]] | None = None,
    now: datetime | None = None,
    live_state: Callable[[str], GroupState] | None = None,
    windows: list[MaintenanceWindow] | None = None,
    live_sources: Callable[[str], set[str]] | None = None,
    storm_reads: StormReads | None = None,
) -> list[dict[str, Any]]:
    """`live_state`: where a group's state starts (`--state`: the deployment's, read by the store dispatch reads it
    through); by default every group starts quiet. `windows`: maintenance windows to judge at `now`, as dispatch's
    gate does (a held alert changes no state). `live_sources` (an inhibit entry's firing source alerts) and
    `storm_reads` (storm counters and memberships): the deployment's, with `--state`; by default none."""
    return replay(
        alerts,
        rules,
        organisation=organisation,
        schemas=schemas,
        now=now,
        live_state=live_state,
        windows=windows,
        live_sources=live_sources,
        storm_reads=storm_reads,
    ).report


def replay(
    alerts: list[Alert],
    rules: RuleSet,
    *,
    organisation: Organisation | None = None,
    schemas: dict[str, dict[str, Any]] | None = None,
    now: datetime | None = None,
    live_state: Callable[[str], GroupState] | None = None,
    windows: list[MaintenanceWindow] | None = None,
    live_sources: Callable[[str], set[str]] | None = None,
    storm_reads: StormReads | None = None,
) -> Replay:
    """Each alert through dispatch's gates in their order (inhibition, maintenance windows, storm collapse), then
    decided by `decide_alert`, from the state the previous ones left (results invented)."""
    moment = now or datetime.now(UTC)
    states: dict[str, GroupState] = {}
    described: set[str] = set()  # groups whose live state an entry has shown
    report = []
    pages = opened = closed = 0
    firing_sources: dict[str, set[str]] = {}  # inhibit rule entries: the sources still firing
    storms = StormReplay(storm_reads)

    def sources_of(entry_key: str) -> set[str]:
        if entry_key not in firing_sources:
            firing_sources[entry_key] = set(live_sources(entry_key)) if live_sources else set()
        return firing_sources[entry_key]

    def state_of(state_id: str) -> GroupState:
        if state_id not in states:
            states[state_id] = live_state(state_id) if live_state else GroupState(group_id=state_id)
        return states[state_id]

    for alert in alerts:
        plan = plan_for(alert, rules)
        controls = control_lines(alert, plan, rules)
        for change in source_changes(alert, rules):  # as dispatch's entry: sources first, then the target check
            bucket = sources_of(change.entry.key)
            (bucket.add if change.firing else bucket.discard)(change.alert_key)
        inhibited = inhibited_by(alert, rules, lambda entry: sources_of(entry.key))
        if inhibited is not None:
            inhibited_entry: dict[str, Any] = {
                "alert": _shown(alert, plan.alert.severity.value),
                "matched_rules": [matched.rule for matched in plan.matched],
                "why": plan.explanation,
                "controls": controls,
                "reasons": inhibited.reasons(),
                "calls": [],
                "inhibited_by": inhibited.entry.key,
            }
            report.append(inhibited_entry)
            continue
        window = window_holding(alert, windows or [], moment, rules)
        if window is not None:
            held: dict[str, Any] = {
                "alert": _shown(alert, plan.alert.severity.value),
                "matched_rules": [matched.rule for matched in plan.matched],
                "why": plan.explanation,
                "controls": controls,
                "reasons": holding_reasons(window, alert),
                "calls": [],
                "held_by": window.id,
            }
            report.append(held)
            continue
        if windows is not None:
            controls.append(f"maintenance: none of the {len(windows)} window(s) covers it at {moment.isoformat()}")
        routed, storm_lines = route_through_storm(alert, plan, rules, storms, state_of, moment)
        controls += storm_lines
        state_id = state_id_of(routed, rules)
        starting = None
        state = state_of(state_id)
        if live_state is not None and state_id not in described:
            described.add(state_id)
            starting = describe_group(state) if state.version else "quiet (nothing stored)"
        decision = decide_alert(routed, state, rules, moment)  # the dispatch use case's own decision
        plan = decision.plan
        calls: list[dict[str, Any]] = []
        results: list[dict[str, Any]] = []
        incident_id = state.incident_id
        for action in decision.actions:
            try:
                calls += planned_calls(action, organisation, schemas or {}, incident_id)
            except UnknownName as error:
                calls.append({"error": str(error)})
            result: dict[str, Any] = {}
            if isinstance(action, OpenIncident):
                incident_id = f"<incident opened for group {alert.group_key[:40]!r}>"
                result = {"incident_id": incident_id, "incident_reference": "INC-?"}
                opened += 1
            elif isinstance(action, ResolveIncident):
                closed += int(action.close)
            elif isinstance(action, Escalate):
                result = {"escalation_id": f"<escalation level {action.level}>"}
                pages += 1
            results.append(result)
        states[state_id] = apply_results(decision.next_state, decision.actions, results)
        report.append(
            {
                "alert": _shown(alert, plan.alert.severity.value),
                **({"live_state": starting} if starting is not None else {}),
                "matched_rules": [matched.rule for matched in plan.matched],
                "why": plan.explanation,
                "controls": controls,
                "reasons": decision.reasons,
                "calls": calls,
            }
        )
    return Replay(report, states, pages, opened, closed)


def _shown(alert: Alert, severity: str) -> dict[str, Any]:
    return {
        "source": alert.source,
        "dedup_key": alert.dedup_key,
        "group_key": alert.group_key,
        "status": alert.status.value,
        "severity": severity,
        "title": alert.title,
        "labels": alert.labels,
        "annotations": alert.annotations,
        "links": alert.links,
        "started_at": alert.started_at.isoformat() if alert.started_at else None,
        "ended_at": alert.ended_at.isoformat() if alert.ended_at else None,
        "intake_notes": list(alert.raw.get("intake_notes", [])),
    }


def windows_from_document(document: Any) -> list[MaintenanceWindow]:
    """`GET /maintenance`'s answer, `alert-courier silence list --json`'s, or one window."""
    items = document.get("windows", [document]) if isinstance(document, dict) else document
    if not isinstance(items, list):
        raise ExplainError("expected maintenance windows: GET /maintenance's answer or `silence list --json`'s")
    try:
        return [
            MaintenanceWindow.model_validate({k: v for k, v in item.items() if k not in ("status", "held")})
            for item in items
        ]
    except (ValidationError, AttributeError) as error:
        raise ExplainError(f"not a maintenance window: {str(error).splitlines()[0]}") from None


def format_report(report: list[dict[str, Any]]) -> str:
    lines = []
    for index, entry in enumerate(report, 1):
        alert = entry["alert"]
        lines.append(f"{index}. {alert['source']} {alert['status']} {alert['severity']} {alert['title']!r}")
        lines.append(f"   dedup key {alert['dedup_key']}, group {alert['group_key']!r}")
        for what in ("labels", "annotations", "links"):  # what rules and templates can use
            if alert.get(what):
                shown = ", ".join(f"{key}={value!r}" for key, value in sorted(alert[what].items()))
                lines.append(f"   {what}: {shown}")
        lines += [f"   note: {note}" for note in alert.get("intake_notes", [])]
        if "live_state" in entry:
            lines.append(f"   live state of the group: {entry['live_state']}")
        lines.append(f"   rules: {', '.join(entry['matched_rules'])}")
        lines += [f"     - {why}" for why in entry["why"]]
        lines += [f"   control: {line}" for line in entry.get("controls", [])]
        lines += [f"   decision: {reason}" for reason in entry["reasons"]]
        for call in entry["calls"] or [{"none": True}]:
            if "tool" in call:
                lines.append(f"   call {call['tool']} {json.dumps(call['arguments'], sort_keys=True)}")
            elif "rest" in call:
                lines.append(f"   call {call['rest']} {json.dumps(call['body'], sort_keys=True)}")
            elif "error" in call:
                lines.append(f"   cannot call: {call['error']}")
            else:
                lines.append("   no call")
    return "\n".join(lines)
