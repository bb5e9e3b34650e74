"""The ingest handler itself, fed arbitrary bodies, headers and paths, answers 2xx or 4xx and never raises."""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import load_event

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
    assert 200 <= answer["statusCode"] < 500, answer
    if answer["statusCode"] >= 400 and answer["statusCode"] != 404:
        assert "error" in json.loads(answer["body"])
