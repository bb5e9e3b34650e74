"""The scheduled heartbeat check: each heartbeat instance that went silent opens its incident (or alert event),
each that came back resolves it, and pings are relayed to incident.io's heartbeat sources when configured."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from alert_courier.domain.actions import Action
from alert_courier.domain.errors import ActionBusy, ActionFailed, StaleState
from alert_courier.domain.group_state import GroupState
from alert_courier.domain.heartbeat_decisions import (
    HEARTBEAT_SOURCE,
    HeartbeatState,
    apply_heartbeat_results,
    decide_heartbeat,
    heartbeat_key,
    instances_to_check,
)
from alert_courier.domain.rules import HeartbeatSpec, RuleSet
from alert_courier.use_cases.history_entry import history_entry
from alert_courier.use_cases.ports import HeartbeatForwarder, Heartbeats, History, Remaining
from alert_courier.use_cases.run_report import RunReport, out_of_time
from alert_courier.use_cases.runner import ActionRunner
from alert_courier.use_cases.saving import until_saved

logger = logging.getLogger("alert_courier")


class HeartbeatChecks:
    def __init__(
        self,
        *,
        runner: ActionRunner,
        heartbeats: Heartbeats,
        history: History,
        rules: Callable[[], RuleSet],
        forwarder: HeartbeatForwarder | None = None,
    ) -> None:
        self._runner = runner
        self._heartbeats = heartbeats
        self._history = history
        self._rules = rules
        self._forwarder = forwarder

    def run(self, report: RunReport, remaining: Remaining = None) -> None:
        rules = self._rules()
        for spec in rules.heartbeats:
            records = self._heartbeats.load(spec.name)
            for instance, last_seen in instances_to_check(spec, records.pings, records.states).items():
                key = heartbeat_key(spec.name, instance)
                if out_of_time(remaining):
                    report.deferred += 1
                    continue
                report.heartbeats_checked += 1
                try:
                    self._check(spec, rules, instance, last_seen, records.states.get(instance), report, remaining)
                except ActionBusy:
                    report.busy.append(key)
                except (ActionFailed, StaleState) as error:
                    described = error.describe() if isinstance(error, ActionFailed) else str(error)
                    report.errors.append(f"heartbeat {key}: {described}")
                    logger.error("heartbeat check failed", extra={"heartbeat": key, "error": described})

    def _check(
        self,
        spec: HeartbeatSpec,
        rules: RuleSet,
        instance: str,
        last_seen: datetime | None,
        loaded: HeartbeatState | None,
        report: RunReport,
        remaining: Remaining,
    ) -> None:
        current = [loaded]

        def attempt() -> None:
            state = current[0]
            decision = decide_heartbeat(spec, rules, instance, last_seen, state, report.now)
            before = state or HeartbeatState(name=spec.name, instance=instance)
            anchor = GroupState(group_id=before.state_id, incident_id=before.incident_id)
            results, error = self._runner.perform_all(decision.actions, anchor, remaining)
            if any(not result.get("remembered") for result in results):  # counted by the run that acted
                (report.missed if decision.next_state.missed else report.recovered).append(before.key)
            next_state = apply_heartbeat_results(decision.next_state, decision.actions, results)
            if error is not None:
                self._record(next_state, report, decision.reasons, decision.actions, results, error)
                raise error
            forwarded = False
            if decision.forward is not None and self._forwarder is not None:
                try:
                    self._forwarder.ping_heartbeat(decision.forward.alert_source_config_id)
                    next_state = next_state.model_copy(update={"forwarded_through": decision.forward.seen})
                    forwarded = True
                except Exception as failure:  # best effort: relayed on the next run instead
                    described = failure.describe() if isinstance(failure, ActionFailed) else repr(failure)[:200]
                    report.errors.append(f"heartbeat {before.key}: forwarding failed: {described}")
                    logger.warning("heartbeat not forwarded", extra={"heartbeat": before.key, "error": described})
            if next_state != before or state is None:
                try:
                    self._heartbeats.save_state(next_state)
                except StaleState:
                    current[0] = self._heartbeats.load_state(spec.name, instance)  # another run moved it
                    raise
            if forwarded:
                report.forwarded.append(before.key)
            if decision.actions:
                self._record(next_state, report, decision.reasons, decision.actions, results, None)
                logger.info("heartbeat", extra={"heartbeat": before.key, "reasons": decision.reasons})

        until_saved(heartbeat_key(spec.name, instance), attempt)

    def _record(
        self,
        state: HeartbeatState,
        report: RunReport,
        reasons: list[str],
        actions: Sequence[Action],
        results: list[dict[str, Any]],
        error: ActionFailed | None,
    ) -> None:
        entry = scheduled_entry(
            report,
            reasons,
            actions,
            results,
            error,
            group_id=state.state_id,
            generation=state.generation,
            incident_reference=state.incident_reference,
            heartbeat=state.name,
        )
        self._history.record(HEARTBEAT_SOURCE, state.key, entry)


def scheduled_entry(
    report: RunReport,
    reasons: list[str],
    actions: Sequence[Action],
    results: list[dict[str, Any]],
    error: ActionFailed | None,
    **lookups: Any,
) -> dict[str, Any]:
    """`lookups`: `history_entry`'s group_id, generation, incident_reference, heartbeat."""
    return history_entry(
        transition_id=f"scheduled-{report.run_id}",
        correlation_id=report.run_id,
        status="scheduled",
        title="scheduled check",
        rules=[],
        reasons=reasons,
        actions=actions,
        results=results,
        error=error,
        **lookups,
    )
