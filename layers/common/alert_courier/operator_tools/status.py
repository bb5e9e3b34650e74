"""`alert-courier status`: the live picture of a deployment, read from its state table and dead-letter queue.

Open groups (their incident, severity, age and alerts firing), the escalation levels still pending and when they
are due, every heartbeat instance's last ping and next deadline (judged by the rules, as the scheduler judges
them), the maintenance windows open or scheduled (and how many alerts each holds), and the DLQ's approximate
depth. The table is scanned: an operator's command, not something to poll.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from alert_courier.aws.dynamodb_stores import LiveState
from alert_courier.domain.group_state import GroupState, PendingEscalation
from alert_courier.domain.heartbeat_decisions import HeartbeatState, evaluate, heartbeat_key, instances_to_check
from alert_courier.domain.maintenance import MaintenanceWindow
from alert_courier.domain.rules import DailyDeadlines, HeartbeatSpec, RuleSet
from alert_courier.use_cases.ports import HeartbeatRecords

DLQ_ATTRIBUTES = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]


def is_open(state: GroupState) -> bool:
    """A group worth showing: an incident open, alerts firing, levels pending or work left unfinished."""
    return bool(state.incident_open or state.firing or state.pending_escalations or state.unfinished)


def dlq_depth(sqs: Any, dlq_url: str) -> dict[str, int]:
    attributes = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=DLQ_ATTRIBUTES)["Attributes"]
    return {
        "approximate_messages": int(attributes.get("ApproximateNumberOfMessages", 0)),
        "in_flight": int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
    }


def build_status(
    live: LiveState,
    rules: RuleSet,
    dlq: dict[str, int],
    now: datetime,
    windows: Iterable[tuple[MaintenanceWindow, int]] = (),
) -> dict[str, Any]:
    """The document `status --json` prints (and the text lines are made from). `windows`: the maintenance
    windows not yet settled, each with how many alerts it holds; the open and scheduled ones are shown."""
    groups = sorted((state for state in live.groups if is_open(state)), key=lambda s: (s.source, s.group_key))
    return {
        "at": iso(now),
        "groups": [group_row(state, now) for state in groups],
        "heartbeats": heartbeat_rows(rules, live.heartbeats, now),
        "maintenance_windows": [
            {**window.public(now), "held": held}
            for window, held in sorted(windows, key=lambda pair: pair[0].starts_at)
            if window.status(now) != "ended"
        ],
        "dlq": dlq,
        "scanned_items": live.scanned_items,
    }


# ---- groups ----------------------------------------------------------------------------------------


def group_row(state: GroupState, now: datetime) -> dict[str, Any]:
    started = state.opened_at or _earliest(state.firing.values())
    return {
        "source": state.source,
        "group_key": state.group_key,
        "group_id": state.group_id,
        "incident_reference": state.incident_reference,
        "incident_id": state.incident_id,
        "incident_open": state.incident_open,
        "severity": state.episode_severity.value if state.episode_severity else None,
        "since": iso(started),
        "age_seconds": int((now - started).total_seconds()) if started else None,
        "alerts_firing": len(state.firing),
        "acknowledged_at": iso(state.acknowledged_at),
        "unfinished_actions": sum(len(actions) for actions in state.unfinished.values()),
        "pending_escalations": [_pending_row(pending, now) for pending in sorted_levels(state.pending_escalations)],
    }


def sorted_levels(pending: Iterable[PendingEscalation]) -> list[PendingEscalation]:
    return sorted(pending, key=lambda item: (item.due_at, item.level))


def _pending_row(pending: PendingEscalation, now: datetime) -> dict[str, Any]:
    target = (
        {"escalation_path_id": pending.escalation_path_id}
        if pending.escalation_path_id
        else {"user_ids": pending.user_ids or []}
    )
    return {
        "level": pending.level,
        "due_at": iso(pending.due_at),
        "due_in_seconds": int((pending.due_at - now).total_seconds()),
        **target,
    }


def _earliest(starts: Iterable[str]) -> datetime | None:
    """The earliest of the senders' start times (ISO text; an unreadable one is skipped)."""
    moments = []
    for text in starts:
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            continue
        if moment.year > 1:  # Alertmanager's zero time means "unknown"
            moments.append(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
    return min(moments, default=None)


# ---- heartbeats ------------------------------------------------------------------------------------


def heartbeat_rows(rules: RuleSet, stored: dict[str, HeartbeatRecords], now: datetime) -> list[dict[str, Any]]:
    """Every instance of every heartbeat the rules define (those that pinged, are watched or are declared), then
    the stored records of heartbeats the rules no longer define."""
    rows = []
    for spec in rules.heartbeats:
        records = stored.get(spec.name) or HeartbeatRecords({}, {})
        for instance, last_seen in instances_to_check(spec, records.pings, records.states).items():
            rows.append(_heartbeat_row(spec, instance, last_seen, records.states.get(instance), now))
    defined = {spec.name for spec in rules.heartbeats}
    for name in sorted(set(stored) - defined):
        records = stored[name]
        for instance in sorted(set(records.pings) | set(records.states)):
            state = records.states.get(instance)
            rows.append(
                {
                    **_base_row(name, instance, records.pings.get(instance), state),
                    "next_deadline": None,
                    "overdue": None,
                    "reason": f"no heartbeat named {name!r} in the rules: not checked",
                }
            )
    return rows


def _base_row(name: str, instance: str, last_seen: datetime | None, state: HeartbeatState | None) -> dict[str, Any]:
    return {
        "name": name,
        "instance": instance,
        "key": heartbeat_key(name, instance),
        "last_ping": iso(last_seen),
        "missed": bool(state and state.missed),  # the scheduler has reported it missed (an episode is open)
        "missed_at": iso(state.missed_at) if state else None,
        "incident_reference": state.incident_reference if state and state.incident_open else None,
        "watching_since": iso(state.watching_since) if state else None,
    }


def _heartbeat_row(
    spec: HeartbeatSpec, instance: str, last_seen: datetime | None, state: HeartbeatState | None, now: datetime
) -> dict[str, Any]:
    row = _base_row(spec.name, instance, last_seen, state)
    watching_since = state.watching_since if state else None
    if last_seen is None and watching_since is None:
        return {**row, "next_deadline": None, "overdue": None, "reason": "never pinged; watched from the next check"}
    health = evaluate(spec, last_seen, watching_since, now)
    due = health.due_at
    if spec.kind == "window" and health.healthy:  # the judged window is behind us: the next one is what is due
        due = next_deadline(spec.deadlines(), now - spec.grace) + spec.grace
    return {**row, "next_deadline": iso(due), "overdue": not health.healthy, "reason": health.reason}


def next_deadline(deadlines: DailyDeadlines, after: datetime) -> datetime:
    """The earliest deadline strictly after `after` (0 = Sunday, as in cron and `latest_deadline`)."""
    after = after.astimezone(UTC)
    for days_ahead in range(9):
        day = (after + timedelta(days=days_ahead)).date()
        if (day.weekday() + 1) % 7 not in deadlines.weekdays:
            continue
        for hour, minute in sorted(deadlines.times):
            candidate = datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)
            if candidate > after:
                return candidate
    raise ValueError("deadlines without any weekday")  # the rules model never allows this


# ---- text ------------------------------------------------------------------------------------------


def format_status(document: dict[str, Any]) -> str:
    """One line per group, pending level, heartbeat instance and the DLQ, each starting with what it is."""
    lines = []
    for group in document["groups"]:
        incident = group["incident_reference"] or group["incident_id"]
        incident_text = f"{incident} ({'open' if group['incident_open'] else 'closed'})" if incident else "no incident"
        extras = []
        if group["acknowledged_at"]:
            extras.append(f"acknowledged {group['acknowledged_at']}")
        if group["unfinished_actions"]:
            extras.append(f"{group['unfinished_actions']} action(s) unfinished")
        lines.append(
            f"group       {group['source']} {group['group_key']}  {incident_text}  "
            f"{group['severity'] or 'no severity'}  age {span(group['age_seconds'])}  "
            f"{group['alerts_firing']} firing" + "".join(f"  {extra}" for extra in extras)
        )
        for pending in group["pending_escalations"]:
            due_in = pending["due_in_seconds"]
            when = f"in {span(due_in)}" if due_in >= 0 else f"{span(-due_in)} overdue"
            target = (
                f"path {pending['escalation_path_id']}"
                if pending.get("escalation_path_id")
                else f"users {','.join(pending.get('user_ids') or [])}"
            )
            lines.append(
                f"escalation  {group['source']} {group['group_key']}  level {pending['level']} due "
                f"{pending['due_at']} ({when})  {target}"
            )
    if not document["groups"]:
        lines.append("group       none open")
    for heartbeat in document["heartbeats"]:
        if heartbeat["missed"]:
            health = "MISSED" + (f" ({heartbeat['incident_reference']})" if heartbeat["incident_reference"] else "")
        elif heartbeat["overdue"]:
            health = "OVERDUE (not reported yet)"
        elif heartbeat["overdue"] is None:
            health = "not checked"
        else:
            health = "ok"
        due = f"next deadline {heartbeat['next_deadline']}" if heartbeat["next_deadline"] else "no deadline yet"
        lines.append(f"heartbeat   {heartbeat['key']}  last ping {heartbeat['last_ping'] or 'never'}  {due}  {health}")
    if not document["heartbeats"]:
        lines.append("heartbeat   none")
    for window in document.get("maintenance_windows", []):  # only when there are any
        match = json.dumps(window["match"])
        lines.append(
            f"window      {window['id']}  {window['status']}  {window['starts_at']} → {window['ends_at']}  "
            f"match {match}  holding {window['held']}  — {window['reason']} (by {window['created_by']})"
        )
    dlq = document["dlq"]
    lines.append(f"dlq         {dlq['approximate_messages']} message(s), {dlq['in_flight']} in flight (approximate)")
    return "\n".join(lines)


def span(seconds: int | None) -> str:
    if seconds is None:
        return "unknown"
    seconds = max(0, int(seconds))
    parts = [(seconds // 86400, "d"), (seconds % 86400 // 3600, "h"), (seconds % 3600 // 60, "m"), (seconds % 60, "s")]
    shown = [f"{value}{unit}" for value, unit in parts if value][:2]
    return "".join(shown) or "0s"


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
