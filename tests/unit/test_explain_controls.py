"""`explain` names every quiet control of an alert's rules (operator_tools.explain_controls), and replays storm
collapse as dispatch's storm gate decides it: the same incidents, the storm's state, the group's membership."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from alert_courier.domain.alert import Alert, AlertStatus, Severity
from alert_courier.domain.group_state import GroupState, state_id_for
from alert_courier.domain.rules import parse_rules, plan_for
from alert_courier.operator_tools import cli
from alert_courier.operator_tools.explain import explain, format_report, replay
from alert_courier.operator_tools.explain_controls import control_lines, storm_lines
from tests.conftest import load_event
from tests.fakes import DrivenClock, World

NOW = datetime(2026, 12, 2, 10, 0, 30, tzinfo=UTC)
STORM_RULES = """
rules:
  - name: nodes
    match: {labels: {job: node}}
    storm: {groups: 2, within: 5m}
    actions: [open_incident]
  - name: rest
    actions: [open_incident]
"""
RULES = parse_rules(STORM_RULES)


def alert(group: str, status: str = "firing", *, job: str = "node", **labels: str) -> Alert:
    return Alert(
        source="alertmanager",
        dedup_key=f"{group}-a",
        group_key=group,
        status=AlertStatus(status),
        severity=Severity.ERROR,
        title=f"{group} down",
        labels={"job": job, **labels},
        started_at=NOW - timedelta(minutes=10),
        ended_at=NOW if status == "resolved" else None,
    )


# ---- every quiet control is named ------------------------------------------------------------------------------


def test_each_quiet_control_of_the_matched_rules_is_named_whether_or_not_it_acts() -> None:
    rules = parse_rules(
        """
rules:
  - name: disk
    match: {labels: {alertname: DiskFull}}
    hold: 2m
    reopen_within: 30m
    flap: {changes: 4, within: 5m}
    storm: {groups: 20, within: 5m}
    actions: [open_incident]
  - name: rest
    actions: [open_incident]
inhibit_rules:
  - name: cluster-down
    source: {labels: {alertname: ClusterDown}}
    target: {labels: {alertname: DiskFull}}
    equal: [cluster]
"""
    )
    disk = alert("g", alertname="DiskFull", cluster="eu-1")
    lines = control_lines(disk, plan_for(disk, rules), rules)
    assert [line.split(" (rule")[0].split(":")[0] for line in lines] == [
        "hold 2m",
        "reopen_within 30m",
        "flap 4 changes within 5m",
        "storm 20 groups within 5m",
        "inhibit rule 'cluster-down' (cluster='eu-1')",
    ]
    assert "subject to storm collapse: once more than 20 new groups matched the rule in one 5m window" in lines[3]
    other = alert("g", alertname="Other")
    assert control_lines(other, plan_for(other, rules), rules) == []


def test_windows_given_and_none_covering_say_so() -> None:
    report = explain([alert("web", job="web")], RULES, now=NOW, windows=[])
    assert report[0]["controls"] == [f"maintenance: none of the 0 window(s) covers it at {NOW.isoformat()}"]


def test_with_the_live_state_a_source_firing_in_the_deployment_inhibits() -> None:
    rules = parse_rules(
        """
rules: [{name: all, actions: [open_incident]}]
inhibit_rules:
  - {name: cluster-down, source: {labels: {alertname: ClusterDown}}, target: {labels: {job: node}}, equal: [cluster]}
"""
    )
    target = alert("g", cluster="eu-1")
    live = {"alertmanager:down-a"}
    [entry] = explain(
        [target], rules, now=NOW, live_sources=lambda key: live if key.startswith("cluster-down#") else set()
    )
    assert entry["inhibited_by"].startswith("cluster-down#") and entry["calls"] == []
    assert "source alert(s) alertmanager:down-a firing" in entry["reasons"][0]
    [alone] = explain([target], rules, now=NOW)  # the sequence alone has no source
    assert "inhibited_by" not in alone and alone["calls"]


# ---- storm collapse, replayed --------------------------------------------------------------------------------


def test_a_storm_is_replayed_as_dispatch_collapses_it() -> None:
    sequence = [alert(f"node-{n}") for n in range(5)] + [alert("web", job="web")]
    replayed = replay(sequence, RULES, now=NOW)
    world = World(RULES, clock=DrivenClock(NOW))
    from alert_courier.domain.alert import AlertEnvelope

    for one in sequence:
        world.entry.handle(AlertEnvelope(alert=one, correlation_id="c"))
    assert replayed.incidents_opened == len(world.incidents()) == 4  # node-0, node-1, the storm, web
    opened = [call for entry in replayed.report for call in entry["calls"] if call.get("tool") == "incident_create"]
    names = [call["arguments"]["name"] for call in opened]  # (the storm's member lists are incident_update calls)
    assert names[2] == "Alert storm: more than 2 new groups matching rule 'nodes'"
    controls = [entry["controls"] for entry in replayed.report]
    assert (
        "new group 2 of the 5m window from 2026-12-02T10:00:00+00:00 (counted in this replay only)" in (controls[1][-1])
    )
    assert controls[1][-1].endswith("not more than 2: it is decided as its own group")
    assert "is new group 3 of the 5m window" in controls[2][-1] and "it joins the storm" in controls[2][-1]
    assert controls[3][-2].startswith("storm of rule 'nodes' is on in this replay")
    assert controls[3][-1] == "group 'node-3' is a new group while the storm is on: it joins the storm"
    assert controls[5] == []  # another rule: no storm


def test_a_members_resolve_goes_to_the_storm_and_the_last_one_closes_its_incident() -> None:
    groups = [f"node-{n}" for n in range(4)]
    sequence = [alert(g) for g in groups] + [alert(g, "resolved") for g in groups]
    replayed = replay(sequence, RULES, now=NOW)
    assert replayed.incidents_opened == 3 and replayed.incidents_closed == 3
    resolve_of_node_2 = replayed.report[6]
    assert "is a member of the storm (episode 1): this alert goes to it" in resolve_of_node_2["controls"][-1]
    assert resolve_of_node_2["calls"] == []  # node-3 still fires in the storm
    assert [call["tool"] for call in replayed.report[7]["calls"]] == ["incident_update"]


class LiveStorms:
    """The deployment's storm items, as `aws.storm_store.StormStore` reads them."""

    def __init__(self, members: dict[str, int], counted: set[str]) -> None:
        self.members, self.groups = members, counted
        self.reads: list[tuple[str, str]] = []

    def member(self, rule: str, group_key: str) -> int | None:
        self.reads.append(("member", group_key))
        return self.members.get(group_key)

    def counted(self, rule: str, window: str) -> set[str]:
        self.reads.append(("counted", window))
        return set(self.groups)


def test_with_the_live_state_it_says_whether_the_storm_is_on_now_and_whether_the_group_is_a_member() -> None:
    storm_id = state_id_for("alertmanager", "storm:nodes")
    live = {
        storm_id: GroupState(
            group_id=storm_id,
            generation=1,
            version=3,
            incident_id="01STORM",
            incident_reference="INC-9",
            incident_open=True,
            firing={"node-7-a": (NOW - timedelta(minutes=10)).isoformat()},
        )
    }
    reads = LiveStorms({"node-7": 1}, counted={"node-1", "node-2"})

    def live_state(state_id: str) -> GroupState:
        return live.get(state_id) or GroupState(group_id=state_id)

    report = explain([alert("node-7"), alert("node-8")], RULES, now=NOW, live_state=live_state, storm_reads=reads)
    member, newcomer = (entry["controls"] for entry in report)
    assert member[-2].startswith("storm of rule 'nodes' is on now: incident INC-9 open, 1 alert(s) firing")
    assert member[-1] == "group 'node-7' is a member of the storm (episode 1): this alert goes to it"
    assert report[0]["calls"] == [] and report[0]["live_state"].startswith("incident INC-9 open")
    assert newcomer[-1] == "group 'node-8' is a new group while the storm is on: it joins the storm"
    assert ("counted", "2026-12-02T10:00:00+00:00") not in reads.reads  # a storm on is joined without counting

    quiet = LiveStorms({}, counted={"node-1", "node-2"})  # no storm on, two new groups counted in the window
    [entry] = explain([alert("node-3")], RULES, now=NOW, live_state=lambda i: GroupState(group_id=i), storm_reads=quiet)
    assert entry["controls"][-2] == "no storm of rule 'nodes' is on now"
    assert (
        "is new group 3 of the 5m window from 2026-12-02T10:00:00+00:00, more than 2: it joins"
        in (entry["controls"][-1])
    )
    assert entry["calls"][0]["arguments"]["name"].startswith("Alert storm")


def test_storm_lines_for_a_group_that_keeps_its_own_episode() -> None:
    [rule, _] = RULES.rules
    lines = storm_lines(rule, "g", storm=GroupState(group_id="s"), member=None, to_storm=False, counted=None, live=True)
    assert lines == [
        "no storm of rule 'nodes' is on now",
        "group 'g' is not a member of the storm: it keeps its own group (it has an episode of its own, or this is"
        " no new firing)",
    ]


# ---- through the command ---------------------------------------------------------------------------------------


def notification(group: str) -> dict[str, Any]:
    sample = load_event("alertmanager/firing.json")
    sample["groupKey"] = group
    sample["alerts"] = [{**sample["alerts"][0], "fingerprint": f"fp-{group}"}]
    return sample


def test_the_command_shows_the_controls_and_the_storm(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(STORM_RULES)
    files = []
    for group in ("g1", "g2", "g3"):
        (tmp_path / f"{group}.json").write_text(json.dumps(notification(group)))
        files.append(str(tmp_path / f"{group}.json"))
    args = ["explain", "--source", "alertmanager", "--rules", str(rules), *files, "--at", "2026-12-02T10:00:30Z"]
    assert cli.main(args) == 0
    text = capsys.readouterr().out
    assert text.count("   control: storm 2 groups within 5m (rule 'nodes'): subject to storm collapse") == 3
    assert "   control: group 'g3' is new group 3 of the 5m window from 2026-12-02T10:00:00+00:00" in text
    assert "Alert storm: more than 2 new groups matching rule 'nodes'" in text
    assert cli.main([*args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [len(entry["controls"]) for entry in report] == [3, 3, 3]
    assert format_report(report) == text.rstrip("\n")
