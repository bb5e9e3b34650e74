"""Reading webhooks: authentication, every bad-input class, and Alertmanager normalisation."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from alert_courier.domain.alert import AlertStatus, Severity
from alert_courier.ingress.intake import read_webhook
from alert_courier.ingress.rejection import WebhookRejected
from alert_courier.ingress.webhook import WebhookRequest

TOKEN = "test-token-123"


def secrets(_source: str) -> list[str]:
    return [TOKEN, "previous-token"]


def request(body: Any, *, source: str = "alertmanager", headers: dict[str, str] | None = None) -> WebhookRequest:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    default = {"content-type": "application/json", "authorization": f"Bearer {TOKEN}"}
    return WebhookRequest(source=source, headers={**default, **(headers or {})}, body=raw, correlation_id="c-1")


def rejection(req: WebhookRequest, limit: int = 1_000_000) -> WebhookRejected:
    with pytest.raises(WebhookRejected) as caught:
        read_webhook(req, secrets, limit)
    return caught.value


def test_alertmanager_notification_becomes_one_alert_per_entry(alertmanager_firing: dict[str, Any]) -> None:
    intake = read_webhook(request(alertmanager_firing), secrets, 1_000_000)
    assert [alert.dedup_key for alert in intake.alerts] == ["5f1e9a6c2b7d4e80", "a83c0f11d2e94b77"]
    first = intake.alerts[0]
    assert first.status is AlertStatus.FIRING
    assert first.severity is Severity.CRITICAL
    assert first.title == "Disk almost full on db-1"
    assert first.group_key == alertmanager_firing["groupKey"]
    assert first.ended_at is None  # the zero time means "still firing"
    assert first.links["runbook"] == "https://runbooks.example.com/disk-full"


def test_status_is_read_per_alert_not_from_the_group(alertmanager_firing: dict[str, Any]) -> None:
    alertmanager_firing["alerts"][1]["status"] = "resolved"
    alertmanager_firing["alerts"][1]["endsAt"] = "2026-11-25T04:00:00Z"
    intake = read_webhook(request(alertmanager_firing), secrets, 1_000_000)
    assert [alert.status for alert in intake.alerts] == [AlertStatus.FIRING, AlertStatus.RESOLVED]


def test_truncated_alerts_are_surfaced(alertmanager_firing: dict[str, Any]) -> None:
    alertmanager_firing["truncatedAlerts"] = 7
    assert read_webhook(request(alertmanager_firing), secrets, 1_000_000).truncated_alerts == 7


def test_previous_token_and_basic_auth_are_accepted(alertmanager_firing: dict[str, Any]) -> None:
    basic = base64.b64encode(b"alertmanager:previous-token").decode()
    intake = read_webhook(request(alertmanager_firing, headers={"authorization": f"Basic {basic}"}), secrets, 10**6)
    assert len(intake.alerts) == 2


@pytest.mark.parametrize(
    ("headers", "source", "status", "code"),
    [
        ({}, "nagios", 404, "unknown_source"),
        ({"authorization": ""}, "alertmanager", 401, "unauthorized"),
        ({"authorization": "Bearer wrong"}, "alertmanager", 401, "unauthorized"),
        ({"authorization": "Basic !!!"}, "alertmanager", 401, "unauthorized"),
        ({"content-type": "text/plain"}, "alertmanager", 415, "unsupported_media_type"),
    ],
)
def test_rejections(
    headers: dict[str, str], source: str, status: int, code: str, alertmanager_firing: dict[str, Any]
) -> None:
    refused = rejection(request(alertmanager_firing, source=source, headers=headers))
    assert (refused.status, refused.code) == (status, code)


def test_body_over_the_limit_is_413(alertmanager_firing: dict[str, Any]) -> None:
    assert rejection(request(alertmanager_firing), limit=100).status == 413


def test_invalid_json_is_400_with_position() -> None:
    refused = rejection(request(b'{"version": "4",'))
    assert refused.status == 400 and "line 1" in refused.reason


def test_wrong_shape_is_422_naming_the_field(alertmanager_firing: dict[str, Any]) -> None:
    alertmanager_firing["alerts"][0]["status"] = "exploded"
    refused = rejection(request(alertmanager_firing))
    assert refused.status == 422 and refused.field == "alerts.0.status"


def test_empty_alert_list_is_422(alertmanager_firing: dict[str, Any]) -> None:
    alertmanager_firing["alerts"] = []
    assert rejection(request(alertmanager_firing)).field == "alerts"


def test_the_token_never_appears_in_a_rejection(alertmanager_firing: dict[str, Any]) -> None:
    refused = rejection(request(alertmanager_firing, headers={"authorization": "Bearer almost-" + TOKEN}))
    assert TOKEN not in json.dumps(refused.body())
