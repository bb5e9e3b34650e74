"""Scheduler Lambda (EventBridge Scheduler, every minute by default): heartbeats that went silent or came back,
and escalation levels that came due while nobody acknowledged the page.

Clients, the MCP connection and the organisation config live at module scope: paid once per container.
Every run is idempotent, so a retried or overlapping invocation changes nothing further.
"""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from alert_courier.aws.powertools_telemetry import PowertoolsTelemetry
from alert_courier.settings import scheduler_settings
from alert_courier.wiring import incident_io_edge, scheduler_on

settings = scheduler_settings()
logger = Logger()
# The shared package logs through the standard "alert_courier" logger: same JSON, same correlation id.
copy_config_to_registered_loggers(source_logger=logger, include={"alert_courier"})
# Only what this function calls; httpx when the REST client first needs it (importing it costs ~0.1 s).
tracer = Tracer(patch_modules=["botocore"])
metrics = Metrics()
_table = boto3.resource("dynamodb").Table(settings.state_table_name)
telemetry = PowertoolsTelemetry(metrics)
edge = incident_io_edge(settings, _table, telemetry, before_first_rest_request=lambda: tracer.patch(["httpx"]))
scheduler = scheduler_on(edge, _table, settings, telemetry)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Any event starts a run (EventBridge Scheduler's, a classic scheduled event, `{}`); the clock decides."""
    logger.append_keys(trigger=str((event or {}).get("id") or (event or {}).get("source") or "direct"))
    report = scheduler.run(lambda: context.get_remaining_time_in_millis() / 1000)
    metrics.add_metric(name="ScheduledRuns", unit=MetricUnit.Count, value=1)
    summary = report.summary()
    if report.acted:
        logger.info("scheduled run acted", extra={"run": summary})
    else:
        logger.debug("scheduled run: nothing to do", extra={"run": summary})
    return summary
