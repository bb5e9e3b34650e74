"""The walking skeleton end to end in-process: front door → ingest → SQS (moto) → dispatch → simulator (HTTP)."""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import load_event, wait_until

HEADERS = {"Authorization": "Bearer local-dev-token", "Content-Type": "application/json"}


def unique_notification(template: dict[str, Any]) -> dict[str, Any]:
    """A copy of a sample with its own group and fingerprints, so tests sharing the stack don't interfere."""
    tag = uuid.uuid4().hex[:8]
    notification = copy.deepcopy(template)
    notification["groupKey"] = f"{template['groupKey']}-{tag}"
    for alert in notification["alerts"]:
        alert["fingerprint"] = f"{alert['fingerprint']}-{tag}"
    return notification


def resolved_version(firing: dict[str, Any], resolved_template: dict[str, Any]) -> dict[str, Any]:
    resolved = copy.deepcopy(resolved_template)
    resolved["groupKey"] = firing["groupKey"]
    for alert, original in zip(resolved["alerts"], firing["alerts"], strict=True):
        alert["fingerprint"] = original["fingerprint"]
    return resolved


def post(
    stack: Any, body: Any, *, path: str = "/webhooks/alertmanager", headers: dict[str, str] | None = None
) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(stack.front_door_url + path, content=content, headers=headers or HEADERS, timeout=30)


def sim(stack: Any, what: str) -> Any:
    return httpx.get(f"{stack.simulator_url}/_sim/{what}", timeout=10).json()


def queue_depth(stack: Any, queue: str = "AlertQueue") -> int:
    attributes = stack.aws.client("sqs").get_queue_attributes(
        QueueUrl=stack.aws.refs[queue],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def group_key_marker(group_key: str) -> str:
    """Every incident alert-courier opens carries its idempotency key in the summary: find ours by it."""
    from alert_courier.domain.actions import OpenIncident
    from alert_courier.domain.group_state import state_id_for

    action = OpenIncident(
        group_id=state_id_for("alertmanager", group_key),
        generation=1,
        name="",
        summary="",
        severity="warning",
        reason="",
    )  # type: ignore[arg-type]
    return action.idempotency_key


def incidents_for(stack: Any, notification: dict[str, Any]) -> list[dict[str, Any]]:
    marker = group_key_marker(notification["groupKey"])
    return [i for i in sim(stack, "state")["incidents"] if marker in json.dumps(i["arguments"])]


def test_same_notification_three_times_opens_one_incident_and_resolved_closes_it(
    local_stack: Any, alertmanager_firing: dict[str, Any], alertmanager_resolved: dict[str, Any]
) -> None:
    firing = unique_notification(alertmanager_firing)
    for _ in range(3):
        answer = post(local_stack, firing)
        assert answer.status_code == 202 and answer.json()["accepted"] == 2
    wait_until(lambda: incidents_for(local_stack, firing), what="the incident")
    wait_until(lambda: queue_depth(local_stack) == 0, what="the queue to drain")
    incidents = incidents_for(local_stack, firing)
    assert len(incidents) == 1
    assert incidents[0]["status_category"] == "triage"
    assert incidents[0]["severity"] == "Critical"

    assert post(local_stack, resolved_version(firing, alertmanager_resolved)).status_code == 202
    closed = wait_until(
        lambda: [i for i in incidents_for(local_stack, firing) if i["status_category"] == "closed"],
        what="the incident to close",
    )
    assert len(closed) == 1 and len(incidents_for(local_stack, firing)) == 1


def test_partial_resolve_keeps_the_incident_open(
    local_stack: Any, alertmanager_firing: dict[str, Any], alertmanager_resolved: dict[str, Any]
) -> None:
    firing = unique_notification(alertmanager_firing)
    post(local_stack, firing)
    wait_until(lambda: incidents_for(local_stack, firing), what="the incident")
    half = resolved_version(firing, alertmanager_resolved)
    half["alerts"] = half["alerts"][:1]
    post(local_stack, half)
    wait_until(lambda: queue_depth(local_stack) == 0, what="the queue to drain")
    assert incidents_for(local_stack, firing)[0]["status_category"] == "triage"


@pytest.mark.parametrize(
    ("body", "headers", "path", "status", "code"),
    [
        (b"{not json", None, "/webhooks/alertmanager", 400, "invalid_json"),
        (
            {"version": "4", "groupKey": "g", "status": "firing", "alerts": [{"status": "boom"}]},
            None,
            "/webhooks/alertmanager",
            422,
            "invalid_payload",
        ),
        (
            {},
            {"Authorization": "Bearer nope", "Content-Type": "application/json"},
            "/webhooks/alertmanager",
            401,
            "unauthorized",
        ),
        (
            {},
            {"Authorization": "Bearer local-dev-token", "Content-Type": "text/plain"},
            "/webhooks/alertmanager",
            415,
            "unsupported_media_type",
        ),
        ({}, None, "/webhooks/nagios", 404, "unknown_source"),
    ],
)
def test_bad_requests_get_a_json_4xx_and_nothing_is_enqueued(
    local_stack: Any, body: Any, headers: dict[str, str] | None, path: str, status: int, code: str
) -> None:
    wait_until(lambda: queue_depth(local_stack) == 0, what="an idle queue")
    calls_before = sim(local_stack, "stats")["tool_calls"]
    answer = post(local_stack, body, path=path, headers=headers)
    assert answer.status_code == status
    assert answer.json()["error"]["code"] == code
    assert queue_depth(local_stack) == 0
    assert sim(local_stack, "stats")["tool_calls"] == calls_before


def test_one_http_request_per_tool_call_on_a_warm_container(
    local_stack: Any, alertmanager_firing: dict[str, Any]
) -> None:
    warmup = unique_notification(alertmanager_firing)
    post(local_stack, warmup)
    wait_until(lambda: incidents_for(local_stack, warmup), what="warm-up incident")
    wait_until(lambda: queue_depth(local_stack) == 0, what="the queue to drain")
    before = sim(local_stack, "stats")
    notifications = [unique_notification(alertmanager_firing) for _ in range(3)]
    for notification in notifications:
        post(local_stack, notification)
    for notification in notifications:
        wait_until(lambda n=notification: incidents_for(local_stack, n), what="each incident")
    wait_until(lambda: queue_depth(local_stack) == 0, what="the queue to drain")
    after = sim(local_stack, "stats")
    calls = sum(after["tool_calls"].values()) - sum(before["tool_calls"].values())
    assert calls == 3
    assert after["http_requests"] - before["http_requests"] == calls


def test_a_permanently_rejected_call_lands_in_the_dlq_with_its_reason_and_replays_once(
    local_stack: Any, alertmanager_firing: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    from alert_courier.operator_tools import cli

    fault = {
        "tool_errors": {
            "incident_create": {
                "status": 422,
                "code": "invalid_value",
                "field": "severity_id",
                "message": "That severity is archived",
            }
        }
    }
    httpx.post(f"{local_stack.simulator_url}/_sim/faults", json=fault, timeout=10).raise_for_status()
    try:
        firing = unique_notification(alertmanager_firing)
        firing["alerts"] = firing["alerts"][:1]
        fingerprint = firing["alerts"][0]["fingerprint"]
        post(local_stack, firing)
        sqs = local_stack.aws.client("sqs")
        dlq = local_stack.aws.refs["AlertDeadLetterQueue"]

        def dead_letter() -> Any:
            messages = sqs.receive_message(
                QueueUrl=dlq, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=0
            ).get("Messages", [])
            return [m for m in messages if fingerprint in m["Body"]]

        found = wait_until(dead_letter, what="the dead letter")
        reason = found[0]["MessageAttributes"]["failure_reason"]["StringValue"]
        assert "422" in reason and "severity_id" in reason and "archived" in reason
        assert incidents_for(local_stack, firing) == []
    finally:
        httpx.post(f"{local_stack.simulator_url}/_sim/faults", json={"tool_errors": {}}, timeout=10)

    capsys.readouterr()
    assert cli.main(["dlq", "list", "--json"]) == 0
    listed = [m for m in json.loads(capsys.readouterr().out) if m["dedup_key"] == fingerprint]
    assert len(listed) == 1 and "archived" in listed[0]["reason"]

    message_id = listed[0]["message_id"]
    assert cli.main(["dlq", "replay", message_id]) == 0
    assert cli.main(["dlq", "replay", message_id]) == 1  # already gone: nothing is replayed twice
    wait_until(lambda: incidents_for(local_stack, firing), what="the replayed alert's incident")
    wait_until(lambda: queue_depth(local_stack) == 0, what="the queue to drain")
    assert len(incidents_for(local_stack, firing)) == 1

    capsys.readouterr()
    assert cli.main(["history", fingerprint, "--source", "alertmanager", "--json"]) == 0
    history = json.loads(capsys.readouterr().out)
    assert [bool(entry["error"]) for entry in history] == [True, False]
    assert history[1]["results"][0]["incident_reference"].startswith("INC-")
    assert history[0]["recorded_at"] <= history[1]["recorded_at"]  # when each decision was taken (issue 16)
    capsys.readouterr()
    assert cli.main(["history", fingerprint, "--source", "alertmanager", "--since", "1h", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 2
    assert cli.main(["history", fingerprint, "--source", "alertmanager", "--since", "2999-01-01T00:00"]) == 1


def test_sample_events_run_through_the_handlers(local_stack: Any) -> None:
    """The events/ files are what `sam local invoke -e` would get; they must work as they are."""
    dispatch = local_stack.functions["DispatchFunction"]
    assert dispatch.invoke(load_event("dispatch/alertmanager-firing-batch.json")) == {"batchItemFailures": []}
    ingest = local_stack.functions["IngestFunction"]
    answer = ingest.invoke(load_event("ingest/alertmanager-firing.json"))
    assert answer["statusCode"] == 202 and json.loads(answer["body"])["accepted"] == 2
    wait_until(lambda: queue_depth(local_stack) == 0, what="the queue to drain")
    sample = load_event("alertmanager/firing.json")
    assert len(incidents_for(local_stack, sample)) == 1  # the redelivered sample joined the same incident


# Locally a single big group is slow: moto's FIFO de-duplication scans the queue on every send (2,000 alerts
# take two minutes to enqueue) and, with two pollers, one group's backlog drains at ~10 messages per 8 s (with
# one poller, 100 per 2 s; not understood yet). The packing of thousands is proven in test_alert_queue.
STORM_ALERTS = 100


@pytest.mark.slow
def test_a_storm_notification_is_accepted_whole_and_every_alert_reaches_dispatch_once(
    local_stack: Any, alertmanager_firing: dict[str, Any]
) -> None:
    import boto3

    from alert_courier.aws.dynamodb_stores import GroupStateStore
    from alert_courier.domain.group_state import state_id_for

    storm = unique_notification(alertmanager_firing)
    template = storm["alerts"][0]
    storm["alerts"] = [
        {
            **template,
            "fingerprint": f"{template['fingerprint']}-{n}",
            "labels": {**template["labels"], "instance": f"db-{n}:9100"},
        }
        for n in range(STORM_ALERTS)
    ]
    answer = httpx.post(local_stack.front_door_url + "/webhooks/alertmanager", json=storm, headers=HEADERS, timeout=120)
    assert answer.status_code == 202 and answer.json()["accepted"] == STORM_ALERTS
    wait_until(lambda: queue_depth(local_stack) == 0, timeout=400, interval=1, what="the storm to drain")
    assert len(incidents_for(local_stack, storm)) == 1
    table = boto3.resource("dynamodb", endpoint_url=local_stack.aws.endpoint_url, region_name="us-east-1").Table(
        local_stack.aws.refs["StateTable"]
    )
    state = GroupStateStore(table).load(state_id_for("alertmanager", storm["groupKey"]))
    assert sorted(state.firing) == sorted(alert["fingerprint"] for alert in storm["alerts"])  # every alert, once
