"""Sequences the model-based test (tests/end_state_model.py) found failing, kept as explicit regressions: each
runs the machine step by step, with its invariants after every step and its end-state oracle at teardown.

Found 2026-12-03 when the generated sequences changed (Hypothesis draws constants from the modules a process has
imported, so the same derandomised test explores other sequences after other tests): a scheduler that died after
opening a held incident, and a hold's end opening a second incident before the last episode's was resolved.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from alert_courier.domain.call_budget import Priority
from tests.unit.test_end_state_model import InMemoryEndStates

Step = Callable[[InMemoryEndStates], None]


def run(steps: list[Step], *, keyed: bool = False) -> None:
    machine = InMemoryEndStates()
    machine.start(keyed=keyed)  # unkeyed: a server without idempotency keys (the ledger and incident_list decide)
    for step in steps:
        step(machine)
        check_invariants(machine)
    machine.teardown()  # quiesces (every queued message delivered, time passes) and checks the end state


def check_invariants(machine: InMemoryEndStates) -> None:
    for invariant in machine.invariants:
        if all(precondition(machine) for precondition in invariant.preconditions):
            invariant.function(machine)


def crash_opening_a_held_incident(machine: InMemoryEndStates) -> None:
    machine.fire(critical=False, group="flappy", key="a")
    machine.deliver(index=0, keep_a_copy=False)  # held (flappy: hold 2m)
    machine.fault(kind="crash", tool="incident_create")  # the next opening acts, then its worker dies
    machine.resolve_is_lost(group="flappy", key="a")
    machine.fire(critical=False, group="flappy", key="b")
    machine.time_passes(minutes=2)  # the hold ends: the scheduler opens the incident and dies
    machine.reconcile_with_the_senders()  # a resolved: the opening the dead scheduler made must be resolved


def test_a_scheduler_that_died_after_opening_a_held_incident_leaves_it_to_be_resolved() -> None:
    run(
        [
            crash_opening_a_held_incident,
            lambda m: m.deliver(index=1, keep_a_copy=False),
            lambda m: m.time_passes(minutes=2),
        ]
    )


def test_a_hold_ending_first_resolves_what_the_last_episode_left_open() -> None:
    run(
        [
            crash_opening_a_held_incident,
            lambda m: m.deliver(index=0, keep_a_copy=False),  # b fires: a new episode, its own hold
            lambda m: m.resolve(group="flappy", key="b", names_its_firing=False, says_when=False),
            lambda m: m.time_passes(minutes=2),  # b's hold ends: a's incident is resolved before b's opens
        ]
    )


@pytest.mark.xfail(
    strict=True,
    reason="known limit (session note 2026-12-03): the dead scheduler's incident is found and resolved only at the"
    " next episode's first alert (its lease still held before), after that episode's hold began, so the episode"
    " opens a second incident instead of reopening it within reopen_within; never two open at once",
)
@pytest.mark.parametrize("minutes", [1, 5])
def test_the_dead_schedulers_incident_is_reopened_by_the_next_episode(minutes: int) -> None:
    run([crash_opening_a_held_incident, lambda m: m.time_passes(minutes=minutes)])


def test_a_source_the_reconcile_pass_resolves_inhibits_no_more() -> None:
    """Found by a soak 2026-12-03: a source alert's resolve was lost and the reconcile pass resolved it (here after
    a refused call, through dispatch's queue), but its synthesized resolve carries none of its labels, so the
    inhibition index never heard of it: the targets stayed inhibited (for up to SOURCE_MEMORY, a week)."""
    run(
        [
            lambda m: m.fire(critical=False, group="src", key="a"),
            lambda m: m.deliver(index=0, keep_a_copy=False),
            lambda m: m.fire(critical=False, group="tgt", key="a"),
            lambda m: m.budget_runs_short(short_from=Priority.PAGE_OR_OPEN),
            lambda m: m.resolve_is_lost(group="src", key="a"),
            lambda m: m.reconcile_with_the_senders(),  # src's resolve refused by the budget: queued for dispatch
            lambda m: m.deliver(index=1, keep_a_copy=False),  # the queued resolve of src
            lambda m: m.deliver(index=0, keep_a_copy=False),  # tgt fires: nothing inhibits it now
        ]
    )


def test_a_source_the_reconcile_pass_resolves_itself_inhibits_no_more() -> None:
    run(
        [
            lambda m: m.fire(critical=False, group="src", key="a"),
            lambda m: m.deliver(index=0, keep_a_copy=False),
            lambda m: m.fire(critical=False, group="tgt", key="a"),
            lambda m: m.resolve_is_lost(group="src", key="a"),
            lambda m: m.reconcile_with_the_senders(),  # the pass resolves src itself
            lambda m: m.deliver(index=0, keep_a_copy=False),  # tgt fires: nothing inhibits it now
        ]
    )


def test_a_drop_windows_end_applies_a_held_redelivered_resolve_though_a_later_firing_is_forgotten() -> None:
    """Found by a soak 2026-12-03: a resolve's call failed after its write-ahead (the state says resolved and waits
    for it), its redelivery was held by a `drop` window with `resolves: hold`, and the alert fired again inside
    the window. The end took only the latest transition (the firing) and forgot it: the incident stayed open with
    nothing left to close it (the reconcile pass skips a group that neither fires nor holds an incident open)."""
    run(
        [
            lambda m: m.open_window(on_end="reevaluate", resolves="close"),
            lambda m: m.covered_alert_arrives(fires=True, key="a"),
            lambda m: m.end_window(run_scheduler=False),
            lambda m: m.time_passes(minutes=2),  # the window's end opens ops' incident
            lambda m: m.budget_runs_short(short_from=Priority.RESOLVE),
            lambda m: m.resolve(group="ops", key="a", names_its_firing=True),
            lambda m: m.deliver(index=0, keep_a_copy=False),  # its call refused: redelivered later
            lambda m: m.open_window(on_end="drop", resolves="hold"),
            lambda m: m.deliver(index=0, keep_a_copy=False),  # the redelivery: held
            lambda m: m.covered_alert_arrives(fires=True, key="a"),  # fires again: held, forgotten at the end
            lambda m: m.resolve_is_lost(group="ops", key="a"),
        ],
        keyed=True,
    )


def test_a_firing_still_queued_when_a_person_closes_the_incident_opens_the_next_one() -> None:
    """The oracle's side, found by a soak 2026-12-03: `a` fired before a person closed the group's incident but was
    delivered after; it is news to the closed episode and opens the next incident (`after_human_close:
    new_incident`). The model counted one episode and called the second incident extra."""
    run(
        [
            lambda m: m.fire(critical=False, group="ops", key="b"),
            lambda m: m.deliver(index=0, keep_a_copy=True),
            lambda m: m.fire(critical=True, group="ops", key="a"),
            lambda m: m.person_closes_the_incident(group="ops"),
        ],
        keyed=True,
    )


def test_what_a_dead_reconcile_pass_left_undone_is_finished_by_the_next_pass() -> None:
    """Found by a soak 2026-12-03: a resolve was lost, and the reconcile pass that resolved the group died after
    incident.io opened the incident its earlier attempt had left unfinished. The group was then quiet (nothing
    firing, no incident it knew open) with that work unfinished, and no message carried it: nothing ever resolved
    the incident. The next pass now finishes a quiet group's leftovers."""
    run(
        [
            lambda m: m.fire(critical=False, group="ops", key="b"),
            lambda m: m.resolve_is_lost(group="ops", key="b"),
            lambda m: m.fault(kind="transient", tool="incident_create"),
            lambda m: m.fault(kind="crash", tool="incident_create"),
            lambda m: m.deliver(index=0, keep_a_copy=False),  # the opening fails: redelivered later
            lambda m: m.reconcile_with_the_senders(),  # resolves b, resumes the opening, dies after it
        ],
        keyed=True,
    )


def test_what_a_dead_reconcile_pass_left_undone_after_a_storm_wait_is_finished() -> None:
    run(
        [
            lambda m: m.fault(kind="transient", tool="incident_create"),
            lambda m: m.fire(critical=True, group="st2", key="a"),
            lambda m: m.deliver(index=0, keep_a_copy=True),  # a storm rule's wait holds its incident
            lambda m: m.resolve_is_lost(group="st2", key="a"),
            lambda m: m.time_passes(minutes=16),  # the wait's end: its opening fails
            lambda m: m.fault(kind="crash", tool="incident_create"),
            lambda m: m.reconcile_with_the_senders(),  # resolves a, resumes the opening, dies after it
        ],
        keyed=True,
    )


def test_a_firing_queued_behind_a_reconciled_resolve_may_open_the_next_incident() -> None:
    """The oracle's side, found by a soak 2026-12-03: `a` fired while `b` fired, `b`'s resolve was lost and the
    pass resolved the group before `a` was delivered; `a` then opens the next incident, as it would delivered out
    of order. The model counted one episode and called it extra."""
    run(
        [
            lambda m: m.fire(critical=True, group="tgt", key="b"),
            lambda m: m.fire(critical=False, group="tgt", key="a"),
            lambda m: m.deliver(index=0, keep_a_copy=False),
            lambda m: m.resolve_is_lost(group="tgt", key="b"),
            lambda m: m.reconcile_with_the_senders(),
        ],
        keyed=True,
    )


def test_a_target_released_after_the_pass_is_resolved_by_the_next_pass() -> None:
    """The harness's side, found by a soak 2026-12-03 once the pass's resolve of a source reached the inhibition
    index: the source's and the target's resolves were lost; the pass resolved the source, the scheduler then
    released the held target (its incident opens), and only a later pass (as every ReconcileMinutes on AWS)
    resolves it. The model's quiescence now runs two passes."""
    run(
        [
            lambda m: m.fire(critical=False, group="src", key="a"),
            lambda m: m.resolve_is_lost(group="src", key="a"),
            lambda m: m.fire(critical=False, group="tgt", key="b"),
            lambda m: m.resolve_is_lost(group="tgt", key="b"),
        ]
    )


def test_a_hold_ending_names_the_incident_it_reopened_for_the_earlier_episodes_resolve() -> None:
    """Found by a soak 2026-12-03 (on the code before this session's changes too): a hold's end first did the
    earlier episode's opening (the ledger found the dead scheduler's incident) but its resolve was refused (the
    budget short). The resolve left behind still said "the incident just opened", and with its opening done it was
    taken for obsolete and dropped: the incident stayed open and the next episode opened a second one."""
    run(
        [
            lambda m: m.fire(critical=False, group="flappy", key="b"),
            lambda m: m.deliver(index=39_729_603_680_790_877_619_355_648, keep_a_copy=False),
            lambda m: m.budget_runs_short(short_from=Priority.RESOLVE),
            lambda m: m.fault(kind="crash", tool="incident_create"),
            lambda m: m.time_passes(minutes=2),
            lambda m: m.resolve(group="flappy", key="b", names_its_firing=True, says_when=False),
            lambda m: m.fire(critical=False, group="flappy", key="a"),
            lambda m: m.deliver(index=16146, keep_a_copy=False),
            lambda m: m.deliver_packed(count=3, index=2082169),
            lambda m: m.time_passes(minutes=16),
            lambda m: m.deliver(index=175117, keep_a_copy=True),
            lambda m: m.time_passes(minutes=16),
        ],
        keyed=True,
    )


def test_a_quiet_group_in_the_pass_for_its_leftovers_is_not_fired_again() -> None:
    """Found by a soak 2026-12-03 right after quiet groups with leftovers joined the pass: the pass fired such a
    group again from the sender's truth (its own firing was still queued), and that synthesized firing, without
    the alert's labels, opened an incident named ": st2-b". A quiet group is now only finished, as before only
    open groups were fired again."""
    run(
        [
            lambda m: m.fire(critical=True, group="flappy", key="b"),
            lambda m: m.fire(critical=True, group="st2", key="b"),
            lambda m: m.budget_runs_short(short_from=Priority.PAGE_OR_OPEN),
            lambda m: m.deliver(index=368, keep_a_copy=False),
            lambda m: m.deliver(index=16, keep_a_copy=False),
            lambda m: m.time_passes(minutes=5),
            lambda m: m.resolve(group="st2", key="b", names_its_firing=False, says_when=True),
            lambda m: m.fire(critical=False, group="st2", key="b"),
            lambda m: m.deliver_packed(count=3, index=123889699),
            lambda m: m.reconcile_with_the_senders(),
        ]
    )


@pytest.mark.xfail(
    strict=True,
    reason="open defect (session note 2026-12-03, second session): found by a soak, also on the code before that"
    " session: after a person closed the episode's incident a new episode began and its opening was left unfinished;"
    " its level 1 came due and the scheduler paged it on the state's incident_id, still the closed incident",
)
def test_a_closed_incident_gets_no_call_after_faults_around_a_persons_close() -> None:
    run(
        [
            lambda m: m.resolve_is_lost(group="src", key="a"),
            lambda m: m.fault(kind="crash", tool="escalation_list"),
            lambda m: m.fire(critical=True, group="pay", key="a"),
            lambda m: m.person_closes_the_incident(group="ops"),
            lambda m: m.reconcile_with_the_senders(),
            lambda m: m.deliver(index=325429, keep_a_copy=False),
            lambda m: m.reconcile_with_the_senders(),
            lambda m: m.fault(kind="crash", tool="escalation_show"),
            lambda m: m.fault(kind="permanent", tool="escalation_show"),
            lambda m: m.reconcile_with_the_senders(),
            lambda m: m.person_closes_the_incident(group="pay"),
            lambda m: m.fire(critical=False, group="ops", key="a"),
            lambda m: m.reconcile_with_the_senders(),
            lambda m: m.person_closes_the_incident(group="pay2"),
            lambda m: m.resolve_is_lost(group="pay", key="b"),
            lambda m: m.reconcile_with_the_senders(),
            lambda m: m.fire(critical=True, group="st3", key="b"),
            lambda m: m.fire(critical=True, group="pay", key="b"),
            lambda m: m.deliver(index=98127, keep_a_copy=False),
            lambda m: m.time_passes(minutes=16),
            lambda m: m.resolve_is_lost(group="st3", key="a"),
            lambda m: m.deliver_packed(count=3, index=187332599),
            lambda m: m.fault(kind="permanent", tool="incident_create"),
            lambda m: m.resolve_is_lost(group="src", key="a"),
            lambda m: m.reconcile_with_the_senders(),
            lambda m: m.fire(critical=True, group="pay", key="a"),
            lambda m: m.deliver_packed(count=2, index=74600),
            lambda m: m.person_closes_the_incident(group="pay"),
            lambda m: m.deliver(index=144_843_073_405_306, keep_a_copy=True),
            lambda m: m.fault(kind="lost", tool="escalation_show"),
            lambda m: m.fault(kind="transient", tool="incident_update"),
            lambda m: m.resolve_is_lost(group="pay", key="b"),
            lambda m: m.time_passes(minutes=16),
            lambda m: m.time_passes(minutes=16),
        ],
        keyed=True,
    )
