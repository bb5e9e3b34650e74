"""Payloads of our own, each reproducing a quirk of a real sender (found in the peer corpus and the senders' docs).

Written for this project, not copied: names, values and ids are ours. Bytes matter for some quirks (indentation,
SNS' " : " spacing, \\u0026 escapes, no trailing newline), so every body is given as it goes on the wire.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.ingest_harness import TOKEN


@dataclass(frozen=True)
class Quirk:
    name: str
    source: str
    body: bytes
    status: int
    alerts: int = 0
    check: Callable[[list[Any]], None] = field(default=lambda alerts: None)
    """Called with the alerts read back from the queue."""
    reason_word: str = ""
    """For a refusal: a word its reason must contain."""


def _json(document: Any) -> bytes:
    return json.dumps(document).encode()


def _noted(word: str) -> Callable[[list[Any]], None]:
    def check(alerts: list[Any]) -> None:
        assert any(word in note for note in alerts[0].raw.get("intake_notes", [])), alerts[0].raw

    return check


def _all(*checks: Callable[[list[Any]], None]) -> Callable[[list[Any]], None]:
    def check(alerts: list[Any]) -> None:
        for one in checks:
            one(alerts)

    return check


def _where(predicate: Callable[[list[Any]], bool]) -> Callable[[list[Any]], None]:
    def check(alerts: list[Any]) -> None:
        assert predicate(alerts), alerts

    return check


# --- Alertmanager ------------------------------------------------------------------------------------------------

_LEGACY_V3 = b"""{
    "receiver": "courier", "status": "firing", "version": "3",
    "groupKey": 9223372036854775001,
    "groupLabels": {"alertname": "PingLost"},
    "commonLabels": {"alertname": "PingLost", "__name__": "probe_success"},
    "commonAnnotations": {}, "externalURL": "http://am.internal:9093",
    "alerts": [{"status": "firing", "labels": {"__name__": "probe_success", "alertname": "PingLost",
                "instance": "edge-7"}, "annotations": {"summary": "edge-7 lost"},
                "startsAt": "2017-03-02T10:11:12.345+03:00", "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prom.internal:9090/graph"}]
}"""

# Alertmanager < 0.6 / proxies: no per-alert status, fingerprint or generatorURL; tabs and spaces mixed;
# a groupKey with regex matchers and escaped quotes; nanoseconds and a -05:00 offset.
_NO_PER_ALERT_STATUS = b"""{
\t"version": "4",
\t"groupKey": "{}/{job=~\\"^(?:api|web)$\\"}:{alertname=\\"LatencyHigh\\"}",
  \t"status": "firing",
\t"receiver": "courier",
\t"groupLabels": {"alertname": "LatencyHigh"},
\t"commonLabels": {"alertname": "LatencyHigh", "severity": "warning"},
\t"commonAnnotations": {"summary": "p99 above 2s"},
\t"externalURL": "http://am.internal:9093",
\t"alerts": [
\t  {"labels": {"alertname": "LatencyHigh", "severity": "warning", "job": "api"},
\t   "annotations": {"summary": "p99 above 2s"}, "startsAt": "2019-06-01T08:09:10.123456789-05:00",
\t   "endsAt": "0001-01-01T00:00:00Z"},
\t  {"startsAt": "2019-06-01T08:09:11.5Z", "endsAt": "0001-01-01T00:00:00Z"}
\t]
}
"""

_NEWEST_V4 = _json(
    {
        "alerts": [
            {
                "annotations": {"summary": "queue {orders} backed up"},
                "endsAt": "2024-02-01T01:00:00Z",
                "fingerprint": "0f1e2d3c4b5a6978",
                "generatorURL": "http://prom.internal/graph?g0.expr=rate%28x%5B5m%5D%29+%3E+1",
                "labels": {"alertname": "QueueBacklog", "queue": "orders"},
                "startsAt": "2024-02-01T00:00:00Z",
                "status": "resolved",
            }
        ],
        "commonAnnotations": {},
        "commonLabels": {"alertname": "QueueBacklog"},
        "externalURL": "http://am.internal:9093",
        "groupKey": '{}:{alertname="QueueBacklog"}',
        "groupLabels": {"alertname": "QueueBacklog"},
        "notification_reason": "unknown",
        "receiver": "courier",
        "routeLabels": {"team": "queues"},
        "status": "resolved",
        "truncatedAlerts": 0,
        "version": "4",
    }
)

_AM_ODD_DECORATIONS = _json(
    {
        "version": "4",
        "groupKey": "g-odd",
        "status": "firing",
        "receiver": ["not", "text"],
        "truncatedAlerts": -3,
        "externalURL": 42.5,
        "commonAnnotations": {"ok": "fine", "bad": {"nested": True}},
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "Odd", "replicas": 3},
                "annotations": {"summary": "odd one", "value": 97.2},
                "generatorURL": {"href": "http://prom/graph"},
                "startsAt": "2024-05-05T05:05:05Z",
                "fingerprint": 123456789,
            }
        ],
    }
)

# --- Grafana -----------------------------------------------------------------------------------------------------

_GRAFANA_ZERO_TIMES = (
    b'{"alerts":[{"annotations":{"note":"n1"},"dashboardURL":"","endsAt":"0001-01-01T00:00:00Z",'
    b'"fingerprint":"aa11bb22cc33dd44","generatorURL":"http://grafana.internal/alerting/x?orgId=1",'
    b'"labels":{"alertname":"rule-a","zone":"z1"},"orgId":1,"panelURL":"",'
    b'"silenceURL":"http://grafana.internal/alerting/silence/new?alertmanager=grafana\\u0026matcher=alertname%3Drule-a&orgId=1",'
    b'"startsAt":"0001-01-01T00:00:00Z","status":"firing","valueString":"","values":null}],'
    b'"commonAnnotations":{"note":"n1"},"commonLabels":{"alertname":"rule-a"},"externalURL":"http://grafana.internal",'
    b'"groupKey":"alertname","groupLabels":{"alertname":""},"message":"**Firing**","orgId":1,"receiver":"r",'
    b'"state":"alerting","status":"firing","title":"[FIRING:1]  (z1)","truncatedAlerts":0,"version":"1"}'
)


def _grafana(alerts: list[dict[str, Any]], **top: Any) -> bytes:
    document = {
        "receiver": "courier",
        "status": "firing",
        "orgId": 1,
        "alerts": alerts,
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "https://grafana.example.net/",
        "version": "1",
        "groupKey": "{}:{}",
        "truncatedAlerts": 0,
        "title": "t",
        "state": "alerting",
        "message": "m",
        **top,
    }
    return _json(document)


def _grafana_alert(name: str, fingerprint: str, **fields: Any) -> dict[str, Any]:
    return {
        "status": "firing",
        "labels": {"alertname": name},
        "annotations": {},
        "startsAt": "2023-09-09T09:09:09.123456789+02:00",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "",
        "fingerprint": fingerprint,
        "silenceURL": "",
        "dashboardURL": "",
        "panelURL": "",
        "valueString": "",
        **fields,
    }


_GRAFANA_NO_DATA = _grafana(
    [
        _grafana_alert(
            "DatasourceNoData",
            "1a2b3c4d5e6f7081",
            labels={"alertname": "DatasourceNoData", "datasource_uid": "ds1", "ref_id": "A", "rulename": "infra/disk"},
            values=None,
        ),
        _grafana_alert(
            "DatasourceNoData",
            "1a2b3c4d5e6f7082",
            labels={"alertname": "DatasourceNoData", "datasource_uid": "ds1", "ref_id": "A", "rulename": "infra/mem"},
        ),
    ],
    groupKey='{}/{__grafana_autogenerated__="true"}/{__grafana_receiver__="courier"}:{alertname!="x"}',
)
_GRAFANA_TEST_BUTTON = _grafana(
    [_grafana_alert("TestAlert", "9f8e7d6c5b4a3921", labels={"alertname": "TestAlert", "instance": "Grafana"})],
    receiver="",
    groupKey='{alertname="TestAlert"}2023-09-09 09:09:09.1 +0200 CEST m=+4242.000000001',
)
_GRAFANA_RESOLVED_LEGACY = _grafana(
    [
        {
            **_grafana_alert("disk-usage", "5555aaaa5555aaaa", status="resolved", endsAt="2023-09-09T10:00:00.5+02:00"),
            "annotations": {"description": "line one\nline two"},
        }
    ],
    status="resolved",
    state="ok",
    title="[RESOLVED]  (disk-usage)",
    receiver="\\[STAGING\\] courier",  # regexp.QuoteMeta-escaped receiver name
)
_GRAFANA_RELATIVE_URL = _grafana(
    [_grafana_alert("cpu", "0123abcd0123abcd", generatorURL="?orgId=1", values={"A": 1, "B": None}, orgId=1)],
    appVersion="12.4.0",
)
_GRAFANA_NO_PER_ALERT_STATUS = _grafana(
    [{key: value for key, value in _grafana_alert("gone", "7777bbbb7777bbbb").items() if key != "status"}],
    status="resolved",
)
_GRAFANA_ODD_DECORATIONS = _grafana(
    [_grafana_alert("odd", "3333cccc3333cccc", values={"A": "high", "B": 2}, panelURL=7, imageURL=["x"])],
    title={"not": "text"},
    truncatedAlerts="many",
)
_GRAFANA_CUSTOM_OBJECT = _json({"type": "alert", "data": {"rule": "x"}, "incident_key": "k-1"})

# --- Datadog -----------------------------------------------------------------------------------------------------

_DATADOG_RECOVERED_REAL_STYLE = _json(
    {
        "alert_id": "5550001",
        "transition": "Recovered",
        "alert_type": "success",
        "priority": "",
        "severity": "",
        "title": "[Recovered on {service:pay\u00b7api}] Errors in pay\u00b7api logs",
        "body": "%%%\nErrors back to normal.\n\n[Logs](https://app.datadoghq.eu/logs?query=service%3Apay)\n"
        "@webhook-a @webhook-b\n%%%",
        "scope": "service:pay\u00b7api",
        "tags": "env:prod,service:pay\u00b7api,monitor",
        "date": "1712345678901",
        "last_updated": "1712345678901",
    }
)
_DATADOG_COLON_SCOPE = _json(
    {
        "alert_id": "5550002",
        "transition": "Triggered",
        "title": "[Triggered on {db_id:proj-1:main}] Slow queries",
        "scope": "db_id:proj-1:main",
        "tags": "db_id:proj-1:main,monitor",
        "date": "1712345678901",
    }
)
_DATADOG_DEFAULT_TEMPLATE = _json(
    {
        "body": "CPU above 90%",
        "last_updated": "1406662672000",
        "event_type": "query_alert_monitor",
        "title": "[Triggered] CPU high on web-9",
        "date": "1406662672000",
        "org": {"id": "11", "name": "Example Org"},
        "id": "1000000000000000001",
    }
)
_DATADOG_ODD_DECORATIONS = _json(
    {"alert_id": "5550003", "transition": "Triggered", "title": "Disk", "org": "not-an-object", "link": ["x"]}
)

# --- CloudWatch --------------------------------------------------------------------------------------------------

BUILT_ARN_PREFIX = "arn:aws:cloudwatch:eu-central-1:004242424242:alarm"
_ALARM_WITHOUT_ARN = {
    "AlarmName": "orders-bucket-size",
    "AlarmDescription": "bucket too big",
    "AWSAccountId": "4242424242",  # 10 digits: leading zeros lost somewhere
    "NewStateValue": "ALARM",
    "NewStateReason": "Threshold Crossed",
    "StateChangeTime": "2019-03-04T05:06:07.089+0000",
    "Region": "EU (Frankfurt)",
    "OldStateValue": "INSUFFICIENT_DATA",
    "Trigger": {
        "MetricName": "BucketSizeBytes",
        "Namespace": "AWS/S3",
        "Statistic": "AVERAGE",
        "Unit": None,
        "Dimensions": [{"value": "orders", "name": "BucketName"}],
        "Period": 86400,
        "EvaluationPeriods": 1,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "Threshold": 0.0,
        "TreatMissingData": "",
    },
}


def _sns_http(message: dict[str, Any], topic: str = "arn:aws:sns:eu-central-1:4242424242:alarms") -> bytes:
    """SNS' HTTPS delivery as SNS formats it: pretty-printed with " : " between key and value."""
    fields = {
        "Type": "Notification",
        "MessageId": "0a1b2c3d-0000-4000-8000-000000000001",
        "TopicArn": topic,
        "Subject": f'{message["NewStateValue"]}: "{message["AlarmName"]}" in {message["Region"]}',
        "Message": json.dumps(message, separators=(",", ":")),
        "Timestamp": "2019-03-04T05:06:07.123Z",
        "SignatureVersion": "1",
        "Signature": "c2lnbmF0dXJl",
        "SigningCertURL": "https://sns.eu-central-1.amazonaws.com/SimpleNotificationService-0000.pem",
        "UnsubscribeURL": "https://sns.eu-central-1.amazonaws.com/?Action=Unsubscribe",
    }
    lines = [f"  {json.dumps(key)} : {json.dumps(value)}" for key, value in fields.items()]
    return ("{\n" + ",\n".join(lines) + "\n}").encode()


_RAW_DELIVERY_ALARM = _json(
    {
        "AlarmName": "[prod] queue depth high",
        "AlarmDescription": "Depth above 1000\nsee runbook",
        "AWSAccountId": "123456789012",
        "AlarmConfigurationUpdatedTimestamp": "2024-01-01T00:00:00.000+0000",
        "NewStateValue": "ALARM",
        "NewStateReason": "Threshold Crossed",
        "StateChangeTime": "2024-06-01T12:00:00.000+0000",
        "Region": "US East (N. Virginia)",
        "AlarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:[prod] queue depth high",
        "OldStateValue": "OK",
        "OKActions": [],
        "AlarmActions": ["arn:aws:sns:us-east-1:123456789012:alarms"],
        "InsufficientDataActions": [],
        "Trigger": {"MetricName": "ApproximateNumberOfMessagesVisible", "Unit": None, "DatapointsToAlarm": 1},
    }
)
_ODD_TRIGGER = _json(
    {
        **_ALARM_WITHOUT_ARN,
        "AlarmArn": "arn:aws:cloudwatch:eu-central-1:004242424242:alarm:odd",
        "Trigger": {"Period": "daily", "Dimensions": "BucketName=orders"},
        "AlarmTags": "team=x",
    }
)
_CONFIGURATION_CHANGE = _json(
    {
        "version": "0",
        "id": "e0e0e0e0-0000-4000-8000-000000000002",
        "detail-type": "CloudWatch Alarm Configuration Change",
        "source": "aws.cloudwatch",
        "account": "123456789012",
        "time": "2024-06-01T12:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:new-alarm"],
        "detail": {"alarmName": "new-alarm", "operation": "create", "state": {"value": "INSUFFICIENT_DATA"}},
    }
)

# --- generic (PagerDuty Events v2 shape) -------------------------------------------------------------------------

_IMAGE_WITH_URL = _json(
    {
        "event_action": "trigger",
        "routing_key": TOKEN,
        "payload": {"summary": "cron failed", "source": "cron.host", "severity": "warning", "custom_details": {"a": 1}},
        "images": [{"url": "https://img.example.com/graph.png"}],
    }
)
_FOLLOW_UP_ONLY_KEYS = _json({"event_action": "resolve", "routing_key": TOKEN, "dedup_key": "abc"})
_FULL_TRIGGER = _json(
    {
        "payload": {
            "summary": "Ping to 10.0.0.7 failed",
            "timestamp": "2024-01-02T03:04:05.678+0000",
            "source": "monitor.example.net",
            "severity": "info",
            "component": "net",
            "group": "dc-2",
            "class": "ping",
            "custom_details": {"packets lost": 7, "ratio of loss": 0.35},
        },
        "routing_key": TOKEN,
        "dedup_key": "ping-10.0.0.7",
        "images": [{"src": "https://img.example.com/p.png", "href": "https://example.com", "alt": "graph"}],
        "links": [{"href": "https://example.com/run", "text": "Runbook"}],
        "event_action": "trigger",
        "client": "Example Monitor",
        "client_url": "https://monitor.example.net",
    }
)
_CHANGE_EVENT = _json(
    {"routing_key": TOKEN, "payload": {"summary": "Deployed v2", "source": "ci", "custom_details": {"build": "9"}}}
)

QUIRKS: list[Quirk] = [
    Quirk(
        "alertmanager legacy v3: numeric groupKey beyond 2^53, no fingerprint, +03:00",
        "alertmanager",
        _LEGACY_V3,
        202,
        1,
        _where(lambda alerts: alerts[0].group_key == "9223372036854775001" and len(alerts[0].dedup_key) == 16),
    ),
    Quirk(
        "alertmanager: alerts without status/labels/fingerprint default from the notification",
        "alertmanager",
        _NO_PER_ALERT_STATUS,
        202,
        2,
        _all(
            _where(lambda alerts: [a.status.value for a in alerts] == ["firing", "firing"]),
            _where(lambda alerts: alerts[1].labels == {"alertname": "LatencyHigh", "severity": "warning"}),
            _where(lambda alerts: alerts[0].started_at.isoformat() == "2019-06-01T13:09:10.123456+00:00"),
            _noted("status missing"),
        ),
    ),
    Quirk("alertmanager newest v4: notification_reason, routeLabels, resolved", "alertmanager", _NEWEST_V4, 202, 1),
    Quirk(
        "alertmanager: odd decorations are dropped with notes, the alert kept",
        "alertmanager",
        _AM_ODD_DECORATIONS,
        202,
        1,
        _all(
            _noted("receiver dropped"),
            _noted("generatorURL dropped"),
            _where(lambda alerts: alerts[0].labels["replicas"] == "3" and alerts[0].dedup_key == "123456789"),
            _where(lambda alerts: "value" not in alerts[0].annotations),
        ),
    ),
    Quirk(
        "alertmanager custom payload template: a top-level array",
        "alertmanager",
        b'[{"alertname":"x","num":"123","truthy":"true"}]\n',
        422,
        reason_word="custom",
    ),
    Quirk(
        "grafana: zero start and end times, values null, empty group label, \\u0026 in URLs",
        "grafana",
        _GRAFANA_ZERO_TIMES,
        202,
        1,
        _where(lambda alerts: alerts[0].started_at is None and "&matcher" in alerts[0].links["silence"]),
    ),
    Quirk("grafana no-data alerts of two rules", "grafana", _GRAFANA_NO_DATA, 202, 2),
    Quirk("grafana Test button: empty receiver, odd groupKey", "grafana", _GRAFANA_TEST_BUTTON, 202, 0),
    Quirk("grafana 8 resolved: state ok, no values, quoted receiver", "grafana", _GRAFANA_RESOLVED_LEGACY, 202, 1),
    Quirk("grafana 12: relative generatorURL, appVersion", "grafana", _GRAFANA_RELATIVE_URL, 202, 1),
    Quirk(
        "grafana: alert without status takes the notification's",
        "grafana",
        _GRAFANA_NO_PER_ALERT_STATUS,
        202,
        1,
        _where(lambda alerts: alerts[0].status.value == "resolved"),
    ),
    Quirk(
        "grafana: odd values, URLs and title are dropped with notes",
        "grafana",
        _GRAFANA_ODD_DECORATIONS,
        202,
        1,
        _all(_noted("values.A dropped"), _noted("panelURL dropped"), _noted("title dropped")),
    ),
    Quirk("grafana custom payload: a foreign object", "grafana", _GRAFANA_CUSTOM_OBJECT, 422, reason_word="custom"),
    Quirk(
        "datadog recovered: empty severity, epoch-ms dates, \\u00b7 in scope, %%% body",
        "datadog",
        _DATADOG_RECOVERED_REAL_STYLE,
        202,
        1,
        _where(lambda alerts: alerts[0].status.value == "resolved" and alerts[0].ended_at is not None),
    ),
    Quirk(
        "datadog scope value with extra colons",
        "datadog",
        _DATADOG_COLON_SCOPE,
        202,
        1,
        _where(lambda alerts: alerts[0].labels["db_id"] == "proj-1:main"),
    ),
    Quirk("datadog default template: status from the title prefix", "datadog", _DATADOG_DEFAULT_TEMPLATE, 202, 1),
    Quirk(
        "datadog: odd org and link dropped with notes",
        "datadog",
        _DATADOG_ODD_DECORATIONS,
        202,
        1,
        _all(_noted("org dropped"), _noted("link dropped")),
    ),
    Quirk(
        "cloudwatch SNS HTTPS without AlarmArn, 'EU (…)' region, 10-digit account, ' : ' spacing",
        "cloudwatch",
        _sns_http(_ALARM_WITHOUT_ARN),
        202,
        1,
        _all(
            _where(
                lambda alerts: (
                    alerts[0].dedup_key == "arn:aws:cloudwatch:eu-central-1:004242424242:alarm:orders-bucket-size"
                )
            ),
            _noted("AlarmArn missing"),
        ),
    ),
    Quirk(
        "cloudwatch SNS HTTPS without AlarmArn and an unknown region name: the topic's region",
        "cloudwatch",
        _sns_http({**_ALARM_WITHOUT_ARN, "Region": "Somewhere (New)"}),
        202,
        1,
        _where(lambda alerts: ":eu-central-1:004242424242:" in alerts[0].dedup_key),
    ),
    Quirk(
        "cloudwatch INSUFFICIENT_DATA without AlarmArn: accepted, nothing to act on",
        "cloudwatch",
        _sns_http({**_ALARM_WITHOUT_ARN, "NewStateValue": "INSUFFICIENT_DATA", "OldStateValue": "ALARM"}),
        202,
        0,
    ),
    Quirk("cloudwatch raw message delivery: +0000, Unit null, brackets", "cloudwatch", _RAW_DELIVERY_ALARM, 202, 1),
    Quirk(
        "cloudwatch: a Trigger and AlarmTags that do not read are dropped with notes",
        "cloudwatch",
        _ODD_TRIGGER,
        202,
        1,
        _all(_noted("Trigger"), _noted("AlarmTags")),
    ),
    Quirk(
        "cloudwatch alarm without AlarmArn and no way to build it",
        "cloudwatch",
        _json({**_ALARM_WITHOUT_ARN, "Region": "Nowhere", "AWSAccountId": ""}),
        422,
        reason_word="AlarmArn",
    ),
    Quirk(
        "cloudwatch configuration change: not a state change",
        "cloudwatch",
        _CONFIGURATION_CHANGE,
        422,
        reason_word="State Change",
    ),
    Quirk(
        "generic: an image with url instead of src is dropped with a note",
        "generic",
        _IMAGE_WITH_URL,
        202,
        1,
        _noted("images.0.src dropped"),
    ),
    Quirk("generic follow-up with only the keys", "generic", _FOLLOW_UP_ONLY_KEYS, 202, 1),
    Quirk("generic full trigger: +0000, details with spaces and floats", "generic", _FULL_TRIGGER, 202, 1),
    Quirk("generic: a change event is not an alert", "generic", _CHANGE_EVENT, 422, reason_word="change event"),
]
