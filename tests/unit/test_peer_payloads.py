"""The senders' own payloads (../shared/corpus/peer-payloads, beside the checkout in CI): every genuine one is
accepted and normalised, every foreign shape gets a clear 4xx. Skipped when the corpus is absent; the quirks found
there are reproduced in payloads of our own (tests/quirk_payloads.py), so the project's tests stand without it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from alert_courier.domain.alert import AlertEnvelope
from alert_courier.ingress.aws_events import read_aws_event
from tests import ingest_harness
from tests.conftest import REPO_ROOT
from tests.ingest_harness import TOKEN, answer_body, http_event, invoke

CORPUS = REPO_ROOT.parent / "shared" / "corpus" / "peer-payloads"
SOURCE_OF_FOLDER = {
    "alertmanager": "alertmanager",
    "grafana": "grafana",
    "datadog": "datadog",
    "pagerduty": "generic",
    "cloudwatch": "cloudwatch",
}
GRAFANA_SIGNING_SECRET = "test-secret"  # the upstream test's secret, named in the corpus' headers file

# Genuine alert payloads: accepted, with this many alerts (a sender's test notification, an INSUFFICIENT_DATA
# state: accepted, nothing to act on).
GENUINE: dict[str, int] = {
    "alertmanager/alerta-legacy-v3-numeric-groupkey.json": 1,
    "alertmanager/alerta-v4-no-fingerprint.json": 1,
    "alertmanager/am-head-default-payload-resolved.json": 1,
    "alertmanager/msteams-large-multi-alert.json": 19,
    "alertmanager/msteams-prom-post-request-tz-offset.json": 1,
    "grafana/alerting-dashboard-panel-bearer.json": 1,
    "grafana/alerting-default-template-payload.json": 1,
    "grafana/alerting-hmac-signed.json": 1,
    "grafana/alerting-truncated-multi-alert.json": 2,
    "grafana/cloud-nodata-real.json": 1,
    "grafana/cloud-quotemeta-receiver-real.json": 1,
    "grafana/cloud-test-notification-real.json": 0,
    "grafana/docs-multi-alert-firing.json": 2,
    "grafana/hookshot-nodata-multi.json": 2,
    "grafana/hookshot-resolved-legacy-title.json": 1,
    "grafana/hookshot-test-notification-weird-groupkey.json": 0,
    "grafana/keep-grafana12-test-relative-generatorurl.json": 0,
    "grafana/tgparser-datasource-error-multi.json": 3,
    "datadog/custom-template-extended-filled.json": 1,
    "datadog/docs-default-template-filled.json": 1,
    "datadog/keep-real-log-alert-recovered.json": 1,
    "datadog/keep-real-log-alert-triggered.json": 1,
    "datadog/keep-real-triggered-colon-scope.json": 1,
    "cloudwatch/eventbridge-anomaly-detection-alarm.json": 1,
    "cloudwatch/eventbridge-composite-suppressed.json": 1,
    "cloudwatch/eventbridge-metric-math-alarm.json": 1,
    "cloudwatch/eventbridge-single-metric-alarm.json": 1,
    "cloudwatch/pytorch-real-alarm-raw-message.json": 1,
    "cloudwatch/sns-http-alarm.json": 1,
    "cloudwatch/sns-http-insufficient-data.json": 0,
    "pagerduty/docs-acknowledge.json": 1,
    "pagerduty/docs-resolve.json": 1,
    "pagerduty/docs-trigger-full.json": 1,
    "pagerduty/pdpyras-resolve.json": 1,
    "pagerduty/pdpyras-trigger-minimal-bad-image-key.json": 1,
}
# Foreign shapes and non-alert messages: (status, code, a word the reason must contain).
FOREIGN: dict[str, tuple[int, str, str]] = {
    "alertmanager/am-custom-payload-array.json": (422, "invalid_payload", "custom"),
    "alertmanager/am-custom-payload-yamlish-strings.json": (422, "invalid_payload", "custom"),
    "grafana/alerting-custom-payload-array.json": (422, "invalid_payload", "custom"),
    "grafana/alerting-custom-payload-kafka-esque.json": (422, "invalid_payload", "custom"),
    "cloudwatch/eventbridge-config-change-create-insufficient.json": (422, "invalid_payload", "State Change"),
    "pagerduty/docs-change-event.json": (422, "invalid_payload", "change event"),
    # A 2018 capture: its signature is long expired and its topic is not ours, so it is never confirmed.
    "cloudwatch/sns-http-subscription-confirmation.json": (401, "stale_timestamp", "Timestamp"),
}
# Lambda-invocation shapes (AWS invokes the function; no HTTP answer): alerts queued, or skipped with a reason.
LAMBDA_EVENTS: dict[str, tuple[int, str]] = {
    "cloudwatch/lambda-action-composite.json": (1, ""),
    "cloudwatch/lambda-action-metric-math.json": (1, ""),
    # aws-lambda-go's fixture: its AlarmArn is the placeholder arn:aws:cloudwatch:REGION:ACCOUNT_NUMBER:alarm:EXAMPLE
    "cloudwatch/lambda-sns-records-multiple-metrics.json": (0, "AlarmArn"),
}

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"no peer payload corpus at {CORPUS}")


def corpus_files() -> list[str]:
    return sorted(str(path.relative_to(CORPUS)) for path in CORPUS.glob("*/*.json")) if CORPUS.is_dir() else []


def deliver(relative: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, list[AlertEnvelope]]:
    monkeypatch.setattr(ingest_harness, "SECRETS", [TOKEN, GRAFANA_SIGNING_SECRET])
    body = (CORPUS / relative).read_bytes()
    source = SOURCE_OF_FOLDER[relative.split("/")[0]]
    headers = {"authorization": f"Bearer {TOKEN}"}
    if relative == "grafana/alerting-hmac-signed.json":  # signed, no credential: variant B of its headers file
        headers = {"authorization": "", "x-grafana-alerting-signature": _signature_b()}
    event = json.loads(body) if relative in LAMBDA_EVENTS else http_event(source, body, headers)
    answer, sqs = invoke(event)
    return answer, sqs.envelopes()


def _signature_b() -> str:
    lines = (CORPUS / "grafana/alerting-hmac-signed.headers.txt").read_text().splitlines()
    return next(line.split(":", 1)[1].strip() for line in lines if line.startswith("X-Grafana-Alerting-Signature:"))


def test_every_corpus_file_is_classified() -> None:
    assert set(corpus_files()) == set(GENUINE) | set(FOREIGN) | set(LAMBDA_EVENTS)


@pytest.mark.parametrize("relative", sorted(GENUINE))
def test_a_genuine_payload_is_accepted_and_normalised(relative: str, monkeypatch: pytest.MonkeyPatch) -> None:
    answer, queued = deliver(relative, monkeypatch)
    assert 200 <= answer["statusCode"] < 300, answer
    assert answer_body(answer)["accepted"] == len(queued) == GENUINE[relative]
    source = SOURCE_OF_FOLDER[relative.split("/")[0]]
    for envelope in queued:
        alert = envelope.alert
        assert alert.source == source and alert.dedup_key and alert.group_key and alert.title
        assert alert.started_at is None or alert.started_at.utcoffset() is not None


@pytest.mark.parametrize("relative", sorted(FOREIGN))
def test_a_foreign_shape_gets_a_clear_4xx(relative: str, monkeypatch: pytest.MonkeyPatch) -> None:
    answer, queued = deliver(relative, monkeypatch)
    status, code, word = FOREIGN[relative]
    error = answer_body(answer)["error"]
    assert (answer["statusCode"], error["code"]) == (status, code)
    assert word in error["reason"]
    assert queued == []


@pytest.mark.parametrize("relative", sorted(LAMBDA_EVENTS))
def test_a_lambda_event_is_queued_or_skipped_with_its_reason(relative: str, monkeypatch: pytest.MonkeyPatch) -> None:
    answer, queued = deliver(relative, monkeypatch)
    alerts, reason = LAMBDA_EVENTS[relative]
    assert answer["accepted"] == len(queued) == alerts
    assert answer["ignored"] == (1 if reason else 0)
    if reason:
        delivery = read_aws_event(json.loads((CORPUS / relative).read_bytes()))
        assert delivery is not None and reason in delivery.ignored[0]
