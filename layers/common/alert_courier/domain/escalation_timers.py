"""Pure escalation timing: the timer items that index pending escalation levels by due time, and what the
scheduler does with a group whose levels are due (escalate, or not if its pages were acknowledged).

No AWS, no MCP. A timer is only an index: the group state stays the truth, so a timer left behind by a lost
save or a cleared escalation is recognised as stale and dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from alert_courier.domain.actions import Escalate, OpenIncident
from alert_courier.domain.flap_control import due_at as flap_timers
from alert_courier.domain.group_state import GroupState

TIMER_PK = "timer"
# Statuses of a page that mean someone has it in hand, so later levels are not needed.
HANDLED_PAGE_STATUSES = frozenset({"acked", "resolved", "cancelled"})


def sortable(moment: datetime) -> str:
    """Fixed-width UTC ISO time, so string order is time order (DynamoDB sort keys compare as strings)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_sortable(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


@dataclass(frozen=True)
class Timer:
    due_at: datetime
    state_id: str
    generation: int
    level: int

    @property
    def sk(self) -> str:
        return f"{sortable(self.due_at)}#{self.state_id}#{self.generation}#{self.level}"

    @classmethod
    def from_sk(cls, sk: str) -> Timer:
        due, state_id, generation, level = sk.split("#")
        return cls(parse_sortable(due), state_id, int(generation), int(level))


def due_bound(now: datetime) -> str:
    """Every timer sort key due at or before `now` is <= this ('~' sorts after any state id character)."""
    return f"{sortable(now)}#~"


def timers_for(state: GroupState) -> list[Timer]:
    """Pending levels, and flap control's hold end (level -1) and flapping spell end (level -2)."""
    return [
        Timer(pending.due_at, state.group_id, state.generation, pending.level) for pending in state.pending_escalations
    ] + [Timer(due, state.group_id, state.generation, level) for due, level in flap_timers(state)]


@dataclass(frozen=True)
class EscalationDecision:
    actions: list[Escalate]
    next_state: GroupState  # before the actions' results; `apply_escalations` adds those
    reasons: list[str] = field(default_factory=list)


def due_levels(state: GroupState, now: datetime) -> list[int]:
    return sorted(pending.level for pending in state.pending_escalations if pending.due_at <= now)


def needs_page_check(state: GroupState, now: datetime) -> bool:
    """Whether it is worth asking incident.io about the group's pages: something is due and nothing stops it."""
    return bool(due_levels(state, now)) and state.acknowledged_at is None and bool(state.firing)


OPENING_GRACE = timedelta(minutes=10)


def _incident_being_opened(state: GroupState) -> bool:
    return not state.incident_open and any(
        isinstance(action, OpenIncident) and action.generation == state.generation
        for actions in state.unfinished.values()
        for action in actions
    )


def decide_escalations(state: GroupState, now: datetime, page_statuses: dict[str, str]) -> EscalationDecision:
    """`page_statuses`: escalation id → status, as incident.io reported them for `state.escalation_ids`."""
    if not state.pending_escalations:
        return EscalationDecision([], state, ["no escalation pending"])
    cleared = state.model_copy(update={"pending_escalations": []})
    if state.acknowledged_at is not None:
        return EscalationDecision([], cleared, [f"acknowledged at {state.acknowledged_at.isoformat()}: none needed"])
    if not state.firing:
        return EscalationDecision([], cleared, ["every alert of the group has resolved: none needed"])
    handled = {page: status for page, status in page_statuses.items() if status in HANDLED_PAGE_STATUSES}
    if handled:
        acknowledged = cleared.model_copy(update={"acknowledged_at": now})
        pages = ", ".join(f"{page} is {status}" for page, status in sorted(handled.items()))
        return EscalationDecision([], acknowledged, [f"page {pages} in incident.io: later levels cancelled"])
    due = [pending for pending in state.pending_escalations if pending.due_at <= now]
    if not due:
        return EscalationDecision([], state, ["no escalation level is due yet"])
    if _incident_being_opened(state) and all(now < pending.due_at + OPENING_GRACE for pending in due):
        # A page should link its incident; a stuck opening must not hold the page back for long.
        return EscalationDecision([], state, ["level due, waiting for the group's incident to open (retried)"])
    waited = {page: status for page, status in page_statuses.items()}
    why = f"pages {waited} not acknowledged" if waited else "nobody has acknowledged"
    actions = []
    for pending in sorted(due, key=lambda item: item.level):
        target = f"path {pending.escalation_path_id}" if pending.escalation_path_id else f"users {pending.user_ids}"
        actions.append(
            Escalate(
                group_id=state.group_id,
                generation=state.generation,
                level=pending.level,
                title=pending.title or state.group_key or "alert-courier escalation",
                description=pending.description,
                escalation_path_id=pending.escalation_path_id,
                user_ids=pending.user_ids,
                alert_source_config_id=pending.alert_source_config_id,
                reason=f"level {pending.level} due at {pending.due_at.isoformat()} and {why}: page {target}",
            )
        )
    return EscalationDecision(actions, state, [action.reason for action in actions])


def apply_escalations(state: GroupState, actions: list[Escalate], results: list[dict[str, Any]]) -> GroupState:
    """The levels performed leave `pending_escalations`; the pages they sent join `escalation_ids`."""
    performed = {action.level for action in actions[: len(results)]}
    ids = [str(result["escalation_id"]) for result in results if result.get("escalation_id")]
    return state.model_copy(
        update={
            "pending_escalations": [p for p in state.pending_escalations if p.level not in performed],
            "escalation_ids": [*state.escalation_ids, *[i for i in ids if i not in state.escalation_ids]],
        }
    )
