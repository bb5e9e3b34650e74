"""The ingest handler itself, fed arbitrary bodies, headers and paths (byte level) and real samples with hostile
fields (field level), answers 2xx, 4xx or 503 (SQS failing), never raises, and queues all of a notification or
nothing (a 503's retry completes it without doubles)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alert_courier.aws.alert_queue import _REFUSED_BY_SQS as SQS_REFUSED
from alert_courier.aws.alert_queue import EnqueueFailed, read_message
from tests import ingest_harness as harness
from tests.conftest import load_event
from tests.quirk_payloads import QUIRKS
from tests.strategies import break_some_fields_with, hostile_values, mangled_bytes

TEMPLATE = load_event("ingest/alertmanager-firing.json")
header_names = st.sampled_from(
    [
        "authorization",
        "content-type",
        "x-grafana-alerting-signature",
        "x-grafana-alerting-signature-timestamp",
        "x-alert-courier-token",
        "x-amz-sns-message-type",
    ]
)
header_values = st.one_of(
    st.text(max_size=80),
    st.sampled_from(["Bearer local-dev-token", "application/json", "text/plain", "Basic Og==", "Bearer "]),
)
bodies = st.one_of(
    st.binary(max_size=2000),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=40),
        lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=6),
        max_leaves=30,
    ).map(lambda doc: json.dumps(doc).encode()),
)


def event(source: str, headers: dict[str, str], body: bytes, as_base64: bool) -> dict[str, Any]:
    built = json.loads(json.dumps(TEMPLATE))
    built["rawPath"] = built["requestContext"]["http"]["path"] = f"/webhooks/{source}"
    built["pathParameters"] = {"source": source}
    built["headers"] = headers
    if as_base64:
        built["body"], built["isBase64Encoded"] = base64.b64encode(body).decode(), True
    else:
        built["body"], built["isBase64Encoded"] = body.decode("utf-8", "replace"), False
    return built


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    source=st.sampled_from(["alertmanager", "grafana", "datadog", "generic", "cloudwatch", "nope", "", "..%2f"]),
    headers=st.dictionaries(header_names, header_values, max_size=5),
    body=bodies,
    as_base64=st.booleans(),
)
def test_ingest_never_raises_and_answers_2xx_or_4xx(
    local_stack: Any, source: str, headers: dict[str, str], body: bytes, as_base64: bool
) -> None:
    answer = local_stack.functions["IngestFunction"].invoke(event(source, headers, body, as_base64))
    assert 200 <= answer["statusCode"] < 500 or answer["statusCode"] == 503, answer
    if answer["statusCode"] >= 400 and answer["statusCode"] != 404:
        assert "error" in json.loads(answer["body"])


# --- the handler with an SQS double: what was queued is checked against every answer ---------------------------

SEEDS: dict[str, list[bytes]] = {
    "alertmanager": [json.dumps(load_event("alertmanager/firing.json")).encode()],
    "grafana": [json.dumps(load_event("grafana/firing.json")).encode()],
    "datadog": [json.dumps(load_event(name)).encode() for name in ("datadog/firing.json", "datadog/resolved.json")],
    "generic": [json.dumps({**load_event("generic/trigger.json"), "routing_key": harness.TOKEN}).encode()],
    "cloudwatch": [
        json.dumps(load_event(name)).encode()
        for name in ("cloudwatch/alarm-message.json", "cloudwatch/eventbridge-alarm-event.json")
    ],
}
for _quirk in QUIRKS:
    SEEDS[_quirk.source].append(_quirk.body)
FUZZ_SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def fuzzed_bodies(draw: st.DrawFn, source: str) -> bytes:
    seed = draw(st.sampled_from(SEEDS[source]))
    if draw(st.booleans()):
        return draw(mangled_bytes(seed))  # byte level
    document = json.loads(seed)
    return json.dumps(break_some_fields_with(draw, document, 3, hostile_values)).encode()  # field level


def failing_sqs(draw: st.DrawFn) -> harness.RecordingSqs:
    fail = draw(st.sampled_from(["", "", "", "ThrottlingException", "QueueDoesNotExist", "connection", "entries"]))
    return harness.RecordingSqs(fail=fail, fail_from=draw(st.integers(0, 3)))


def assert_whole_or_nothing(answer: dict[str, Any], sqs: harness.RecordingSqs, retry: Any) -> None:
    status = answer["statusCode"]
    assert 200 <= status < 300 or 400 <= status < 500 or status == 503, answer
    body = json.loads(answer["body"])
    if status >= 400:
        assert "error" in body
    if 400 <= status < 500:
        assert sqs.queued == []
        return
    for entry in sqs.queued:  # what the dispatch side reads back
        read_message(entry["MessageBody"])
        assert not SQS_REFUSED.search(entry["MessageBody"])
    if status == 503:
        assert sqs.fail and answer["headers"]["Retry-After"]
        again, resent = retry()  # the sender's retry, SQS healthy again, completes it without doubles
        assert again["statusCode"] in (200, 202)
        ids = [entry["MessageDeduplicationId"] for entry in resent.queued]
        assert len(ids) == len(set(ids)) and {e["MessageDeduplicationId"] for e in sqs.queued} <= set(ids)
        return
    assert body.get("accepted", 0) == len(sqs.envelopes())


@pytest.mark.parametrize("source", sorted(SEEDS))
def test_the_handler_answers_2xx_4xx_or_503_and_queues_all_or_nothing(source: str) -> None:
    @FUZZ_SETTINGS
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        body = data.draw(fuzzed_bodies(source))
        sqs = failing_sqs(data.draw)
        event = harness.http_event(source, body, as_base64=data.draw(st.booleans()))
        answer, sent = harness.invoke(event, sqs)
        assert_whole_or_nothing(answer, sent, lambda: harness.invoke(event))

    check()


AWS_SEEDS = [
    load_event(name)
    for name in (
        "cloudwatch/sns-lambda-event.json",
        "cloudwatch/eventbridge-alarm-event.json",
        "cloudwatch/lambda-alarm-action-event.json",
    )
]


@FUZZ_SETTINGS
@given(data=st.data())
def test_aws_invoked_events_never_raise_except_to_ask_aws_to_retry(data: st.DataObject) -> None:
    event = break_some_fields_with(
        data.draw, json.loads(json.dumps(data.draw(st.sampled_from(AWS_SEEDS)))), 3, hostile_values
    )
    sqs = failing_sqs(data.draw)
    try:
        answer, sent = harness.invoke(event, sqs)
    except EnqueueFailed:
        assert sqs.fail  # AWS retries the event
        return
    assert answer["accepted"] == len(sent.queued)
