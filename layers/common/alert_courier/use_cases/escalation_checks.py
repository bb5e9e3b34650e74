"""The scheduled escalation check: levels that came due while nobody acknowledged the page are paged, once;
an acknowledged page (read back from incident.io) cancels the levels still pending."""

from __future__ import annotations

import logging

from alert_courier.domain.actions import Action, OpenIncident, ReopenIncident
from alert_courier.domain.decisions import apply_results
from alert_courier.domain.errors import ActionBusy, ActionFailed, StaleState
from alert_courier.domain.escalation_timers import (
    Timer,
    apply_escalations,
    decide_escalations,
    needs_page_check,
    sortable,
)
from alert_courier.domain.flap_control import decide_due, due_at
from alert_courier.domain.group_state import GroupState
from alert_courier.domain.unfinished_work import earlier_episodes, leave_unfinished, undone_after, without_done
from alert_courier.use_cases.heartbeat_checks import scheduled_entry
from alert_courier.use_cases.ports import GroupStates, History, Remaining, Timers
from alert_courier.use_cases.run_report import RunReport, out_of_time
from alert_courier.use_cases.runner import ActionRunner
from alert_courier.use_cases.saving import until_saved
from alert_courier.use_cases.storm import StormJoins

logger = logging.getLogger("alert_courier")
HISTORY_KEYS_PER_GROUP = 10


class EscalationChecks:
    def __init__(
        self,
        *,
        runner: ActionRunner,
        groups: GroupStates,
        timers: Timers,
        history: History,
        max_timers: int = 100,
        storm_joins: StormJoins | None = None,
    ) -> None:
        self._runner = runner
        self._groups = groups
        self._timers = timers
        self._history = history
        self._max_timers = max_timers
        self._storm_joins = storm_joins  # a storm rule's `wait` ending: the group may join the storm instead

    def run(self, report: RunReport, remaining: Remaining = None) -> None:
        timers = self._timers.due(report.now, limit=self._max_timers)
        report.timers_due = len(timers)
        by_group: dict[str, list[Timer]] = {}
        for timer in timers:
            by_group.setdefault(timer.state_id, []).append(timer)
        for state_id, group_timers in by_group.items():
            if out_of_time(remaining):
                report.deferred += len(group_timers)
                continue
            try:
                self._escalate_group(state_id, group_timers, report, remaining)
            except ActionBusy:
                report.busy.append(state_id)
            except (ActionFailed, StaleState) as error:
                described = error.describe() if isinstance(error, ActionFailed) else str(error)
                report.errors.append(f"group {state_id}: {described}")
                logger.error("escalation check failed", extra={"group_id": state_id, "error": described})

    def _escalate_group(self, state_id: str, timers: list[Timer], report: RunReport, remaining: Remaining) -> None:
        now = report.now
        pending = [timers]

        def attempt() -> None:
            state = self._groups.load(state_id)
            live = {(state.generation, p.level, sortable(p.due_at)) for p in state.pending_escalations} | {
                (state.generation, level, sortable(due))
                for due, level in due_at(state)  # flap control's
            }
            for timer in pending[0]:
                if (timer.generation, timer.level, sortable(timer.due_at)) not in live:
                    self._timers.delete(timer)  # cleared, already done, or left behind by a save that lost
                    report.stale_timers += 1
            pending[0] = [t for t in pending[0] if (t.generation, t.level, sortable(t.due_at)) in live]
            if self._joined_storm(state, report):
                return
            flap = decide_due(state, now)  # a hold or a flapping spell that ended (domain.flap_control)
            ahead = flap_transition(state)
            if flap.actions:
                # Write-ahead, as dispatch does: a scheduler that dies after opening (or resolving) leaves the
                # action unfinished in the group, so an alert that arrives before the timer's retry (a resolve
                # within the hold, say) resumes it instead of taking it for never done. The hold stays until done.
                state = self._groups.save(leave_unfinished(state, ahead, flap.actions))
                flap = decide_due(state, now)
            executor = self._runner.executor
            statuses = executor.page_statuses(flap.next_state, remaining) if needs_page_check(state, now) else {}
            decision = decide_escalations(flap.next_state, now, statuses)
            opens = any(isinstance(action, OpenIncident | ReopenIncident) for action in flap.actions)
            earlier = earlier_episodes(state) if opens else []
            all_results, error = self._runner.perform_all(
                [*earlier, *flap.actions, *decision.actions], state, remaining
            )
            earlier_results, all_results = all_results[: len(earlier)], all_results[len(earlier) :]
            flap_results, results = all_results[: len(flap.actions)], all_results[len(flap.actions) :]
            performed = decision.actions[: len(results)]
            report.flap_controlled += [f"{state.group_key or state_id}: {reason}" for reason in flap.reasons]
            report.escalated += [
                f"{state.group_key or state_id} level {action.level}"
                for action, result in zip(performed, results, strict=False)
                if not result.get("remembered")  # counted by the run that paged, whichever run's save wins
            ]
            next_state = apply_escalations(decision.next_state, performed, results)
            next_state = apply_results(next_state, earlier, earlier_results)  # before this episode's opening
            next_state = without_done(next_state, earlier, earlier_results)
            next_state = apply_results(next_state, flap.actions, flap_results)
            if len(flap_results) < len(flap.actions):  # undone: the hold or spell stays, its timer tries again
                next_state = next_state.model_copy(update={"flap": state.flap, "incident_open": state.incident_open})
            next_state = leave_unfinished(next_state, ahead, undone_after(flap.actions, flap_results))
            if next_state != state:
                try:
                    self._groups.save(next_state)  # also deletes the timers of the levels it clears
                except StaleState:
                    if error is not None:
                        raise error from None
                    raise  # dispatch changed the group meanwhile: decide again; done pages are remembered
            keys = sorted(state.firing)[:HISTORY_KEYS_PER_GROUP] or [state.group_key or state_id]
            if decision.actions or next_state != state:
                entry = scheduled_entry(
                    report,
                    [*earlier_notes(earlier), *flap.reasons, *decision.reasons],
                    [*earlier, *flap.actions, *decision.actions],
                    [*earlier_results, *all_results],
                    error,
                    group_id=state.group_id,
                    generation=state.generation,
                    incident_reference=state.incident_reference,
                )
                for key in keys:
                    self._history.record(state.source or "scheduler", key, entry)
            if error is not None:
                raise error
            if state.pending_escalations and not next_state.pending_escalations and not decision.actions:
                report.cancelled.append(state.group_key or state_id)
            if decision.actions or next_state != state:
                reasons = [*flap.reasons, *decision.reasons]
                logger.info("escalation check", extra={"group_id": state_id, "reasons": reasons})

        until_saved(state_id, attempt)

    def _joined_storm(self, state: GroupState, report: RunReport) -> bool:
        """A storm wait that ended while a storm of the group's rule is on: the group joined it (and it is told)."""
        if self._storm_joins is None or state.flap.storm_rule is None:
            return False
        joined = self._storm_joins.join_if_storm(state, report.now)  # StaleState: until_saved reads again
        if joined is None:
            return False
        note, storm = joined
        report.flap_controlled.append(f"{state.group_key or state.group_id}: {note}")
        entry = scheduled_entry(
            report,
            [note],
            [],
            [],
            None,
            group_id=storm.group_id,
            generation=storm.generation,
            incident_reference=storm.incident_reference,
        )
        for key in sorted(state.firing)[:HISTORY_KEYS_PER_GROUP]:
            self._history.record(state.source or "scheduler", key, entry)
        logger.info("storm wait ended: joined the storm", extra={"group_id": state.group_id})
        return True


def flap_transition(state: GroupState) -> str:
    """The key under which a hold's or a flapping spell's end is written ahead (one per hold and episode)."""
    due = state.flap.hold_until or state.flap.stable_due
    return f"scheduled-flap:{state.generation}:{sortable(due) if due else ''}"


def earlier_notes(earlier: list[Action]) -> list[str]:
    if not earlier:
        return []
    kinds = ", ".join(action.kind for action in earlier)
    return [f"first what the group's earlier episode left undone: {kinds} (never two incidents open at once)"]
