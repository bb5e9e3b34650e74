"""The local stack's own tools, over real HTTP against the session's stack: the full reset (front door route and
`alert-courier reset --local`), a person acknowledging a page in the simulator (and the scheduler then leaving
level 2 alone), SNS and EventBridge events fed to ingest as Lambda receives them, and the console lines of
decisions that call nothing."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import shlex
import sys
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import httpx
import pytest

from alert_courier.aws.dynamodb_stores import DecisionHistory, GroupStateStore
from alert_courier.domain.group_state import state_id_for
from alert_courier.operator_tools import cli
from alert_courier.operator_tools.local_stack_probe import TABLE_NAME
from alert_courier_local.stack import schedule_event
from tests.conftest import REPO_ROOT, load_event, wait_until
from tests.integration.test_pipeline import incidents_for, post, queue_depth, sim, unique_notification

LEVEL_2_USER = "01HR716BWNFMGT83PXT891WB09"  # the shipped payments rule's 15-minute level


def table(stack: Any) -> Any:
    return boto3.resource("dynamodb", endpoint_url=stack.aws.endpoint_url, region_name="us-east-1").Table(TABLE_NAME)


def group_state(stack: Any, source: str, group_key: str) -> Any:
    return GroupStateStore(table(stack)).load(state_id_for(source, group_key))


# ---- the full reset -----------------------------------------------------------------------------------------


def test_reset_local_clears_state_queues_and_simulator_so_the_sample_opens_a_new_incident(
    local_settings_of: Any, alertmanager_firing: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    stack = local_settings_of
    firing = unique_notification(alertmanager_firing)
    assert post(stack, firing).status_code == 202
    wait_until(lambda: incidents_for(stack, firing), what="the first incident")
    wait_until(lambda: queue_depth(stack) == 0, what="the queue to drain")
    dedup_key = firing["alerts"][0]["fingerprint"]
    assert group_state(stack, "alertmanager", firing["groupKey"]).incident_open
    assert DecisionHistory(table(stack)).read("alertmanager", dedup_key)
    sqs = stack.aws.client("sqs")
    dead_letters_before = queue_depth(stack, "AlertDeadLetterQueue")  # earlier tests' dead letters may be there
    sqs.send_message(
        QueueUrl=stack.aws.refs["AlertDeadLetterQueue"],
        MessageBody="{}",
        MessageGroupId="g",
        MessageDeduplicationId="d",
    )
    assert queue_depth(stack, "AlertDeadLetterQueue") == dead_letters_before + 1

    # /_sim/reset keeps its meaning: the simulator only, so the group still has its incident and re-posting joins it
    assert httpx.post(f"{stack.simulator_url}/_sim/reset", timeout=10).status_code == 200
    assert group_state(stack, "alertmanager", firing["groupKey"]).incident_open

    capsys.readouterr()
    assert cli.main(["reset", "--local"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("local stack reset: ") and "simulator reset" in out
    fresh = group_state(stack, "alertmanager", firing["groupKey"])
    assert fresh.version == 0 and not fresh.incident_open  # nothing stored for the group any more
    assert DecisionHistory(table(stack)).read("alertmanager", dedup_key) == []
    assert queue_depth(stack, "AlertDeadLetterQueue") == 0 and queue_depth(stack) == 0
    assert sim(stack, "state")["incidents"] == []

    assert post(stack, firing).status_code == 202  # the same notification again: a new incident, not a join
    opened = wait_until(lambda: incidents_for(stack, firing), what="a new incident after the reset")
    assert len(opened) == 1 and opened[0]["status_category"] == "triage"


def test_the_reset_route_answers_what_it_cleared(local_stack: Any) -> None:
    answer = httpx.post(f"{local_stack.front_door_url}/_local/reset", timeout=60)
    assert answer.status_code == 200
    document = answer.json()
    assert document["reset"] is True and document["simulator_reset"] is True
    assert isinstance(document["items_deleted"], int) and isinstance(document["messages_purged"], int)


def test_reset_local_refuses_what_is_not_a_local_stack(
    local_settings_of: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LOCAL_FRONT_DOOR_PORT", str(local_settings_of.simulator.port))  # answers, but 404
    assert cli.main(["reset", "--local"]) == 1
    err = capsys.readouterr().err
    assert "is not an alert-courier local stack's front door" in err and "LOCAL_FRONT_DOOR_PORT" in err


# ---- a person acknowledges a page -----------------------------------------------------------------------------


def payments_page(stack: Any) -> tuple[dict[str, Any], str]:
    """A payments cron job's failure (the shipped `payments-jobs` rule): level 1 paged, level 2 due in 15 minutes."""
    trigger = load_event("generic/payments-trigger.json")
    trigger["dedup_key"] = f"payments/{uuid.uuid4().hex[:8]}"
    assert post(stack, trigger, path="/webhooks/generic").status_code == 202

    def first_page() -> Any:
        state = group_state(stack, "generic", trigger["dedup_key"])
        return state.escalation_ids and state.pending_escalations and state

    state = wait_until(first_page, what="the first page and the pending level 2")
    return trigger, state.escalation_ids[0]


def make_level_2_due(stack: Any, trigger: dict[str, Any]) -> None:
    """Time travel: the pending level comes due now instead of in 15 minutes (its timer moves with the save)."""
    store = GroupStateStore(table(stack))
    state = store.load(state_id_for("generic", trigger["dedup_key"]))
    past = datetime.now(UTC) - timedelta(seconds=5)
    due = [pending.model_copy(update={"due_at": past}) for pending in state.pending_escalations]
    store.save(state.model_copy(update={"pending_escalations": due}))


def pages_to_level_2(stack: Any) -> list[dict[str, Any]]:
    return [
        e for e in sim(stack, "state")["escalations"] if LEVEL_2_USER in json.dumps(e["arguments"].get("user_ids", []))
    ]


def run_scheduler(stack: Any) -> Any:
    function = stack.functions["SchedulerFunction"]
    return function.invoke(schedule_event(function.spec.schedule_events[0], function.spec.logical_id))


@pytest.mark.parametrize("acknowledged", [True, False], ids=["a person acked", "nobody acked"])
def test_level_2_is_paged_only_when_nobody_acknowledged_the_first_page(local_stack: Any, acknowledged: bool) -> None:
    trigger, escalation_id = payments_page(local_stack)
    before = len(pages_to_level_2(local_stack))
    if acknowledged:
        answer = httpx.post(f"{local_stack.simulator_url}/_sim/escalations/{escalation_id}/acknowledge", timeout=10)
        assert answer.status_code == 200 and answer.json()["escalation"]["status"] == "acked"
        assert answer.json()["escalation"]["events"][-1]["by"]["user"]["id"]  # a person, not the API key
    make_level_2_due(local_stack, trigger)
    run_scheduler(local_stack)
    state = wait_until(
        lambda: (s := group_state(local_stack, "generic", trigger["dedup_key"])).pending_escalations == [] and s,
        what="the scheduler to settle level 2",
    )
    paged = len(pages_to_level_2(local_stack)) - before
    if acknowledged:
        assert paged == 0 and len(state.escalation_ids) == 1
    else:
        assert paged == 1 and len(state.escalation_ids) == 2
    resolve = {"routing_key": "local-dev-token", "event_action": "resolve", "dedup_key": trigger["dedup_key"]}
    post(local_stack, resolve, path="/webhooks/generic")


def test_acknowledging_an_unknown_or_finished_page_is_refused(local_stack: Any) -> None:
    unknown = httpx.post(f"{local_stack.simulator_url}/_sim/escalations/01NOPE/acknowledge", timeout=10)
    assert unknown.status_code == 404 and unknown.json()["type"] == "not_found"
    trigger, escalation_id = payments_page(local_stack)
    url = f"{local_stack.simulator_url}/_sim/escalations/{escalation_id}/acknowledge"
    assert httpx.post(url, content=b"{not json", timeout=10).status_code == 400
    assert httpx.post(url, json={"user_id": "01NOBODY"}, timeout=10).status_code == 404
    first, again = httpx.post(url, timeout=10), httpx.post(url, timeout=10)
    assert first.status_code == again.status_code == 200
    assert [e["event"] for e in again.json()["escalation"]["events"]].count("acked") == 1  # acking twice: once
    record = local_stack.simulator.simulator.state.escalations[escalation_id]
    record.escalation["status"] = "resolved"
    assert httpx.post(url, timeout=10).status_code == 409
    resolve = {"routing_key": "local-dev-token", "event_action": "resolve", "dedup_key": trigger["dedup_key"]}
    post(local_stack, resolve, path="/webhooks/generic")


# ---- SNS and EventBridge events, as Lambda receives them ------------------------------------------------------


def unique_alarm() -> tuple[str, str]:
    name = f"checkout-api-5xx-high-{uuid.uuid4().hex[:8]}"
    return name, f"arn:aws:cloudwatch:eu-west-1:111122223333:alarm:{name}"


def alarm_incidents(stack: Any, name: str) -> list[dict[str, Any]]:
    return [i for i in sim(stack, "state")["incidents"] if i["name"] == name]


def test_an_sns_alarm_notification_opens_and_an_eventbridge_ok_event_closes_the_incident(local_stack: Any) -> None:
    name, arn = unique_alarm()
    message = load_event("cloudwatch/alarm-message.json") | {"AlarmName": name, "AlarmArn": arn}
    answer = httpx.post(
        f"{local_stack.front_door_url}/_local/sns/CloudWatchAlarmTopic?subject=ALARM",
        content=json.dumps(message),
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    [delivered] = answer.json()["delivered"]
    assert delivered["function"] == "IngestFunction" and delivered["event"] == "CloudWatchAlarmsViaSns"
    assert delivered["result"] == {"status": "accepted", "kind": "sns", "accepted": 1, "ignored": 0}
    [incident] = wait_until(lambda: alarm_incidents(local_stack, name), what="the alarm's incident")
    assert incident["severity"] == "Critical"  # read from the alarm description, as through real SNS

    ok = copy.deepcopy(load_event("cloudwatch/eventbridge-alarm-event-ok.json"))
    ok["resources"], ok["detail"]["alarmName"] = [arn], name
    answer = httpx.post(f"{local_stack.front_door_url}/_local/eventbridge", content=json.dumps(ok), timeout=30)
    assert answer.status_code == 200, answer.text
    [delivered] = answer.json()["delivered"]
    assert delivered["event"] == "CloudWatchAlarmStateChange" and delivered["result"]["kind"] == "eventbridge"
    wait_until(
        lambda: alarm_incidents(local_stack, name)[0]["status_category"] == "closed", what="the incident to close"
    )


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("/_local/sns/NoSuchTopic", b"{}", 404, "unknown_topic"),
        ("/_local/sns/CloudWatchAlarmTopic", b"", 400, "empty_message"),
        ("/_local/eventbridge", b"{not json", 400, "invalid_json"),
        ("/_local/eventbridge", b'{"detail": {}}', 422, "invalid_event"),
        (
            "/_local/eventbridge",
            b'{"source": "aws.ec2", "detail-type": "EC2 Instance State-change"}',
            422,
            "no_matching_rule",
        ),
        (
            "/_local/eventbridge",
            json.dumps(
                {
                    "source": "aws.cloudwatch",
                    "detail-type": "CloudWatch Alarm State Change",
                    "detail": {"state": {"value": "INSUFFICIENT_DATA"}},
                }
            ).encode(),
            422,
            "no_matching_rule",
        ),
    ],
)
def test_what_cannot_be_delivered_is_a_4xx_naming_why(
    local_stack: Any, path: str, body: bytes, status: int, code: str
) -> None:
    answer = httpx.post(f"{local_stack.front_door_url}{path}", content=body, timeout=30)
    assert answer.status_code == status and answer.json()["error"]["code"] == code, answer.text
    assert answer.json()["error"]["reason"]


# ---- console lines for decisions that call nothing ------------------------------------------------------------


def test_the_console_shows_suppressed_and_joined_decisions(
    local_stack: Any,
    alertmanager_firing: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(local_stack, "config", dataclasses.replace(local_stack.config, quiet=False))
    firing = unique_notification(alertmanager_firing)  # two alerts: the first opens the incident, the second joins
    staging = unique_notification(alertmanager_firing)
    for alert in staging["alerts"]:
        alert["labels"]["env"] = "staging"  # the shipped `not-production` rule suppresses it
    capsys.readouterr()
    assert post(local_stack, firing).status_code == 202 and post(local_stack, staging).status_code == 202
    joined = f"dispatch    alertmanager/{firing['alerts'][1]['fingerprint']} firing (rule critical) no call: incident "
    suppressed = (
        f"dispatch    alertmanager/{staging['alerts'][0]['fingerprint']} firing (rule not-production) no call: "
        "suppressed: recorded, nothing called"
    )
    printed: list[str] = []

    def lines_seen() -> bool:
        printed.extend(capsys.readouterr().out.splitlines())
        return any(line.startswith(joined) and "alert joins it" in line for line in printed) and suppressed in printed

    wait_until(lines_seen, what="the joined and the suppressed decision lines")
    opening = firing["alerts"][0]["fingerprint"]
    assert not any(f"alertmanager/{opening}" in line for line in printed)  # an acting decision shows as its calls


# ---- the README's curl examples of these routes -------------------------------------------------------------


def readme_local_route_commands() -> list[tuple[list[str], str]]:
    """(curl argv, the documented answer) of the sh block under README's "Local-only routes"."""
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = re.search(r"^### Local-only routes.*?\n(.*?)^##", text, re.S | re.M)
    assert section, "README has no '### Local-only routes' section"
    block = re.search(r"^```sh\n(.*?)^```", section.group(1), re.S | re.M)
    assert block, "the section has no sh block"
    commands: list[tuple[list[str], str]] = []
    for line in block.group(1).splitlines():
        if line.startswith("# "):
            argv, _ = commands[-1]
            commands[-1] = (argv, line[2:])
        elif line.strip():
            commands.append((shlex.split(line), ""))
    return commands


def test_the_readme_examples_of_the_event_routes_answer_as_documented(local_stack: Any) -> None:
    """As the README writes them (ports mapped to the session's), with one liberty: the alarm gets a name of its own,
    so that earlier tests' use of the sample alarm cannot make this one stale."""
    name, arn = unique_alarm()
    documented = [(argv, answer) for argv, answer in readme_local_route_commands() if answer]
    assert [argv[4] for argv, _ in documented] == [
        "localhost:3000/_local/sns/CloudWatchAlarmTopic",
        "localhost:3000/_local/eventbridge",
    ]
    for argv, answer in documented:
        assert argv[:4] == ["curl", "-s", "-X", "POST"] and argv[5] == "--data", argv
        url, data = argv[4], argv[6]
        assert url.startswith("localhost:3000/_local/") and data.startswith("@events/"), argv
        body = json.loads((REPO_ROOT / data[1:]).read_text(encoding="utf-8"))
        if "AlarmArn" in body:
            body |= {"AlarmName": name, "AlarmArn": arn}
        else:
            body["resources"], body["detail"]["alarmName"] = [arn], name
        got = httpx.post(local_stack.front_door_url + url.removeprefix("localhost:3000"), json=body, timeout=30)
        assert got.status_code == 200 and got.json() == json.loads(answer), (argv, got.text)
    wait_until(
        lambda: [i["status_category"] for i in alarm_incidents(local_stack, name)] == ["closed"],
        what="the README's alarm to open, then close",
    )


def test_a_function_that_raises_is_a_503_with_retry_after(local_stack: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """AWS retries an SNS or EventBridge invocation that raised (an SQS outage at ingest): the route says so."""

    def queue_unavailable(event: dict[str, Any]) -> Any:
        raise ConnectionError("the queue is unavailable")

    monkeypatch.setattr(local_stack.functions["IngestFunction"], "invoke_one_at_a_time", queue_unavailable)
    answer = httpx.post(
        f"{local_stack.front_door_url}/_local/eventbridge",
        content=(REPO_ROOT / "events/cloudwatch/eventbridge-alarm-event-ok.json").read_bytes(),
        timeout=30,
    )
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "1"
    assert answer.json()["error"] == {"code": "function_failed", "reason": "IngestFunction: ConnectionError"}


def reconcile_once(stack: Any) -> Any:
    """One reconcile pass of the scheduler function as wired (`wiring.reconciler_on`, the session stack has the
    background pass off)."""
    from alert_courier.use_cases.telemetry import RecordedTelemetry
    from alert_courier.wiring import reconciler_on

    module = sys.modules["alert_courier_function_SchedulerFunction"]  # the scheduler's app.py, as loaded
    return reconciler_on(module.edge, module.settings, RecordedTelemetry()).run()


def test_a_person_closing_the_incident_stops_level_2_and_later_updates(local_stack: Any) -> None:
    trigger, _ = payments_page(local_stack)
    state = group_state(local_stack, "generic", trigger["dedup_key"])
    before = len(pages_to_level_2(local_stack))
    url = f"{local_stack.simulator_url}/_sim/incidents/{state.incident_reference}/close"
    assert httpx.post(f"{local_stack.simulator_url}/_sim/incidents/INC-999999/close", timeout=10).status_code == 404
    answer = httpx.post(url, timeout=10)
    assert answer.status_code == 200 and answer.json()["incident"]["incident_status"]["category"] == "closed"
    changes = reconcile_once(local_stack).changes
    assert [change.change for change in changes if change.group_id == state.group_id] == ["closed_by_human"]
    make_level_2_due(local_stack, trigger)
    record = local_stack.simulator.simulator.state.find_incident(state.incident_id)
    updates = len(record.updates)  # (the session's other tests may be calling incident.io meanwhile)
    run_scheduler(local_stack)
    resolve = {"routing_key": "local-dev-token", "event_action": "resolve", "dedup_key": trigger["dedup_key"]}
    post(local_stack, resolve, path="/webhooks/generic")
    wait_until(lambda: not group_state(local_stack, "generic", trigger["dedup_key"]).firing, what="the resolve")
    assert len(pages_to_level_2(local_stack)) == before
    assert len(record.updates) == updates  # no update of the closed incident, and no page (above)
    assert group_state(local_stack, "generic", trigger["dedup_key"]).closed_by_human_at is not None
