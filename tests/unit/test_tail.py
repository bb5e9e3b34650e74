"""`alert-courier tail`'s logic: what each real decision is called (the dispatch use case's own records, on the
in-memory ports), its one line, and following (each decision once, --once, --count)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from alert_courier.domain.alert import Alert, AlertEnvelope, AlertStatus, Severity
from alert_courier.domain.rules import parse_rules
from alert_courier.operator_tools.tail import Follower, follow, format_line, outcome
from tests.fakes import DrivenClock, World

T0 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
RULES = parse_rules(
    """
rules:
  - name: quiet
    match: {labels: {env: staging}}
    actions: [suppress]
  - name: database
    actions: [open_incident]
"""
)


def alert(dedup_key: str, status: str = "firing", **labels: str) -> AlertEnvelope:
    return AlertEnvelope(
        alert=Alert(
            source="alertmanager",
            dedup_key=dedup_key,
            group_key="db-group",
            status=AlertStatus(status),
            severity=Severity.CRITICAL,
            title=f"Disk full ({dedup_key})",
            labels=labels,
            started_at=T0,
        ),
        correlation_id="test",
    )


def test_each_real_decision_gets_its_name_and_the_incident_it_concerns() -> None:
    world = World(RULES, clock=DrivenClock(T0))
    for envelope in (
        alert("db-1"),
        alert("db-2"),
        alert("db-1"),
        alert("staging-1", env="staging"),
        alert("db-1", "resolved"),
        alert("db-2", "resolved"),
        alert("db-2", "resolved"),
    ):
        world.courier.handle(envelope)
    entries = [entry for _, _, entry in world.history.entries]
    assert [outcome(entry) for entry in entries] == [
        "opened",
        "joined",
        "repeat",
        "suppressed",
        "resolved (group still firing)",
        "resolved",
        "resolved (not firing)",
    ]
    [incident] = world.incidents()
    assert [entry.get("incident_reference") for entry in entries[:3]] == [incident["reference"]] * 3
    line = format_line({**entries[1], "source": "alertmanager", "dedup_key": "db-2", "recorded_at": "T"})
    assert line == f"T alertmanager db-group (db-2) firing joined - {incident['reference']}"


def test_a_manual_operation_and_a_failure_are_named_as_such() -> None:
    assert outcome({"manual": {"operation": "ack"}, "actions": [{"kind": "acknowledge_escalation"}]}) == "manual ack"
    assert outcome({"error": "HTTP 422", "actions": [{"kind": "open_incident"}]}) == "failed"


class RecordedLookups:
    """`HistoryLookups.recorded_since` over a list that grows between polls."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self.reads = 0

    def recorded_since(self, since: datetime, *, until: datetime | None = None) -> list[dict[str, Any]]:
        self.reads += 1
        return sorted((e for e in self.entries if e["_sk"] >= since.isoformat()), key=lambda e: e["_sk"])

    def add(self, at: datetime, key: str) -> None:
        self.entries.append({"_pk": f"history#x#{key}", "_sk": f"{at.isoformat()}#t", "dedup_key": key})


def test_following_yields_each_decision_once_even_though_every_read_looks_back() -> None:
    lookups = RecordedLookups()
    clock = DrivenClock(T0)
    lookups.add(T0 - timedelta(minutes=5), "old")
    follower = Follower(lookups, T0 - timedelta(minutes=10), clock=clock)  # type: ignore[arg-type]

    def sleep(_seconds: float) -> None:  # while asleep: time passes, two decisions arrive, one late (older clock)
        clock.now += timedelta(seconds=5)
        if lookups.reads == 1:
            lookups.add(clock.now, "new")
            lookups.add(clock.now - timedelta(seconds=20), "late")

    followed = follow(follower, once=False, count=3, interval=1, sleep=sleep)
    assert [entry["dedup_key"] for entry in followed] == ["old", "late", "new"]
    assert [entry["dedup_key"] for entry in follow(follower, once=True, count=None, interval=1, sleep=sleep)] == []


def test_once_reads_once_and_stops() -> None:
    lookups = RecordedLookups()
    lookups.add(T0, "a")
    follower = Follower(lookups, T0 - timedelta(minutes=1), clock=DrivenClock(T0))  # type: ignore[arg-type]
    slept: list[float] = []
    assert [e["dedup_key"] for e in follow(follower, once=True, count=None, interval=1, sleep=slept.append)] == ["a"]
    assert lookups.reads == 1 and slept == []
