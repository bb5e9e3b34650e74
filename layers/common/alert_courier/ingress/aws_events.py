"""Events AWS itself invokes the ingest function with: SNS records and EventBridge (CloudWatch alarm) events.

IAM already decided who may invoke the function (the SNS subscription, the EventBridge rule, an alarm's Lambda
action), so there is no credential to check. A record that is not a CloudWatch alarm is skipped with its reason,
never raised: Lambda would retry an exception, and retrying a message that can never be read helps nobody.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from alert_courier.domain.alert import Alert, AlertEnvelope
from alert_courier.ingress.limits import within_limits
from alert_courier.ingress.unicode_text import lone_surrogate_at
from alert_courier.sources.cloudwatch import (
    AlarmActionEvent,
    AlarmStateChangeEvent,
    SnsMessage,
    alerts_for,
    change_from_alarm_action,
    change_from_event,
    changes_from_sns,
)

ALARM_STATE_CHANGE = "CloudWatch Alarm State Change"


@dataclass(frozen=True)
class AwsDelivery:
    """What one AWS-invoked event carried: its alerts (each with the id AWS gave its delivery) and what was skipped."""

    kind: str
    """"sns", "eventbridge" or "alarm-action"."""
    alerts: list[Alert] = field(default_factory=list)
    delivery_ids: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    def envelopes(self, fallback_correlation_id: str) -> list[AlertEnvelope]:
        return [
            AlertEnvelope(alert=within_limits(alert), correlation_id=delivery_id or fallback_correlation_id)
            for alert, delivery_id in zip(self.alerts, self.delivery_ids, strict=True)
        ]


def read_aws_event(event: object) -> AwsDelivery | None:
    """The alerts in an SNS or EventBridge event; None for anything else (an HTTP API event, for the resolver)."""
    if not isinstance(event, Mapping) or "requestContext" in event:
        return None
    records = event.get("Records")
    if isinstance(records, list) and any(_is_sns_record(record) for record in records):
        return _from_sns_records(records)
    if "detail-type" in event and "source" in event:
        return _unless_unrepresentable(event, "eventbridge") or _from_eventbridge(event)
    if event.get("source") == "aws.cloudwatch" and "alarmData" in event:
        return _unless_unrepresentable(event, "alarm-action") or _from_alarm_action(event)
    return None


def _unless_unrepresentable(event: Mapping[str, Any], kind: str) -> AwsDelivery | None:
    where = lone_surrogate_at(event)
    if where is None:
        return None
    return AwsDelivery(kind, ignored=[f"event {str(event.get('id', ''))[:64]}: {where} holds a lone surrogate"])


def alerts_from_lambda_event(event: object) -> list[Alert] | None:
    delivery = read_aws_event(event)
    return None if delivery is None else delivery.alerts


def _is_sns_record(record: object) -> bool:
    return isinstance(record, Mapping) and record.get("EventSource") == "aws:sns"


def _from_sns_records(records: list[Any]) -> AwsDelivery:
    alerts: list[Alert] = []
    ids: list[str] = []
    ignored: list[str] = []
    for index, record in enumerate(records):
        if not _is_sns_record(record):
            origin = record.get("EventSource", record.get("eventSource")) if isinstance(record, Mapping) else None
            ignored.append(f"record {index}: EventSource {str(origin)[:40]!r} is not aws:sns")
            continue
        sns = record.get("Sns")
        message_id = str(sns.get("MessageId", ""))[:64] if isinstance(sns, Mapping) else ""
        where = lone_surrogate_at(sns)
        if where is not None:
            ignored.append(f"record {index} ({message_id or 'no MessageId'}): {where} holds a lone surrogate")
            continue
        try:
            message = SnsMessage.model_validate(sns)
            found = [alert for change in changes_from_sns(message, "sns") for alert in alerts_for(change)]
        except ValidationError as error:
            ignored.append(f"record {index} ({message_id or 'no MessageId'}): {_first_error(error)}")
            continue
        if not found:
            ignored.append(f"record {index} ({message_id}): {_why_nothing(message)}")
        alerts += found
        ids += [message.message_id] * len(found)
    return AwsDelivery("sns", alerts, ids, ignored)


def _from_eventbridge(event: Mapping[str, Any]) -> AwsDelivery:
    detail_type, source = event.get("detail-type"), event.get("source")
    if detail_type != ALARM_STATE_CHANGE or source != "aws.cloudwatch":
        return AwsDelivery("eventbridge", ignored=[f"{str(source)[:40]} {str(detail_type)[:60]!r} is not an alarm"])
    return _read(AlarmStateChangeEvent, event, "eventbridge", lambda parsed: change_from_event(parsed, _VIA_RULE))


def _from_alarm_action(event: Mapping[str, Any]) -> AwsDelivery:
    return _read(AlarmActionEvent, event, "alarm-action", lambda parsed: change_from_alarm_action(parsed, _VIA_ACTION))


_VIA_RULE = {"delivery": "eventbridge"}
_VIA_ACTION = {"delivery": "alarm-action"}


def _read(model: type[BaseModel], event: Mapping[str, Any], kind: str, change_of: Any) -> AwsDelivery:
    try:
        change = change_of(model.model_validate(event))
        alerts = alerts_for(change)
    except ValidationError as error:
        return AwsDelivery(kind, ignored=[f"event {str(event.get('id', ''))[:64]}: {_first_error(error)}"])
    delivery_id = str(event.get("id") or "")
    ignored = [] if alerts else [f"alarm {change.name!r} went to {change.state}: no alert for that state"]
    return AwsDelivery(kind, alerts, [delivery_id] * len(alerts), ignored)


def _why_nothing(message: SnsMessage) -> str:
    if message.type != "Notification":
        return f"an SNS {message.type}: nothing to confirm or accept for a Lambda subscription"
    state = message.alarm.new_state if message.alarm else message.event.detail.state.value if message.event else ""
    return f"the alarm went to {state}: no alert for that state"


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    location = ".".join(str(part) for part in first["loc"]) or "body"
    return f"{location}: {first['msg']}"[:300]
