"""What earlier attempts left undone, and when it is done: a decision's actions are written ahead of acting
(`leave_unfinished`), what a failure leaves is kept per transition, and `resume_unfinished` decides which of it a
later decision does first. Pure, like the rest of the domain."""

from __future__ import annotations

from typing import Any

from alert_courier.domain.actions import (
    Action,
    Escalate,
    FlappingUpdate,
    OpenIncident,
    ReopenIncident,
    ResolveIncident,
    StormUpdate,
    UpdateIncident,
    opened_in,
)
from alert_courier.domain.group_state import GroupState
from alert_courier.domain.incident_specs import resolve_incident_from_spec
from alert_courier.domain.rules import Plan, RuleSet


def leave_unfinished(state: GroupState, transition_id: str, actions: list[Action]) -> GroupState:
    """`actions` of this transition are not known to be done: saved before acting (so a worker that dies after
    a side effect leaves a trace) and after a failure (what succeeded is folded in by `apply_results`); the
    transition's redelivery or replay, or the episode's end, resumes them (`decide_alert`)."""
    unfinished = {key: value for key, value in state.unfinished.items() if key != transition_id}
    if actions:
        unfinished[transition_id] = list(actions)
    return state.model_copy(update={"unfinished": unfinished})


def undone_after(actions: list[Action], results: list[dict[str, Any]]) -> list[Action]:
    """The actions a failure left undone; a resolve of "the incident just opened" names it once it is known."""
    opened = opened_in(results)
    return [
        action.model_copy(update={"incident_id": opened})
        if isinstance(action, ResolveIncident | UpdateIncident | StormUpdate) and not action.incident_id and opened
        else action
        for action in actions[len(results) :]
    ]


def earlier_episodes(state: GroupState) -> list[Action]:
    """What an earlier episode of the group left undone (its opening, its resolve): the scheduler does it before it
    opens this episode's incident, as a new episode's first decision would (never two incidents open at once)."""
    return [
        action
        for actions in state.unfinished.values()
        for action in actions
        if isinstance(action, OpenIncident | ResolveIncident) and action.generation < state.generation
    ]


def without_done(state: GroupState, actions: list[Action], results: list[dict[str, Any]]) -> GroupState:
    """The group's unfinished work less the `actions` that are now done (the first len(results) of them). What is
    left of an episode whose opening is now done names the incident it opened: without its opening beside it, a
    resolve of "the incident just opened" would be taken for obsolete and dropped, leaving the incident open."""
    done = actions[: len(results)]
    opened = {
        action.generation: incident
        for action, result in zip(done, results, strict=False)
        if isinstance(action, OpenIncident) and (incident := opened_in([result]))
    }

    def named(action: Action) -> Action:
        if isinstance(action, ResolveIncident | UpdateIncident | StormUpdate) and not action.incident_id:
            incident = opened.get(action.generation)
            return action.model_copy(update={"incident_id": incident}) if incident else action
        return action

    unfinished = {key: [named(a) for a in value if a not in done] for key, value in state.unfinished.items()}
    return state.model_copy(update={"unfinished": {key: value for key, value in unfinished.items() if value}})


def resume_unfinished(
    transition_id: str,
    before: GroupState,
    decided: list[Action],
    state: GroupState,
    plan: Plan,
    rules: RuleSet,
    *,
    finishing: bool = False,
) -> tuple[list[Action], GroupState, list[str]]:
    """Does first what earlier attempts left undone (a failure, or a worker that died after acting).

    A redelivered or replayed transition resumes its own leftovers. When the group's episode ends, an incident
    whose opening never completed is opened (the ledger finds it if a dead worker did) and resolved with the
    rest, as a fault-free run would have; its pages are dropped (nobody is paged for what has recovered). A new
    episode first finishes the last one's (its resolve: never two incidents open at once). A severity upgrade
    takes over an unfinished opening, so the pages it adds link to the incident.

    Updates that waited (the call budget short, incident.io failing) are coalesced: a resumed severity raise is to
    the severity the episode has reached since, and of several updates of one incident only the last is made.

    `finishing`: the group is quiet and no message will carry its leftovers (the reconcile pass that left them
    died): they are done as at the episode's end.
    """
    ended = (bool(before.firing) or finishing) and not state.firing
    raised = (
        state.episode_severity is not None
        and before.episode_severity is not None
        and state.episode_severity.rank > before.episode_severity.rank
    )
    started = state.generation > before.generation  # the previous episode's leftovers go first (its resolve)
    everything = ended or raised or started
    taken = list(before.unfinished) if everything else [key for key in before.unfinished if key == transition_id]

    def due(action: Action, own: bool, batch: list[Action]) -> bool:
        if isinstance(action, OpenIncident):
            if action.generation < state.generation:  # an earlier episode's opening, then its resolve
                return any(_resolves_opened(other, action.generation) for other in batch)
            return not before.incident_open and (own or ended or bool(state.firing))
        if isinstance(action, ResolveIncident) and not action.incident_id:  # goes with its opening
            return any(isinstance(other, OpenIncident) and due(other, own, batch) for other in batch)
        if isinstance(action, ReopenIncident):  # flap control's: only while its episode still fires
            return not before.incident_open and bool(state.firing) and action.generation == state.generation
        if isinstance(action, Escalate | UpdateIncident):
            return not ended and bool(state.firing) and action.generation == state.generation
        return True

    dropped_pages = [
        action
        for key in taken
        for action in before.unfinished[key]
        if ended and isinstance(action, Escalate) and not due(action, key == transition_id, before.unfinished[key])
    ]
    dropped_notes = (
        [
            f"page dropped: {', '.join(f'escalate level {a.level}' for a in dropped_pages)} could not go out before the"
            " group recovered (nobody is paged for what has recovered; the incident is resolved)"
        ]
        if dropped_pages
        else []
    )
    resumed = [
        again
        for key in taken
        for action in before.unfinished[key]
        if due(action, key == transition_id, before.unfinished[key])
        for again in _at_episode_severity(_at_latest_severity(action, state, plan, rules), state, rules)
    ]
    spec = plan.incident_spec
    opens = any(isinstance(action, OpenIncident) for action in resumed)
    resolves = any(
        isinstance(action, ResolveIncident) and action.generation == state.generation for action in [*resumed, *decided]
    )
    if ended and opens and not resolves and spec is not None and spec.on_resolve != "none":
        resumed.append(
            resolve_incident_from_spec(
                spec,
                group_id=state.group_id,
                generation=state.generation,
                incident_id="",  # the one the resumed opening names
                summary="Recovered: every alert of the group has resolved. — alert-courier",
                why="every alert of the group has resolved",
            )
        )
    left = {
        key: [a for a in actions if not _obsolete(a, state, actions)]
        for key, actions in state.unfinished.items()
        if key not in taken
    }
    next_state = state.model_copy(update={"unfinished": {key: value for key, value in left.items() if value}})
    if not resumed:
        return decided, next_state, dropped_notes
    notes = [f"resuming what an earlier attempt left undone: {', '.join(action.kind for action in resumed)}"]
    notes += dropped_notes
    actions = coalesce_updates([*resumed, *decided])
    if (merged := len(resumed) + len(decided) - len(actions)) > 0:
        notes.append(f"coalesced updates of the incident: {merged} waiting replaced by the latest")
    return actions, next_state, notes


NOTES = (UpdateIncident, FlappingUpdate, StormUpdate)  # what a later update of the same kind supersedes


def coalesce_updates(actions: list[Action]) -> list[Action]:
    """Of several updates of one episode's incident (a severity raise, a flapping note, a storm's member list), only
    the last of each kind is made, where it stands: it carries the latest content, so the earlier ones would only
    be overwritten.
    A raise replaced so is done by the one kept (see `_at_latest_severity`), which the ledger keeps once."""
    last: dict[tuple[str, int], int] = {}
    for index, action in enumerate(actions):
        if isinstance(action, NOTES):
            last[(action.kind, action.generation)] = index
    return [
        action
        for index, action in enumerate(actions)
        if not isinstance(action, NOTES) or last[(action.kind, action.generation)] == index
    ]


def _at_latest_severity(action: Action, state: GroupState, plan: Plan, rules: RuleSet) -> Action:
    """A severity raise that waited while the episode was raised again is made at the episode's severity: one call
    with the latest content. Its key is then the later raise's, so when that raise is resumed in turn the ledger
    finds it done instead of calling again."""
    severity = state.episode_severity
    if not isinstance(action, UpdateIncident) or severity is None or severity.rank <= action.severity.rank:
        return action
    spec = plan.incident_spec
    name = (spec.severity if spec else None) or rules.severity.incident_io.get(severity)
    return action.model_copy(update={"severity": severity, "severity_name": name})


def closes(actions: list[Action], generation: int) -> bool:
    return any(isinstance(a, ResolveIncident) and a.generation == generation for a in actions)


def _resolves_opened(action: Action, generation: int) -> bool:
    return isinstance(action, ResolveIncident) and not action.incident_id and action.generation == generation


def _obsolete(action: Action, state: GroupState, batch: list[Action]) -> bool:
    """Left undone by another transition, and no longer wanted: an opening of an episode that has been followed
    by another (unless its resolve goes with it), or a page (or raise) for a group that no longer fires."""
    if isinstance(action, OpenIncident):
        return action.generation != state.generation and not any(_resolves_opened(a, action.generation) for a in batch)
    if isinstance(action, ResolveIncident) and not action.incident_id:
        return not any(isinstance(a, OpenIncident) and a.generation == action.generation for a in batch)
    if isinstance(action, Escalate | UpdateIncident | ReopenIncident):
        return action.generation != state.generation or not state.firing
    return False


def _at_episode_severity(action: Action, state: GroupState, rules: RuleSet) -> list[Action]:
    """An incident whose opening did not complete opens at the severity the episode has reached since (an
    upgrade that came meanwhile had no incident to raise); a dead worker may have opened it at the old one,
    so it is raised as well."""
    severity = state.episode_severity
    if not isinstance(action, OpenIncident) or severity is None or severity.rank <= action.severity.rank:
        return [action]
    name = rules.severity.incident_io.get(severity)
    return [
        action.model_copy(update={"severity": severity, "severity_name": name}),
        UpdateIncident(
            group_id=action.group_id,
            generation=action.generation,
            incident_id="",  # the one the opening names
            severity=severity,
            severity_name=name,
            reason=f"the episode reached {severity.value} while its incident was being opened",
        ),
    ]
