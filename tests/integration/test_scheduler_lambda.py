"""The Lambda edges of heartbeats and escalations: the scheduler and ingest handlers imported as Lambda would (env,
module-level clients), the template entry of the scheduler, and the local stack's schedule ticker.

The handlers run against this test's own table and secrets in moto and a simulator over HTTP (see
test_scheduler.py's `world`); only the clock is moved by the test.
"""

from __future__ import annotations

import importlib.util
import json
import threading
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
import yaml

from alert_courier.settings import SchedulerSettings, ingest_settings, scheduler_settings
from alert_courier_local.lambda_runtime import FakeLambdaContext, LocalFunction
from alert_courier_local.stack import ScheduleTicker, StackConfig, schedule_event
from alert_courier_local.template_model import _CfnLoader, functions, load_template
from tests.conftest import REPO_ROOT, load_event, wait_until
from tests.integration import test_scheduler
from tests.integration.test_scheduler import RULES, World, incidents

sim, world = test_scheduler.sim, test_scheduler.world  # the same fixtures: own table, secrets and simulator

HEARTBEAT_TOKEN = "heartbeat-token-for-tests"

INPUT = json.dumps(load_event("scheduler/eventbridge-scheduler.json"))
# The template entry proposed for template.yaml (see the report); used until template.yaml has its own.
SCHEDULER_PARAMETER = """
SchedulerRate:
  Type: String
  Default: 1 minute
  AllowedPattern: "^([1-9][0-9]* (minute|minutes|hour|hours))$"
"""
SCHEDULER_FUNCTION = f"""
SchedulerFunction:
  Type: AWS::Serverless::Function
  Properties:
    CodeUri: functions/scheduler/
    Handler: app.lambda_handler
    MemorySize: 512
    Timeout: 60
    Environment:
      Variables:
        INCIDENT_IO_API_KEY_SECRET: !Ref IncidentIoApiKeySecretName
        MCP_SERVER_URL: !Ref McpServerUrl
        ALERT_SOURCE_SECRET_PREFIX: !Ref AlertSourceSecretPrefix
    Events:
      Checks:
        Type: ScheduleV2
        Properties:
          ScheduleExpression: !Sub rate(${{SchedulerRate}})
          FlexibleTimeWindow:
            Mode: "OFF"
          Input: '{INPUT}'
"""


def template_with_scheduler() -> dict[str, Any]:
    template = load_template()
    if "SchedulerFunction" not in template["Resources"]:
        template["Parameters"].update(yaml.load(SCHEDULER_PARAMETER, Loader=_CfnLoader))
        template["Resources"].update(yaml.load(SCHEDULER_FUNCTION, Loader=_CfnLoader))
    return template


def load_app(function: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """Imports functions/<function>/app.py afresh with `env`, as a cold start would (settings are read once)."""
    base = {
        "POWERTOOLS_SERVICE_NAME": "alert-courier",
        "POWERTOOLS_METRICS_NAMESPACE": "AlertCourier",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    for name, value in {**base, **env}.items():
        monkeypatch.setenv(name, value)
    scheduler_settings.cache_clear()
    ingest_settings.cache_clear()
    try:
        path = REPO_ROOT / "functions" / function / "app.py"
        spec = importlib.util.spec_from_file_location(f"test_{function}_app_{uuid.uuid4().hex[:8]}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        scheduler_settings.cache_clear()
        ingest_settings.cache_clear()


def ping_event(name: str, *, token: str | None = HEARTBEAT_TOKEN, instance: str | None = None) -> dict[str, Any]:
    headers = {"content-type": "application/json", "host": "local"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "POST /heartbeats/{name}",
        "rawPath": f"/heartbeats/{name}",
        "rawQueryString": f"instance={instance}" if instance else "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "local",
            "http": {"method": "POST", "path": f"/heartbeats/{name}", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "requestId": uuid.uuid4().hex[:20],
            "routeKey": "POST /heartbeats/{name}",
            "stage": "$default",
            "timeEpoch": int(time.time() * 1000),
        },
        "pathParameters": {"name": name},
        "isBase64Encoded": False,
        "body": "",
    }
    if instance:
        event["queryStringParameters"] = {"instance": instance}
    return event


@pytest.fixture
def lambdas(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[ModuleType, ModuleType]:
    """(ingest, scheduler) modules wired to this test's table, secrets, rules and simulator."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    secrets = boto3.client("secretsmanager")
    secrets.create_secret(
        Name=f"{world.prefix}webhooks/heartbeat", SecretString=json.dumps({"current": HEARTBEAT_TOKEN})
    )
    table = {"STATE_TABLE_NAME": world.table.name}
    ingest = load_app(
        "ingest",
        {
            **table,
            "ALERT_QUEUE_URL": "http://unused.invalid/queue",
            "WEBHOOK_SECRET_PREFIX": f"{world.prefix}webhooks/",
            "RULES_FILE": str(rules),
        },
        monkeypatch,
    )
    scheduler = load_app(
        "scheduler",
        {
            **table,
            "INCIDENT_IO_API_KEY_SECRET": world.secret,
            "MCP_SERVER_URL": world.sim.mcp_url,
            "INCIDENT_IO_API_URL": world.sim.url,
            "ALERT_SOURCE_SECRET_PREFIX": world.prefix,
            "RULES_FILE": str(rules),
        },
        monkeypatch,
    )
    yield ingest, scheduler
    close = getattr(scheduler.edge.incident_io, "close", None)
    if close:
        close()


def invoke(module: ModuleType, event: dict[str, Any]) -> Any:
    return module.lambda_handler(event, FakeLambdaContext("test", 60))


def test_a_pinged_heartbeat_through_both_handlers(
    world: World, lambdas: tuple[ModuleType, ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest, scheduler = lambdas
    answer = invoke(ingest, ping_event("cron-job"))
    assert answer["statusCode"] == 202
    body = json.loads(answer["body"])
    assert (body["status"], body["heartbeat"], body["instance"]) == ("recorded", "cron-job", "")
    first_ping = datetime.fromisoformat(body["seen_at"])
    assert world.heartbeats.load("cron-job").pings[""] == first_ping

    event = load_event("scheduler/eventbridge-scheduler.json")
    monkeypatch.setattr(scheduler.scheduler, "_clock", lambda: first_ping + timedelta(minutes=3))
    quiet = invoke(scheduler, event)
    assert quiet["missed"] == [] and quiet["errors"] == [] and quiet["heartbeats_checked"] >= 1

    monkeypatch.setattr(scheduler.scheduler, "_clock", lambda: first_ping + timedelta(minutes=7))
    assert invoke(scheduler, event)["missed"] == ["cron-job"]
    assert invoke(scheduler, load_event("scheduler/scheduled-event.json"))["missed"] == []  # a repeat: nothing
    [incident] = incidents(world, "Heartbeat cron-job missed")

    again = json.loads(invoke(ingest, ping_event("cron-job"))["body"])
    monkeypatch.setattr(
        scheduler.scheduler, "_clock", lambda: datetime.fromisoformat(again["seen_at"]) + timedelta(minutes=1)
    )
    assert invoke(scheduler, event)["recovered"] == ["cron-job"]
    assert incidents(world, "Heartbeat cron-job missed")[0]["status_category"] == "closed"
    assert incident["id"] == incidents(world, "Heartbeat cron-job missed")[0]["id"]


def test_the_heartbeat_route_refuses_what_it_cannot_record(lambdas: tuple[ModuleType, ModuleType]) -> None:
    ingest, _ = lambdas
    missing = invoke(ingest, ping_event("cron-job", token=None))
    assert missing["statusCode"] == 401 and json.loads(missing["body"])["error"]["code"] == "unauthorized"
    assert invoke(ingest, ping_event("cron-job", token="wrong"))["statusCode"] == 401
    unknown = invoke(ingest, ping_event("x" * 129))
    assert unknown["statusCode"] == 404 and json.loads(unknown["body"])["error"]["code"] == "unknown_heartbeat"
    per_instance = json.loads(invoke(ingest, ping_event("watchdog", instance="eu-1"))["body"])
    assert per_instance["instance"] == "eu-1"


def test_a_ping_to_a_heartbeat_the_rules_do_not_declare_is_404_naming_the_ones_they_do(
    world: World, lambdas: tuple[ModuleType, ModuleType]
) -> None:
    ingest, _ = lambdas
    typo = invoke(ingest, ping_event("cron-jbo"))  # nobody would ever watch it: refused, not "recorded"
    assert typo["statusCode"] == 404
    error = json.loads(typo["body"])["error"]
    assert error["code"] == "unknown_heartbeat" and "'cron-jbo'" in error["reason"]
    assert error["known_heartbeats"] == ["backup", "cron-job", "relayed", "watchdog"]
    assert world.heartbeats.load("cron-jbo").pings == {}


def test_a_ping_with_the_rotated_heartbeat_secret_is_accepted_at_once(
    world: World, lambdas: tuple[ModuleType, ModuleType]
) -> None:
    ingest, _ = lambdas
    assert invoke(ingest, ping_event("cron-job"))["statusCode"] == 202  # the secret is cached for 5 minutes now
    rotated = json.dumps({"current": "rotated-heartbeat-token", "previous": HEARTBEAT_TOKEN})
    boto3.client("secretsmanager").put_secret_value(SecretId=f"{world.prefix}webhooks/heartbeat", SecretString=rotated)
    assert invoke(ingest, ping_event("cron-job", token="rotated-heartbeat-token"))["statusCode"] == 202
    assert invoke(ingest, ping_event("cron-job"))["statusCode"] == 202  # the previous value still works


# ---- the template entry and the local stack's ticker -----------------------------------------------


def test_the_template_schedules_the_scheduler_with_every_setting_it_needs() -> None:
    template = template_with_scheduler()
    [spec] = [function for function in functions(template) if function.logical_id == "SchedulerFunction"]
    assert (spec.code_dir, spec.module, spec.handler) == (
        REPO_ROOT / "functions" / "scheduler",
        "app",
        "lambda_handler",
    )
    [schedule] = spec.schedule_events
    assert schedule["ScheduleExpression"] == {"Fn::Sub": "rate(${SchedulerRate})"}
    assert schedule_event(schedule, spec.logical_id) == load_event("scheduler/eventbridge-scheduler.json")
    required = {name.upper() for name, field in SchedulerSettings.model_fields.items() if field.is_required()}
    assert required <= set(spec.environment), sorted(required - set(spec.environment))


def test_the_local_stack_ticks_every_schedule_of_the_template(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCAL_SCHEDULE_SECONDS", "0.05")
    assert StackConfig().schedule_seconds == 0.05
    [spec] = [f for f in functions(template_with_scheduler()) if f.logical_id == "SchedulerFunction"]
    events: list[dict[str, Any]] = []
    lines: list[str] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        events.append(event)
        return {"missed": ["cron-job"] if len(events) == 1 else [], "escalated": []}

    function = LocalFunction(spec=spec, handler=handler, lock=threading.Lock())
    ticker = ScheduleTicker(function, spec.schedule_events[0], StackConfig().schedule_seconds, log=lines.append)
    ticker.start()
    try:
        wait_until(lambda: len(events) >= 3, timeout=10, what="three ticks")
    finally:
        ticker.stop()
    assert all(event == load_event("scheduler/eventbridge-scheduler.json") for event in events)
    assert lines == ['schedule    SchedulerFunction {"missed": ["cron-job"]}']  # only runs that acted are shown
