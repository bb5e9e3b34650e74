"""Maintenance windows through the whole local stack, over HTTP as a deploy tool's curl would use them: the API's
answers (and refusals), a window silencing a matching alert and not another, and its end acting once."""

from __future__ import annotations

import copy
import json
import time
import uuid
from typing import Any

import boto3
import httpx
import pytest

from alert_courier.aws.dynamodb_stores import DecisionHistory
from tests.conftest import wait_until
from tests.integration.test_pipeline import (
    HEADERS,
    incidents_for,
    post,
    queue_depth,
    resolved_version,
    unique_notification,
)

pytestmark = pytest.mark.slow


def api(stack: Any, method: str, path: str = "/maintenance", **kwargs: Any) -> httpx.Response:
    headers = kwargs.pop("headers", HEADERS)
    return httpx.request(method, stack.front_door_url + path, headers=headers, timeout=30, **kwargs)


def labelled(notification: dict[str, Any], **labels: str) -> dict[str, Any]:
    changed = copy.deepcopy(notification)
    for alert in changed["alerts"]:
        alert["labels"].update(labels)
    return changed


def history_of(stack: Any, notification: dict[str, Any]) -> list[dict[str, Any]]:
    """The decisions recorded for the notification's first alert (its dedup key is Alertmanager's fingerprint)."""
    from alert_courier_local.aws import DEV_REGION

    dynamodb = boto3.resource("dynamodb", endpoint_url=stack.aws.endpoint_url, region_name=DEV_REGION)
    table = dynamodb.Table(stack.aws.refs["StateTable"])
    return DecisionHistory(table).read("alertmanager", notification["alerts"][0]["fingerprint"])


def test_the_api_refuses_what_it_cannot_use_with_a_reason(local_stack: Any) -> None:
    body = {"match": {"labels": {"team": "x"}}, "duration": "30m", "reason": "deploy", "created_by": "ci"}
    assert api(local_stack, "POST", json=body, headers={}).json()["error"]["code"] == "unauthorized"
    wrong = {"Authorization": "Bearer nope"}
    assert api(local_stack, "GET", headers=wrong).status_code == 401
    assert api(local_stack, "DELETE", "/maintenance/mw-0123456789abcdef", headers=wrong).status_code == 401
    text = api(local_stack, "POST", content=b"x", headers={**HEADERS, "Content-Type": "text/plain"})
    assert (text.status_code, text.json()["error"]["code"]) == (415, "unsupported_media_type")
    broken = api(local_stack, "POST", content=b"{not json")
    assert (broken.status_code, broken.json()["error"]["code"]) == (400, "invalid_json")
    for change, field, words in [
        ({"reason": None}, "reason", "Field required"),
        ({"duration": None}, "(body)", "exactly one of ends_at or duration"),
        ({"match": {"lables": {}}}, "match.lables", "Extra inputs"),
        ({"match": {"labels": {"a": {"regex": "("}}}}, "match.labels.a.regex", "invalid regular expression"),
        ({"on_end": "later"}, "on_end", "'reevaluate' or 'drop'"),
        ({"duration": None, "ends_at": "2020-01-01T00:00:00Z"}, "ends_at", "already be over"),
        ({"duration": None, "ends_at": "2030-01-01T00:00:00"}, "ends_at", "time zone"),
    ]:
        answer = api(local_stack, "POST", json={key: value for key, value in {**body, **change}.items() if value})
        error = answer.json()["error"]
        assert (answer.status_code, error["code"], error["field"]) == (422, "invalid_payload", field), change
        assert words in error["reason"], (change, error)
    surrogate = api(local_stack, "POST", content=json.dumps(body).replace('"deploy"', '"de\\ud800ploy"').encode())
    assert (surrogate.status_code, surrogate.json()["error"]["code"]) == (422, "invalid_text")
    unknown = api(local_stack, "DELETE", "/maintenance/mw-0123456789abcdef")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "unknown_window")
    assert api(local_stack, "DELETE", "/maintenance/../../etc").status_code == 404


def test_a_window_silences_a_matching_alert_not_another_and_its_end_acts_once(
    local_stack: Any, alertmanager_firing: dict[str, Any], alertmanager_resolved: dict[str, Any]
) -> None:
    deploy = uuid.uuid4().hex[:8]
    opened = api(
        local_stack,
        "POST",
        json={
            "match": {"labels": {"deploy": deploy}},
            "duration": "1h",
            "reason": f"deploy {deploy}",
            "created_by": "ci-pipeline",
        },
    )
    assert opened.status_code == 201, opened.text
    window = opened.json()["window"]
    assert window["status"] == "open" and window["on_end"] == "reevaluate" and window["resolves"] == "close"
    time.sleep(2.2)  # the local dispatch re-reads the windows every 2 s (MAINTENANCE_CACHE_SECONDS)

    covered = labelled(unique_notification(alertmanager_firing), deploy=deploy)
    other = unique_notification(alertmanager_firing)
    assert post(local_stack, covered).status_code == 202
    assert post(local_stack, other).status_code == 202
    wait_until(lambda: incidents_for(local_stack, other), what="the other alert's incident")
    wait_until(lambda: queue_depth(local_stack) == 0, what="the queue to drain")
    assert incidents_for(local_stack, covered) == []
    held = history_of(local_stack, covered)[-1]
    assert held["actions"] == [] and f"held by maintenance window {window['id']}" in held["reasons"][0]
    listed = {w["id"]: w for w in api(local_stack, "GET").json()["windows"]}
    assert listed[window["id"]]["held"] == 2 and listed[window["id"]]["status"] == "open"

    ended = api(local_stack, "DELETE", f"/maintenance/{window['id']}?by=ci-pipeline%07")  # control chars dropped
    assert ended.status_code == 200 and ended.json()["window"]["status"] == "ended"
    assert ended.json()["window"]["expired_by"] == "ci-pipeline"
    assert api(local_stack, "DELETE", f"/maintenance/{window['id']}").status_code == 200  # idempotent
    scheduler = local_stack.tickers[0]
    scheduler.tick()  # the schedule's own ticks may run at the same time: still one incident
    scheduler.tick()
    (incident,) = wait_until(lambda: incidents_for(local_stack, covered), what="the incident at the window's end")
    assert incident["status_category"] == "triage"
    assert any("ended (on_end: reevaluate)" in r for e in history_of(local_stack, covered) for r in e["reasons"])

    assert post(local_stack, resolved_version(covered, alertmanager_resolved)).status_code == 202
    wait_until(
        lambda: [i for i in incidents_for(local_stack, covered) if i["status_category"] == "closed"],
        what="the incident to close after the window",
    )
    scheduler.tick()
    assert len(incidents_for(local_stack, covered)) == 1


def test_the_silence_command_adds_lists_and_expires_windows(
    local_settings_of: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from alert_courier.operator_tools import cli

    tag = uuid.uuid4().hex[:8]
    added = ["silence", "add", "--local", "--label", f"deploy={tag}", "--duration", "45m", "--reason", "db failover"]
    assert cli.main([*added, "--created-by", "ops-oncall", "--on-end", "drop", "--json"]) == 0
    window = json.loads(capsys.readouterr().out)
    assert window["match"] == {"labels": {"deploy": {"equals": tag}}} and window["on_end"] == "drop"
    assert window["status"] == "open" and window["created_by"] == "ops-oncall"
    assert cli.main(["silence", "list", "--local", "--json"]) == 0
    listed = {w["id"]: w for w in json.loads(capsys.readouterr().out)}
    assert listed[window["id"]]["held"] == 0 and listed[window["id"]]["reason"] == "db failover"
    assert cli.main(["silence", "list", "--local"]) == 0
    assert f"{window['id']}  open" in capsys.readouterr().out
    # the API lists what the command wrote: one store
    assert window["id"] in {w["id"] for w in api(local_settings_of, "GET").json()["windows"]}
    # `status` shows the windows open or scheduled, with what each holds
    assert cli.main(["status", "--local", "--json"]) == 0
    shown = {w["id"]: w for w in json.loads(capsys.readouterr().out)["maintenance_windows"]}
    assert shown[window["id"]]["held"] == 0 and shown[window["id"]]["status"] == "open"
    assert cli.main(["status", "--local"]) == 0
    assert f"window      {window['id']}  open" in capsys.readouterr().out

    assert cli.main(["silence", "expire", window["id"], "--local", "--by", "ops-oncall", "--json"]) == 0
    ended = json.loads(capsys.readouterr().out)
    assert ended["status"] == "ended" and ended["expired_by"] == "ops-oncall"
    assert cli.main(["status", "--local", "--json"]) == 0
    assert window["id"] not in {w["id"] for w in json.loads(capsys.readouterr().out)["maintenance_windows"]}

    for argv, message in [
        (["silence", "add", "--local", "--duration", "1h", "--reason", "r"], "say what the window matches"),
        ([*added[:-4], "--duration", "soon", "--reason", "r"], "duration: "),
        ([*added[:-4], "--ends-at", "2020-01-01T00:00:00Z", "--reason", "r"], "ends_at: the window would already"),
        (["silence", "expire", "mw-0123456789abcdef", "--local"], "no maintenance window 'mw-0123456789abcdef'"),
    ]:
        assert cli.main(argv) == 1, argv
        assert message in capsys.readouterr().err, argv
