"""Per-source authentication: every way each source's credential can be missing, wrong, forged or stale."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from alert_courier.ingress.intake import Intake, read_webhook
from alert_courier.ingress.rejection import WebhookRejected
from alert_courier.ingress.webhook import WebhookRequest
from alert_courier.sources.grafana import authenticate_grafana
from tests.conftest import load_event

CURRENT = "current-secret-7f3a9c"
PREVIOUS = "previous-secret-21be04"
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
NOW_SECONDS = int(NOW.timestamp())


def secrets(_source: str) -> list[str]:
    return [CURRENT, PREVIOUS]


def body_of(source: str) -> bytes:
    sample = {
        "alertmanager": "alertmanager/firing.json",
        "grafana": "grafana/firing.json",
        "datadog": "datadog/firing.json",
        "generic": "generic/trigger.json",
    }
    document = load_event(sample[source])
    if source == "generic":
        del document["routing_key"]
    return json.dumps(document).encode()


def request(source: str, headers: dict[str, str], body: bytes | None = None) -> WebhookRequest:
    return WebhookRequest(
        source=source,
        headers={"content-type": "application/json", **headers},
        body=body_of(source) if body is None else body,
        correlation_id="c-1",
    )


def accepted(req: WebhookRequest) -> Intake:
    return read_webhook(req, secrets, 1_000_000, now=NOW)


def refused(req: WebhookRequest) -> WebhookRejected:
    with pytest.raises(WebhookRejected) as caught:
        read_webhook(req, secrets, 1_000_000, now=NOW)
    rejection = caught.value
    assert rejection.status == 401
    body = json.dumps(rejection.body())
    assert CURRENT not in body and PREVIOUS not in body
    return rejection


def basic(password: str) -> str:
    return "Basic " + base64.b64encode(f"courier:{password}".encode()).decode()


def sign(body: bytes, secret: str, timestamp: int | str | None = None) -> dict[str, str]:
    message = body if timestamp is None else f"{timestamp}:".encode() + body
    headers = {"x-grafana-alerting-signature": hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()}
    if timestamp is not None:
        headers["x-grafana-alerting-signature-timestamp"] = str(timestamp)
    return headers


# --- Grafana -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("authorization", [f"Bearer {CURRENT}", f"Bearer {PREVIOUS}", basic(CURRENT), basic(PREVIOUS)])
def test_grafana_accepts_bearer_or_basic(authorization: str) -> None:
    assert len(accepted(request("grafana", {"authorization": authorization})).alerts) == 2


@pytest.mark.parametrize("secret", [CURRENT, PREVIOUS])
def test_grafana_accepts_a_body_signature_under_either_secret(secret: str) -> None:
    body = body_of("grafana")
    assert accepted(request("grafana", sign(body, secret), body)).alerts


@pytest.mark.parametrize("secret", [CURRENT, PREVIOUS])
def test_grafana_accepts_a_timestamped_signature(secret: str) -> None:
    body = body_of("grafana")
    assert accepted(request("grafana", sign(body, secret, NOW_SECONDS - 30), body)).alerts


@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_grafana_timestamp_tolerance_is_inclusive(offset: int) -> None:
    body = body_of("grafana")
    assert accepted(request("grafana", sign(body, CURRENT, NOW_SECONDS + offset), body)).alerts


def test_grafana_alternative_header_names() -> None:
    body = body_of("grafana")
    signed = sign(body, CURRENT, NOW_SECONDS)
    headers = {
        "x-grafana-alert-signature": signed["x-grafana-alerting-signature"],
        "x-grafana-alerting-timestamp": signed["x-grafana-alerting-signature-timestamp"],
    }
    assert accepted(request("grafana", headers, body)).alerts


def test_grafana_valid_signature_wins_over_an_unrelated_authorization_header() -> None:
    body = body_of("grafana")
    assert accepted(request("grafana", {**sign(body, CURRENT), "authorization": "Bearer proxy-token"}, body)).alerts


def test_grafana_missing_credentials() -> None:
    rejection = refused(request("grafana", {}))
    assert rejection.code == "unauthorized" and "missing" in rejection.reason


def test_grafana_wrong_bearer() -> None:
    assert refused(request("grafana", {"authorization": "Bearer not-the-secret"})).code == "unauthorized"


def test_grafana_signature_with_an_unknown_secret_is_forged() -> None:
    body = body_of("grafana")
    assert refused(request("grafana", sign(body, "attacker-secret"), body)).code == "invalid_signature"


def test_grafana_signature_of_another_body_is_forged() -> None:
    body = body_of("grafana")
    tampered = body.replace(b'"firing"', b'"resolved"')
    assert refused(request("grafana", sign(body, CURRENT), tampered)).code == "invalid_signature"


def test_grafana_signature_without_the_timestamp_it_covers_is_forged() -> None:
    body = body_of("grafana")
    headers = sign(body, CURRENT, NOW_SECONDS)
    del headers["x-grafana-alerting-signature-timestamp"]
    assert refused(request("grafana", headers, body)).code == "invalid_signature"


def test_grafana_timestamp_moved_after_signing_is_forged() -> None:
    body = body_of("grafana")
    headers = {**sign(body, CURRENT, NOW_SECONDS - 30), "x-grafana-alerting-signature-timestamp": str(NOW_SECONDS)}
    assert refused(request("grafana", headers, body)).code == "invalid_signature"


@pytest.mark.parametrize("signature", ["", "sha256=" + "0" * 64, "zz", "\ud800"])
def test_grafana_malformed_signature(signature: str) -> None:
    assert refused(request("grafana", {"x-grafana-alerting-signature": signature})).code == "invalid_signature"


@pytest.mark.parametrize("offset", [-301, 301, -86_400, 10**9])
def test_grafana_stale_or_future_timestamp(offset: int) -> None:
    body = body_of("grafana")
    rejection = refused(request("grafana", sign(body, CURRENT, NOW_SECONDS - offset), body))
    assert rejection.code == "stale_timestamp"
    assert ("old" if offset > 0 else "in the future") in rejection.reason


@pytest.mark.parametrize("timestamp", ["", "soon", "1795600020.5", "-1795600020", "١٢٣", "9" * 40])
def test_grafana_unreadable_timestamp(timestamp: str) -> None:
    body = body_of("grafana")
    headers = {**sign(body, CURRENT), "x-grafana-alerting-signature-timestamp": timestamp}
    assert refused(request("grafana", headers, body)).code == "invalid_signature"


def test_grafana_tolerance_is_configurable() -> None:
    body = body_of("grafana")
    req = request("grafana", sign(body, CURRENT, NOW_SECONDS - 100), body)
    authenticate_grafana(req, None, [CURRENT], NOW, tolerance=timedelta(seconds=120))
    with pytest.raises(WebhookRejected) as caught:
        authenticate_grafana(req, None, [CURRENT], NOW, tolerance=timedelta(seconds=60))
    assert caught.value.code == "stale_timestamp"


def test_grafana_empty_configured_secret_never_verifies_anything() -> None:
    body = body_of("grafana")
    with pytest.raises(WebhookRejected) as caught:
        authenticate_grafana(request("grafana", sign(body, ""), body), None, ["", ""], NOW)
    assert caught.value.code == "invalid_signature"


def test_grafana_authenticates_before_parsing() -> None:
    assert refused(request("grafana", {}, b"{not json")).code == "unauthorized"


# --- Datadog -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"x-alert-courier-token": CURRENT},
        {"x-alert-courier-token": PREVIOUS},
        {"authorization": f"Bearer {CURRENT}"},
        {"authorization": basic(PREVIOUS)},
        {"x-alert-courier-token": "stale-value", "authorization": f"Bearer {CURRENT}"},
        {"x-alert-courier-token": CURRENT, "authorization": "Bearer stale-value"},
    ],
)
def test_datadog_accepts_the_custom_header_or_bearer(headers: dict[str, str]) -> None:
    assert accepted(request("datadog", headers)).alerts


def test_datadog_missing_credentials_names_the_header() -> None:
    rejection = refused(request("datadog", {}))
    assert "missing" in rejection.reason and "X-Alert-Courier-Token" in rejection.reason


@pytest.mark.parametrize(
    "headers",
    [
        {"x-alert-courier-token": "not-the-secret"},
        {"authorization": "Bearer not-the-secret"},
        {"x-alert-courier-token": CURRENT[:-1], "authorization": f"Bearer {PREVIOUS}x"},
    ],
)
def test_datadog_wrong_credentials(headers: dict[str, str]) -> None:
    assert refused(request("datadog", headers)).reason == "invalid credentials"


def test_datadog_authenticates_before_parsing() -> None:
    assert refused(request("datadog", {}, b"{not json")).code == "unauthorized"


# --- Generic events ------------------------------------------------------------------------------------------


def with_routing_key(routing_key: Any) -> bytes:
    document = json.loads(body_of("generic"))
    document["routing_key"] = routing_key
    return json.dumps(document).encode()


@pytest.mark.parametrize("routing_key", [CURRENT, PREVIOUS])
def test_generic_routing_key_is_the_credential(routing_key: str) -> None:
    assert accepted(request("generic", {}, with_routing_key(routing_key))).alerts


@pytest.mark.parametrize("authorization", [f"Bearer {CURRENT}", f"Bearer {PREVIOUS}"])
def test_generic_accepts_bearer_without_routing_key(authorization: str) -> None:
    assert accepted(request("generic", {"authorization": authorization})).alerts


def test_generic_wrong_routing_key_with_valid_bearer_is_accepted() -> None:
    assert accepted(request("generic", {"authorization": f"Bearer {CURRENT}"}, with_routing_key("R0UT1NG"))).alerts


def test_generic_missing_credentials() -> None:
    rejection = refused(request("generic", {}))
    assert "missing" in rejection.reason and "routing_key" in rejection.reason


@pytest.mark.parametrize("routing_key", ["R0UT1NGKEY0000000000000000000000", CURRENT.upper(), CURRENT[:-1], ""])
def test_generic_wrong_routing_key(routing_key: str) -> None:
    assert refused(request("generic", {}, with_routing_key(routing_key))).code == "unauthorized"


@pytest.mark.parametrize("routing_key", [12345, None, [CURRENT], {"key": CURRENT}])
def test_generic_routing_key_that_is_not_a_string_is_no_credential(routing_key: Any) -> None:
    assert "missing" in refused(request("generic", {}, with_routing_key(routing_key))).reason


@pytest.mark.parametrize("body", [b"[]", b'"just text"', b"42"])
def test_generic_body_that_is_not_an_object_has_no_routing_key(body: bytes) -> None:
    assert refused(request("generic", {}, body)).code == "unauthorized"


def test_generic_parses_before_authenticating() -> None:
    """routing_key lives in the body, so an unparseable body is a 400 even without credentials."""
    with pytest.raises(WebhookRejected) as caught:
        read_webhook(request("generic", {}, b"{not json"), secrets, 1_000_000, now=NOW)
    assert caught.value.status == 400
    with pytest.raises(WebhookRejected) as caught:
        read_webhook(request("generic", {"content-type": "text/plain"}), secrets, 1_000_000, now=NOW)
    assert caught.value.status == 415


def test_generic_valid_routing_key_but_bad_shape_is_422() -> None:
    body = json.dumps({"routing_key": CURRENT, "event_action": "resolve"}).encode()
    with pytest.raises(WebhookRejected) as caught:
        read_webhook(request("generic", {}, body), secrets, 1_000_000, now=NOW)
    assert (caught.value.status, caught.value.field) == (422, "dedup_key")


# --- Every source --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["alertmanager", "grafana", "datadog", "generic"])
def test_no_configured_secret_refuses_everything(source: str) -> None:
    body = with_routing_key("") if source == "generic" else b"{}"
    with pytest.raises(WebhookRejected) as caught:
        read_webhook(request(source, {"authorization": "Bearer "}, body), lambda _s: [], 1_000_000, now=NOW)
    assert caught.value.status == 401


@pytest.mark.parametrize("source", ["alertmanager", "grafana", "datadog", "generic"])
def test_presented_secret_never_appears_in_the_rejection(source: str) -> None:
    presented = "almost-" + CURRENT
    headers = {"authorization": f"Bearer {presented}", "x-alert-courier-token": presented}
    body = with_routing_key(presented) if source == "generic" else body_of("grafana")
    rejection = refused(request(source, {**headers, **sign(body, presented, NOW_SECONDS)}, body))
    assert presented not in json.dumps(rejection.body())


@pytest.mark.parametrize("header", ["Basic w6k=", "Basic \u00e9\u00e9\u00e9\u00e9", "Bearer \ud800", "\udcff \udcff"])
def test_hostile_authorization_headers_are_401_not_errors(header: str) -> None:
    for source in ("alertmanager", "grafana", "datadog"):
        assert refused(request(source, {"authorization": header})).status == 401
