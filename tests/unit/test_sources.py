"""Normalising Grafana, Datadog and generic (PagerDuty-shaped) events, including the pitfalls of each sender."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from alert_courier.domain.alert import AlertStatus, Severity
from alert_courier.ingress.intake import Intake, read_webhook
from alert_courier.ingress.rejection import WebhookRejected
from alert_courier.ingress.webhook import WebhookRequest
from alert_courier.sources.datadog import RECOMMENDED_TEMPLATE, parse_title
from tests.conftest import load_event

TOKEN = "test-token-123"
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def secrets(_source: str) -> list[str]:
    return [TOKEN]


def request(source: str, body: Any, headers: dict[str, str] | None = None) -> WebhookRequest:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    default = {"content-type": "application/json", "authorization": f"Bearer {TOKEN}"}
    return WebhookRequest(source=source, headers={**default, **(headers or {})}, body=raw, correlation_id="c-1")


def intake(source: str, body: Any) -> Intake:
    return read_webhook(request(source, body), secrets, 1_000_000, now=NOW)


def rejection(source: str, body: Any, headers: dict[str, str] | None = None) -> WebhookRejected:
    with pytest.raises(WebhookRejected) as caught:
        read_webhook(request(source, body, headers), secrets, 1_000_000, now=NOW)
    return caught.value


@pytest.fixture
def grafana_firing() -> dict[str, Any]:
    return load_event("grafana/firing.json")


@pytest.fixture
def datadog_firing() -> dict[str, Any]:
    return load_event("datadog/firing.json")


@pytest.fixture
def default_template() -> dict[str, Any]:
    return load_event("datadog/default-template-triggered.json")


@pytest.fixture
def trigger() -> dict[str, Any]:
    return load_event("generic/trigger.json")


# --- Grafana -------------------------------------------------------------------------------------------------


def test_grafana_firing_becomes_one_alert_per_entry(grafana_firing: dict[str, Any]) -> None:
    alerts = intake("grafana", grafana_firing).alerts
    assert [alert.dedup_key for alert in alerts] == ["1/a3c0d5e1f6b72c19", "1/7d41b09e2c5a8f36"]
    first = alerts[0]
    assert first.source == "grafana"
    assert first.status is AlertStatus.FIRING
    assert first.severity is Severity.ERROR
    assert first.group_key == "1/" + grafana_firing["groupKey"]
    assert first.title == "5xx ratio 7.1% on checkout-api (api-gw-1)"
    assert first.started_at == datetime(2026, 11, 25, 8, 2, tzinfo=UTC)
    assert first.ended_at is None  # the zero endsAt while firing
    assert set(first.links) == {"generator", "runbook", "dashboard", "panel", "silence", "grafana"}
    assert first.raw["values"] == {"B": 0.071, "C": 1}
    assert first.raw["severity_word"] == "error"


def test_grafana_resolved_carries_its_end(grafana_firing: dict[str, Any]) -> None:
    alerts = intake("grafana", load_event("grafana/resolved.json")).alerts
    assert [alert.status for alert in alerts] == [AlertStatus.RESOLVED, AlertStatus.RESOLVED]
    assert alerts[0].ended_at == datetime(2026, 11, 25, 8, 41, tzinfo=UTC)
    firing = intake("grafana", grafana_firing).alerts
    assert [alert.dedup_key for alert in alerts] == [alert.dedup_key for alert in firing]


def test_grafana_status_is_read_per_alert_not_from_the_group(grafana_firing: dict[str, Any]) -> None:
    grafana_firing["alerts"][1]["status"] = "resolved"
    grafana_firing["alerts"][1]["endsAt"] = "2026-11-25T09:30:00+01:00"
    alerts = intake("grafana", grafana_firing).alerts
    assert [alert.status for alert in alerts] == [AlertStatus.FIRING, AlertStatus.RESOLVED]
    assert alerts[1].ended_at == datetime(2026, 11, 25, 8, 30, tzinfo=UTC)


def test_grafana_fingerprints_are_scoped_by_org(grafana_firing: dict[str, Any]) -> None:
    other_org = copy.deepcopy(grafana_firing)
    other_org["orgId"] = 7
    ours, theirs = intake("grafana", grafana_firing).alerts[0], intake("grafana", other_org).alerts[0]
    assert ours.dedup_key != theirs.dedup_key and ours.group_key != theirs.group_key


def test_grafana_minimal_alert_without_optional_fields() -> None:
    body = {
        "orgId": 1,
        "groupKey": '{}:{alertname="Disk"}',
        "status": "firing",
        "alerts": [{"status": "firing", "labels": {"alertname": "Disk"}, "fingerprint": "0f1e2d3c4b5a6978"}],
    }
    (alert,) = intake("grafana", body).alerts
    assert alert.title == "Disk"
    assert alert.links == {}
    assert alert.started_at is None and alert.ended_at is None
    assert alert.severity is Severity.WARNING


def test_grafana_empty_dashboard_and_panel_urls_are_not_links(grafana_firing: dict[str, Any]) -> None:
    grafana_firing["alerts"][0].update(dashboardURL="", panelURL="", silenceURL="")
    links = intake("grafana", grafana_firing).alerts[0].links
    assert not {"dashboard", "panel", "silence"} & set(links)


def test_grafana_contact_point_test_is_accepted_but_ignored(grafana_firing: dict[str, Any]) -> None:
    test_alert = grafana_firing["alerts"][0]
    test_alert["labels"] = {"alertname": "TestAlert", "instance": "Grafana"}
    test_alert["annotations"] = {"summary": "Notification test"}
    grafana_firing["alerts"] = [test_alert]
    assert intake("grafana", grafana_firing).alerts == []


def test_grafana_no_data_is_a_firing_alert_named_after_the_rule(grafana_firing: dict[str, Any]) -> None:
    entry = grafana_firing["alerts"][0]
    entry["labels"] = {"alertname": "DatasourceNoData", "rulename": "API 5xx rate", "datasource_uid": "prom-main"}
    entry["annotations"] = {}
    (alert, _) = intake("grafana", grafana_firing).alerts
    assert alert.status is AlertStatus.FIRING
    assert alert.title == "No data: API 5xx rate"


def test_grafana_truncated_alerts_are_surfaced(grafana_firing: dict[str, Any]) -> None:
    grafana_firing["truncatedAlerts"] = 3
    assert intake("grafana", grafana_firing).truncated_alerts == 3


@pytest.mark.parametrize(
    "body",
    [
        {"text": "API 5xx rate is firing", "severity": "high"},
        ["firing"],
        "firing",
        # Alertmanager's incident.io notifier also says version "1", but has no orgId
        {"version": "1", "groupKey": "g", "status": "firing", "alerts": [{"status": "firing"}]},
    ],
)
def test_grafana_custom_payload_template_is_422(body: Any) -> None:
    refused = rejection("grafana", body)
    assert (refused.status, refused.field) == (422, "body")
    assert "custom payload template is not supported" in refused.reason


def test_grafana_bad_alert_status_names_the_field(grafana_firing: dict[str, Any]) -> None:
    grafana_firing["alerts"][0]["status"] = "alerting"
    assert rejection("grafana", grafana_firing).field == "alerts.0.status"


def test_grafana_missing_fingerprint_names_the_field(grafana_firing: dict[str, Any]) -> None:
    del grafana_firing["alerts"][1]["fingerprint"]
    assert rejection("grafana", grafana_firing).field == "alerts.1.fingerprint"


# --- Datadog -------------------------------------------------------------------------------------------------


def test_datadog_recommended_template_firing(datadog_firing: dict[str, Any]) -> None:
    (alert,) = intake("datadog", datadog_firing).alerts
    assert alert.source == "datadog"
    assert alert.status is AlertStatus.FIRING
    assert alert.dedup_key == "9bd4ac313a4d1e8fae2482df7b77628"
    assert alert.group_key == "81234567"
    assert alert.severity is Severity.ERROR
    assert alert.title == "CPU above 90% on web-3"
    assert alert.description.startswith("CPU on **web-3**") and "%%%" not in alert.description
    assert alert.labels == {"env": "prod", "service": "storefront", "team": "web", "monitor": "", "host": "web-3"}
    assert alert.links == {"datadog": datadog_firing["link"]}
    assert alert.started_at == datetime(2026, 11, 25, 9, 47, tzinfo=UTC)  # $DATE is epoch milliseconds
    assert alert.raw["cycle_key"] == "7241920021093810034"
    assert alert.raw["severity_word"] == "P2"


def test_datadog_recovered_resolves_the_same_alert(datadog_firing: dict[str, Any]) -> None:
    (firing,) = intake("datadog", datadog_firing).alerts
    (resolved,) = intake("datadog", load_event("datadog/resolved.json")).alerts
    assert resolved.status is AlertStatus.RESOLVED
    assert (resolved.dedup_key, resolved.group_key) == (firing.dedup_key, firing.group_key)
    assert resolved.ended_at == datetime(2026, 11, 25, 10, 23, tzinfo=UTC)
    assert resolved.started_at is None


def test_recommended_template_is_json_with_the_documented_variables(datadog_firing: dict[str, Any]) -> None:
    template = json.loads(RECOMMENDED_TEMPLATE)
    for variable in (
        "$ALERT_ID",
        "$ALERT_TRANSITION",
        "$AGGREG_KEY",
        "$ALERT_PRIORITY",
        "$ALERT_TITLE",
        "$EVENT_MSG",
        "$TAGS",
        "$LINK",
        "$HOSTNAME",
        "$ALERT_SCOPE",
        "$DATE",
        "$LAST_UPDATED",
        "$ORG_ID",
    ):
        assert variable in RECOMMENDED_TEMPLATE
    assert set(template) == set(datadog_firing)


def test_recommended_template_rendered_by_a_test_send_is_ignored() -> None:
    """Variables that do not apply render empty: no transition, nothing to act on, still a 2xx."""
    blank = {key: "" for key in json.loads(RECOMMENDED_TEMPLATE)} | {"org": {"id": "412345", "name": "Example"}}
    assert intake("datadog", blank).alerts == []
    assert intake("datadog", {**blank, "transition": "Null"}).alerts == []


def test_datadog_default_template_reads_status_from_the_title(default_template: dict[str, Any]) -> None:
    (alert,) = intake("datadog", default_template).alerts
    assert alert.status is AlertStatus.FIRING
    assert alert.title == "CPU above 90% on web-3"
    assert alert.labels == {"host": "web-3"}
    assert alert.raw["template"] == "default"
    recovered = {**default_template, "title": "[Recovered on {host:web-3}] CPU above 90% on web-3"}
    (resolved,) = intake("datadog", recovered).alerts
    assert resolved.status is AlertStatus.RESOLVED
    assert (resolved.dedup_key, resolved.group_key) == (alert.dedup_key, alert.group_key)


@pytest.mark.parametrize(
    ("title", "status", "severity"),
    [
        ("[Triggered on {host:web-3}] CPU high", AlertStatus.FIRING, Severity.WARNING),
        ("[Triggered] CPU high", AlertStatus.FIRING, Severity.WARNING),
        ("[Re-Triggered on {host:web-3}] CPU high", AlertStatus.FIRING, Severity.WARNING),
        ("[Recovered on {host:web-3}] CPU high", AlertStatus.RESOLVED, Severity.WARNING),
        ("[Warn on {host:web-3}] CPU high", AlertStatus.FIRING, Severity.WARNING),
        ("[Re-Warn on {host:web-3}] CPU high", AlertStatus.FIRING, Severity.WARNING),
        ("[No Data on {host:web-3}] CPU high", AlertStatus.FIRING, Severity.WARNING),
        ("[Re-No Data] CPU high", AlertStatus.FIRING, Severity.WARNING),
        ("[P1] [Triggered on {host:web-3}] CPU high", AlertStatus.FIRING, Severity.CRITICAL),
        ("[Triggered on {host:web-3}] [P2] CPU high", AlertStatus.FIRING, Severity.ERROR),
        ("[P1] [Warn on {host:web-3}] CPU high", AlertStatus.FIRING, Severity.WARNING),
        ("[P4] [Recovered] CPU high", AlertStatus.RESOLVED, Severity.INFO),
    ],
)
def test_datadog_title_prefixes(
    title: str, status: AlertStatus, severity: Severity, default_template: dict[str, Any]
) -> None:
    (alert,) = intake("datadog", {**default_template, "title": title}).alerts
    assert (alert.status, alert.severity) == (status, severity)
    assert alert.title.startswith("CPU high")


def test_datadog_title_parts() -> None:
    parts = parse_title("[P2] [No Data on {role:db, availability-zone:us-east-1a}] Replica silent")
    assert parts is not None
    assert (parts.transition, parts.priority, parts.scope, parts.name) == (
        "No Data",
        "P2",
        "availability-zone:us-east-1a,role:db",
        "Replica silent",
    )
    assert parse_title("[prod] Deploy finished") is None
    assert parse_title("CPU high") is None


@pytest.mark.parametrize("title", ["CPU above 90% on web-3", "[prod] Deploy finished", ""])
def test_datadog_default_template_without_a_status_prefix_is_422(title: str, default_template: dict[str, Any]) -> None:
    refused = rejection("datadog", {**default_template, "title": title})
    assert (refused.status, refused.field) == (422, "title")
    assert "recommended payload template" in refused.reason


@pytest.mark.parametrize(
    ("priority", "severity"),
    [
        ("P1", Severity.CRITICAL),
        ("P2", Severity.ERROR),
        ("P3", Severity.WARNING),
        ("P4", Severity.INFO),
        ("P5", Severity.INFO),
    ],
)
def test_datadog_priority_maps_to_severity(priority: str, severity: Severity, datadog_firing: dict[str, Any]) -> None:
    datadog_firing["priority"] = priority
    assert intake("datadog", datadog_firing).alerts[0].severity is severity


def test_datadog_without_priority_falls_back_to_alert_type(datadog_firing: dict[str, Any]) -> None:
    datadog_firing.update(priority="", title="[Triggered on {host:web-3}] CPU above 90% on web-3")
    assert intake("datadog", datadog_firing).alerts[0].severity is Severity.ERROR
    datadog_firing["alert_type"] = "info"
    assert intake("datadog", datadog_firing).alerts[0].severity is Severity.INFO


@pytest.mark.parametrize(("transition", "status"), [("Warn", AlertStatus.FIRING), ("No Data", AlertStatus.FIRING)])
def test_datadog_warn_and_no_data_fire_as_warnings(
    transition: str, status: AlertStatus, datadog_firing: dict[str, Any]
) -> None:
    datadog_firing.update(transition=transition, priority="P1")
    (alert,) = intake("datadog", datadog_firing).alerts
    assert (alert.status, alert.severity) == (status, Severity.WARNING)


def test_datadog_renotify_and_unknown_transitions_fire(datadog_firing: dict[str, Any]) -> None:
    for transition in ("Renotify", "Escalated"):
        datadog_firing["transition"] = transition
        assert intake("datadog", datadog_firing).alerts[0].status is AlertStatus.FIRING


def test_datadog_dedup_falls_back_to_monitor_and_scope(datadog_firing: dict[str, Any]) -> None:
    datadog_firing.update(aggreg_key="", scope="role:db, availability-zone:us-east-1a")
    first = intake("datadog", datadog_firing).alerts[0]
    datadog_firing["scope"] = "availability-zone:us-east-1a,role:db"
    assert first.dedup_key == intake("datadog", datadog_firing).alerts[0].dedup_key
    assert first.dedup_key == "81234567:availability-zone:us-east-1a,role:db"
    assert first.group_key == "81234567"


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        ("1795600020000", datetime(2026, 11, 25, 9, 47, tzinfo=UTC)),
        ("1795600020", datetime(2026, 11, 25, 9, 47, tzinfo=UTC)),
        ("2026-11-25T09:47:00Z", datetime(2026, 11, 25, 9, 47, tzinfo=UTC)),
        ("", None),
        ("yesterday", None),
        ("9" * 16, None),
    ],
)
def test_datadog_dates(date: str, expected: datetime | None, datadog_firing: dict[str, Any]) -> None:
    datadog_firing.update(date=date, last_updated="")
    assert intake("datadog", datadog_firing).alerts[0].started_at == expected


def test_datadog_unquoted_numbers_and_tag_lists_are_accepted(datadog_firing: dict[str, Any]) -> None:
    datadog_firing.update(alert_id=81234567, tags=["env:prod", "team:web", "team:payments"], org={"id": 412345})
    (alert,) = intake("datadog", datadog_firing).alerts
    assert alert.group_key == "81234567"
    assert alert.labels["team"] == "web,payments"


def test_datadog_form_encoded_body_is_415(datadog_firing: dict[str, Any]) -> None:
    body = b"transition=Triggered&alert_id=81234567"
    refused = rejection("datadog", body, {"content-type": "application/x-www-form-urlencoded"})
    assert (refused.status, refused.code) == (415, "unsupported_media_type")


# --- Generic events (PagerDuty Events API v2 shape) ----------------------------------------------------------


def test_generic_trigger(trigger: dict[str, Any]) -> None:
    result = intake("generic", trigger)
    (alert,) = result.alerts
    assert result.dedup_key == alert.dedup_key == alert.group_key == "billing-db/replica-lag"
    assert alert.status is AlertStatus.FIRING
    assert alert.severity is Severity.ERROR
    assert alert.title == "Replica lag 94s on billing-db-2"
    assert alert.labels == {
        "source": "billing-db-2.prod.example.com",
        "component": "postgres",
        "group": "billing",
        "class": "replication",
    }
    assert alert.annotations == {"lag_seconds": "94", "primary": "billing-db-1", "threshold_seconds": "60"}
    assert "lag_seconds: 94" in alert.description
    assert alert.links["Replication dashboard"].startswith("https://grafana.example.com/")
    assert alert.links["pg-replication-check (cron on ops-1)"] == trigger["client_url"]
    assert alert.started_at == datetime(2026, 11, 25, 10, 5, tzinfo=UTC)
    assert alert.raw["severity_word"] == "error"


@pytest.mark.parametrize(
    ("event", "status"), [("acknowledge", AlertStatus.ACKNOWLEDGED), ("resolve", AlertStatus.RESOLVED)]
)
def test_generic_follow_ups(event: str, status: AlertStatus) -> None:
    result = intake("generic", load_event(f"generic/{event}.json"))
    (alert,) = result.alerts
    assert alert.status is status
    assert result.dedup_key == alert.dedup_key == alert.group_key == "billing-db/replica-lag"


def test_generic_generated_dedup_key_is_stable_and_returned(trigger: dict[str, Any]) -> None:
    del trigger["dedup_key"]
    first = intake("generic", trigger)
    retried = copy.deepcopy(trigger)
    retried["payload"].update(timestamp="2026-11-25T10:06:00Z", custom_details={"lag_seconds": 120})
    again = intake("generic", retried)
    assert first.dedup_key is not None and len(first.dedup_key) == 32
    assert first.dedup_key == first.alerts[0].dedup_key == again.dedup_key
    assert first.alerts[0].raw["dedup_key_generated"] is True
    for field, value in (("summary", "Replica lag on billing-db-3"), ("source", "billing-db-3"), ("component", "pg")):
        changed = copy.deepcopy(trigger)
        changed["payload"][field] = value
        assert intake("generic", changed).dedup_key != first.dedup_key
    assert intake("generic", {**trigger, "dedup_key": "  "}).dedup_key == first.dedup_key


@pytest.mark.parametrize("event", ["acknowledge", "resolve"])
def test_generic_follow_up_without_dedup_key_is_422(event: str) -> None:
    body = {"routing_key": TOKEN, "event_action": event}
    refused = rejection("generic", body)
    assert (refused.status, refused.field) == (422, "dedup_key")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"payload": None}, "payload"),
        ({"payload": {"source": "cron", "severity": "error"}}, "payload.summary"),
        ({"payload": {"summary": "x", "source": "cron", "severity": "sev1"}}, "payload.severity"),
        ({"event_action": "escalate"}, "event_action"),
        ({"dedup_key": "k" * 256}, "dedup_key"),
    ],
)
def test_generic_shape_errors_name_the_field(change: dict[str, Any], field: str, trigger: dict[str, Any]) -> None:
    body = {key: value for key, value in {**trigger, **change}.items() if value is not None}
    refused = rejection("generic", body)
    assert (refused.status, refused.field) == (422, field)


def test_generic_malformed_links_and_images_are_dropped_with_a_note(trigger: dict[str, Any]) -> None:
    """Decorations do not decide the action: a bad one costs itself, never the alert (PagerDuty answers 202 too)."""
    trigger["links"] = [{"text": "no href"}, {"href": "https://ok.example.com", "text": "ok"}, "just text"]
    trigger["images"] = [{"url": "https://http.cat/502.jpg"}]
    trigger["client_url"] = 5
    (alert,) = intake("generic", trigger).alerts
    assert alert.links == {"ok": "https://ok.example.com"}
    assert alert.raw["images"] == []
    notes = alert.raw["intake_notes"]
    assert [note.split(" dropped")[0] for note in notes] == ["links.0.href", "links.2", "images.0.src", "client_url"]


def test_generic_long_summary_is_clipped_not_refused(trigger: dict[str, Any]) -> None:
    trigger["payload"]["summary"] = "lag " * 600
    assert len(intake("generic", trigger).alerts[0].title) == 1024


def test_generic_payload_on_follow_ups_is_ignored() -> None:
    body = {"routing_key": TOKEN, "event_action": "resolve", "dedup_key": "k1", "payload": {"summary": "fixed"}}
    assert intake("generic", body).alerts[0].status is AlertStatus.RESOLVED


def test_generic_details_as_text_and_naive_timestamp(trigger: dict[str, Any]) -> None:
    trigger["payload"].update(custom_details="lag 94s, primary billing-db-1", timestamp="2026-11-25T10:05:00")
    (alert,) = intake("generic", trigger).alerts
    assert alert.annotations == {"details": "lag 94s, primary billing-db-1"}
    assert alert.started_at == datetime(2026, 11, 25, 10, 5, tzinfo=UTC)


def test_generic_routing_key_is_never_kept(trigger: dict[str, Any]) -> None:
    trigger["routing_key"] = TOKEN
    (alert,) = intake("generic", trigger).alerts
    assert TOKEN not in alert.model_dump_json()
