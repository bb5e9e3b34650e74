"""Heartbeat pings with plain data: `POST /heartbeats/<name>` requests and alerts that count as pings."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest

from alert_courier.domain.alert import Alert, AlertStatus
from alert_courier.domain.rules import load_rules, parse_rules
from alert_courier.ingress.heartbeat_pings import AlertPings, Ping, pings_from_alert, read_ping
from alert_courier.ingress.rejection import WebhookRejected
from alert_courier.ingress.webhook import WebhookRequest

TOKEN = "heartbeat-token-3f9a"
NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


def secrets(source: str) -> list[str]:
    assert source == "heartbeat"  # one secret for every heartbeat: alert-courier/webhooks/heartbeat
    return [TOKEN, "previous-token"]


def known() -> list[str]:
    return ["nightly-backup", "job"]


def ping_request(body: bytes = b"", content_type: str = "", auth: str | None = f"Bearer {TOKEN}") -> WebhookRequest:
    headers = {"content-type": content_type} if content_type else {}
    if auth:
        headers["authorization"] = auth
    return WebhookRequest(source="heartbeat", headers=headers, body=body, correlation_id="c", received_at=NOW)


def refused(request: WebhookRequest, name: str = "nightly-backup", query: dict[str, str] | None = None) -> Any:
    with pytest.raises(WebhookRejected) as caught:
        read_ping(request, name, query, secrets, known=known)
    return caught.value


def test_a_bare_ping_with_a_bearer_token() -> None:
    assert read_ping(ping_request(), "nightly-backup", None, secrets, known=known) == Ping("nightly-backup", "", NOW)


def test_basic_auth_and_the_previous_secret_are_accepted() -> None:
    basic = "Basic " + base64.b64encode(b"cron:previous-token").decode()
    assert read_ping(ping_request(auth=basic), "job", None, secrets, known=known).name == "job"


@pytest.mark.parametrize(
    ("auth", "reason"),
    [(None, "missing credentials"), ("Bearer wrong", "invalid credentials"), ("Token x", "missing credentials")],
)
def test_a_ping_without_the_secret_is_refused(auth: str | None, reason: str) -> None:
    rejection = refused(ping_request(auth=auth))
    assert rejection.status == 401 and reason in rejection.reason


def test_a_name_that_cannot_be_a_heartbeat_is_404_before_anything_else() -> None:
    rejection = refused(ping_request(auth=None), name="../etc")
    assert (rejection.status, rejection.code) == (404, "unknown_heartbeat")


def test_a_name_the_rules_do_not_declare_is_404_naming_the_ones_they_do() -> None:
    rejection = refused(ping_request(), name="nightly-bakup")
    assert (rejection.status, rejection.code) == (404, "unknown_heartbeat")
    assert "'nightly-bakup'" in rejection.reason and "job, nightly-backup" in rejection.reason
    assert rejection.body()["error"]["known_heartbeats"] == ["job", "nightly-backup"]


def test_the_known_names_are_told_only_to_senders_with_the_secret() -> None:
    rejection = refused(ping_request(auth="Bearer wrong"), name="nightly-bakup")
    assert rejection.status == 401 and "nightly-backup" not in str(rejection.body())


@pytest.mark.parametrize(
    ("body", "content_type", "query", "instance"),
    [
        (b"", "", {"instance": "db-1"}, "db-1"),
        (b'{"instance": "db-2"}', "application/json", None, "db-2"),
        (b'{"instance": 7}', "application/json", None, "7"),
        (b"instance=db-3", "application/x-www-form-urlencoded", None, "db-3"),
        (b'{"instance": "db-4"}', "application/x-www-form-urlencoded", None, "db-4"),  # curl -d without -H
        (b"backup finished in 42s", "text/plain", None, ""),
        (b'{"status": "ok"}', "application/json", None, ""),
        (b'{"instance": "ignored"}', "application/json", {"instance": "query-wins"}, "query-wins"),
    ],
)
def test_the_instance_comes_from_the_query_or_the_body(
    body: bytes, content_type: str, query: dict[str, str] | None, instance: str
) -> None:
    assert read_ping(ping_request(body, content_type), "job", query, secrets, known=known).instance == instance


@pytest.mark.parametrize(
    ("body", "content_type", "query", "status"),
    [
        (b"{nope", "application/json", None, 400),
        (b'{"instance": {"a": 1}}', "application/json", None, 422),
        (b"", "", {"instance": "x" * 201}, 422),
        (b"", "", {"instance": "db\n1"}, 422),
        (b"x" * (64 * 1024 + 1), "text/plain", None, 413),
    ],
)
def test_a_malformed_instance_is_refused(
    body: bytes, content_type: str, query: dict[str, str] | None, status: int
) -> None:
    assert refused(ping_request(body, content_type), query=query).status == status


# ---- alerts that are pings -------------------------------------------------------------------------


def watchdog(status: str = "firing", **labels: str) -> Alert:
    return Alert(
        source="alertmanager",
        dedup_key="wd",
        group_key="g",
        status=AlertStatus(status),
        title="Watchdog",
        labels={"alertname": "Watchdog", **labels},
        received_at=NOW,
    )


def test_alertmanagers_watchdog_pings_the_bundled_heartbeat_per_cluster() -> None:
    rules = load_rules()
    assert pings_from_alert(watchdog(cluster="eu-1"), rules) == [Ping("alertmanager-watchdog", "eu-1", NOW)]
    assert pings_from_alert(watchdog(), rules) == [Ping("alertmanager-watchdog", "", NOW)]
    assert pings_from_alert(watchdog("resolved", cluster="eu-1"), rules) == []  # a resolved Watchdog is no sign of life
    other = watchdog().model_copy(update={"labels": {"alertname": "DiskFull"}})
    assert pings_from_alert(other, rules) == []


def test_match_may_ask_for_other_statuses_and_several_heartbeats_can_match() -> None:
    rules = parse_rules(
        "heartbeats:\n"
        "  - {name: any-status, interval: 5m, match: {status: {any_of: [firing, resolved]}, title: Watchdog}}\n"
        "  - {name: firing-only, interval: 5m, match: {title: Watchdog}}\n"
        "  - {name: not-fed-by-alerts, interval: 5m}\n"
    )
    assert [p.name for p in pings_from_alert(watchdog(), rules)] == ["any-status", "firing-only"]
    assert [p.name for p in pings_from_alert(watchdog("resolved"), rules)] == ["any-status"]


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.pings: list[tuple[str, str, datetime, str]] = []

    def record_ping(self, name: str, instance: str, at: datetime, *, via: str) -> bool:
        if self.fail:
            raise RuntimeError("DynamoDB is down")
        self.pings.append((name, instance, at, via))
        return True


def test_dispatch_hook_records_pings_and_never_fails_the_alert() -> None:
    recorder = Recorder()
    AlertPings(recorder, load_rules).observe(watchdog(cluster="eu-1"))
    assert recorder.pings == [("alertmanager-watchdog", "eu-1", NOW, "alert:alertmanager")]
    assert AlertPings(Recorder(fail=True), load_rules).observe(watchdog()) == [Ping("alertmanager-watchdog", "", NOW)]
