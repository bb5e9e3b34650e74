"""Every rule action against the simulator through the whole stack, and the explain/check-config/doctor CLI."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from alert_courier.operator_tools import cli
from tests.conftest import EVENTS, wait_until
from tests.integration.test_pipeline import post, queue_depth, sim


def generic(action: str, dedup_key: str, **payload: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"routing_key": "local-dev-token", "event_action": action, "dedup_key": dedup_key}
    if payload:
        event["payload"] = {"source": "batch-1", **payload}
    return event


def mine(items: list[dict[str, Any]], marker: str) -> list[dict[str, Any]]:
    return [item for item in items if marker in json.dumps(item)]


def test_alert_event_incident_page_acknowledge_and_resolve(local_stack: Any) -> None:
    key = f"payments/settlement-{uuid.uuid4().hex[:8]}"
    headers = {"Content-Type": "application/json"}
    answer = post(
        local_stack,
        generic("trigger", key, summary=f"Settlement failed {key}", severity="critical", group="payments"),
        path="/webhooks/generic",
        headers=headers,
    )
    assert answer.status_code == 202 and answer.json()["dedup_key"] == key

    def paged() -> Any:
        state = sim(local_stack, "state")
        return mine(state["escalations"], key) and state

    state = wait_until(paged, what="the page")
    wait_until(lambda: queue_depth(local_stack) == 0, what="the queue to drain")
    state = sim(local_stack, "state")
    [alert_event] = mine(state["alerts"], key)
    [incident] = mine(state["incidents"], key)
    [escalation] = mine(state["escalations"], key)
    assert alert_event["status"] == "firing"
    assert incident["name"] == f"[payments] Settlement failed {key}"
    assert escalation["status"] == "triggered"  # executed, not left as a draft
    assert escalation["arguments"].get("incident_id") == incident["id"] or incident["id"] in json.dumps(escalation)

    post(local_stack, generic("acknowledge", key), path="/webhooks/generic", headers=headers)
    wait_until(
        lambda: mine(sim(local_stack, "state")["escalations"], key)[0]["status"] == "acked",
        what="the page to be acknowledged",
    )

    post(local_stack, generic("resolve", key), path="/webhooks/generic", headers=headers)
    wait_until(
        lambda: mine(sim(local_stack, "state")["incidents"], key)[0]["status_category"] == "closed",
        what="the incident to close (the follow-up uses the episode's rule although it has no payload)",
    )
    wait_until(
        lambda: mine(sim(local_stack, "state")["alerts"], key)[0]["status"] == "resolved",
        what="the alert event to resolve",
    )
    wait_until(lambda: queue_depth(local_stack) == 0, what="the queue to drain")
    state = sim(local_stack, "state")
    assert len(mine(state["incidents"], key)) == 1 and len(mine(state["escalations"], key)) == 1


def test_suppressed_alerts_call_nothing(local_stack: Any, alertmanager_firing: dict[str, Any]) -> None:
    from tests.integration.test_pipeline import unique_notification

    watchdog = unique_notification(alertmanager_firing)
    for alert in watchdog["alerts"]:
        alert["labels"]["alertname"] = "Watchdog"
    before = sim(local_stack, "stats")["tool_calls"]
    assert post(local_stack, watchdog).status_code == 202
    wait_until(lambda: queue_depth(local_stack) == 0, what="the queue to drain")
    assert sim(local_stack, "stats")["tool_calls"] == before


@pytest.mark.parametrize(
    ("source", "sample"),
    [
        ("alertmanager", "alertmanager/firing.json"),
        ("alertmanager", "ingest/alertmanager-firing.json"),
        ("grafana", "grafana/firing.json"),
        ("datadog", "datadog/firing.json"),
        ("datadog", "datadog/default-template-triggered.json"),
        ("generic", "generic/trigger.json"),
    ],
)
def test_explain_prints_rules_and_exact_calls_for_every_source(
    source: str, sample: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["explain", "--source", source, str(EVENTS / sample), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report and all(entry["matched_rules"] and entry["why"] for entry in report)
    assert all(entry["alert"]["source"] == source for entry in report)


def test_follow_ups_without_a_payload_follow_the_rule_that_opened_the_episode() -> None:
    """A PagerDuty-style resolve has no payload, so it matches different rules than its trigger did."""
    from alert_courier.domain.rules import load_rules
    from alert_courier.operator_tools.explain import alerts_from_document, explain

    events = [
        generic("trigger", "payments/job", summary="Job failed", severity="critical", group="payments"),
        generic("acknowledge", "payments/job"),
        generic("resolve", "payments/job"),
    ]
    alerts = [alert for event in events for alert in alerts_from_document("generic", event)]
    trigger, ack, resolve = explain(alerts, load_rules())
    assert trigger["matched_rules"] == ["payments-jobs"]
    assert ack["matched_rules"] == ["payments-jobs", "acknowledgements"]
    assert [call["tool"] for call in ack["calls"]] == ["escalation_respond"]
    assert resolve["matched_rules"] == ["payments-jobs"]
    update = next(call for call in resolve["calls"] if call.get("tool") == "incident_update")
    assert "incident_status_id" in update["arguments"]  # the episode's rule resolves; the catch-all only updates


def test_check_config_against_the_simulator(
    local_stack: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INCIDENT_IO_API_KEY", "local-dev-api-key")
    mcp_url = f"{local_stack.simulator_url}/mcp"
    assert cli.main(["check-config", "--mcp-url", mcp_url]) == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out and "incident_create fits the advertised schema" in out
    assert "escalation_create fits the advertised schema" in out

    wrong = tmp_path / "rules.yaml"
    wrong.write_text("rules:\n  - name: x\n    actions:\n      - open_incident: {severity: Catastrophic}\n")
    assert cli.main(["check-config", str(wrong), "--mcp-url", mcp_url]) == 1
    assert "no severity named 'Catastrophic'" in capsys.readouterr().out

    broken = tmp_path / "broken.yaml"
    broken.write_text("rules:\n  - name: x\n    actions:\n      - open_incidnet\n")
    assert cli.main(["check-config", str(broken)]) == 1
    assert f"{broken}:4:" in capsys.readouterr().err


def test_doctor_checks_the_local_deployment(
    local_stack: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCAL_AWS_ENDPOINT", local_stack.aws.endpoint_url)
    mcp_url = f"{local_stack.simulator_url}/mcp"
    assert cli.main(["doctor", "--local", "--mcp-url", mcp_url]) == 0
    out = capsys.readouterr().out
    assert "secret alert-courier/incident-io-api-key is readable" in out and "FAIL" not in out
    assert "local-dev-api-key" not in out

    httpx.post(
        f"{local_stack.simulator_url}/_sim/faults", json={"rotate_key": {"new_key": "rotated-key"}}, timeout=10
    ).raise_for_status()
    try:
        assert cli.main(["doctor", "--local", "--mcp-url", mcp_url]) == 1
        assert "FAIL  MCP server unreachable or refused the key" in capsys.readouterr().out
    finally:
        httpx.post(f"{local_stack.simulator_url}/_sim/reset", timeout=10)
