"""Whatever arrives, read_webhook answers with an Intake or a 4xx WebhookRejected, for every registered source."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alert_courier.ingress.intake import Intake, read_webhook
from alert_courier.ingress.rejection import WebhookRejected
from alert_courier.ingress.webhook import WebhookRequest
from alert_courier.sources import SOURCES
from tests.conftest import load_event
from tests.strategies import break_some_fields, json_values

TOKEN = "prop-token-5d1c"
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
SAMPLES: dict[str, list[str]] = {
    "alertmanager": ["alertmanager/firing.json", "alertmanager/resolved.json"],
    "grafana": ["grafana/firing.json", "grafana/resolved.json"],
    "datadog": ["datadog/firing.json", "datadog/resolved.json", "datadog/default-template-triggered.json"],
    "generic": ["generic/trigger.json", "generic/acknowledge.json", "generic/resolve.json"],
    "cloudwatch": [
        "cloudwatch/alarm-message.json",
        "cloudwatch/alarm-message-ok.json",
        "cloudwatch/eventbridge-alarm-event.json",
        "cloudwatch/eventbridge-alarm-event-ok.json",
    ],
}
PROPERTY_SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def secrets(_source: str) -> list[str]:
    return [TOKEN, "previous-" + TOKEN]


@st.composite
def mutated_sample(draw: st.DrawFn, source: str) -> Any:
    """A real sample with a few fields (top level, or inside a nested object or list item) replaced or removed."""
    document: Any = load_event(draw(st.sampled_from(SAMPLES[source])))
    if source == "generic" and draw(st.booleans()):
        document["routing_key"] = TOKEN
    return break_some_fields(draw, document, most=3)


def bodies(source: str) -> st.SearchStrategy[bytes]:
    sample = mutated_sample(source).map(lambda value: json.dumps(value).encode())
    other = json_values.map(lambda value: json.dumps(value).encode())
    return st.one_of(
        sample, sample, sample, other, st.binary(max_size=300), sample.map(lambda raw: raw[: len(raw) // 2])
    )


def credential_headers(body: bytes) -> st.SearchStrategy[dict[str, str]]:
    signature = hmac.new(TOKEN.encode(), body, hashlib.sha256).hexdigest()
    stamp = str(int(NOW.timestamp()))
    stamped = hmac.new(TOKEN.encode(), f"{stamp}:".encode() + body, hashlib.sha256).hexdigest()
    any_text = st.text(max_size=40)
    return st.fixed_dictionaries(
        {},
        optional={
            "authorization": st.one_of(
                st.just(f"Bearer {TOKEN}"),
                st.just("Basic " + base64.b64encode(f"u:{TOKEN}".encode()).decode()),
                st.builds(lambda scheme, value: f"{scheme} {value}", st.sampled_from(["Bearer", "Basic"]), any_text),
                any_text,
            ),
            "content-type": st.one_of(
                st.sampled_from(["application/json", "application/json; charset=utf-8", "application/vnd.api+json"]),
                any_text,
            ),
            "x-grafana-alerting-signature": st.one_of(st.just(signature), st.just(stamped), any_text),
            "x-grafana-alerting-signature-timestamp": st.one_of(
                st.just(stamp), st.integers(-(10**13), 10**13).map(str), any_text
            ),
            "x-alert-courier-token": st.one_of(st.just(TOKEN), any_text),
        },
    )


@st.composite
def requests(draw: st.DrawFn, source: str) -> WebhookRequest:
    """Mostly well-authenticated JSON, so most examples get past the door and into parsing and normalising."""
    body = draw(bodies(source))
    headers = draw(credential_headers(body))
    if draw(st.sampled_from([True, True, True, False])):
        headers.update({"content-type": "application/json", "authorization": f"Bearer {TOKEN}"})
    headers.update(draw(st.dictionaries(st.text(max_size=20).map(str.lower), st.text(max_size=40), max_size=3)))
    return WebhookRequest(source=source, headers=headers, body=body, correlation_id="prop")


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_read_webhook_only_ever_accepts_or_refuses_with_a_4xx(source: str) -> None:
    @PROPERTY_SETTINGS
    @given(req=requests(source), limit=st.sampled_from([1_000_000, 1_000_000, 256]))
    def check(req: WebhookRequest, limit: int) -> None:
        try:
            result = read_webhook(req, secrets, limit, now=NOW)
        except WebhookRejected as rejection:
            assert 400 <= rejection.status < 500
            assert rejection.code and rejection.reason
            assert TOKEN not in json.dumps(rejection.body())
            return
        assert isinstance(result, Intake)
        assert result.source == source
        assert all(alert.source == source for alert in result.alerts)

    check()


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_every_sample_is_accepted(source: str) -> None:
    for sample in SAMPLES[source]:
        document = load_event(sample)
        if "routing_key" in document:
            document["routing_key"] = TOKEN
        req = WebhookRequest(
            source=source,
            headers={"content-type": "application/json", "authorization": f"Bearer {TOKEN}"},
            body=json.dumps(document).encode(),
            correlation_id="prop",
        )
        assert read_webhook(req, secrets, 1_000_000, now=NOW).alerts


@pytest.mark.parametrize(
    "body",
    [b"1" * 5000, b'{"n": ' + b"9" * 4400 + b"}", b"[" * 100_000, b"\xff\xfe\x00", b'"\\ud800"', b"NaN"],
)
def test_hostile_json_is_a_4xx(body: bytes) -> None:
    for source in SOURCES:
        req = WebhookRequest(
            source=source,
            headers={"content-type": "application/json", "authorization": f"Bearer {TOKEN}"},
            body=body,
            correlation_id="prop",
        )
        with pytest.raises(WebhookRejected) as caught:
            read_webhook(req, secrets, 1_000_000, now=NOW)
        assert 400 <= caught.value.status < 500
