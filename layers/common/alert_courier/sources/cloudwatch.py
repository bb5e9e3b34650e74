"""Amazon CloudWatch alarms: the alarm message (SNS), the EventBridge state change, and one normaliser for both.

They arrive three ways: SNS -> the ingest function (an `aws:sns` Lambda event, see `aws_events`), an EventBridge
rule -> the ingest function, and an SNS HTTPS subscription -> `POST /webhooks/cloudwatch` (another account). The
HTTPS path trusts a message only if SNS signed it (`sns_signature`) and its topic is in CLOUDWATCH_TOPIC_ARNS, or
if it carries the integration's Bearer/Basic credential (raw message delivery, an EventBridge API destination).

Mapping, the same on every path:
- dedup key and group key: the alarm ARN (unique across accounts and regions; the name is not);
- ALARM -> firing (started at the state change), OK -> resolved (ended at the state change);
- INSUFFICIENT_DATA -> no alert. It says "not enough data to decide", not "broken": every new alarm starts there,
  and an alarm whose metric stops is still open until it goes OK. A team that wants missing data to page sets the
  alarm's TreatMissingData to `breaching`, which makes CloudWatch go to ALARM instead;
- severity: CloudWatch has none, so it is read from the alarm's `alert-courier:severity` tag (EventBridge, and SNS
  when tag propagation is on), else an `alert-courier:severity=<word>` token in the alarm description, else a
  `severity` tag; the word is mapped like every source's (critical, error, warning, info, p1…, plus the rules'
  `severity.words`). Without one: warning, the default of every source: an alarm is actionable, but nothing says
  it should wake anyone up;
- labels: the alarm's tags, its metric dimensions, then alarm_name, account, region (the code, from the ARN),
  namespace, metric_name and alarm_type; the link goes to the alarm's page in the CloudWatch console.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import quote

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    RootModel,
    Tag,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from alert_courier.domain.alert import Alert, AlertStatus
from alert_courier.domain.severity import severity_from_word
from alert_courier.ingress import sns_topics
from alert_courier.ingress.credentials import matches_any, presented_secret
from alert_courier.ingress.handshake import Handshake
from alert_courier.ingress.rejection import WebhookRejected, unauthorized
from alert_courier.ingress.sns_signature import (
    DEFAULT_CERTIFICATES,
    MAX_AGE,
    MESSAGE_TYPE_HEADER,
    NOTIFICATION,
    SUBSCRIPTION_CONFIRMATION,
    UNSUBSCRIBE_CONFIRMATION,
    CertificateStore,
    SubscriptionConfirmer,
    confirm_subscription,
    is_sns_url,
    untrusted_subscribe_url,
    verify_sns_message,
)
from alert_courier.ingress.unicode_text import lone_surrogate_at
from alert_courier.ingress.webhook import WebhookRequest
from alert_courier.sources.aws_regions import partition_of, region_code
from alert_courier.sources.fields import UtcDatetime, decoration, drop_malformed, notes_of

SOURCE = "cloudwatch"
SEVERITY_TAG = "alert-courier:severity"
_SEVERITY_IN_DESCRIPTION = re.compile(r"alert-courier:severity\s*[=:]\s*([A-Za-z0-9_-]{1,32})", re.IGNORECASE)
_ALARM_ARN = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):cloudwatch:(?P<region>[a-z0-9-]+):(?P<account>[0-9]{12}):alarm:(?P<name>.+)",
    re.DOTALL,
)
_MAX_LABEL = 1024
_MAX_ARN = 512  # an alarm name is at most 255 characters; the ARN is the dedup key (at most 512)
StateValue = Literal["ALARM", "OK", "INSUFFICIENT_DATA"]


def _empty_if_none(value: Any) -> Any:
    return [] if value is None else value


def _no_text_if_none(value: Any) -> Any:
    return "" if value is None else value


def _tags(value: Any) -> Any:
    """Alarm tags as {key: value}; a CloudFormation-style list of {Key, Value} is accepted too."""
    if value is None:
        return {}
    if isinstance(value, list):
        pairs = {}
        for item in value:
            if isinstance(item, dict):
                key = item.get("Key", item.get("key"))
                if isinstance(key, str):
                    pairs[key] = item.get("Value", item.get("value", ""))
        return pairs
    return value


def _check_alarm_arn(value: str) -> str:
    if len(value) > _MAX_ARN or not _ALARM_ARN.fullmatch(value):
        raise PydanticCustomError(
            "alarm_arn", "not a CloudWatch alarm ARN (arn:aws:cloudwatch:<region>:<account>:alarm:<name>)"
        )
    return value


# --- the alarm message (SNS `Message`) ---------------------------------------------------------------------------

_TOPIC_ARN = re.compile(r"arn:aws[a-z-]*:sns:(?P<region>[a-z0-9-]{1,32}):(?P<account>[0-9]{1,12}):[^:]{1,256}")


class TriggerDimension(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)

    name: str
    value: str


class TriggerMetricStatMetric(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    metric_name: str | None = Field(default=None, alias="MetricName")
    namespace: str | None = Field(default=None, alias="Namespace")
    dimensions: list[TriggerDimension] = Field(default_factory=list, alias="Dimensions")

    _none_is_empty = field_validator("dimensions", mode="before")(_empty_if_none)


class TriggerMetricStat(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    metric: TriggerMetricStatMetric | None = Field(default=None, alias="Metric")
    period: int | None = Field(default=None, alias="Period")
    stat: str | None = Field(default=None, alias="Stat")


class TriggerMetric(BaseModel):
    """One query of a metric-math alarm."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: str = Field(default="", alias="Id")
    expression: str | None = Field(default=None, alias="Expression")
    label: str | None = Field(default=None, alias="Label")
    return_data: bool | None = Field(default=None, alias="ReturnData")
    metric_stat: TriggerMetricStat | None = Field(default=None, alias="MetricStat")


class AlarmTrigger(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    metric_name: str | None = Field(default=None, alias="MetricName")
    namespace: str | None = Field(default=None, alias="Namespace")
    statistic: str | None = Field(default=None, alias="Statistic")
    extended_statistic: str | None = Field(default=None, alias="ExtendedStatistic")
    unit: str | None = Field(default=None, alias="Unit")
    dimensions: list[TriggerDimension] = Field(default_factory=list, alias="Dimensions")
    period: int | None = Field(default=None, alias="Period")
    evaluation_periods: int | None = Field(default=None, alias="EvaluationPeriods")
    comparison_operator: str | None = Field(default=None, alias="ComparisonOperator")
    threshold: float | None = Field(default=None, alias="Threshold")
    treat_missing_data: str | None = Field(default=None, alias="TreatMissingData")
    metrics: list[TriggerMetric] = Field(default_factory=list, alias="Metrics")

    _none_is_empty = field_validator("dimensions", "metrics", mode="before")(_empty_if_none)


_MESSAGE_DECORATIONS = {
    "Trigger": decoration(AlarmTrigger),
    "AlarmTags": decoration(dict[str, str]),
    "AlarmDescription": decoration(str | None),
    "OldStateValue": decoration(str | None),
}


class AlarmMessage(BaseModel):
    """What CloudWatch publishes to an SNS topic (the JSON string inside the SNS `Message`)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, coerce_numbers_to_str=True)

    alarm_name: str = Field(alias="AlarmName", min_length=1)
    alarm_description: str = Field(default="", alias="AlarmDescription")
    account_id: str = Field(default="", alias="AWSAccountId")
    new_state: StateValue = Field(alias="NewStateValue")
    old_state: str = Field(default="", alias="OldStateValue")
    reason: str = Field(default="", alias="NewStateReason")
    changed_at: UtcDatetime = Field(alias="StateChangeTime")
    region_name: str = Field(default="", alias="Region", description="a display name, e.g. 'EU (Ireland)'")
    alarm_arn: str = Field(default="", alias="AlarmArn", description="built when absent, see _arn_when_absent")
    trigger: AlarmTrigger | None = Field(default=None, alias="Trigger")
    alarm_rule: str = Field(default="", alias="AlarmRule", description="composite alarms only")
    tags: dict[str, str] = Field(default_factory=dict, alias="AlarmTags")
    topic_arn: str = Field(default="", alias="__topic_arn__", description="the SNS topic it came by, if any")
    dropped: list[str] = Field(default_factory=list, alias="__dropped__")

    _no_text = field_validator("alarm_description", "old_state", "reason", "alarm_rule", mode="before")(
        _no_text_if_none
    )
    _tags_as_map = field_validator("tags", mode="before")(_tags)
    _arn = field_validator("alarm_arn")(_check_alarm_arn)

    @model_validator(mode="before")
    @classmethod
    def _lenient_about_decorations(cls, data: Any) -> Any:
        """A Trigger or AlarmTags that does not read costs the alarm's metric labels, not the alarm."""
        if isinstance(data, dict) and "AlarmTags" in data:
            data = {**data, "AlarmTags": _tags(data["AlarmTags"])}
        return drop_malformed(data, _MESSAGE_DECORATIONS)

    @model_validator(mode="after")
    def _arn_when_absent(self) -> AlarmMessage:
        """Older alarm messages (and some still sent today) have no AlarmArn: it is built from the message's
        Region (a display name), AWSAccountId and AlarmName, else from the region and account of the SNS topic
        (an alarm publishes only to topics of its own region)."""
        if self.alarm_arn:
            return self
        topic = _TOPIC_ARN.fullmatch(self.topic_arn)
        region = region_code(self.region_name) or (topic["region"] if topic else None)
        account = self.account_id.strip() if self.account_id.strip().isdigit() else (topic["account"] if topic else "")
        if region is None or not account.isdigit() or len(account) > 12:
            raise PydanticCustomError(
                "alarm_arn",
                "no AlarmArn, and it cannot be built: the Region, AWSAccountId (or the SNS topic) do not say "
                "which region and account the alarm is in",
            )
        # Account ids are 12 digits; a shorter one lost its leading zeros to a number conversion somewhere.
        self.alarm_arn = _check_alarm_arn(
            f"arn:{partition_of(region)}:cloudwatch:{region}:{account.zfill(12)}:alarm:{self.alarm_name}"
        )
        self.dropped = [*self.dropped, "AlarmArn missing: built from the Region, account and AlarmName"]
        return self


# --- the EventBridge event (and the alarm's direct Lambda action, which carries the same detail) ---------------


class AlarmState(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    value: StateValue
    reason: str = ""
    reason_data: str = Field(default="", alias="reasonData")
    timestamp: UtcDatetime | None = None

    _no_text = field_validator("reason", "reason_data", mode="before")(_no_text_if_none)


class PreviousAlarmState(AlarmState):
    value: str = ""  # type: ignore[assignment]


class EventMetricDetail(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)

    namespace: str | None = None
    name: str | None = None
    dimensions: dict[str, str] = Field(default_factory=dict)

    _none_is_empty = field_validator("dimensions", mode="before")(lambda value: {} if value is None else value)


class EventMetricStat(BaseModel):
    model_config = ConfigDict(extra="ignore")

    metric: EventMetricDetail | None = None
    period: int | None = None
    stat: str | None = None


class EventMetric(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: str = ""
    metric_stat: EventMetricStat | None = Field(default=None, alias="metricStat")
    expression: str | None = None
    label: str | None = None
    return_data: bool | None = Field(default=None, alias="returnData")


class AlarmConfiguration(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    description: str = ""
    metrics: list[EventMetric] = Field(default_factory=list)
    alarm_rule: str = Field(default="", alias="alarmRule")

    _no_text = field_validator("description", "alarm_rule", mode="before")(_no_text_if_none)
    _none_is_empty = field_validator("metrics", mode="before")(_empty_if_none)


class AlarmDetail(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    alarm_name: str = Field(alias="alarmName", min_length=1)
    state: AlarmState
    previous_state: PreviousAlarmState | None = Field(default=None, alias="previousState")
    configuration: AlarmConfiguration = Field(default_factory=AlarmConfiguration)
    alarm_tags: dict[str, str] = Field(default_factory=dict, alias="alarmTags")

    _tags_as_map = field_validator("alarm_tags", mode="before")(_tags)


class AlarmStateChangeEvent(BaseModel):
    """EventBridge's "CloudWatch Alarm State Change" (source aws.cloudwatch); resources[0] is the alarm ARN."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, coerce_numbers_to_str=True)

    id: str = ""
    detail_type: Literal["CloudWatch Alarm State Change"] = Field(alias="detail-type")
    source: Literal["aws.cloudwatch"]
    account: str = ""
    time: UtcDatetime | None = None
    region: str = ""
    resources: list[str] = Field(min_length=1)
    detail: AlarmDetail

    @field_validator("resources")
    @classmethod
    def _first_is_the_alarm(cls, resources: list[str]) -> list[str]:
        _check_alarm_arn(resources[0])
        return resources


class AlarmActionEvent(BaseModel):
    """What an alarm's Lambda action sends the function directly (no SNS, no EventBridge)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, coerce_numbers_to_str=True)

    source: Literal["aws.cloudwatch"]
    alarm_arn: str = Field(alias="alarmArn")
    account_id: str = Field(default="", alias="accountId")
    time: UtcDatetime | None = None
    region: str = ""
    alarm_data: AlarmDetail = Field(alias="alarmData")

    _arn = field_validator("alarm_arn")(_check_alarm_arn)


# --- SNS ---------------------------------------------------------------------------------------------------------


class SnsMessage(BaseModel):
    """An SNS message: the HTTPS POST body, or a Lambda record's `Sns` (which spells the URLs `…Url`).

    A Notification's `Message` is the alarm JSON; an EventBridge rule with an SNS target forwards the
    EventBridge event there instead, which is read too. Confirmations carry plain text, which is not read.
    """

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    type: Literal["Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"] = Field(alias="Type")
    message_id: str = Field(alias="MessageId")
    topic_arn: str = Field(alias="TopicArn")
    subject: str | None = Field(default=None, alias="Subject")
    timestamp: str = Field(default="", alias="Timestamp")
    subscribe_url: str | None = Field(default=None, alias="SubscribeURL")
    alarm: AlarmMessage | None = Field(default=None, alias="Message")
    event: AlarmStateChangeEvent | None = Field(default=None, alias="Message (EventBridge event)")

    @model_validator(mode="before")
    @classmethod
    def _read_the_message(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = {key: value for key, value in data.items() if key != "Message (EventBridge event)"}
        message = data.pop("Message", None)
        if data.get("Type") != NOTIFICATION:
            return data
        if isinstance(message, str):
            try:
                message = json.loads(message)
            except (ValueError, RecursionError):
                raise PydanticCustomError(
                    "not_an_alarm", "Message is not JSON, so not a CloudWatch alarm notification"
                ) from None
            where = lone_surrogate_at(message)
            if where is not None:
                raise PydanticCustomError(
                    "invalid_text", "Message.{where} holds a lone UTF-16 surrogate, which is not text", {"where": where}
                )
        if isinstance(message, dict) and "detail-type" in message:
            data["Message (EventBridge event)"] = message
        elif isinstance(message, dict):
            data["Message"] = {**message, "__topic_arn__": str(data.get("TopicArn", ""))[:512]}
        else:
            data["Message"] = message
        return data

    @model_validator(mode="after")
    def _notifications_carry_an_alarm(self) -> SnsMessage:
        if self.type == NOTIFICATION and self.alarm is None and self.event is None:
            raise PydanticCustomError("missing", "a Notification needs a Message (the CloudWatch alarm JSON)")
        return self


def _webhook_shape(value: Any) -> str | None:
    if not isinstance(value, dict):
        return None
    if "Type" in value:
        return "sns"
    if "detail-type" in value or "detail" in value:
        return "eventbridge"
    return "alarm"


class CloudWatchWebhook(
    RootModel[
        Annotated[
            Annotated[SnsMessage, Tag("sns")]
            | Annotated[AlarmStateChangeEvent, Tag("eventbridge")]
            | Annotated[AlarmMessage, Tag("alarm")],
            Discriminator(
                _webhook_shape,
                custom_error_type="cloudwatch_shape",
                custom_error_message="expected an SNS message, an EventBridge alarm state change or an alarm message",
            ),
        ]
    ]
):
    """What `POST /webhooks/cloudwatch` accepts: an SNS HTTPS delivery (signed), or, with the integration's
    Bearer/Basic credential, an alarm message (SNS raw message delivery) or an EventBridge event (API destination).
    """


# --- one normaliser ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlarmChange:
    """One alarm state change, whichever way it came."""

    arn: str
    name: str
    description: str
    state: str
    previous_state: str
    reason: str
    changed_at: datetime | None
    previous_changed_at: datetime | None
    namespace: str = ""
    metric_name: str = ""
    dimensions: dict[str, str] = field(default_factory=dict)
    threshold: str = ""
    comparison: str = ""
    alarm_rule: str = ""
    expressions: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    delivery: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    """What intake dropped or built (a malformed Trigger, a missing AlarmArn), for the decision history."""


def change_from_message(message: AlarmMessage, delivery: Mapping[str, str]) -> AlarmChange:
    trigger = message.trigger or AlarmTrigger()
    namespace, metric_name = trigger.namespace or "", trigger.metric_name or ""
    dimensions = {dimension.name: dimension.value for dimension in trigger.dimensions}
    for query in trigger.metrics:  # metric math: the queried metrics
        metric = query.metric_stat.metric if query.metric_stat else None
        if metric is not None:
            namespace, metric_name = namespace or metric.namespace or "", metric_name or metric.metric_name or ""
            for dimension in metric.dimensions:
                dimensions.setdefault(dimension.name, dimension.value)
    return AlarmChange(
        arn=message.alarm_arn,
        name=message.alarm_name,
        description=message.alarm_description,
        state=message.new_state,
        previous_state=message.old_state,
        reason=message.reason,
        changed_at=message.changed_at,
        previous_changed_at=None,  # SNS does not say when the previous state began
        namespace=namespace,
        metric_name=metric_name,
        dimensions=dimensions,
        threshold="" if trigger.threshold is None else f"{trigger.threshold:g}",
        comparison=trigger.comparison_operator or "",
        alarm_rule=message.alarm_rule,
        expressions=[query.expression for query in trigger.metrics if query.expression],
        tags=dict(message.tags),
        delivery=dict(delivery),
        notes=list(message.dropped),
    )


def change_from_detail(
    detail: AlarmDetail, arn: str, when: datetime | None, delivery: Mapping[str, str]
) -> AlarmChange:
    configuration = detail.configuration
    namespace = metric_name = ""
    dimensions: dict[str, str] = {}
    for query in configuration.metrics:
        metric = query.metric_stat.metric if query.metric_stat else None
        if metric is not None:
            namespace, metric_name = namespace or metric.namespace or "", metric_name or metric.name or ""
            for name, value in metric.dimensions.items():
                dimensions.setdefault(name, value)
    previous = detail.previous_state
    return AlarmChange(
        arn=arn,
        name=detail.alarm_name,
        description=configuration.description,
        state=detail.state.value,
        previous_state=previous.value if previous else "",
        reason=detail.state.reason,
        changed_at=detail.state.timestamp or when,
        previous_changed_at=previous.timestamp if previous else None,
        namespace=namespace,
        metric_name=metric_name,
        dimensions=dimensions,
        alarm_rule=configuration.alarm_rule,
        expressions=[query.expression for query in configuration.metrics if query.expression],
        tags=dict(detail.alarm_tags),
        delivery=dict(delivery),
    )


def change_from_event(event: AlarmStateChangeEvent, delivery: Mapping[str, str]) -> AlarmChange:
    return change_from_detail(event.detail, event.resources[0], event.time, {**delivery, "event_id": event.id})


def change_from_alarm_action(event: AlarmActionEvent, delivery: Mapping[str, str]) -> AlarmChange:
    return change_from_detail(event.alarm_data, event.alarm_arn, event.time, delivery)


def changes_from_sns(message: SnsMessage, delivery: str) -> list[AlarmChange]:
    """The alarm a Notification carries; confirmations carry none."""
    ids = {"delivery": delivery, "topic_arn": message.topic_arn, "message_id": message.message_id}
    if message.alarm is not None:
        return [change_from_message(message.alarm, ids)]
    if message.event is not None:
        return [change_from_event(message.event, ids)]
    return []


def alerts_for(change: AlarmChange) -> list[Alert]:
    """ALARM -> firing, OK -> resolved, INSUFFICIENT_DATA -> nothing (see the module docstring)."""
    if change.state == "ALARM":
        status = AlertStatus.FIRING
    elif change.state == "OK":
        status = AlertStatus.RESOLVED
    else:
        return []
    arn = _ALARM_ARN.fullmatch(change.arn)
    assert arn is not None  # the models only accept alarm ARNs
    word, found_in = severity_word(change.tags, change.description)
    firing = status is AlertStatus.FIRING
    ended_firing = change.previous_changed_at if change.previous_state == "ALARM" else None
    return [
        Alert(
            source=SOURCE,
            dedup_key=change.arn,
            group_key=change.arn,
            status=status,
            severity=severity_from_word(word),
            title=change.name[:1024],
            description="\n\n".join(part for part in (_without_token(change.description), change.reason) if part),
            labels=_labels(change, arn),
            annotations=_annotations(change),
            links={"cloudwatch": console_url(arn["partition"], arn["region"], arn["name"])},
            started_at=_aware(change.changed_at) if firing else _aware(ended_firing),
            ended_at=None if firing else _aware(change.changed_at),
            raw={
                "severity_word": word,
                "severity_from": found_in,
                "state": change.state,
                "previous_state": change.previous_state,
                "alarm_arn": change.arn,
                "account": arn["account"],
                "region": arn["region"],
                **change.delivery,
                **notes_of(change.notes),
            },
        )
    ]


def normalise_cloudwatch(payload: CloudWatchWebhook) -> list[Alert]:
    document = payload.root
    if isinstance(document, SnsMessage):
        changes = changes_from_sns(document, "sns-https")
    elif isinstance(document, AlarmStateChangeEvent):
        changes = [change_from_event(document, {"delivery": "eventbridge-http"})]
    else:
        changes = [change_from_message(document, {"delivery": "http"})]
    return [alert for change in changes for alert in alerts_for(change)]


def severity_word(tags: Mapping[str, str], description: str) -> tuple[str, str]:
    """(word, where it was found): the alert-courier:severity tag, the description token, a severity tag."""
    by_key = {key.strip().lower(): value for key, value in tags.items()}
    if by_key.get(SEVERITY_TAG, "").strip():
        return by_key[SEVERITY_TAG].strip(), f"tag {SEVERITY_TAG}"
    match = _SEVERITY_IN_DESCRIPTION.search(description)
    if match:
        return match.group(1), "description"
    if by_key.get("severity", "").strip():
        return by_key["severity"].strip(), "tag severity"
    return "", "default"


def _without_token(description: str) -> str:
    """The description as people wrote it for people: the severity token is for us."""
    return _SEVERITY_IN_DESCRIPTION.sub("", description).strip()


def console_url(partition: str, region: str, name: str) -> str:
    """The alarm's page in the CloudWatch console of its partition (commercial, China, GovCloud)."""
    host = {
        "aws-cn": f"{region}.console.amazonaws.cn",
        "aws-us-gov": f"{region}.console.amazonaws-us-gov.com",
    }.get(partition, f"{region}.console.aws.amazon.com")
    return f"https://{host}/cloudwatch/home?region={region}#alarmsV2:alarm/{quote(name, safe='')}"


def _labels(change: AlarmChange, arn: re.Match[str]) -> dict[str, str]:
    labels = {key: value for key, value in change.tags.items() if not key.lower().startswith("aws:")}
    labels.update(change.dimensions)
    labels.update(
        {
            "alarm_name": change.name,
            "account": arn["account"],
            "region": arn["region"],
            "alarm_type": "composite" if change.alarm_rule else "metric",
        }
    )
    if change.namespace:
        labels["namespace"] = change.namespace
    if change.metric_name:
        labels["metric_name"] = change.metric_name
    return {str(key)[:256]: str(value)[:_MAX_LABEL] for key, value in labels.items()}


def _annotations(change: AlarmChange) -> dict[str, str]:
    values = {
        "reason": change.reason,
        "alarm_description": change.description,
        "previous_state": change.previous_state,
        "threshold": change.threshold,
        "comparison_operator": change.comparison,
        "alarm_rule": change.alarm_rule,
        "expressions": "; ".join(change.expressions),
    }
    return {key: value for key, value in values.items() if value}


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --- the HTTPS path: SNS signature (or the integration's secret) and subscription confirmation ------------------


@dataclass
class SnsHttpsTrust:
    """What the HTTPS path trusts and how it reaches SNS; tests swap `SNS_HTTPS` for one with fakes."""

    allowed_topics: Callable[[], Collection[str]] = sns_topics.trusted  # the ingest function sets them
    certificates: CertificateStore = field(default_factory=lambda: DEFAULT_CERTIFICATES)
    confirm: SubscriptionConfirmer = confirm_subscription
    max_age: timedelta = MAX_AGE


SNS_HTTPS = SnsHttpsTrust()


def _verify_sns(document: object, now: datetime) -> None:
    trust = SNS_HTTPS
    verify_sns_message(
        document,
        allowed_topics=trust.allowed_topics(),
        now=now,
        certificates=trust.certificates,
        max_age=trust.max_age,
    )


def authenticate_cloudwatch(request: WebhookRequest, document: object, valid: Sequence[str], now: datetime) -> None:
    """A valid SNS signature from an allowed topic, or the integration's Bearer/Basic credential.

    A SubscriptionConfirmation always needs the signature and an allowed topic: accepting it makes us visit a URL.
    """
    message_type = document.get("Type") if isinstance(document, dict) else None
    if message_type == SUBSCRIPTION_CONFIRMATION:
        _verify_sns(document, now)
        return
    presented = presented_secret(request)
    if presented is not None and matches_any(presented, valid):
        return
    if MESSAGE_TYPE_HEADER in request.headers or message_type is not None:
        _verify_sns(document, now)
        return
    if presented is None:
        raise unauthorized(
            "missing credentials: subscribe with SNS over HTTPS (signed messages), "
            "or send Authorization: Bearer <token> (or Basic auth)"
        )
    raise unauthorized("invalid credentials")


def handshake_cloudwatch(payload: CloudWatchWebhook) -> Handshake | None:
    """SNS confirmations are answered here: a SubscriptionConfirmation (already verified) is confirmed."""
    message = payload.root
    if not isinstance(message, SnsMessage) or message.type == NOTIFICATION:
        return None
    if message.type == UNSUBSCRIBE_CONFIRMATION:
        return Handshake(200, "unsubscribe_noted", f"SNS topic {message.topic_arn} unsubscribed this endpoint")
    url = message.subscribe_url
    if url is None or not is_sns_url(url):
        raise untrusted_subscribe_url("SubscribeURL must be an https URL on an sns.<region>.amazonaws.com host")
    try:
        SNS_HTTPS.confirm(url)
    except Exception as error:  # transient (network, SNS): a 5xx makes SNS send the confirmation again
        raise WebhookRejected(
            503,
            "subscription_not_confirmed",
            f"confirming the subscription to {message.topic_arn} failed ({type(error).__name__}); retry",
        ) from None
    return Handshake(200, "subscription_confirmed", f"subscribed to {message.topic_arn}")
