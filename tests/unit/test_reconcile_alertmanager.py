"""The Alertmanager API v2 reader of the reconcile pass (`aws/alertmanager_api.py`) on a recorded-answer stand-in:
what it asks, what a missing alert means, its period, its credential, and that a failed read resolves nothing.
The real Alertmanager: tests/e2e/test_reconcile_alertmanager.py."""

from __future__ import annotations

import base64
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from alert_courier.aws.alertmanager_api import AlertmanagerActiveAlerts
from alert_courier.domain.group_state import GroupState
from alert_courier.domain.rules import parse_rules

RULES = parse_rules(
    """
reconcile:
  alertmanager: {url: "http://am:9093/", every: 2m, credential_secret: am, receiver: courier, filter: ['team="db"']}
rules: [{name: all, actions: [open_incident]}]
"""
)


class Recorded:
    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.asked: list[tuple[str, dict[str, Any], dict[str, str]]] = []

    def __call__(self, url: str, params: dict[str, Any], headers: dict[str, str]) -> Any:
        self.asked.append((url, params, headers))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def held(source: str, *keys: str) -> GroupState:
    return GroupState(
        group_id="g", source=source, group_key="k", firing=dict.fromkeys(keys, "2026-11-25T03:00:00+00:00")
    )


def test_an_alert_no_longer_listed_as_active_is_over_and_the_request_carries_the_settings() -> None:
    now = [datetime(2026, 12, 2, 10, 0, tzinfo=UTC)]
    api = Recorded([{"fingerprint": "aaa", "status": {"state": "suppressed"}}])
    truth = AlertmanagerActiveAlerts(
        "alertmanager", lambda: RULES, lambda name: f"token-of-{name}", get=api, clock=lambda: now[0]
    )
    state = held("alertmanager", "aaa", "bbb")
    assert truth.covers(state) and not truth.covers(held("grafana", "x"))
    seen = truth.observe([state])
    assert sorted(seen) == ["bbb"] and seen["bbb"].firing is False  # a silenced alert is still active
    assert seen["bbb"].says == "Alertmanager at http://am:9093 no longer lists it as active"
    url, params, headers = api.asked[0]
    assert url == "http://am:9093/api/v2/alerts"
    assert params == {
        "active": "true",
        "silenced": "true",
        "inhibited": "true",
        "unprocessed": "true",
        "receiver": "courier",
        "filter": ['team="db"'],
    }
    assert headers["Authorization"] == "Bearer token-of-am"
    now[0] += timedelta(minutes=1)
    assert truth.observe([state]) == {} and len(api.asked) == 1  # its `every` (2m) has not passed
    now[0] += timedelta(minutes=1)
    truth.observe([state])
    assert len(api.asked) == 2


def test_a_failed_or_odd_answer_resolves_nothing() -> None:
    for answer in (OSError("connection refused"), {"error": "nope"}):
        truth = AlertmanagerActiveAlerts("alertmanager", lambda: RULES, get=Recorded(answer))
        assert truth.observe([held("alertmanager", "aaa")]) == {}


def test_grafana_keys_carry_the_org_and_basic_auth_is_supported() -> None:
    rules = parse_rules('reconcile: {grafana: {url: "http://g/api/alertmanager/grafana", credential_secret: g}}')
    api = Recorded([{"fingerprint": "f1"}])
    secret = '{"username": "svc", "password": "pw"}'
    truth = AlertmanagerActiveAlerts("grafana", lambda: rules, lambda name: secret, get=api)
    seen = truth.observe([held("grafana", "1/f1", "1/f2")])
    assert sorted(seen) == ["1/f2"]
    assert api.asked[0][0] == "http://g/api/alertmanager/grafana/api/v2/alerts"
    assert api.asked[0][2]["Authorization"] == "Basic " + base64.b64encode(b"svc:pw").decode()
    assert not AlertmanagerActiveAlerts("alertmanager", lambda: rules).covers(held("alertmanager", "x"))


def test_a_password_in_the_url_reaches_neither_the_log_nor_the_history(caplog: pytest.LogCaptureFixture) -> None:
    import httpx

    url = "https://courier:s3cret-pw@am.example:9093"
    rules = parse_rules(f'reconcile: {{alertmanager: {{url: "{url}/"}}}}')

    def refused(asked: str, params: dict[str, Any], headers: dict[str, str]) -> Any:
        client = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(401)))
        client.get(asked, params=params).raise_for_status()  # what `_httpx_get` raises: the URL as given

    truth = AlertmanagerActiveAlerts("alertmanager", lambda: rules, get=refused)
    with caplog.at_level(logging.WARNING, logger="alert_courier"):
        assert truth.observe([held("alertmanager", "a")]) == {}
    (record,) = [r for r in caplog.records if r.getMessage() == "reconcile: alertmanager unread"]
    logged = json.dumps({"url": record.url, "error": record.error})  # type: ignore[attr-defined]
    assert "401" in logged and "am.example:9093" in logged
    assert "s3cret-pw" not in logged and "courier:" not in logged

    api = Recorded([])
    seen = AlertmanagerActiveAlerts("alertmanager", lambda: rules, get=api).observe([held("alertmanager", "a")])
    assert api.asked[0][0] == f"{url}/api/v2/alerts"  # the request still carries it (httpx sends it as basic auth)
    assert seen["a"].says == "Alertmanager at https://<redacted>@am.example:9093 no longer lists it as active"
