"""Reconciliation: what the monitoring system's current truth, or a rule's `stale_after`, means for a group we hold.

The answer is a list of synthesized alerts (a resolve, or a firing again) whose sender is the reconciler; each goes
through `decisions.decide_alert` like any other alert, so the ledger, idempotency and history hold for them too.
A synthesized alert's transition id is made of what the monitoring system said (its state's time), so a pass
repeated before that alert is decided, or a dry run then a real pass, synthesize the same alert.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from alert_courier.domain.alert import Alert, AlertStatus, Severity
from alert_courier.domain.group_state import GroupState
from alert_courier.domain.rules import RuleSet

RECONCILER = "reconciler"  # the sender of every synthesized alert (its `raw["sender"]`)
FINISH_UNFINISHED = "finish_unfinished"  # raw flag: do a quiet group's leftovers (`finish_alert`)
FINISH_AFTER = timedelta(minutes=15)  # a quiet group's leftovers untouched this long are the pass's to finish


@dataclass(frozen=True)
class Observation:
    """What a monitoring system says of one alert now: firing or not, since when, in words for the history."""

    dedup_key: str
    firing: bool
    at: datetime  # when it entered that state (CloudWatch's StateUpdatedTimestamp), or when it was read
    says: str  # "CloudWatch says OK at 2026-12-02T10:00:00+00:00"
    labels: dict[str, str] = field(default_factory=dict)
    title: str = ""
    severity: Severity | None = None


def parse_moment(text: str) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def reconcile_alerts(state: GroupState, observations: dict[str, Observation], now: datetime) -> list[Alert]:
    """The alerts that bring the group in line with `observations` (only the dedup keys they name are judged).

    A key we hold firing that is observed not firing → a resolve of exactly that firing; a key we last saw
    resolved that is observed firing since after that resolve → a firing again.
    """
    alerts: list[Alert] = []
    for key, started in sorted(state.firing.items()):
        seen = observations.get(key)
        if seen is not None and not seen.firing:
            alerts.append(_synthesized(state, key, AlertStatus.RESOLVED, parse_moment(started), seen.at, seen, now))
    for key, through in sorted(state.resolved_through.items()):
        seen = observations.get(key)
        if seen is None or not seen.firing or key in state.firing:
            continue
        if through and seen.at.isoformat() <= through:
            continue  # it was firing before we saw it resolve: that resolve already ended it
        alerts.append(_synthesized(state, key, AlertStatus.FIRING, seen.at, None, seen, now))
    return alerts


def finish_alert(state: GroupState, now: datetime) -> Alert | None:
    """For a quiet group (nothing firing, no incident it knows open) that still has work an earlier attempt left
    undone: a repeat of its last resolve that makes the decision do that work as at the episode's end (open the
    incident a dead worker may have opened, and resolve it). A worker that died after acting leaves its work
    unfinished and its message redelivers it; a reconcile pass that dies has no message, so a later pass does it,
    once the group has not changed for FINISH_AFTER (the ledger keeps each call once should a message do it too).
    """
    if state.firing or state.incident_open or not state.unfinished or not state.resolved_through:
        return None
    if state.updated_at is not None and now - state.updated_at < FINISH_AFTER:
        return None  # a message in the queue (a redelivery, a requeued change of the pass) may still carry them
    key = max(state.resolved_through, key=lambda name: state.resolved_at.get(name, ""))
    return Alert(
        source=state.source,
        dedup_key=key,
        group_key=state.group_key or key,
        status=AlertStatus.RESOLVED,
        severity=state.episode_severity or Severity.WARNING,
        title=key[:1024],
        ended_at=parse_moment(state.resolved_through[key]),
        received_at=now,
        raw={
            "sender": RECONCILER,
            "reconciled": "the group is quiet; finishing what an earlier attempt left undone",
            FINISH_UNFINISHED: True,
        },
    )


def stale_after(state: GroupState, rules: RuleSet) -> tuple[timedelta, str] | None:
    """The shortest `stale_after` of the episode's rules, with that rule's `on_stale`."""
    limits = [
        (rule.stale_after, rule.on_stale)
        for rule in rules.rules
        if rule.name in state.episode_rules and rule.stale_after is not None
    ]
    return min(limits, key=lambda limit: limit[0]) if limits else None


def stale_alerts(
    state: GroupState, rules: RuleSet, now: datetime, observed: dict[str, Observation] | None = None
) -> list[Alert]:
    """Firing alerts of the group not heard of for the episode rules' `stale_after`: over, per `on_stale`.

    An alert a monitoring system was just asked about (`observed`) is never stale: its answer is the truth."""
    limit = stale_after(state, rules)
    if limit is None:
        return []
    after, on_stale = limit
    alerts = []
    for key, started in sorted(state.firing.items()):
        if key in (observed or {}):
            continue
        seen = parse_moment(state.last_seen.get(key, "")) or parse_moment(started)
        if seen is None or now - seen < after:
            continue
        says = f"no news since {seen.isoformat()} (stale_after {_words(after)})"
        observation = Observation(key, False, seen, says)
        alert = _synthesized(state, key, AlertStatus.RESOLVED, parse_moment(started), seen, observation, now)
        if on_stale == "update":
            note = (
                f"No news from the sender since {seen.isoformat()}: alert-courier stops following it. — alert-courier"
            )
            alert = alert.model_copy(update={"raw": {**alert.raw, "reconcile_update_only": note}})
        alerts.append(alert)
    return alerts


def _synthesized(
    state: GroupState,
    key: str,
    status: AlertStatus,
    started: datetime | None,
    ended: datetime | None,
    seen: Observation,
    now: datetime,
) -> Alert:
    return Alert(
        source=state.source,
        dedup_key=key,
        group_key=state.group_key or key,
        status=status,
        severity=seen.severity or state.episode_severity or Severity.WARNING,
        title=(seen.title or key)[:1024],
        labels=seen.labels,
        ended_at=ended,
        received_at=now,
        raw={"sender": RECONCILER, "reconciled": seen.says},
    )


def _words(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return "".join(f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (seconds, "s")) if n) or "0s"
