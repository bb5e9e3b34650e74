"""Inhibition: the pure decisions (domain.inhibition) and their enforcement through dispatch's entry and the
scheduler on in-memory ports (tests/fakes.py): Alertmanager's inhibit_rules semantics, orderings included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from alert_courier.domain.alert import Alert, AlertEnvelope, AlertStatus, Severity
from alert_courier.domain.inhibition import InhibitEntry, entry_of, inhibited_by, released, source_changes
from alert_courier.domain.rules import RulesError, parse_rules
from tests.fakes import DrivenClock, World

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
RULES = parse_rules(
    """
rules: [{name: all, actions: [open_incident]}]
inhibit_rules:
  - name: cluster-down
    source: {labels: {alertname: ClusterDown}}
    target: {labels: {severity: warning}}
    equal: [cluster]
"""
)


def alert(
    key: str, status: str = "firing", *, name: str = "HighLatency", cluster: str | None = "eu-1", **labels: str
) -> Alert:
    all_labels = {"alertname": name, "severity": "critical" if name == "ClusterDown" else "warning", **labels}
    if cluster is not None:
        all_labels["cluster"] = cluster
    return Alert(
        source="alertmanager",
        dedup_key=key,
        group_key=f"group-{key}",
        status=AlertStatus(status),
        severity=Severity.WARNING,
        title=f"alert {key}",
        labels=all_labels,
        started_at=NOW - timedelta(hours=1),
        ended_at=NOW if status == "resolved" else None,
    )


def envelope(key: str, status: str = "firing", **kwargs: Any) -> AlertEnvelope:
    return AlertEnvelope(alert=alert(key, status, **kwargs), correlation_id=f"c-{key}-{status}")


def opens(world: World) -> int:
    return sum(1 for called, _ in world.tools.calls if called == "incident_create")


def categories(world: World) -> list[str]:
    return sorted(incident["incident_status"]["category"] for incident in world.incidents())


# ---- the pure decisions ---------------------------------------------------------------------------------------


def test_a_target_is_inhibited_only_by_a_source_with_equal_values() -> None:
    down = entry_of(RULES.inhibit_rules[0], alert("down", name="ClusterDown"))
    firing = {down.key: {"alertmanager:down"}}
    sources = lambda entry: firing.get(entry.key, set())  # noqa: E731
    inhibited = inhibited_by(alert("t"), RULES, sources)
    assert inhibited is not None and inhibited.sources == ("alertmanager:down",)
    assert "inhibit rule 'cluster-down' (cluster='eu-1')" in inhibited.reasons()[0]
    assert inhibited_by(alert("t", cluster="us-1"), RULES, sources) is None  # another cluster
    assert inhibited_by(alert("t", cluster=None), RULES, sources) is None  # missing label: '' is not 'eu-1'
    assert inhibited_by(alert("t", "resolved"), RULES, sources) is None  # resolves are never inhibited


def test_a_missing_equal_label_on_both_sides_is_equal() -> None:
    down = entry_of(RULES.inhibit_rules[0], alert("down", name="ClusterDown", cluster=None))
    assert down == InhibitEntry("cluster-down", (("cluster", ""),))
    sources = lambda entry: {"alertmanager:down"} if entry == down else set()  # noqa: E731
    assert inhibited_by(alert("t", cluster=None), RULES, sources) is not None


def test_an_alert_does_not_inhibit_itself() -> None:
    both = parse_rules(
        "inhibit_rules: [{name: self, source: {labels: {team: ops}}, target: {labels: {team: ops}}, equal: [cluster]}]"
    )
    me = alert("me", team="ops")
    (change,) = source_changes(me, both)
    assert change.firing and change.alert_key == "alertmanager:me"
    alone = lambda entry: {"alertmanager:me"}  # noqa: E731
    assert inhibited_by(me, both, alone) is None
    assert inhibited_by(me, both, lambda entry: {"alertmanager:me", "alertmanager:other"}) is not None
    assert released({"alertmanager:me"}, "alertmanager:me") and not released({"alertmanager:x"}, "alertmanager:me")


def test_source_changes_add_on_firing_remove_on_resolve_and_ignore_others() -> None:
    (fired,) = source_changes(alert("down", name="ClusterDown"), RULES)
    (resolved,) = source_changes(alert("down", "resolved", name="ClusterDown"), RULES)
    assert fired.firing and not resolved.firing and fired.entry == resolved.entry
    assert source_changes(alert("t"), RULES) == []
    assert source_changes(alert("down", "acknowledged", name="ClusterDown"), RULES) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("inhibit_rules: [{name: a, source: {status: firing}, target: {}}]", "status belongs to no inhibit matcher"),
        ("inhibit_rules: [{name: a, source: {}, target: {}, equals: [x]}]", "Extra inputs are not permitted"),
        ("inhibit_rules: [{name: a, target: {}}]", "source"),
        (
            "inhibit_rules: [{name: a, source: {}, target: {}}, {name: a, source: {}, target: {}}]",
            "inhibit rule names must be unique",
        ),
        (
            "inhibit_rules: [{name: a, source: {time: {hours: '09:00-17:00'}}, target: {}}]",
            "a source has no time condition",
        ),
    ],
)
def test_check_config_refuses_bad_inhibit_rules(text: str, message: str) -> None:
    with pytest.raises(RulesError, match=message):
        parse_rules(text)


# ---- enforced through dispatch's entry and the scheduler ----------------------------------------------------------


def test_a_target_is_not_acted_on_while_its_source_fires_and_another_cluster_is() -> None:
    world = World(RULES, clock=DrivenClock(NOW))
    world.entry.handle(envelope("down", name="ClusterDown"))
    assert opens(world) == 1  # the source itself is acted on
    outcome = world.entry.handle(envelope("t"))
    assert outcome["actions"] == [] and outcome["inhibited_by"].startswith("cluster-down#")
    assert opens(world) == 1 and world.telemetry.total("AlertsInhibited") == 1
    (entry,) = world.history.read("alertmanager", "t")
    assert "inhibited by inhibit rule 'cluster-down'" in entry["reasons"][0]
    world.entry.handle(envelope("other", cluster="us-1"))
    assert opens(world) == 2


def test_when_the_source_resolves_the_still_firing_target_is_acted_on_once() -> None:
    world = World(RULES, clock=DrivenClock(NOW))
    world.entry.handle(envelope("down", name="ClusterDown"))
    world.entry.handle(envelope("t"))
    world.entry.handle(envelope("t"))  # a re-send while inhibited: still held, one item
    assert world.scheduler.run().inhibited_replayed == []  # the source still fires
    world.entry.handle(envelope("down", "resolved", name="ClusterDown"))
    assert opens(world) == 1
    report = world.scheduler.run()
    assert len(report.inhibited_replayed) == 1 and opens(world) == 2
    assert world.scheduler.run().inhibited_replayed == [] and opens(world) == 2  # once
    world.entry.handle(envelope("t", "resolved"))
    assert categories(world) == ["closed", "closed"]


def test_a_target_that_resolves_while_inhibited_is_never_acted_on() -> None:
    world = World(RULES, clock=DrivenClock(NOW))
    world.entry.handle(envelope("down", name="ClusterDown"))
    world.entry.handle(envelope("t"))
    world.entry.handle(envelope("t", "resolved"))
    assert world.inhibition.holding == {}
    world.entry.handle(envelope("down", "resolved", name="ClusterDown"))
    world.scheduler.run()
    assert opens(world) == 1 and categories(world) == ["closed"]


def test_a_target_before_its_source_keeps_its_incident_until_it_resolves() -> None:
    world = World(RULES, clock=DrivenClock(NOW))
    world.entry.handle(envelope("t"))
    world.entry.handle(envelope("down", name="ClusterDown"))
    assert opens(world) == 2
    world.entry.handle(envelope("t", "resolved"))  # a resolve is never inhibited: it closes its incident
    assert categories(world) == ["closed", "triage"]


def test_a_second_source_keeps_the_target_held_until_both_resolve() -> None:
    world = World(RULES, clock=DrivenClock(NOW))
    world.entry.handle(envelope("down-a", name="ClusterDown"))
    world.entry.handle(envelope("down-b", name="ClusterDown"))
    world.entry.handle(envelope("t"))
    world.entry.handle(envelope("down-a", "resolved", name="ClusterDown"))
    world.scheduler.run()
    assert opens(world) == 2  # the two sources' own groups; the target is still held
    world.entry.handle(envelope("down-b", "resolved", name="ClusterDown"))
    world.scheduler.run()
    assert opens(world) == 3


def test_rules_without_inhibit_rules_cost_no_reads() -> None:
    world = World(parse_rules("rules: [{name: all, actions: [open_incident]}]"), clock=DrivenClock(NOW))
    for key in ("a", "b", "c"):
        world.entry.handle(envelope(key))
    assert world.inhibition.reads == 0 and opens(world) == 3


def test_explain_replays_a_sequence_with_the_same_inhibition_as_dispatch() -> None:
    from alert_courier.operator_tools.explain import explain, format_report

    sequence = [
        alert("down", name="ClusterDown"),
        alert("t"),
        alert("us", cluster="us-1"),
        alert("down", "resolved", name="ClusterDown"),
        alert("t2"),
    ]
    report = explain(sequence, RULES, now=NOW)
    assert [("inhibited_by" in entry) for entry in report] == [False, True, False, False, False]
    assert report[1]["calls"] == [] and report[1]["inhibited_by"].startswith("cluster-down#")
    assert report[0]["calls"] and [c["tool"] for c in report[4]["calls"]] == [c["tool"] for c in report[0]["calls"]]
    assert "decision: inhibited by inhibit rule 'cluster-down' (cluster='eu-1')" in format_report(report)


def test_an_override_of_rules_alone_keeps_the_inhibit_rules() -> None:
    from alert_courier.domain.rules_override import override_rules

    kept = override_rules(RULES, "rules: [{name: other, actions: [suppress]}]")
    assert [rule.name for rule in kept.inhibit_rules] == ["cluster-down"]
    assert override_rules(RULES, "inhibit_rules: []").inhibit_rules == []


def test_check_config_warns_about_an_inhibit_rule_without_equal_labels() -> None:
    from alert_courier.operator_tools.rules_lint import lint

    text = "inhibit_rules: [{name: wide, source: {labels: {a: b}}, target: {}}]"
    warned = [f.text for f in lint(parse_rules(text), text, frozenset({"alertmanager"})) if f.level == "warning"]
    assert any("inhibit rule 'wide' has no equal labels" in line for line in warned)
    assert not any("inhibit rule" in f.text for f in lint(RULES, "rules: []", frozenset({"alertmanager"})))


def test_a_target_a_window_held_is_still_inhibited_at_the_windows_end() -> None:
    from alert_courier.domain.maintenance import WindowRequest

    world = World(RULES, clock=DrivenClock(NOW))
    request = WindowRequest.model_validate(
        {"match": {"labels": {"severity": "warning"}}, "duration": "10m", "reason": "deploy", "created_by": "ci"}
    )
    world.windows.add(request.window("mw-00000000000000b1", NOW))
    world.entry.handle(envelope("t"))  # held by the window
    world.entry.handle(envelope("down", name="ClusterDown"))  # its source fires during the window
    world.clock.advance(minutes=11)
    world.scheduler.run()  # the window's end hands `t` on: inhibited now, not acted on
    assert [i["name"] for i in world.incidents()] == ["alert down"]
    assert len(world.inhibition.holding) == 1
    world.entry.handle(envelope("down", "resolved", name="ClusterDown"))
    world.scheduler.run()
    assert sorted(i["name"] for i in world.incidents()) == ["alert down", "alert t"]
