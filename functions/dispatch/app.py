"""Dispatch Lambda: takes queued messages in FIFO batches, decides, and acts through incident.io's MCP tools.

A message holds one notification's alerts of one group (`alert_queue.read_message`; older one-alert messages are
read too). They are decided together (`MaintenanceGate.handle_many`): one state read, at most one state write
besides an acting alert's write-ahead. An alert that can never succeed is dead-lettered alone, as a one-alert
message; a failure a redelivery may get past redelivers the whole message (what was done is a repeat then).

Clients, the MCP connection and the organisation config live at module scope: paid once per container.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from alert_courier.aws.alert_queue import UnreadableMessage, fitted_body, read_message
from alert_courier.aws.dead_letters import DeadLetters
from alert_courier.aws.dynamodb_stores import HeartbeatStore
from alert_courier.aws.powertools_telemetry import PowertoolsTelemetry
from alert_courier.domain.errors import PermanentFailure
from alert_courier.ingress.heartbeat_pings import AlertPings
from alert_courier.settings import dispatch_settings
from alert_courier.wiring import incident_io_edge

settings = dispatch_settings()
logger = Logger()
# The shared package logs through the standard "alert_courier" logger: same JSON, same correlation id.
copy_config_to_registered_loggers(source_logger=logger, include={"alert_courier"})
# Only what this function calls; httpx when the REST client first needs it (importing it costs ~0.1 s).
tracer = Tracer(patch_modules=["botocore"])
metrics = Metrics()
_table = boto3.resource("dynamodb").Table(settings.state_table_name)
dead_letters = DeadLetters(boto3.client("sqs"), settings.dead_letter_queue_url)
edge = incident_io_edge(
    settings, _table, PowertoolsTelemetry(metrics), before_first_rest_request=lambda: tracer.patch(["httpx"])
)
# The courier behind inhibition and the maintenance windows (inhibited and held alerts are recorded, not acted on)
courier = edge.entry
alert_pings = AlertPings(HeartbeatStore(_table), edge.rules)  # alerts such as Alertmanager's Watchdog feed heartbeats


def handle_record(record: SQSRecord, remaining_seconds: Callable[[], float] | None = None) -> dict[str, Any]:
    try:
        envelopes = read_message(record.body)
    except UnreadableMessage as error:
        return _dead_letter(record, f"unreadable message: {error}")
    if not envelopes:
        return {"alerts": 0}
    first = envelopes[0]
    logger.append_keys(
        correlation_id=first.correlation_id,
        dedup_key=first.alert.dedup_key if len(envelopes) == 1 else f"{len(envelopes)} alerts",
    )
    for envelope in envelopes:
        alert_pings.observe(envelope.alert)
    try:
        outcome = courier.handle_many(envelopes, remaining_seconds)
    except PermanentFailure as failure:
        return _dead_letter(record, str(failure))
    for envelope, reason in outcome.permanent:
        _dead_letter(record, reason, body=fitted_body(envelope))
    metrics.add_metric(name="AlertsDispatched", unit=MetricUnit.Count, value=len(envelopes) - len(outcome.permanent))
    return {"alerts": len(envelopes), "outcomes": outcome.outcomes, "dead_lettered": len(outcome.permanent)}


def _dead_letter(record: SQSRecord, reason: str, *, body: str | None = None) -> dict[str, Any]:
    dead_letters.send(
        record.body if body is None else body,
        group_id=record.attributes.message_group_id or "",
        source_message_id=record.message_id,
        reason=reason,
    )
    metrics.add_metric(name="DeadLettered", unit=MetricUnit.Count, value=1)
    logger.error("dead-lettered", extra={"reason": reason, "message_id": record.message_id})
    return {"dead_lettered": reason}


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    # A processor per invocation: it holds the batch's results, and the local stack runs two workers at once.
    processor = SqsFifoPartialProcessor(skip_group_on_error=True)

    def remaining_seconds() -> float:
        return context.get_remaining_time_in_millis() / 1000

    def record_handler(record: SQSRecord) -> dict[str, Any]:
        return handle_record(record, remaining_seconds)

    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
