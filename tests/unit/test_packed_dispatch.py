"""Dispatch of packed messages (`Courier.handle_many`, `MaintenanceGate.handle_many`) on in-memory ports: one state
read and at most one state write per message besides an acting alert's write-ahead, the same end state and the
same calls as handling each alert alone, and a redelivered message acting on nothing twice."""

from __future__ import annotations

import hashlib
import random
import tracemalloc
from datetime import UTC, datetime, timedelta

import pytest

from alert_courier.aws.alert_queue import pack, read_message
from alert_courier.domain.alert import Alert, AlertEnvelope, AlertStatus, Severity
from alert_courier.domain.errors import ActionFailed, PermanentFailure
from alert_courier.domain.rules import parse_rules
from tests.fakes import World

RULES = parse_rules("rules: [{name: all, actions: [open_incident]}]")
STARTED = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


def envelope(key: str, status: str = "firing", *, group: str = "storm", severity: str = "critical") -> AlertEnvelope:
    alert = Alert(
        source="alertmanager",
        dedup_key=key,
        group_key=group,
        status=AlertStatus(status),
        severity=Severity(severity),
        title=f"alert {key}",
        started_at=STARTED,
        ended_at=STARTED + timedelta(minutes=5) if status == "resolved" else None,
    )
    return AlertEnvelope(alert=alert, correlation_id="corr-1")


def messages(envelopes: list[AlertEnvelope]) -> list[list[AlertEnvelope]]:
    """What dispatch reads back of what ingest queues for one notification."""
    return [read_message(entry["MessageBody"]) for entry in pack(envelopes)]


def test_a_storm_message_is_one_state_read_and_at_most_one_write_besides_the_acting_alert() -> None:
    world = World(RULES)
    first = messages([envelope(f"k{i}") for i in range(2000)])
    assert len(first) == 1
    world.gate.handle_many(first[0])
    assert [name for name, _ in world.tools.calls] == ["incident_create"]
    assert world.states.loads == 1
    assert world.states.saves == 2  # the write-ahead of the alert that opens the incident, and the final write
    assert len(world.history.entries) == 2000 and world.history.batches == 1

    loads, saves = world.states.loads, world.states.saves
    more = messages([envelope(f"k{i}") for i in range(2000, 4000)])[0]
    world.gate.handle_many(more)  # all join the open incident: nothing called
    assert (world.states.loads - loads, world.states.saves - saves) == (1, 1)

    loads, saves = world.states.loads, world.states.saves
    world.gate.handle_many(more)  # a redelivery: all repeats, nothing changes, nothing written
    assert (world.states.loads - loads, world.states.saves - saves) == (1, 0)

    resolving = messages([envelope(f"k{i}", "resolved") for i in range(4000)])
    for number, message in enumerate(resolving):
        loads, saves = world.states.loads, world.states.saves
        world.gate.handle_many(message)
        acting = number == len(resolving) - 1  # the last one resolves the incident: its write-ahead and the final
        assert (world.states.loads - loads, world.states.saves - saves) == (1, 2 if acting else 1)
    assert [name for name, _ in world.tools.calls] == ["incident_create", "incident_update"]
    assert [incident["incident_status"]["category"] for incident in world.incidents()] == ["closed"]
    assert world.history.batches == 3 + len(resolving)


def replay_alone(world: World, notifications: list[list[AlertEnvelope]]) -> None:
    for notification in notifications:
        for one in notification:
            world.gate.handle(one)


def replay_packed(world: World, notifications: list[list[AlertEnvelope]]) -> None:
    for notification in notifications:
        for message in messages(notification):
            world.gate.handle_many(message)


@pytest.mark.parametrize("seed", range(12))
def test_packed_and_one_by_one_dispatch_reach_the_same_end_state_with_the_same_calls(seed: int) -> None:
    rng = random.Random(seed)
    keys = [f"k{i}" for i in range(12)]
    notifications = [
        [
            envelope(
                key,
                rng.choice(["firing", "firing", "resolved"]),
                group=f"g{rng.randrange(3)}",
                severity=rng.choice(["critical", "warning"]),
            )
            for key in rng.sample(keys, rng.randint(1, len(keys)))
        ]
        for _ in range(8)
    ]
    alone, packed = World(RULES), World(RULES)
    replay_alone(alone, notifications)
    replay_packed(packed, notifications)
    # groups are independent: the order of calls between groups may differ, not the calls of one group
    assert sorted(name for name, _ in packed.tools.calls) == sorted(name for name, _ in alone.tools.calls)
    assert sorted(i["incident_status"]["category"] for i in packed.incidents()) == sorted(
        i["incident_status"]["category"] for i in alone.incidents()
    )
    assert {gid: sorted(s.firing) for gid, s in packed.states.states.items()} == {
        gid: sorted(s.firing) for gid, s in alone.states.states.items()
    }
    assert packed.states.loads <= alone.states.loads and packed.states.saves <= alone.states.saves
    assert len(packed.history.entries) == len(alone.history.entries)


def test_a_transient_failure_redelivers_the_message_and_acts_on_nothing_twice() -> None:
    world = World(RULES)
    message = messages([envelope(f"k{i}") for i in range(50)])[0]
    world.tools.script("incident_create", "transient")
    with pytest.raises(ActionFailed):
        world.gate.handle_many(message)
    assert world.incidents() == []
    world.gate.handle_many(message)  # SQS redelivers the whole message
    world.gate.handle_many(message)  # and once more, late
    assert len(world.incidents()) == 1
    assert (
        sorted(world.states.states[next(iter(world.states.states))].firing)
        == sorted(e.alert.dedup_key for e in message)
        or len(world.states.states[next(iter(world.states.states))].firing) == 50
    )


def test_an_alert_that_fails_for_good_is_set_apart_and_the_others_go_on_as_one_by_one() -> None:
    notification = [envelope(f"k{i}") for i in range(5)]
    alone, packed = World(RULES), World(RULES)
    for world in (alone, packed):
        world.tools.script("incident_create", "permanent")
    failed = []
    for one in notification:
        try:
            alone.gate.handle(one)
        except PermanentFailure:
            failed.append(one.alert.dedup_key)
    outcome = packed.gate.handle_many(messages(notification)[0])
    assert [e.alert.dedup_key for e, _ in outcome.permanent] == failed == ["k0"]
    assert "permanent incident_create 422" in outcome.permanent[0][1]
    assert len(outcome.outcomes) == 5 and len(packed.history.entries) == len(alone.history.entries)
    assert [e[2]["reasons"][-1] for e in packed.history.entries] == [e[2]["reasons"][-1] for e in alone.history.entries]


def _message_peak(world: World, message: list[AlertEnvelope]) -> int:
    tracemalloc.start()
    try:
        world.gate.handle_many(message)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_messages_memory_grows_with_its_alerts_not_with_its_alerts_times_the_groups_size() -> None:
    """Each alert's decision is a new state of the whole group; keeping them all until the history is written held
    M copies of an N-alert state (1.8 GiB for 2,000 alerts on 24,000 in the bench, over dispatch's MemorySize).
    Ten times the alerts on the same 3,000-alert group may cost at most 5× the peak (it was 10×; now 1.3×)."""
    keys = [hashlib.sha256(str(index).encode()).hexdigest()[:16] for index in range(4650)]
    peaks = []
    for alerts in (150, 1500):
        world = World(RULES)
        for earlier in messages([envelope(key) for key in keys[:3000]]):
            world.gate.handle_many(earlier)
        (message,) = messages([envelope(key) for key in keys[3000 : 3000 + alerts]])
        peaks.append(_message_peak(world, message))
        (state,) = world.states.states.values()
        assert len(state.firing) == 3000 + alerts
    assert peaks[1] <= 5 * peaks[0], [f"{peak / 2**20:.1f} MiB" for peak in peaks]
