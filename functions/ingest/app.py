"""Ingest Lambda: authenticates and validates a monitoring webhook, then enqueues its alerts, packed per group."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from alert_courier.aws.alert_queue import AlertQueue, EnqueueFailed, time_budget
from alert_courier.aws.powertools_telemetry import PowertoolsTelemetry
from alert_courier.aws.webhook_secrets import WebhookSecrets
from alert_courier.domain.alert import AlertEnvelope
from alert_courier.ingress import sns_topics
from alert_courier.ingress.intake import read_webhook
from alert_courier.ingress.rejection import WebhookRejected
from alert_courier.ingress.webhook import WebhookRequest
from alert_courier.settings import ingest_settings

settings = ingest_settings()
sns_topics.trust(settings.cloudwatch_topics)  # the SNS topics whose HTTPS deliveries are accepted
logger = Logger()
tracer = Tracer(patch_modules=["botocore"])  # only what this function calls; patching costs cold-start time
metrics = Metrics()
telemetry = PowertoolsTelemetry(metrics)
app = APIGatewayHttpResolver()
# Short timeouts and few retries: every SQS call must end well inside the function's 10 s (the time budget).
_sqs_config = Config(connect_timeout=2, read_timeout=4, retries={"mode": "standard", "max_attempts": 2})
queue = AlertQueue(boto3.client("sqs", config=_sqs_config), settings.alert_queue_url)
webhook_secrets = WebhookSecrets(settings.webhook_secret_prefix)
_heartbeat_store: Any = None
_maintenance_store: Any = None
_rules: Any = None


def heartbeat_store() -> Any:
    """Built on the first ping: webhook-only containers never pay for the heartbeat modules and DynamoDB client."""
    global _heartbeat_store
    if _heartbeat_store is None and settings.state_table_name:
        from alert_courier.aws.dynamodb_stores import HeartbeatStore

        _heartbeat_store = HeartbeatStore(boto3.resource("dynamodb").Table(settings.state_table_name))
    return _heartbeat_store


def heartbeat_names() -> list[str]:
    """The heartbeats the rules declare; the rules are read on the first ping, as the heartbeat store is built."""
    global _rules
    if _rules is None:
        from alert_courier.aws.rules_source import RulesSource

        _rules = RulesSource(settings.rules_file, settings.rules_parameter, telemetry=telemetry)
    return [heartbeat.name for heartbeat in _rules().heartbeats]


@app.post("/webhooks/<source>")
def receive_webhook(source: str) -> Response[dict[str, Any]]:
    request = WebhookRequest.from_http_api_event(source, app.current_event.raw_event)
    remaining = remaining_seconds(app.lambda_context)
    # The budget covers reading and packing too: a notification that would outlast the timeout is a 503 in time.
    intake = read_webhook(
        request,
        webhook_secrets.valid_values,
        settings.max_body_bytes,
        reread=webhook_secrets.reread,
        checkpoint=time_budget(remaining),
    )
    envelopes = [
        AlertEnvelope(alert=alert, correlation_id=request.correlation_id, truncated_alerts=intake.truncated_alerts)
        for alert in intake.alerts
    ]
    accepted = queue.enqueue(envelopes, remaining)
    metrics.add_metric(name="AlertsAccepted", unit=MetricUnit.Count, value=accepted)
    logger.info(
        "webhook accepted",
        extra={"source": intake.source, "accepted": accepted, "truncated_alerts": intake.truncated_alerts},
    )
    body: dict[str, Any] = {
        "status": intake.outcome,  # "accepted", or a handshake's ("subscription_confirmed")
        "accepted": accepted,
        "truncated_alerts": intake.truncated_alerts,
        "correlation_id": request.correlation_id,
    }
    if intake.dedup_key:  # PagerDuty-style senders follow up (acknowledge, resolve) with this key
        body.update({"message": "Event processed", "dedup_key": intake.dedup_key})
    return Response(status_code=intake.answer_status, content_type=content_types.APPLICATION_JSON, body=body)


def remaining_seconds(context: LambdaContext | None) -> Callable[[], float] | None:
    """The function's time left, for the queue's time budget; None when invoked without a Lambda context."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if not callable(remaining):
        return None
    return lambda: remaining() / 1000


@app.post("/heartbeats/<name>")
def receive_heartbeat(name: str) -> Response[dict[str, Any]]:
    """A dead man's switch ping: moves the heartbeat's last-seen time forward; the scheduler watches the rest."""
    from alert_courier.ingress.heartbeat_pings import read_ping

    request = WebhookRequest.from_http_api_event("heartbeat", app.current_event.raw_event)
    query = app.current_event.query_string_parameters
    ping = read_ping(
        request, name, query, webhook_secrets.valid_values, known=heartbeat_names, reread=webhook_secrets.reread
    )
    try:
        store = heartbeat_store()
        if store is None:
            raise RuntimeError("STATE_TABLE_NAME is not set")
        store.record_ping(ping.name, ping.instance, ping.at, via="http")
    except (BotoCoreError, ClientError, RuntimeError) as error:
        logger.error("heartbeat not recorded; asking the sender to retry", extra={"error": str(error)})
        unavailable = {"error": {"code": "temporarily_unavailable", "reason": "the ping could not be recorded; retry"}}
        return Response(
            status_code=503,
            content_type=content_types.APPLICATION_JSON,
            body=unavailable,
            headers={"Retry-After": "5"},
        )
    metrics.add_metric(name="HeartbeatPings", unit=MetricUnit.Count, value=1)
    logger.info("heartbeat ping", extra={"heartbeat": ping.name, "instance": ping.instance})
    body: dict[str, Any] = {
        "status": "recorded",
        "heartbeat": ping.name,
        "instance": ping.instance,
        "seen_at": ping.at.isoformat(),
        "correlation_id": request.correlation_id,
    }
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=body)


def maintenance_store() -> Any:
    """Built on the first maintenance request, as the heartbeat store is."""
    global _maintenance_store
    if _maintenance_store is None and settings.state_table_name:
        from alert_courier.aws.maintenance_store import MaintenanceStore

        _maintenance_store = MaintenanceStore(boto3.resource("dynamodb").Table(settings.state_table_name))
    if _maintenance_store is None:
        raise RuntimeError("STATE_TABLE_NAME is not set")
    return _maintenance_store


def _maintenance_request() -> WebhookRequest:
    from alert_courier.ingress.maintenance_api import MAINTENANCE_SECRET, authenticate

    request = WebhookRequest.from_http_api_event(MAINTENANCE_SECRET, app.current_event.raw_event)
    authenticate(request, webhook_secrets.valid_values, webhook_secrets.reread)
    return request


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response[dict[str, Any]]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body, headers=headers)


def _store_unavailable(error: Exception) -> Response[dict[str, Any]]:
    logger.error("maintenance store unavailable; asking the caller to retry", extra={"error": type(error).__name__})
    body = {"error": {"code": "temporarily_unavailable", "reason": "maintenance windows unavailable; retry"}}
    return _json(503, body, {"Retry-After": "5"})


@app.post("/maintenance")
def open_window() -> Response[dict[str, Any]]:
    """A maintenance window (silence): what it matches is held while it is open (README "Maintenance windows")."""
    from alert_courier.domain.maintenance import MAX_WINDOWS
    from alert_courier.ingress.maintenance_api import read_window_request, too_many_windows

    request = _maintenance_request()
    try:
        store = maintenance_store()
        window = read_window_request(request, store.new_id(), request.received_at)
        if sum(1 for known in store.windows() if known.status(request.received_at) != "ended") >= MAX_WINDOWS:
            raise too_many_windows(MAX_WINDOWS)
        store.add(window)
    except (BotoCoreError, ClientError, RuntimeError) as error:
        return _store_unavailable(error)
    logger.info("maintenance window opened", extra={"window": window.id, "created_by": window.created_by})
    metrics.add_metric(name="MaintenanceWindowsOpened", unit=MetricUnit.Count, value=1)
    return _json(201, {"window": window.public(request.received_at), "correlation_id": request.correlation_id})


@app.get("/maintenance")
def list_windows() -> Response[dict[str, Any]]:
    """Every window kept (scheduled, open, and ended ones for 30 days), with how many alerts each holds."""
    request = _maintenance_request()
    try:
        store = maintenance_store()
        shown = []
        for window in store.all_windows():
            public = window.public(request.received_at)
            if window.settled_at is None:
                public["held"] = store.held_count(window.id)
            shown.append(public)
    except (BotoCoreError, ClientError, RuntimeError) as error:
        return _store_unavailable(error)
    return _json(200, {"windows": shown, "correlation_id": request.correlation_id})


@app.delete("/maintenance/<window_id>")
def end_window(window_id: str) -> Response[dict[str, Any]]:
    """Ends a window now (idempotent); the scheduler then acts on what it held (`on_end`)."""
    from alert_courier.aws.maintenance_store import UnknownWindow, WindowChanged
    from alert_courier.ingress.maintenance_api import checked_window_id, unknown_window, who_ended

    request = _maintenance_request()
    checked_window_id(window_id)
    by = who_ended(app.current_event.query_string_parameters)
    try:
        window = maintenance_store().expire(window_id, request.received_at, by)
    except UnknownWindow:
        raise unknown_window(window_id) from None
    except (BotoCoreError, ClientError, RuntimeError, WindowChanged) as error:
        return _store_unavailable(error)
    logger.info("maintenance window ended", extra={"window": window.id, "expired_by": by})
    return _json(200, {"window": window.public(request.received_at), "correlation_id": request.correlation_id})


@app.exception_handler(WebhookRejected)
def refuse(rejection: WebhookRejected) -> Response[dict[str, Any]]:
    telemetry.count("AlertsRejected", reason=rejection.code)
    logger.warning(
        "webhook rejected",
        extra={"status": rejection.status, "code": rejection.code, "reason": rejection.reason},
    )
    return Response(status_code=rejection.status, content_type=content_types.APPLICATION_JSON, body=rejection.body())


@app.exception_handler(EnqueueFailed)
def ask_sender_to_retry(failure: EnqueueFailed) -> Response[dict[str, Any]]:
    telemetry.count("EnqueueFailed", reason=failure.code)
    logger.error("enqueue failed; asking the sender to retry", extra={"reason": str(failure), "code": failure.code})
    body = {"error": {"code": "temporarily_unavailable", "reason": "alerts could not be queued; retry"}}
    return Response(
        status_code=503, content_type=content_types.APPLICATION_JSON, body=body, headers={"Retry-After": "5"}
    )


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId", clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if isinstance(event, dict) and "requestContext" in event:  # an HTTP API request: a webhook or a heartbeat ping
        return app.resolve(event, context)
    # CloudWatch alarms via an SNS subscription or an EventBridge rule (IAM-invoked); imported here so webhook-only
    # containers never load the CloudWatch models at cold start.
    from alert_courier.ingress.aws_events import read_aws_event

    delivered = read_aws_event(event)
    if delivered is not None:
        try:
            accepted = queue.enqueue(delivered.envelopes(context.aws_request_id), remaining_seconds(context))
        except EnqueueFailed as failure:  # raised on: AWS retries the event
            telemetry.count("EnqueueFailed", reason=failure.code)
            raise
        metrics.add_metric(name="AlertsAccepted", unit=MetricUnit.Count, value=accepted)
        if delivered.ignored:
            logger.warning("records skipped", extra={"kind": delivered.kind, "ignored": delivered.ignored[:20]})
        logger.info("aws event accepted", extra={"kind": delivered.kind, "accepted": accepted})
        return {"status": "accepted", "kind": delivered.kind, "accepted": accepted, "ignored": len(delivered.ignored)}
    # Neither HTTP nor an event we read: raising would make AWS retry something that can never be read.
    telemetry.count("AlertsRejected", reason="unknown_event")
    logger.warning("event ignored: not an HTTP API request, SNS record or CloudWatch alarm event")
    return {"status": "ignored", "kind": "unknown", "accepted": 0, "ignored": 1}
