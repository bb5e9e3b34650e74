"""`alert-courier explain --state --local` against a local stack in a storm: whether the storm of the alert's rule
is on now, whether its group is a member, and where a new group would go, read from the stack's own state (the
storm counter and memberships on moto) without writing any of it. The stack of its own runs a storm rule
(tests/own_rules_stack.py, `nodes`: more than 1 new group within a day); the session stack runs the shipped rules."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from alert_courier.aws.storm_store import StormStore
from alert_courier.operator_tools import cli
from alert_courier.operator_tools.local_stack_probe import TABLE_NAME
from tests.conftest import load_event, wait_until
from tests.integration.test_pipeline import HEADERS
from tests.own_rules_stack import StackProcess


def node_down(tag: str, group: str) -> dict[str, Any]:
    sample = load_event("alertmanager/firing.json")
    alert = sample["alerts"][0]
    sample["groupKey"] = f"{tag}-{group}"
    sample["alerts"] = [
        {
            **alert,
            "fingerprint": f"{tag}-{group}",
            "labels": {**alert["labels"], "test": "storm", "instance": group},
            "annotations": {**alert["annotations"], "summary": f"{tag} {group} down"},
        }
    ]
    return sample


def test_the_counted_groups_of_a_window_are_read_without_counting(pk_sk_table: Any) -> None:
    store = StormStore(pk_sk_table)
    assert store.counted("r", "w1") == set()
    store.count("r", "w1", "g1", 3)
    store.count("r", "w1", "g2", 3)
    assert store.counted("r", "w1") == {"g1", "g2"} == store.counted("r", "w1")  # reading counts nothing
    assert store.count("r", "w1", "g3", 3) == 3


@pytest.mark.slow
def test_explain_with_the_live_state_says_whether_the_storm_is_on_and_who_is_in_it(
    own_rules_stack: StackProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = own_rules_stack
    tag = uuid.uuid4().hex[:8]
    for group in ("a", "b"):  # a: the one group the rule lets open its own incident; b: more than 1, a storm
        sent = httpx.post(
            f"{stack.front_door_url}/webhooks/alertmanager", json=node_down(tag, group), headers=HEADERS, timeout=30
        )
        assert sent.status_code == 202, sent.text
        wait_until(lambda: stack.queued() == 0, timeout=60, what=f"group {group} to be decided")

    def ours() -> list[dict[str, Any]]:
        state = httpx.get(f"{stack.simulator_url}/_sim/state", timeout=10).json()
        return [i for i in state["incidents"] if tag in json.dumps(i["arguments"])]

    names = sorted(incident["name"] for incident in ours())
    assert names == sorted([f"{tag} a down", "Alert storm: more than 1 new groups matching rule 'nodes'"]), names

    files = []
    for group in ("b", "c", "a"):  # a member's repeat, a new group, the group with its own incident
        path = tmp_path / f"{group}.json"
        path.write_text(json.dumps(node_down(tag, group)))
        files.append(str(path))
    for name in [name for name in os.environ if name.startswith("LOCAL_")]:
        monkeypatch.delenv(name)
    for name, url in (
        ("LOCAL_FRONT_DOOR_PORT", stack.front_door_url),
        ("LOCAL_SIMULATOR_PORT", stack.simulator_url),
        ("LOCAL_AWS_PORT", stack.aws_endpoint),
    ):
        monkeypatch.setenv(name, str(urlsplit(url).port))
    args = ["explain", "--source", "alertmanager", "--rules", str(stack.rules_file), *files, "--json"]
    capsys.readouterr()
    assert cli.main([*args, "--state", "--local"]) == 0
    member, newcomer, own = json.loads(capsys.readouterr().out)

    assert member["controls"][0].startswith("storm 1 groups within 24h (rule 'nodes'): subject to storm collapse")
    assert member["controls"][1].startswith("maintenance: none of the 0 window(s) covers it")  # read live too
    on = "storm of rule 'nodes' is on now: incident INC-"
    assert member["controls"][-2].startswith(on) and "open, 1 alert(s) firing" in member["controls"][-2]
    assert member["controls"][-1] == f"group '{tag}-b' is a member of the storm (episode 1): this alert goes to it"
    assert member["calls"] == [] and "a repeat of a known alert" in " ".join(member["reasons"])
    assert newcomer["controls"][-2].startswith(on)
    assert newcomer["controls"][-1] == f"group '{tag}-c' is a new group while the storm is on: it joins the storm"
    assert "already open; alert joins it" in " ".join(newcomer["reasons"])
    # its joining doubles the storm's firing alerts (1 -> 2): the one call is the storm incident's member list
    assert [call["tool"] for call in newcomer["calls"]] == ["incident_update"]
    assert newcomer["calls"][0]["arguments"]["summary"].startswith("Alert storm: 2 alerts are firing")
    assert own["controls"][-1].startswith(f"group '{tag}-a' is not a member of the storm: it keeps its own group")
    assert own["live_state"].startswith("incident INC-") and own["calls"] == []

    joined = stack.aws("dynamodb").get_item(
        TableName=TABLE_NAME, Key={"pk": {"S": "storm#nodes"}, "sk": {"S": f"member#{tag}-c"}}
    )
    assert "Item" not in joined  # explain joined nothing
    assert len(ours()) == 2

    assert cli.main(args) == 0  # without the live state: a replay of these three alone, from quiet groups
    alone = json.loads(capsys.readouterr().out)
    assert alone[0]["controls"][-2] == "no storm of rule 'nodes' is on in this replay (--state reads the deployment's)"
    # b alone, the storm from c; a joins it, doubling its firing alerts: the storm's member list is its one call
    assert [bool(entry["calls"]) for entry in alone] == [True, True, True]
    assert [call["tool"] for call in alone[2]["calls"]] == ["incident_update"]
